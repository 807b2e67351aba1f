"""The `entraide` command end to end: the installed executable against this session's
real service processes, as an agent at a CCAS would type it (French text) and as a
script would call it (--json)."""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import socket
import string
import subprocess
import sys
import uuid
from collections.abc import Iterator
from concurrent import futures
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import grpc
import pytest
from entraide.v1 import intake_pb2, intake_pb2_grpc, reporting_pb2

from domain.planning import AppointmentStatus, HostKind
from entraide_cli import main, render
from kernel import rich_status
from kernel.auth import Role
from kernel.errors import InvalidArgument, Violation
from kernel.events import Event
from kernel.settings import Settings
from tests.conftest import AppStack
from tests.reporting_events import (
    appointment_booked,
    appointment_place,
    attendance_recorded,
    drained,
    publish,
    shuffled,
)

ENTRAIDE = str(Path(sys.executable).parent / "entraide")
AGENT = "agent-martin"
MINUTE = r"\d{2}/\d{2}/\d{4} \d{2}:\d{2}"  # JJ/MM/AAAA HH:MM


async def cli(stack: AppStack, *args: str, agent: str = AGENT) -> subprocess.CompletedProcess[str]:
    """Runs `entraide` as `agent` is logged in (its own token: the acting agent of every
    step and the reader of the timeline)."""
    env = dict(stack.env)
    env["ENTRAIDE_TOKEN"] = stack.token(agent)
    return await asyncio.to_thread(
        subprocess.run, [ENTRAIDE, *args], env=env, capture_output=True, text=True, timeout=60
    )


async def text(stack: AppStack, *args: str, agent: str = AGENT) -> str:
    done = await cli(stack, *args, agent=agent)
    assert done.returncode == 0, done.stderr
    return done.stdout


async def as_json(stack: AppStack, *args: str, agent: str = AGENT) -> dict[str, Any]:
    done = await cli(stack, "--json", *args, agent=agent)
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


def chronology(output: str) -> list[list[str]]:
    """The "Chronologie" section of `entraide chronologie`: one block per entry, its
    first line the entry, the next ones the note written at that step."""
    body = output.split("Chronologie :\n")[1].split("\n\n")[0]
    blocks: list[list[str]] = []
    for line in body.splitlines():
        if re.match(rf"^  {MINUTE}  ", line):
            blocks.append([line])
        else:
            blocks[-1].append(line)
    return blocks


async def test_full_lifecycle_through_the_command(app_stack: AppStack, tmp_path: Path) -> None:
    opened = await text(
        app_stack,
        *("ouvrir", "--commune", "55029", "--motif", "logement", "--canal", "telephone"),
        *("--attribuer-a", AGENT),
    )
    dossier_id = field(opened, "Dossier ouvert")
    assert uuid.UUID(dossier_id)
    assert (field(opened, "Étape"), field(opened, "Agent")) == ("accueil", AGENT)
    assert (field(opened, "Commune"), field(opened, "Motifs"), field(opened, "Canal")) == (
        "Bar-le-Duc (55029)",
        "Logement / hébergement",
        "Téléphone",
    )
    assert re.fullmatch(MINUTE, field(opened, "Ouvert le"))

    # Every step acts as the token's agent: no --agent.
    interview = await text(app_stack, "entretien", dossier_id, "--notes", "Expulsion annoncée")
    assert interview.startswith("Entretien enregistré.\n") and field(interview, "Étape") == "écoute"
    private = tmp_path / "notes.txt"
    private.write_text("Dettes de loyer\nPlan d'apurement à discuter", encoding="utf-8")
    step = await as_json(app_stack, "interview", dossier_id, "--notes-file", str(private), "--prive")
    assert step["dossier"]["stage"] == "ecoute"

    step = await as_json(
        app_stack,
        *("fin-ecoute", dossier_id, "--vers", "orientation"),
        *("--motif", "logement", "--motif", "difficultes_financieres"),
    )
    assert (step["dossier"]["stage"], step["dossier"]["motifs"]) == (
        "orientation",
        ["logement", "difficultes_financieres"],
    )
    follow_up = await text(app_stack, "contact", dossier_id, "--notes", "Appel à la CAF")
    assert follow_up.startswith("Contact enregistré.\n") and field(follow_up, "Étape") == "orientation"
    assert field(follow_up, "Motifs") == "Logement / hébergement, Difficultés financières / surendettement"
    assert field(await text(app_stack, "suivi", dossier_id), "Étape") == "suivi"
    step = await as_json(app_stack, "assign", dossier_id, "--a", "agent-durand")
    assert (step["dossier"]["stage"], step["dossier"]["assigned_agent"]) == ("suivi", "agent-durand")
    in_suivi = await text(app_stack, "chronologie", dossier_id)
    assert re.search(rf"^  Relance de suivi le {MINUTE}$", in_suivi, re.MULTILINE), in_suivi

    closed = await text(
        app_stack, "cloturer", dossier_id, "--issue", "regle", "--notes", "Relogé", agent="agent-durand"
    )
    assert closed.startswith("Dossier clôturé.\n")
    assert (field(closed, "Étape"), field(closed, "Issue")) == ("clôture", "Réglé")
    after_close = await as_json(app_stack, "timeline", dossier_id)
    assert [d["kind"] for d in after_close["deadlines"]] == ["reopen_limit"]

    reopened = await as_json(app_stack, "rouvrir", dossier_id, "--motif-reouverture", "Nouvel impayé")
    assert (reopened["dossier"]["stage"], reopened["dossier"]["cycle"]) == ("ecoute", 1)

    # The author reads the whole timeline, their private note included, each note under
    # the entry of its step.
    history = await text(app_stack, "chronologie", dossier_id)
    assert field(history, "Étape") == "écoute" and field(history, "Réouvertures") == "1"
    assert "Entretiens :" not in history
    blocks = chronology(history)
    entries = [re.match(rf"^  ({MINUTE})  (\S+)\s+ (.+)$", block[0]) for block in blocks]
    assert all(entries), blocks
    summaries = [(m.group(2), m.group(3).split("  (")[0]) for m in entries if m]
    assert summaries[:2] == [
        ("accueil", "Dossier ouvert à l'accueil"),
        ("écoute", "Entretien d'écoute : début de l'écoute"),
    ]
    assert len(blocks) == 9
    assert any(stage == "clôture" and "Dossier clôturé : Réglé" in s for stage, s in summaries)
    assert any(stage == "écoute" and s.startswith("Dossier rouvert (cycle 2)") for stage, s in summaries)
    notes = [block[1:] for block in blocks if len(block) > 1]
    assert notes == [
        ["      Entretien — agent-martin, note d'équipe :", "        Expulsion annoncée"],
        [
            "      Entretien — agent-martin, note privée :",
            "        Dettes de loyer",
            "        Plan d'apurement à discuter",
        ],
        ["      Contact de suivi — agent-martin, note d'équipe :", "        Appel à la CAF"],
        ["      Note de clôture — agent-durand, note d'équipe :", "        Relogé"],
        ["      Motif de réouverture — agent-martin, note d'équipe :", "        Nouvel impayé"],
    ], history
    closing_block = next(block for block in blocks if "Dossier clôturé" in block[0])
    assert closing_block[1].startswith("      Note de clôture")
    assert "Échéances : aucune" in history

    # Another agent does not read the private note; JSON carries the notes as the proto does.
    other = await as_json(app_stack, "chronologie", dossier_id, agent="agent-durand")
    assert [(n["kind"], n["author"], n["visibility"], n["text"]) for n in other["notes"]] == [
        ("interview", AGENT, "team", "Expulsion annoncée"),
        ("follow_up", AGENT, "team", "Appel à la CAF"),
        ("closure", "agent-durand", "team", "Relogé"),
        ("reopen", AGENT, "team", "Nouvel impayé"),
    ]
    with_notes = [e for e in other["entries"] if e.get("note")]
    assert [e["note"]["kind"] for e in with_notes] == ["interview", "follow_up", "closure", "reopen"]
    assert all(e["step"] == e["note"]["step"] for e in with_notes)
    assert [(i["visibility"], i["notes"]) for i in other["interviews"]] == [("team", "Expulsion annoncée")]
    assert other["entries"][-1]["kind"] == "reopened"
    assert "Dettes de loyer" not in await text(app_stack, "timeline", dossier_id, agent="agent-x")


async def test_a_refused_transition_is_an_error_and_exits_1(app_stack: AppStack) -> None:
    opened = await as_json(
        app_stack, "open", "--commune", "55029", "--motif", "logement", "--canal", "telephone", "--urgent"
    )
    dossier_id = opened["dossier"]["dossier_id"]
    refused = await cli(app_stack, "suivi", dossier_id)
    assert refused.returncode == 1 and refused.stdout == ""
    assert re.fullmatch(r"Erreur : .+ \[[A-Z_]+\]\n", refused.stderr), refused.stderr
    as_script = await cli(app_stack, "--json", "rouvrir", dossier_id)
    assert as_script.returncode == 1
    error = json.loads(as_script.stdout)["error"]
    assert error["code"] == "FAILED_PRECONDITION"
    assert set(error) >= {"code", "reason", "message", "fr", "fields"} and error["reason"] and error["fr"]
    # Nothing was written: still at reception, the urgent deadline pending.
    history = await text(app_stack, "chronologie", dossier_id)
    assert field(history, "Étape") == "accueil" and field(history, "Urgent") == "oui"
    assert re.search(rf"^  Écoute urgente avant {MINUTE}$", history, re.MULTILINE), history
    missing = await cli(app_stack, "--json", "dossier", str(uuid.uuid4()))
    assert missing.returncode == 1 and json.loads(missing.stdout)["error"]["code"] == "NOT_FOUND"


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

    merged = await text(app_stack, "personne", "fusionner", "--garder", first_id, "--doublon", second_id)
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
        *("--donnees", "identite,contact", "--type", "consentement", "--canal", "ecrit"),
    )
    assert recorded.startswith("Consentement enregistré.\n")
    assert (field(recorded, "Type"), field(recorded, "Données"), field(recorded, "Agent")) == (
        "consentement (écrit)",
        "identité, coordonnées",
        AGENT,
    )
    legal = await as_json(
        app_stack,
        *("consent", "record", "--personne", person_id, "--partenaire", "france-victimes"),
        *("--donnees", "identite,motif", "--type", "base_legale", "--base-legale", "CASF L.226-2-2"),
        agent="agent-dupont",
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
        rf"  {MINUTE}  france-victimes\s+ base légale : CASF L.226-2-2 — données : identité, motif", lines[1]
    )
    assert re.match(
        rf"  {MINUTE}  cresus\s+ consentement \(écrit\) — données : identité, coordonnées", lines[2]
    )
    as_script = await as_json(app_stack, "consent", "list", "--personne", person_id)
    assert [c["partner_id"] for c in as_script["consents"]] == ["france-victimes", "cresus"]

    # The person withdraws the consent; a legal basis is not withdrawn by the person.
    consent_id = as_script["consents"][1]["consent_id"]
    withdrawn = await text(
        app_stack, "consentement", "retirer", "--consentement", consent_id, "--canal", "oral"
    )
    assert withdrawn.startswith("Consentement retiré.\n")
    assert field(withdrawn, "Retrait") == f"oral, enregistré par {AGENT}"
    after = await text(app_stack, "consentement", "lister", "--personne", person_id)
    assert re.search(rf"— retiré le {MINUTE} \[{consent_id}\]", after)
    refused = await cli(
        app_stack, "consentement", "retirer", "--consentement", legal["consent_id"], "--canal", "oral"
    )
    assert refused.returncode != 0 and "base légale" in refused.stderr


async def test_dossiers_lists_the_opened_dossier(app_stack: AppStack) -> None:
    opened = await as_json(
        app_stack,
        *("ouvrir", "--commune", "55291", "--motif", "mobilite", "--motif", "emploi", "--canal", "telephone"),
        *("--attribuer-a", "agent-lucas", "--site", "mairie-ligny"),
    )
    dossier_id = opened["dossier"]["dossier_id"]
    assert (opened["dossier"]["site"], opened["dossier"]["site_label"]) == (
        "mairie-ligny",
        "Mairie de Ligny-en-Barrois – permanence sociale",
    )
    shown = await text(app_stack, "dossier", dossier_id)
    assert "Ligny-en-Barrois (55291) (site : Mairie de Ligny-en-Barrois – permanence sociale)" in shown
    table = await text(app_stack, "dossiers", "--commune", "55291", "--etape", "accueil", "--taille", "200")
    assert table.splitlines()[0].split() == ["Dossier", "Étape", "Ouvert", "le", "Urgent", "Agent", "Motifs"]
    row = next(line for line in table.splitlines() if line.startswith(dossier_id))
    assert re.fullmatch(rf"{dossier_id}  accueil\s+ {MINUTE}  non\s+ agent-lucas\s+ Mobilité, Emploi", row)
    listed = await as_json(app_stack, "list", "--commune", "55291", "--taille", "200")
    assert dossier_id in [d["dossier_id"] for d in listed["dossiers"]]
    reference = await text(app_stack, "referentiel")
    assert "Issues de clôture :\n  regle" in reference
    assert re.search(
        r"Sites d'accueil .*:\n  ccas-bar-le-duc +CIAS du Pays Barrois – accueil — Bar-le-Duc \(55029\)",
        reference,
    )


# ---- errors, usage, output ------------------------------------------------------------
def offline_env(tmp_path: Path, **addresses: str) -> dict[str, str]:
    """An environment with no running stack: no stack.env, a dummy token."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ENTRAIDE_", "TEMPORAL_"))}
    env.update({"ENTRAIDE_STATE_DIR": str(tmp_path / "state"), "ENTRAIDE_TOKEN": "not-checked"})
    env.update({f"ENTRAIDE_{service.upper()}_ADDR": address for service, address in addresses.items()})
    return env


def run_offline(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ENTRAIDE, *args], env=env, capture_output=True, text=True, timeout=60)


class RefusingIntake(intake_pb2_grpc.IntakeServiceServicer):
    """An intake that refuses OpenDossier as the converted servers do: rich status with
    ErrorInfo, BadRequest (one violation per field) and a fr-FR LocalizedMessage."""

    def OpenDossier(self, request: Any, context: Any) -> Any:
        error = InvalidArgument(
            f"unknown motif(s): {', '.join(request.motifs)} (see ListReferenceData)",
            fr=f"Motif inconnu « {request.motifs[0]} » : voir `entraide referentiel`.",
            reason="UNKNOWN_MOTIF",
            violations=[
                Violation("motifs[0]", "unknown motif", f"motif inconnu « {request.motifs[0]} »"),
                Violation("arrival_channel", "unknown channel", "canal d'arrivée inconnu"),
            ],
        )
        context.abort_with_status(rich_status.to_status(error))


@pytest.fixture
def refusing_intake() -> Iterator[str]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    intake_pb2_grpc.add_IntakeServiceServicer_to_server(RefusingIntake(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(grace=None)


def test_a_bad_request_is_said_in_french_with_its_fields(refusing_intake: str, tmp_path: Path) -> None:
    env = offline_env(tmp_path, intake=refusing_intake)
    opening = ("ouvrir", "--commune", "55029", "--motif", "xyz", "--canal", "pigeon")
    done = run_offline(env, *opening)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.splitlines() == [
        "Erreur : Motif inconnu « xyz » : voir `entraide referentiel`. [UNKNOWN_MOTIF]",
        "  – motifs[0] : motif inconnu « xyz »",
        "  – canal : canal d'arrivée inconnu",
    ]
    assert "unknown" not in done.stderr  # nothing English but the reason code

    as_script = run_offline(env, "--json", *opening)
    assert as_script.returncode == 1
    assert json.loads(as_script.stdout) == {
        "error": {
            "code": "INVALID_ARGUMENT",
            "reason": "UNKNOWN_MOTIF",
            "message": "unknown motif(s): xyz (see ListReferenceData)",
            "fr": "Motif inconnu « xyz » : voir `entraide referentiel`.",
            "fields": [
                {
                    "field": "motifs[0]",
                    "reason": "UNKNOWN_MOTIF",
                    "description": "unknown motif",
                    "fr": "motif inconnu « xyz »",
                },
                {
                    "field": "arrival_channel",
                    "reason": "UNKNOWN_MOTIF",
                    "description": "unknown channel",
                    "fr": "canal d'arrivée inconnu",
                },
            ],
        }
    }


async def test_an_unknown_motif_is_refused_by_the_service(app_stack: AppStack) -> None:
    done = await cli(
        app_stack, "ouvrir", "--commune", "55029", "--motif", "astrologie", "--canal", "telephone"
    )
    assert done.returncode == 1 and done.stdout == ""
    first, *fields = done.stderr.splitlines()
    assert re.fullmatch(r"Erreur : .+ \[[A-Z_]+\]", first), done.stderr
    assert all(line.startswith("  – ") for line in fields) and "Traceback" not in done.stderr
    as_script = await cli(app_stack, "--json", "ouvrir", "--commune", "55029", "--motif", "x", "--canal", "y")
    error = json.loads(as_script.stdout)["error"]
    assert as_script.returncode == 1 and error["code"] == "INVALID_ARGUMENT", error


def test_a_service_that_does_not_answer_exits_3(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{probe.getsockname()[1]}"
    env = offline_env(tmp_path, intake=address, reporting=address)
    done = run_offline(env, "dossier", str(uuid.uuid4()))
    assert done.returncode == 3 and done.stdout == ""
    assert done.stderr.startswith(
        f"Erreur : Le service intake ({address}) ne répond pas. "
        "La pile Entraide est-elle démarrée ? Lancez `make up`."
    ), done.stderr
    assert "failed to connect" not in done.stderr
    as_script = run_offline(env, "--json", "chiffres")
    error = json.loads(as_script.stdout)["error"]
    assert as_script.returncode == 3
    assert (error["code"], error["service"], error["address"]) == ("UNAVAILABLE", "reporting", address)
    assert error["fr"].startswith(f"Le service reporting ({address}) ne répond pas.")


def test_usage_errors_and_help_are_in_french(tmp_path: Path) -> None:
    env = offline_env(tmp_path)
    missing = run_offline(env, "ouvrir", "--commune", "55029")
    assert missing.returncode == 2 and missing.stdout == ""
    assert missing.stderr.startswith("utilisation : entraide ouvrir ")
    assert missing.stderr.endswith(
        "entraide ouvrir : erreur : arguments obligatoires manquants : --motif, --canal/--channel\n"
    )
    wrong = run_offline(env, "dossiers", "--commune", "55029", "--etape", "fini", "--taille", "3")
    assert wrong.returncode == 2 and "argument --etape : choix invalide : 'fini'" in wrong.stderr
    assert "erreur : argument --taille : nombre entier attendu, pas « x »" in (
        run_offline(env, "dossiers", "--commune", "55029", "--taille", "x").stderr
    )
    assert "arguments non reconnus : --vite" in run_offline(env, "referentiel", "--vite").stderr
    assert "argument --timeout : une valeur attendue" in run_offline(env, "--timeout").stderr
    assert (
        "date invalide « 2025-13-01 »" in run_offline(env, "bilan", "--du", "2025-13-01", "--au", "x").stderr
    )
    removed = run_offline(env, "entretien", str(uuid.uuid4()), "--agent", "agent-martin", "--notes", "x")
    assert removed.returncode == 2
    assert "--agent n'existe plus : l'agent qui agit est celui du jeton" in removed.stderr
    english = ("usage:", "error:", "required", "invalid choice", "unrecognized", "expected one")
    for done in (missing, wrong, removed):
        assert not any(word in done.stderr for word in english), done.stderr

    helped = run_offline(env, "--help")
    assert helped.returncode == 0 and helped.stdout.startswith("utilisation : entraide ")
    assert "afficher cette aide et quitter" in helped.stdout and "options :" in helped.stdout
    assert "Codes de sortie :" in helped.stdout and "  3  un service ne répond pas" in helped.stdout
    step_help = run_offline(env, "cloturer", "--help").stdout
    assert "arguments positionnels :" in step_help and "--agent" not in step_help
    for command in ("ouvrir", "entretien", "personne creer", "consentement enregistrer", "bilan", "ops"):
        done = run_offline(env, *command.split(), "--help")
        assert done.returncode == 0 and done.stderr == "", done.stderr
        shown = done.stdout
        assert "show this help" not in shown and "options :" in shown
        assert undocumented_options(shown) == [], shown


def undocumented_options(help_text: str) -> list[str]:
    """Option lines of a --help with no help text (on the line or the next one)."""
    lines = help_text.split("options :\n")[1].splitlines()
    missing = []
    for at, line in enumerate(lines):
        if not line.startswith("  -"):
            continue
        on_line = re.search(r"\S  +\S", line.strip())
        below = at + 1 < len(lines) and lines[at + 1].startswith(" " * 8) and lines[at + 1].strip()
        if not on_line and not below:
            missing.append(line.strip())
    return missing


def closed_pipe(env: dict[str, str], *args: str) -> tuple[int, str]:
    """Runs `entraide` with its stdout a pipe nobody reads any more (closed before the
    command writes: every write meets EPIPE); its exit code and stderr."""
    reader = subprocess.Popen(
        [ENTRAIDE, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert reader.stdout is not None and reader.stderr is not None
    reader.stdout.close()
    errors = reader.stderr.read()
    reader.stderr.close()
    return reader.wait(timeout=60), errors


def test_a_closed_pipe_is_no_error(tmp_path: Path) -> None:
    """`entraide --help | head -1`: no BrokenPipeError traceback, exit 0."""
    assert closed_pipe(offline_env(tmp_path), "--help") == (0, "")


async def test_a_closed_pipe_after_a_call_is_no_error(app_stack: AppStack) -> None:
    assert await asyncio.to_thread(closed_pipe, app_stack.env, "referentiel") == (0, "")
    assert await asyncio.to_thread(closed_pipe, app_stack.env, "--json", "referentiel") == (0, "")

    def piped() -> tuple[int, str]:
        done = subprocess.run(
            ["bash", "-c", f"set -o pipefail; {ENTRAIDE} referentiel | head -n 1"],
            env=app_stack.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        return done.returncode, done.stdout + done.stderr

    assert await asyncio.to_thread(piped) == (0, "Motifs :\n")


async def test_json_counts_are_numbers(app_stack: AppStack) -> None:
    await as_json(app_stack, "ouvrir", "--commune", "55041", "--motif", "sante", "--canal", "telephone")
    counts = await as_json(app_stack, "chiffres", "--commune", "55041")
    assert isinstance(counts["dossiers"], int) and counts["dossiers"] >= 0
    assert counts["motifs"] and all(isinstance(m["count"], int) for m in counts["motifs"])


def test_json_turns_every_64_bit_integer_into_a_number() -> None:
    overview = reporting_pb2.OpsOverview(
        stages=[reporting_pb2.StageCount(stage="suivi", dossiers=12)],
        consumers=[reporting_pb2.ConsumerLag(consumer="c", pending=2**40, ack_pending=1, ack_floor=7)],
        outbox_backlog={"intake": 3, "referral": 0},
        dead_letters=[reporting_pb2.DeadLetter(consumer="c", stream_seq=9, deliveries=5)],
    )
    overview.generated_at.FromSeconds(1_700_000_000)
    data = json.loads(main.as_json(overview))
    assert data["stages"] == [{"stage": "suivi", "dossiers": 12}]
    assert data["consumers"][0]["pending"] == 2**40 and data["consumers"][0]["ack_floor"] == 7
    assert data["outbox_backlog"] == {"intake": 3, "referral": 0}
    assert data["dead_letters"][0]["stream_seq"] == 9 and data["dead_letters"][0]["deliveries"] == 5
    assert data["generated_at"] == "2023-11-14T22:13:20Z"
    bilan = reporting_pb2.Bilan(
        people_received=1234, partners=[reporting_pb2.PartnerFigures(partner_id="caf", referrals=5)]
    )
    data = json.loads(main.as_json(bilan))
    assert (data["people_received"], data["partners"][0]["referrals"]) == (1234, 5)
    assert data["territories"] == [] and data["dossiers_opened"] == 0


# ---- French text, in-process ---------------------------------------------------------
def test_the_bilan_is_written_with_french_numbers_and_its_partners() -> None:
    render.use_reference({})
    bilan = reporting_pb2.Bilan(
        territory_labels=["Bar-le-Duc"],
        people_received=1234,
        previous_people_received=987,
        dossiers_opened=12345,
        by_motif=[reporting_pb2.Share(code="logement", label="Logement", count=5851, percent=47.4)],
        stage_durations=[reporting_pb2.Duration(stage="ecoute", label="écoute", median_s=129600, p90_s=1e6)],
        partners=[
            reporting_pb2.PartnerFigures(
                partner_id="caf-meuse",
                name="caf-meuse",
                referrals=1200,
                accepted=900,
                completed=600,
                rejected=10,
                expired=2,
                median_response_s=3 * 86400,
                median_completion_s=7200,
            ),
            reporting_pb2.PartnerFigures(partner_id="cresus", referrals=1),
        ],
    )
    if "partner_name" in reporting_pb2.PartnerFigures.DESCRIPTOR.fields_by_name:
        setattr(bilan.partners[0], "partner_name", "CAF de la Meuse")  # noqa: B010 — a newer field
    shown = render.render_text(bilan).replace("\u202f", " ")
    assert "Personnes reçues : 1 234 (période précédente : 987)" in shown
    assert "Dossiers ouverts : 12 345" in shown
    assert re.search(r"Logement\s+5 851  \(47,4 %\)", shown), shown
    assert re.search(r"écoute\s+1,5 / 11,6  \(0 dossiers\)", shown), shown
    partners = shown.split("Partenaires (orientations, délais médians) :\n")[1].splitlines()
    named = (
        "CAF de la Meuse" if "partner_name" in bilan.partners[0].DESCRIPTOR.fields_by_name else "caf-meuse"
    )
    assert partners[0] == (
        f"  {named} : 1 200 orientations — acceptées 900, terminées 600, refusées 10, expirées 2"
        " — délai médian de réponse 3,0 j, d'accompagnement 2,0 h"
    )
    assert partners[1].startswith("  cresus : 1 orientation — ") and partners[1].endswith(
        "réponse —, d'accompagnement —"
    )
    # No appointment in the period nor the one before: one line.
    assert shown.endswith("\nPermanences et rendez-vous : aucun rendez-vous sur la période")


def test_the_permanences_figures_are_written_in_french() -> None:
    render.use_reference({})
    share = reporting_pb2.ActivityShare
    bilan = reporting_pb2.Bilan(
        territory_labels=["Bar-le-Duc"],
        activity=reporting_pb2.ActivityFigures(
            appointments=1520,
            visits=1300,
            no_shows=160,
            excused_no_shows=40,
            no_show_rate=11.0,
            previous_appointments=1700,
            previous_visits=1400,
            previous_no_shows=200,
            visits_growth=-7.1,
            walk_ins=1,
            by_category=[
                share(
                    code="logement",
                    label="Logement",
                    appointments=1500,
                    visits=1300,
                    no_shows=150,
                    no_show_rate=10.3,
                    previous_visits=1400,
                    visits_growth=-7.1,
                ),
                share(
                    code="elus", label="Permanences d'élus", appointments=20, no_shows=10, no_show_rate=100.0
                ),
            ],
            by_site=[share(code="ccas-bar-le-duc", label="CIAS du Pays Barrois – accueil", appointments=1)],
        ),
    )
    shown = render.render_text(bilan).replace("\u202f", " ")
    lines = shown.split("Permanences et rendez-vous :\n")[1].splitlines()
    assert lines == [
        "  Rendez-vous : 1 520 (période précédente : 1 700)",
        "  Visites : 1 300 (période précédente : 1 400)",
        "  Absences : 160, dont 40 excusées (période précédente : 200)",
        "  Taux d'absence : 11,0 %",
        "  Venues sans rendez-vous : 1",
        "  Évolution des visites sur la période précédente : -7,1 %",
        "  Par catégorie de partenaire :",
        "    Logement : 1 500 rendez-vous, 1 300 visites, 150 absences (taux d'absence 10,3 %)"
        " — période précédente : 1 400 visites, évolution -7,1 %",
        "    Permanences d'élus : 20 rendez-vous, 0 visite, 10 absences (taux d'absence 100,0 %)"
        " — période précédente : 0 visite, évolution —",
        "  Par partenaire : aucun rendez-vous",
        "  Par site :",
        "    CIAS du Pays Barrois – accueil : 1 rendez-vous, 0 visite, 0 absence (taux d'absence 0,0 %)"
        " — période précédente : 0 visite, évolution —",
    ]


def bar_appointments() -> list[Event]:
    """Bar-le-Duc's permanences in 2009 (a year no other test uses) and 2008: the ADIL
    3 appointments in 2009 (2 seen, 1 excused no-show) and 1 seen in 2008, an élu's
    walk-in seen in 2009."""
    adil = (HostKind.PARTENAIRE, "adil-55", "ADIL de la Meuse", "logement")
    elu = (HostKind.ELU, "", "", "")
    s = AppointmentStatus
    planned = [
        (datetime(2009, 3, 2, 9, tzinfo=UTC), adil, s.SEEN, False),
        (datetime(2009, 5, 4, 9, tzinfo=UTC), adil, s.SEEN, False),
        (datetime(2009, 6, 8, 9, tzinfo=UTC), adil, s.NO_SHOW_EXCUSED, False),
        (datetime(2009, 9, 7, 14, tzinfo=UTC), elu, s.SEEN, True),
        (datetime(2008, 4, 7, 9, tzinfo=UTC), adil, s.SEEN, False),
    ]
    events = []
    for starts, (host_kind, partner_id, partner_name, category), status, walk_in in planned:
        appointment_id = str(uuid.uuid4())
        place = appointment_place(
            starts,
            territory="55029",
            site="ccas-bar-le-duc",
            host_kind=host_kind,
            partner_id=partner_id,
            partner_name=partner_name,
            category=category,
        )
        booked = starts if walk_in else starts - timedelta(days=3)
        events.append(appointment_booked(appointment_id, place, booked, walk_in=walk_in))
        events.append(attendance_recorded(appointment_id, status, starts, territory="55029"))
    return events


async def test_the_bilan_shows_the_permanences_appointments(app_stack: AppStack, settings: Settings) -> None:
    await publish(settings, shuffled(bar_appointments()))
    await drained(settings)
    env = dict(app_stack.env)
    env["ENTRAIDE_TOKEN"] = app_stack.token("elu-bar", Role.ELU, ["55029"])
    done = await asyncio.to_thread(
        subprocess.run,
        [ENTRAIDE, "bilan", "--du", "2009-01-01", "--au", "2010-01-01", "--commune", "55029"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    shown = done.stdout.replace("\u202f", " ")
    assert shown.startswith("Bilan : Bar-le-Duc\n")
    lines = shown.split("Permanences et rendez-vous :\n")[1].splitlines()
    assert lines == [
        "  Rendez-vous : 4 (période précédente : 1)",
        "  Visites : 3 (période précédente : 1)",
        "  Absences : 1, dont 1 excusée (période précédente : 0)",
        "  Taux d'absence : 25,0 %",
        "  Venues sans rendez-vous : 1",
        "  Évolution des visites sur la période précédente : +200,0 %",
        "  Par catégorie de partenaire :",
        "    Logement : 3 rendez-vous, 2 visites, 1 absence (taux d'absence 33,3 %)"
        " — période précédente : 1 visite, évolution +100,0 %",
        "    Permanences d'élus : 1 rendez-vous, 1 visite, 0 absence (taux d'absence 0,0 %)"
        " — période précédente : 0 visite, évolution —",
        "  Par partenaire :",
        "    ADIL de la Meuse : 3 rendez-vous, 2 visites, 1 absence (taux d'absence 33,3 %)"
        " — période précédente : 1 visite, évolution +100,0 %",
        "  Par site :",
        "    CIAS du Pays Barrois – accueil : 4 rendez-vous, 3 visites, 1 absence (taux d'absence 25,0 %)"
        " — période précédente : 1 visite, évolution +200,0 %",
    ]


def test_ops_shows_labels_and_misconfigured_channels() -> None:
    render.use_reference({})
    overview = reporting_pb2.OpsOverview(
        stages=[reporting_pb2.StageCount(stage="reception", dossiers=1500)],
        overdue=[
            reporting_pb2.StuckDossier(dossier_id="d1", territory="55029", stage="suivi", reason="reminder")
        ],
        stuck=[
            reporting_pb2.StuckDossier(
                dossier_id="d2", territory="55291", stage="cloture", reason="no_progress"
            )
        ],
    )
    shown = render.render_text(overview).replace("\u202f", " ")
    assert re.search(r"^  accueil +1 500$", shown, re.MULTILINE), shown
    assert "  d1  Bar-le-Duc (55029)  suivi — relance de suivi sans suite" in shown
    assert "  d2  Ligny-en-Barrois (55291)  clôture — sans avancée" in shown
    assert "reception" not in shown and "reminder" not in shown
    channel = SimpleNamespace(
        partner_id="caf-meuse",
        channel="webhook",
        reason="MISSING_WEBHOOK_SECRET",
        since="",
        deliveries_held=4,
    )
    assert render._misconfigured(channel).replace("\u202f", " ") == (
        "  caf-meuse  webhook — secret du webhook absent — envois en attente : 4"
    )
    invalid = SimpleNamespace(
        partner_id="cpam", channel="webhook", reason="INVALID_WEBHOOK_URL", deliveries_held=0
    )
    assert "adresse du webhook invalide" in render._misconfigured(invalid)
    if "misconfigured_channels" in reporting_pb2.OpsOverview.DESCRIPTOR.fields_by_name:
        item: Any = getattr(overview, "misconfigured_channels").add()  # noqa: B009 — a newer field
        item.partner_id, item.channel, item.reason = "caf-meuse", "webhook", "INVALID_WEBHOOK_URL"
        shown = render.render_text(overview)
        assert "Canaux de partenaires mal configurés : 1" in shown
        assert "caf-meuse  webhook — adresse du webhook invalide" in shown


def test_an_erased_note_is_said_so() -> None:
    timeline = intake_pb2.DossierTimeline(
        dossier=intake_pb2.Dossier(
            dossier_id="d", stage="cloture", outcome="regle", arrival_channel="courriel"
        ),
        entries=[
            intake_pb2.TimelineEntry(kind="interview", stage="ecoute", summary="Entretien", step=2),
            intake_pb2.TimelineEntry(kind="closed", stage="cloture", summary="Clôture", step=3),
        ],
        notes=[
            intake_pb2.Note(kind="interview", author="a", visibility="team", step=2),
            intake_pb2.Note(kind="closure", author="b", visibility="team", step=3, text="Fin"),
        ],
    )
    timeline.notes[0].erased_at.FromSeconds(1_700_000_000)
    shown = render.render_text(timeline)
    assert "      Entretien — a, note d'équipe (effacée le 14/11/2023 23:13)" in shown
    assert "      Note de clôture — b, note d'équipe :\n        Fin" in shown
    assert field(shown, "Issue") == "Réglé" and field(shown, "Canal") == "Courriel"
