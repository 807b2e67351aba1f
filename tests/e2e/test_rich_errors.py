"""The gRPC rich error model end to end, on real servers and processes: each refusal
carries an ErrorInfo (stable reason), a BadRequest naming the fields at fault, and a
French sentence (fr-FR LocalizedMessage) for the person who reads it, also when it is
decided in a workflow or an activity, across Temporal."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import grpc
import pytest
from entraide.v1 import intake_pb2, intake_pb2_grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from kernel.access import role_refusal
from kernel.auth import ROLE_LABELS, Role, mint
from kernel.rich_status import DOMAIN, LOCALE, Described, describe
from services.intake.access import RULES as INTAKE_RULES
from services.intake.aides.access import RULES as AID_RULES
from services.intake.collective.access import RULES as COLLECTIVE_RULES
from services.intake.signals.access import RULES as SIGNAL_RULES
from services.referral.access import RULES as REFERRAL_RULES
from services.reporting.access import RULES as REPORTING_RULES
from tests.conftest import AGENT, AppStack
from tests.e2e.services.referral.test_referrals import World, create_request, oriented_dossier, world  # noqa: F401

Intake = intake_pb2_grpc.IntakeServiceStub
# Words only French has: a sentence for people, not an English message passed through.
FRENCH = re.compile(r"[éèêàçùô]|\b(le|la|les|du|des|une?|est|pas|ce|cette|dossier|vous|votre)\b")
REASON = re.compile(r"^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$")


def strict(error: grpc.RpcError) -> Described:
    """describe(), after checking that the status itself carries the rich details (no
    fallback sentence): one ErrorInfo of our domain, one fr-FR LocalizedMessage."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None, "no grpc-status-details-bin trailer"
    infos, localized = [], []
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            infos.append(info)
        elif detail.Is(error_details_pb2.LocalizedMessage.DESCRIPTOR):
            message = error_details_pb2.LocalizedMessage()
            detail.Unpack(message)
            localized.append(message)
    assert [i.domain for i in infos] == [DOMAIN]
    assert [m.locale for m in localized] == [LOCALE]
    described = describe(error)
    assert described.fr == localized[0].message and described.reason == infos[0].reason
    assert REASON.match(described.reason), described.reason
    return described


def in_french(text: str) -> bool:
    return bool(FRENCH.search(text.lower())) and text.rstrip().endswith((".", "»"))


async def refusal(call: Awaitable[Any]) -> Described:
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await call
    return strict(error.value)


@pytest.fixture
async def intake(app_stack: AppStack) -> AsyncIterator[Intake]:
    async with app_stack.channel("intake") as channel:
        yield intake_pb2_grpc.IntakeServiceStub(channel)


def open_request(**fields: Any) -> intake_pb2.OpenDossierRequest:
    defaults: dict[str, Any] = {
        "request_id": uuid.uuid4().hex,
        "territory": "55029",
        "motifs": ["logement"],
        "arrival_channel": "visite_spontanee",
    }
    return intake_pb2.OpenDossierRequest(**{**defaults, **fields})


# ---------------------------------------------------------------- over the running stack


async def test_an_unknown_motif_names_the_field_in_french(intake: Intake) -> None:
    seen = await refusal(intake.OpenDossier(open_request(motifs=["logement", "tarot"]), timeout=15))
    assert seen.code == grpc.StatusCode.INVALID_ARGUMENT
    assert seen.reason == "UNKNOWN_MOTIF"
    assert [(v.field, v.reason) for v in seen.violations] == [("motifs", "UNKNOWN_MOTIF")]
    assert "« tarot »" in seen.fr and "motif" in seen.fr.lower() and in_french(seen.fr)
    assert "entraide referentiel" in seen.fr and "ListReferenceData" not in seen.fr
    assert "tarot" in seen.violations[0].fr and in_french(seen.violations[0].fr)
    assert "unknown motif" in seen.message  # the English message stays for integrators


async def test_several_fields_at_fault_are_one_violation_each(intake: Intake) -> None:
    request = open_request(request_id="", territory="75056", motifs=["tarot"], arrival_channel="")
    seen = await refusal(intake.OpenDossier(request, timeout=15))
    assert seen.code == grpc.StatusCode.INVALID_ARGUMENT
    assert [(v.field, v.reason) for v in seen.violations] == [
        ("request_id", "FIELD_REQUIRED"),
        ("territory", "UNKNOWN_TERRITORY"),
        ("motifs", "UNKNOWN_MOTIF"),
        ("arrival_channel", "FIELD_REQUIRED"),
    ]
    assert all(in_french(v.fr) for v in seen.violations)
    assert "« 75056 »" in seen.fr


async def test_a_step_of_a_closed_dossier_is_refused_by_the_workflow_in_french(intake: Intake) -> None:
    opened = await intake.OpenDossier(open_request(), timeout=15)
    dossier_id = opened.dossier.dossier_id
    await intake.CloseDossier(
        intake_pb2.CloseDossierRequest(dossier_id=dossier_id, agent=AGENT, outcome="abandon"), timeout=15
    )
    seen = await refusal(
        intake.RecordInterview(intake_pb2.RecordInterviewRequest(dossier_id=dossier_id), timeout=15)
    )
    # Decided by the workflow's update validator: the details crossed Temporal.
    assert seen.code == grpc.StatusCode.FAILED_PRECONDITION
    assert seen.reason == "DOSSIER_CLOSED"
    assert "clôturé" in seen.fr and "entraide rouvrir" in seen.fr and in_french(seen.fr)
    assert "the dossier is closed" in seen.message

    fresh = await intake.OpenDossier(open_request(), timeout=15)
    seen = await refusal(
        intake.StartSuivi(intake_pb2.StepRequest(dossier_id=fresh.dossier.dossier_id), timeout=15)
    )
    assert (seen.code, seen.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "WRONG_STAGE")
    assert "« accueil »" in seen.fr and "« orientation »" in seen.fr  # stages in French words


async def test_a_refused_consent_gate_crosses_the_activity_in_french(world: World) -> None:  # noqa: F811
    dossier_id = await oriented_dossier(world, consent_partner=None)
    seen = await refusal(world.agent.CreateReferral(create_request(dossier_id), timeout=20))
    # Decided by an intake activity the dossier's workflow ran.
    assert seen.code == grpc.StatusCode.FAILED_PRECONDITION
    assert seen.reason == "CONSENT_MISSING"
    assert "consentement" in seen.fr and "entraide consentement enregistrer" in seen.fr
    assert "RecordConsent" not in seen.fr and in_french(seen.fr)


async def test_a_role_refusal_names_the_roles_that_may(app_stack: AppStack, intake: Intake) -> None:
    opened = await intake.OpenDossier(open_request(), timeout=15)
    token = app_stack.token("accueil-lea", Role.ACCUEIL)
    async with app_stack.channel("intake", token) as channel:
        seen = await refusal(
            intake_pb2_grpc.IntakeServiceStub(channel).RecordInterview(
                intake_pb2.RecordInterviewRequest(dossier_id=opened.dossier.dossier_id), timeout=15
            )
        )
    assert seen.code == grpc.StatusCode.PERMISSION_DENIED
    assert seen.reason == "ROLE_NOT_ALLOWED"
    assert seen.fr == (
        "Le rôle « accueil » ne permet pas d'enregistrer un entretien d'écoute :"
        " il faut un rôle travailleur social ou responsable."
    )
    assert "RecordInterview" not in seen.fr and "RecordInterview" in seen.message


async def test_the_agent_is_the_caller_says_whose_id_would_do(intake: Intake) -> None:
    opened = await intake.OpenDossier(open_request(), timeout=15)
    seen = await refusal(
        intake.RecordInterview(
            intake_pb2.RecordInterviewRequest(dossier_id=opened.dossier.dossier_id, agent="marie.dupont"),
            timeout=15,
        )
    )
    assert (seen.code, seen.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "AGENT_NOT_CALLER")
    assert [v.field for v in seen.violations] == ["agent"]
    assert seen.fr == (
        f"Le champ agent doit être vide ou égal à votre identifiant (« {AGENT} ») :"
        " l'agent qui agit est celui du jeton."
    )


async def test_a_missing_or_expired_token_is_unauthenticated_in_french(app_stack: AppStack) -> None:
    async with app_stack.channel("intake", "") as channel:
        seen = await refusal(
            intake_pb2_grpc.IntakeServiceStub(channel).ListReferenceData(
                intake_pb2.ListReferenceDataRequest(), timeout=15
            )
        )
    assert (seen.code, seen.reason) == (grpc.StatusCode.UNAUTHENTICATED, "TOKEN_MISSING")
    assert "jeton" in seen.fr and in_french(seen.fr)

    expired = mint(app_stack.env["ENTRAIDE_JWT_SECRET"], AGENT, Role.TRAVAILLEUR_SOCIAL, ttl_s=-120)
    async with app_stack.channel("intake", expired) as channel:
        seen = await refusal(
            intake_pb2_grpc.IntakeServiceStub(channel).ListReferenceData(
                intake_pb2.ListReferenceDataRequest(), timeout=15
            )
        )
    assert (seen.code, seen.reason) == (grpc.StatusCode.UNAUTHENTICATED, "TOKEN_EXPIRED")
    assert "expiré" in seen.fr


# ---------------------------------------------------------------- declarations


RULES = {
    "intake": INTAKE_RULES,
    "referral": REFERRAL_RULES,
    "reporting": REPORTING_RULES,
    "signals": SIGNAL_RULES,
    "collective": COLLECTIVE_RULES,
    "aides": AID_RULES,
}


@pytest.mark.parametrize("service", sorted(RULES))
def test_every_rule_says_in_french_what_its_method_does(service: str) -> None:
    for method, rule in RULES[service].items():
        assert rule.action and rule.action == rule.action.strip(), method
        assert rule.action[0].islower() and not rule.action.endswith("."), method
        for role in Role:
            if role in rule.roles:
                continue
            refusal = role_refusal(method, role, rule)
            assert refusal.reason == "ROLE_NOT_ALLOWED"
            assert refusal.fr.startswith(f"Le rôle « {ROLE_LABELS[role]} » ne permet pas "), refusal.fr
            assert method not in refusal.fr and refusal.fr.endswith(".")
            for allowed in rule.roles - {Role.SERVICE}:
                assert ROLE_LABELS[allowed] in refusal.fr, (method, allowed)
