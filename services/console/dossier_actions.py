"""The actions of the dossier page: one POST per form, each one service call.

Every action builds its request from the form (fields named as the proto fields, so
the services' field errors line up), passes the form's request id (a double submit or a
replay is one request) and leaves `agent` empty (the service acts as the token's
subject). The services decide everything; a refusal is shown by the dossier page
(`dossier_page.action_route`), a success redirects to the page with a confirmation.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from entraide.v1 import intake_pb2, referral_pb2

from services.console.web import Page

# Done code → (French confirmation, section of the page it is shown in).
DONE: dict[str, tuple[str, str]] = {
    "entretien": ("L'entretien a été enregistré.", "entretien"),
    "fin-ecoute": ("L'écoute est terminée.", "resume"),
    "consentement": ("Le consentement a été enregistré.", "consentements"),
    "orientation": ("L'orientation a été envoyée au partenaire.", "orientations"),
    "annulation": ("L'orientation a été annulée.", "orientations"),
    "suivi": ("Le dossier est passé en suivi.", "suivi"),
    "contact": ("Le contact de suivi a été enregistré.", "suivi"),
    "attribution": ("Le dossier a été attribué.", "suivi"),
    "cloture": ("Le dossier a été clôturé.", "cloture"),
    "reouverture": ("Le dossier a été rouvert.", "cloture"),
}


def dossier_of(page: Page) -> str:
    return str(page.request.path_params["dossier_id"])


async def record_interview(page: Page) -> str:
    await page.calls.intake.RecordInterview(
        intake_pb2.RecordInterviewRequest(
            dossier_id=dossier_of(page),
            notes=page.field("notes"),
            visibility=page.field("visibility"),
            request_id=page.field("request_id"),
        )
    )
    return "entretien"


async def complete_ecoute(page: Page) -> str:
    await page.calls.intake.CompleteEcoute(
        intake_pb2.CompleteEcouteRequest(
            dossier_id=dossier_of(page),
            next_stage=page.field("next_stage"),
            motifs=page.fields("motifs"),
            request_id=page.field("request_id"),
        )
    )
    return "fin-ecoute"


async def record_consent(page: Page) -> str:
    await page.calls.intake.RecordConsent(
        intake_pb2.RecordConsentRequest(
            person_id=page.field("person_id"),
            dossier_id=dossier_of(page),
            partner_id=page.field("partner_id"),
            data_scope=page.fields("data_scope"),
            kind=page.field("kind"),
            channel=page.field("channel"),
            legal_basis=page.field("legal_basis"),
            request_id=page.field("request_id"),
        )
    )
    return "consentement"


async def create_referral(page: Page) -> str:
    await page.calls.referral.CreateReferral(
        referral_pb2.CreateReferralRequest(
            dossier_id=dossier_of(page),
            partner_id=page.field("partner_id"),
            motif=page.field("motif"),
            message_for_partner=page.field("message_for_partner"),
            data_scope=page.fields("data_scope"),
            request_id=page.field("request_id"),
        )
    )
    return "orientation"


async def cancel_referral(page: Page) -> str:
    await page.calls.referral.CancelReferral(
        referral_pb2.CancelReferralRequest(
            referral_id=str(page.request.path_params["referral_id"]),
            reason=page.field("reason"),
            request_id=page.field("request_id"),
        )
    )
    return "annulation"


async def start_suivi(page: Page) -> str:
    await page.calls.intake.StartSuivi(
        intake_pb2.StepRequest(dossier_id=dossier_of(page), request_id=page.field("request_id"))
    )
    return "suivi"


async def record_follow_up(page: Page) -> str:
    await page.calls.intake.RecordFollowUp(
        intake_pb2.RecordFollowUpRequest(
            dossier_id=dossier_of(page),
            notes=page.field("notes"),
            visibility=page.field("visibility"),
            request_id=page.field("request_id"),
        )
    )
    return "contact"


async def assign_agent(page: Page) -> str:
    # « M'attribuer le dossier » posts `moi`: the signed-in agent.
    assignee = page.agent_id if page.field("moi") else page.field("assignee")
    await page.calls.intake.AssignAgent(
        intake_pb2.AssignAgentRequest(
            dossier_id=dossier_of(page), assignee=assignee, request_id=page.field("request_id")
        )
    )
    return "attribution"


async def close_dossier(page: Page) -> str:
    await page.calls.intake.CloseDossier(
        intake_pb2.CloseDossierRequest(
            dossier_id=dossier_of(page),
            outcome=page.field("outcome"),
            notes=page.field("notes"),
            request_id=page.field("request_id"),
        )
    )
    return "cloture"


async def reopen_dossier(page: Page) -> str:
    await page.calls.intake.ReopenDossier(
        intake_pb2.ReopenDossierRequest(
            dossier_id=dossier_of(page), reason=page.field("reason"), request_id=page.field("request_id")
        )
    )
    return "reouverture"


@dataclass(frozen=True)
class Action:
    """One form of the dossier page: its path under /dossiers/{dossier_id}, the key of
    the form on the page (several forms post to one path: one per partner, per
    referral), and the call it makes (returning its done code)."""

    path: str
    form_key: Callable[[Page], str]
    run: Callable[[Page], Awaitable[str]]


def _fixed(key: str) -> Callable[[Page], str]:
    return lambda page: key


ACTIONS = [
    Action("/entretien", _fixed("entretien"), record_interview),
    Action("/fin-ecoute", _fixed("fin-ecoute"), complete_ecoute),
    Action("/consentement", _fixed("consentement"), record_consent),
    Action("/orientation", lambda page: f"orientation-{page.field('partner_id')}", create_referral),
    Action(
        "/orientation/{referral_id}/annulation",
        lambda page: f"annulation-{page.request.path_params['referral_id']}",
        cancel_referral,
    ),
    Action("/suivi", _fixed("suivi"), start_suivi),
    Action("/contact", _fixed("contact"), record_follow_up),
    Action(
        "/attribution", lambda page: "attribution-moi" if page.field("moi") else "attribution", assign_agent
    ),
    Action("/cloture", _fixed("cloture"), close_dossier),
    Action("/reouverture", _fixed("reouverture"), reopen_dossier),
]
