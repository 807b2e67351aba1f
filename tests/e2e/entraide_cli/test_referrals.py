"""`entraide` for orientations, end to end against this session's real services: the
agent's side (suggestions, orienter, orientations) and the partner's side (`entraide
partenaire …`, acting with a partner token), French text and --json."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from collections.abc import AsyncIterator
from typing import Any

import pytest
from entraide.v1 import referral_pb2, referral_pb2_grpc

from kernel.auth import Role
from tests.conftest import AppStack
from tests.e2e.entraide_cli.test_cli import AGENT, ENTRAIDE, MINUTE, as_json, cli, field, letters, text
from tests.e2e.services.referral.test_referrals import DIRECTORY

PARTNER = "caf-meuse"
WEEKDAY = r"(lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche)"


@pytest.fixture
async def stack(app_stack: AppStack) -> AsyncIterator[AppStack]:
    """The stack with the demo partner directory imported (as a responsable)."""
    async with app_stack.channel("referral", app_stack.token("resp-dupont", Role.RESPONSABLE)) as admin:
        await referral_pb2_grpc.ReferralServiceStub(admin).ImportDirectory(
            referral_pb2.ImportDirectoryRequest(document=DIRECTORY.read_text(encoding="utf-8")), timeout=10
        )
    yield app_stack


async def partner(stack: AppStack, *args: str, partner_id: str = PARTNER) -> subprocess.CompletedProcess[str]:
    """Runs `entraide` as a user of the partner (a partenaire token for that partner)."""
    env = dict(stack.env)
    env["ENTRAIDE_TOKEN"] = stack.token(f"user-{partner_id}", Role.PARTENAIRE, [], partner_id=partner_id)
    return await asyncio.to_thread(
        subprocess.run, [ENTRAIDE, *args], env=env, capture_output=True, text=True, timeout=60
    )


async def partner_text(stack: AppStack, *args: str) -> str:
    done = await partner(stack, *args)
    assert done.returncode == 0, done.stderr
    return done.stdout


async def partner_json(stack: AppStack, *args: str) -> dict[str, Any]:
    done = await partner(stack, "--json", *args)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


async def oriented_dossier(stack: AppStack, consent: bool = True) -> str:
    """A dossier in orientation with its person and (if asked) their consent for the CAF."""
    created = await as_json(
        stack,
        *("personne", "creer", "--commune", "55029", "--nom", "Exemple" + letters(), "--prenom", "Camille"),
        *("--naissance", "1990-05-04", "--telephone", "0600000001"),
    )
    person_id = created["person"]["person_id"]
    opened = await as_json(
        stack,
        *("ouvrir", "--commune", "55029", "--motif", "logement", "--canal", "telephone"),
        *("--personne", person_id, "--attribuer-a", AGENT),
    )
    dossier_id: str = opened["dossier"]["dossier_id"]
    await text(stack, "entretien", dossier_id, "--notes", "Loyers impayés (note interne)")
    await text(stack, "fin-ecoute", dossier_id, "--vers", "orientation")
    if consent:
        await text(
            stack,
            *("consentement", "enregistrer", "--personne", person_id, "--partenaire", PARTNER),
            *(
                "--donnees",
                "motif,identite,contact",
                "--type",
                "consentement",
                "--canal",
                "oral",
            ),
        )
    # The referral service learns of the dossier from its events: wait for it.
    for _ in range(100):
        done = await cli(stack, "--json", "suggestions", dossier_id)
        if done.returncode == 0:
            return dossier_id
        await asyncio.sleep(0.1)
    raise AssertionError(f"the referral service never saw dossier {dossier_id}: {done.stdout}{done.stderr}")


async def test_partners_are_listed_with_the_ids_commands_take(stack: AppStack) -> None:
    directory = await text(stack, "partenaires", "--motif", "logement", "--commune", "55029")
    lines = directory.splitlines()
    assert lines[0].split() == ["Identifiant", "Partenaire"]
    assert re.search(
        rf"^{PARTNER}\s+ CAF de la Meuse \(caf\) — motifs : .*Logement / hébergement", directory, re.MULTILINE
    ), directory
    listed = await as_json(stack, "partners")
    assert PARTNER in [p["partner_id"] for p in listed["partners"]]


async def test_agent_orients_and_the_partner_closes_the_loop(stack: AppStack) -> None:
    dossier_id = await oriented_dossier(stack)

    suggestions = await text(stack, "suggestions", dossier_id)
    assert f"({PARTNER}, " in suggestions, suggestions
    caf_block = suggestions[suggestions.index(f"({PARTNER}, ") :]
    assert re.search(r"Motifs servis\s+: .*Logement / hébergement", caf_block)
    assert re.search(
        rf"Prochaine permanence\s+: {WEEKDAY} \d{{2}}/\d{{2}}/\d{{4}} de \d{{2}}:\d{{2}} à \d{{2}}:\d{{2}}",
        caf_block,
    ), caf_block

    sent = await text(
        stack,
        *("orienter", dossier_id, "--partenaire", PARTNER, "--motif", "logement"),
        *("--message", "Dossier d'impayés de loyer à étudier", "--donnees", "identite,contact"),
    )
    referral_id = field(sent, "Orientation")
    assert field(sent, "Statut") == "demandée"
    assert field(sent, "Données") == "motif, identité, coordonnées"
    assert field(sent, "Orientée par") == AGENT
    assert "Camille" in field(sent, "Personne")
    assert re.fullmatch(MINUTE, field(sent, "Créée le"))

    # The partner sees it, without the dossier id nor the referrer, and acts on it.
    mine = await partner_text(stack, "partenaire", "orientations", "--statut", "demandee")
    assert referral_id in mine and "demandée" in mine
    shown = await partner_text(stack, "partenaire", "voir", referral_id)
    assert not re.search(r"^(Dossier|Orientée par) ", shown, re.MULTILINE) and "Loyers impayés" not in shown
    assert field(shown, "Message") == "Dossier d'impayés de loyer à étudier"

    acknowledged = await partner_text(stack, "partenaire", "accuser", referral_id)
    assert (
        acknowledged.startswith("Réception accusée.\n")
        and field(acknowledged, "Statut") == "reçue par le partenaire"
    )
    accepted = await partner_json(stack, "partner", "accept", referral_id)  # English alias, JSON
    assert accepted["status"] == "accepted"
    started = await partner_text(stack, "partenaire", "demarrer", referral_id)
    assert field(started, "Statut") == "en cours"
    done = await partner_text(stack, "partenaire", "terminer", referral_id, "--issue", "rights_opened")
    assert done.startswith("Orientation terminée.\n")
    assert field(done, "Statut") == "terminée — droits ouverts"

    # The agent sees the whole loop on the dossier.
    listed = await text(stack, "orientations", dossier_id)
    assert listed.startswith("1 orientation :\n")
    assert re.search(
        rf"{referral_id}  {MINUTE}  .+ · Logement / hébergement · terminée — droits ouverts", listed
    ), listed
    as_list = await as_json(stack, "referrals", dossier_id)
    [referral] = as_list["referrals"]
    assert [c["status"] for c in referral["history"]] == [
        "requested",
        "received",
        "accepted",
        "in_progress",
        "completed",
    ]
    assert referral["referrer"] == AGENT and referral["dossier_id"] == dossier_id


async def test_reject_fail_and_refusals_in_french(stack: AppStack) -> None:
    dossier_id = await oriented_dossier(stack)
    first = await as_json(stack, "refer", dossier_id, "--partenaire", PARTNER, "--motif", "logement")
    rejected = await partner_text(
        stack, "partenaire", "refuser", first["referral_id"], "--motif-refus", "no_capacity"
    )
    assert rejected.startswith("Orientation refusée.\n")
    assert field(rejected, "Statut") == "refusée — pas de place"

    second = await as_json(stack, "orienter", dossier_id, "--partenaire", PARTNER, "--motif", "logement")
    await partner_json(stack, "partner", "acknowledge", second["referral_id"])
    await partner_json(stack, "partner", "accept", second["referral_id"])
    failed = await partner_json(
        stack,
        *("partner", "fail", second["referral_id"], "--motif-echec", "other"),
        *("--commentaire", "La personne a déménagé"),
    )
    assert (failed["status"], failed["reason"]) == ("failed", "other")

    # A finished referral cannot be acted upon again: a French error line, exit code 1.
    again = await partner(stack, "partenaire", "accepter", second["referral_id"])
    assert again.returncode == 1
    assert re.fullmatch(r"Erreur : .+ \[[A-Z_]+\]\n", again.stderr), again.stderr
    again_json = await partner(stack, "--json", "partenaire", "accepter", second["referral_id"])
    assert json.loads(again_json.stdout)["error"]["code"] == "FAILED_PRECONDITION"
    # A reason is required by the command itself.
    missing = await partner(stack, "partenaire", "refuser", second["referral_id"])
    assert missing.returncode == 2 and "arguments obligatoires manquants : --motif-refus" in missing.stderr
    # Another partner does not see it.
    other = await partner(
        stack, "--json", "partenaire", "voir", second["referral_id"], partner_id="cpam-meuse"
    )
    assert other.returncode == 1 and json.loads(other.stdout)["error"]["code"] == "NOT_FOUND"

    listed = await text(stack, "orientations", dossier_id)
    assert listed.startswith("2 orientations :\n")
    assert "refusée — pas de place" in listed and "échouée — autre" in listed


async def test_consent_gate_refusal_is_shown(stack: AppStack) -> None:
    dossier_id = await oriented_dossier(stack, consent=False)
    refused = await cli(stack, "orienter", dossier_id, "--partenaire", PARTNER, "--motif", "logement")
    assert refused.returncode == 1
    assert re.fullmatch(r"Erreur : .+ \[[A-Z_]+\]\n(  – .+\n)*", refused.stderr), refused.stderr
    assert "consentement" in refused.stderr
    as_json_error = await cli(
        stack, "--json", "orienter", dossier_id, "--partenaire", PARTNER, "--motif", "logement"
    )
    error = json.loads(as_json_error.stdout)["error"]
    assert error["code"] == "FAILED_PRECONDITION" and error["reason"] and "consentement" in error["fr"]
    assert (await text(stack, "orientations", dossier_id)).strip() == "Aucune orientation."
