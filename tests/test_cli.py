"""The `entraide` command end to end: the installed executable against this session's
real service processes, as an agent at a CCAS would type it (French text) and as a
script would call it (--json)."""

from __future__ import annotations

import asyncio
import json
import random
import re
import string
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from tests.conftest import AppStack

ENTRAIDE = str(Path(sys.executable).parent / "entraide")
AGENT = "agent-martin"
MINUTE = r"\d{2}/\d{2}/\d{4} \d{2}:\d{2}"  # JJ/MM/AAAA HH:MM


async def cli(stack: AppStack, *args: str) -> subprocess.CompletedProcess[str]:
    """Runs `entraide` as the agent named by `--agent` is logged in (its own token)."""
    env = dict(stack.env)
    if "--agent" in args:
        env["ENTRAIDE_TOKEN"] = stack.token(args[args.index("--agent") + 1])
    return await asyncio.to_thread(
        subprocess.run, [ENTRAIDE, *args], env=env, capture_output=True, text=True, timeout=60
    )


async def text(stack: AppStack, *args: str) -> str:
    done = await cli(stack, *args)
    assert done.returncode == 0, done.stderr
    return done.stdout


async def as_json(stack: AppStack, *args: str) -> dict[str, Any]:
    done = await cli(stack, "--json", *args)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def field(output: str, label: str) -> str:
    """The value of an aligned "Label : value" line."""
    found = re.search(rf"^{re.escape(label)}\s* : (.*)$", output, re.MULTILINE)
    assert found, f"no {label!r} in:\n{output}"
    return found.group(1)


def letters(n: int = 8) -> str:
    return "".join(random.choices(string.ascii_uppercase, k=n))


async def test_full_lifecycle_through_the_command(app_stack: AppStack, tmp_path: Path) -> None:
    opened = await text(
        app_stack,
        *("ouvrir", "--commune", "55029", "--motif", "logement", "--canal", "telephone", "--agent", AGENT),
    )
    dossier_id = field(opened, "Dossier ouvert")
    assert uuid.UUID(dossier_id)
    assert (field(opened, "Étape"), field(opened, "Agent")) == ("accueil", AGENT)
    assert re.fullmatch(MINUTE, field(opened, "Ouvert le"))

    interview = await text(
        app_stack, "entretien", dossier_id, "--agent", AGENT, "--notes", "Expulsion annoncée"
    )
    assert interview.startswith("Entretien enregistré.\n") and field(interview, "Étape") == "écoute"
    private = tmp_path / "notes.txt"
    private.write_text("Dettes de loyer\nPlan d'apurement à discuter", encoding="utf-8")
    step = await as_json(
        app_stack, "interview", dossier_id, "--agent", AGENT, "--notes-file", str(private), "--prive"
    )
    assert step["dossier"]["stage"] == "ecoute"

    step = await as_json(
        app_stack,
        *("fin-ecoute", dossier_id, "--agent", AGENT, "--vers", "orientation"),
        *("--motif", "logement", "--motif", "difficultes_financieres"),
    )
    assert (step["dossier"]["stage"], step["dossier"]["motifs"]) == (
        "orientation",
        ["logement", "difficultes_financieres"],
    )
    follow_up = await text(app_stack, "contact", dossier_id, "--agent", AGENT, "--notes", "Appel à la CAF")
    assert follow_up.startswith("Contact enregistré.\n") and field(follow_up, "Étape") == "orientation"
    assert field(await text(app_stack, "suivi", dossier_id, "--agent", AGENT), "Étape") == "suivi"
    step = await as_json(app_stack, "assign", dossier_id, "--agent", AGENT, "--a", "agent-durand")
    assert (step["dossier"]["stage"], step["dossier"]["assigned_agent"]) == ("suivi", "agent-durand")
    in_suivi = await text(app_stack, "chronologie", dossier_id)
    assert re.search(rf"^  Relance de suivi le {MINUTE}$", in_suivi, re.MULTILINE), in_suivi

    closed = await text(
        app_stack, "cloturer", dossier_id, "--agent", "agent-durand", "--issue", "regle", "--notes", "Relogé"
    )
    assert closed.startswith("Dossier clôturé.\n")
    assert (field(closed, "Étape"), field(closed, "Issue")) == ("clôture", "regle")
    after_close = await as_json(app_stack, "timeline", dossier_id)
    assert [d["kind"] for d in after_close["deadlines"]] == ["reopen_limit"]

    reopened = await as_json(
        app_stack, "rouvrir", dossier_id, "--agent", AGENT, "--motif-reouverture", "Nouvel impayé"
    )
    assert (reopened["dossier"]["stage"], reopened["dossier"]["cycle"]) == ("ecoute", 1)

    # The author reads the whole timeline, their private note included.
    history = await text(app_stack, "chronologie", dossier_id, "--agent", AGENT)
    assert field(history, "Étape") == "écoute" and field(history, "Réouvertures") == "1"
    entries = re.findall(
        rf"^  ({MINUTE})  (\S+)\s+ (.+)$",
        history.split("Chronologie :")[1].split("Entretiens :")[0],
        re.MULTILINE,
    )
    assert [(stage, summary.split("  (")[0]) for _, stage, summary in entries[:2]] == [
        ("accueil", "Dossier ouvert à l'accueil"),
        ("écoute", "Entretien d'écoute : début de l'écoute"),
    ]
    assert len(entries) == 9
    assert any(stage == "clôture" and "Dossier clôturé : Réglé" in s for _, stage, s in entries)
    assert any(stage == "écoute" and s.startswith("Dossier rouvert (cycle 2)") for _, stage, s in entries)
    assert "agent-martin, note privée\n      Dettes de loyer\n      Plan d'apurement à discuter" in history
    assert "agent-martin, note d'équipe\n      Expulsion annoncée" in history
    assert "Échéances : aucune" in history

    # Another agent does not read the private note.
    other = await as_json(app_stack, "chronologie", dossier_id, "--agent", "agent-durand")
    assert [(i["visibility"], i["notes"]) for i in other["interviews"]] == [("team", "Expulsion annoncée")]
    assert other["entries"][-1]["kind"] == "reopened"
    assert "Dettes de loyer" not in await text(app_stack, "timeline", dossier_id, "--agent", "agent-x")


async def test_a_refused_transition_is_an_error_and_exits_1(app_stack: AppStack) -> None:
    opened = await as_json(
        app_stack, "open", "--commune", "55029", "--motif", "logement", "--canal", "telephone", "--urgent"
    )
    dossier_id = opened["dossier"]["dossier_id"]
    refused = await cli(app_stack, "suivi", dossier_id, "--agent", AGENT)
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr.startswith("Erreur (FAILED_PRECONDITION) : ")
    as_script = await cli(app_stack, "--json", "rouvrir", dossier_id, "--agent", AGENT)
    assert as_script.returncode == 1
    assert json.loads(as_script.stdout)["error"]["code"] == "FAILED_PRECONDITION"
    # Nothing was written: still at reception, the urgent deadline pending.
    history = await text(app_stack, "chronologie", dossier_id)
    assert field(history, "Étape") == "accueil" and field(history, "Urgent") == "oui"
    assert re.search(rf"^  Écoute urgente avant {MINUTE}$", history, re.MULTILINE), history
    missing = await cli(app_stack, "dossier", str(uuid.uuid4()))
    assert missing.returncode == 1 and missing.stderr.startswith("Erreur (NOT_FOUND) : ")


async def test_a_person_entered_twice_is_reported_as_a_possible_duplicate(app_stack: AppStack) -> None:
    name = f"Lefèvre{letters()}"
    person = ("personne", "creer", "--commune", "55029", "--nom", name, "--prenom", "Élodie")
    phone = "07 " + " ".join(f"{random.randrange(100):02d}" for _ in range(4))  # unique in the session
    first = await as_json(app_stack, *person, "--naissance", "1984-03-07", "--telephone", phone)
    assert first["created"] is True and first["possible_duplicates"] == []
    first_id = first["person"]["person_id"]

    second = await text(app_stack, *person, "--naissance", "1984-03-07")
    second_id = field(second, "Personne créée")
    assert second_id != first_id and field(second, "Naissance") == "07/03/1984"
    warning = field(second, "Doublons possibles")
    assert f"Élodie {name}, né(e) le 07/03/1984" in warning and f"[{first_id}]" in warning

    merged = await text(
        app_stack, "personne", "fusionner", "--garder", first_id, "--doublon", second_id, "--agent", AGENT
    )
    assert (
        merged.startswith("Personnes fusionnées ; personne conservée.\n")
        and field(merged, "Personne") == first_id
    )
    shown = await as_json(app_stack, "person", "show", second_id)
    assert shown["merged_into"] == first_id


async def test_consents_are_recorded_and_listed(app_stack: AppStack) -> None:
    created = await as_json(
        app_stack, "person", "create", "--commune", "55029", "--nom", f"Martin{letters()}", "--prenom", "Paul"
    )
    person_id = created["person"]["person_id"]
    household = await text(app_stack, "foyer", "creer", "--commune", "55029", "--membre", person_id)
    assert household.startswith("Foyer créé.\n") and field(household, "Membres") == person_id

    recorded = await text(
        app_stack,
        *("consentement", "enregistrer", "--personne", person_id, "--partenaire", "cresus"),
        *("--donnees", "identite,contact", "--type", "consentement", "--canal", "ecrit", "--agent", AGENT),
    )
    assert recorded.startswith("Consentement enregistré.\n")
    assert (field(recorded, "Type"), field(recorded, "Données")) == (
        "consentement (écrit)",
        "identite, contact",
    )
    legal = await as_json(
        app_stack,
        *("consent", "record", "--personne", person_id, "--partenaire", "france-victimes"),
        *("--donnees", "identite,motif", "--type", "base_legale", "--base-legale", "CASF L.226-2-2"),
        *("--agent", "agent-dupont"),
    )
    assert (legal["kind"], legal["legal_basis"], legal["data_scope"]) == (
        "legal_basis",
        "CASF L.226-2-2",
        ["identite", "motif"],
    )

    listed = await text(app_stack, "consentement", "lister", "--personne", person_id)
    lines = listed.splitlines()
    assert lines[0] == "Consentements :" and len(lines) == 3
    assert re.match(
        rf"  {MINUTE}  france-victimes\s+ base légale : CASF L.226-2-2 — données : identite, motif", lines[1]
    )
    assert re.match(rf"  {MINUTE}  cresus\s+ consentement \(écrit\) — données : identite, contact", lines[2])
    as_script = await as_json(app_stack, "consent", "list", "--personne", person_id)
    assert [c["partner_id"] for c in as_script["consents"]] == ["france-victimes", "cresus"]


async def test_dossiers_lists_the_opened_dossier(app_stack: AppStack) -> None:
    opened = await as_json(
        app_stack,
        *("ouvrir", "--commune", "55291", "--motif", "mobilite", "--motif", "emploi", "--canal", "telephone"),
        *("--agent", "agent-lucas"),
    )
    dossier_id = opened["dossier"]["dossier_id"]
    table = await text(app_stack, "dossiers", "--commune", "55291", "--etape", "accueil", "--taille", "200")
    assert table.splitlines()[0].split() == ["Dossier", "Étape", "Ouvert", "le", "Urgent", "Agent", "Motifs"]
    row = next(line for line in table.splitlines() if line.startswith(dossier_id))
    assert re.fullmatch(rf"{dossier_id}  accueil\s+ {MINUTE}  non\s+ agent-lucas\s+ mobilite, emploi", row)
    listed = await as_json(app_stack, "list", "--commune", "55291", "--taille", "200")
    assert dossier_id in [d["dossier_id"] for d in listed["dossiers"]]
    reference = await text(app_stack, "referentiel")
    assert "Issues de clôture :\n  regle" in reference
