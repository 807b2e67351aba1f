"""Signals ("aller vers"): the short form an élu référent or a secrétaire de mairie fills
in on a phone, with the status of their own signals (received, taken in charge, closed:
never more); the CIAS's queue, a signal's page, its contact attempts and qualification.

The rules (the signaller's communes, the minimal identity, the dossier opened from a
contacted signal, who reads what) are the signal service's; these pages translate.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import grpc
from entraide.v1 import intake_pb2, signals_pb2
from starlette.responses import Response

from domain.signals import DEFAULT_ESCALATION_DAYS, MAX_DESCRIPTION, QUALIFIED, SignalStatus
from kernel.auth import Role
from services.console import web
from services.console.access_gate import require
from services.console.planning_forms import BOOKERS, refusal_errors
from services.console.web import FORM_CODES, FormErrors, Page, new_request_id, page_route

DONE = {
    "envoye": "Merci : votre signalement est transmis au CIAS, qui prendra contact avec la personne."
    " Son état s'affiche ci-dessous.",
    "enregistre": "Le signalement est enregistré : il est dans la liste à qualifier.",
    "tentative": "La tentative de contact est enregistrée.",
    "qualifie": "Le signalement est qualifié.",
}
# Who signals: the signaleur role and élus, who then read their signals' status; and the
# CIAS's agents (a signal received by phone), who find it in the queue.
OWN_READERS = frozenset({Role.SIGNALEUR, Role.ELU})
SIGNALLERS = OWN_READERS | BOOKERS
# Who reads and qualifies the queue: the case roles.
QUALIFIERS = BOOKERS
NOT_QUALIFIER = (
    "Les signalements sont traités par les agents d'accueil, travailleurs sociaux et responsables."
)
NOT_SIGNALLER = "Ce compte ne peut pas faire de signalement."
SIGNAL_FIELDS = (
    "territory",
    "first_name",
    "last_name",
    "phone",
    "email",
    "address_line",
    "description",
    "consent_to_contact",
)
QUALIFY_FIELDS = ("status", "urgent", "site", "person_id")
# The qualifications an agent chooses among, in the order of the form.
QUALIFICATIONS = (
    SignalStatus.CONTACTED,
    SignalStatus.UNREACHABLE,
    SignalStatus.DECLINED,
    SignalStatus.NOT_RELEVANT,
)


def communes_of(page: Page) -> list[str]:
    return sorted(page.session.agent.territories)


# --- The signal form and the signaller's own signals -----------------------------------


async def signal_form(
    page: Page, values: dict[str, str], request_id: str, errors: FormErrors | None = None, status: int = 200
) -> Response:
    mine: list[Any] | None = None
    if page.session.agent.role in OWN_READERS:
        listed = await page.calls.signals.ListMySignals(signals_pb2.ListMySignalsRequest())
        mine = sorted(listed.signals, key=lambda s: s.submitted_at.ToDatetime(), reverse=True)
    return page.render(
        "signal_form.html",
        status=status,
        title="Signaler une personne",
        values=values,
        request_id=request_id,
        errors=errors or FormErrors(),
        communes=communes_of(page),
        max_description=MAX_DESCRIPTION,
        mine=mine,
        done=web.messages(DONE, page.request),
    )


async def new_signal(page: Page) -> Response:
    require(page, SIGNALLERS, NOT_SIGNALLER)
    communes = communes_of(page)
    values = {"territory": communes[0] if len(communes) == 1 else ""}
    return await signal_form(page, values, new_request_id())


async def submit_signal(page: Page) -> Response:
    require(page, SIGNALLERS, NOT_SIGNALLER)
    values = {name: page.field(name) for name in SIGNAL_FIELDS}
    request_id = page.field("request_id") or new_request_id()
    try:
        await page.calls.signals.SubmitSignal(
            signals_pb2.SubmitSignalRequest(
                territory=values["territory"],
                first_name=values["first_name"],
                last_name=values["last_name"],
                phone=values["phone"],
                email=values["email"],
                address_line=values["address_line"],
                description=values["description"],
                consent_to_contact=bool(values["consent_to_contact"]),
                request_id=request_id,
            )
        )
    except grpc.RpcError as error:
        code = web.code_of(error)
        if code is grpc.StatusCode.PERMISSION_DENIED:
            # A commune the account does not cover (a form edited by hand): said beside it.
            refused = refusal_errors(error)
            refused.fields.setdefault("territory", refused.message)
            return await signal_form(page, values, request_id, refused, status=400)
        if code not in FORM_CODES:
            raise
        return await signal_form(page, values, request_id, refusal_errors(error), status=400)
    if page.session.agent.role not in OWN_READERS:
        return page.redirect("/signalements?fait=enregistre")
    return page.redirect("/signalement?fait=envoye#mes-signalements")


# --- The CIAS's queue ----------------------------------------------------------------------


def waiting_days(signal: Any) -> int:
    submitted = signal.submitted_at.ToDatetime(tzinfo=UTC)
    return max(0, int((datetime.now(UTC) - submitted).days))


def escalation_text(signal: Any) -> str:
    """The flag of a signal the escalation timer marked (its delay may be shorter than
    the default's days: then no number of days is claimed)."""
    if waiting_days(signal) >= DEFAULT_ESCALATION_DAYS:
        return f"en attente depuis plus de {DEFAULT_ESCALATION_DAYS} jours"
    return "délai de qualification dépassé"


def queue_order(signal: Any) -> tuple[bool, bool, float]:
    """Unqualified first, the escalated ones at their head, then the oldest."""
    return (signal.status in QUALIFIED, not signal.escalated, signal.submitted_at.ToDatetime().timestamp())


async def queue(page: Page) -> Response:
    require(page, QUALIFIERS, NOT_QUALIFIER)
    everything = web.query(page.request, "tous") == "1"
    reply = await page.calls.signals.ListSignals(signals_pb2.ListSignalsRequest(include_closed=everything))
    signals = sorted(reply.signals, key=queue_order)
    return page.render(
        "signal_queue.html",
        title="Signalements à qualifier",
        signals=signals,
        everything=everything,
        escalation_text=escalation_text,
        done=web.messages(DONE, page.request),
        qualified=QUALIFIED,
    )


async def signal_of(page: Page) -> Any:
    signal_id = str(page.request.path_params["signal_id"])
    return await web.read_by_path_id(
        page.calls.signals.GetSignal(signals_pb2.GetSignalRequest(signal_id=signal_id))
    )


async def known_persons(page: Page, signal: Any) -> list[Any]:
    """Persons already on file who may be the signalled one (same name, or same phone),
    so that a contacted signal opens its dossier on the existing record rather than a
    duplicate. Only for a signal still to qualify; anonymised persons never show."""
    if signal.status in QUALIFIED:
        return []
    searches = []
    name = " ".join(part for part in (signal.last_name, signal.first_name) if part)
    if sum(c.isalnum() for c in name) >= 2:
        searches.append(intake_pb2.SearchPersonsRequest(name=name, page_size=10))
    if signal.phone:
        searches.append(intake_pb2.SearchPersonsRequest(phone=signal.phone, page_size=10))
    found: dict[str, Any] = {}
    for search in searches:
        reply = await page.calls.intake.SearchPersons(search)
        for person in reply.persons:
            if person.territory == signal.territory:
                found.setdefault(person.person_id, person)
    return list(found.values())


async def signal_page(
    page: Page,
    signal: Any,
    values: dict[str, Any],
    request_id: str,
    errors: FormErrors | None = None,
    status: int = 200,
) -> Response:
    return page.render(
        "signal_page.html",
        status=status,
        title="Signalement",
        signal=signal,
        values=values,
        request_id=request_id,
        errors=errors or FormErrors(),
        qualifications=QUALIFICATIONS,
        qualified=signal.status in QUALIFIED,
        escalation_text=escalation_text,
        done=web.messages(DONE, page.request),
        candidates=await known_persons(page, signal),
    )


async def show_signal(page: Page) -> Response:
    require(page, QUALIFIERS, NOT_QUALIFIER)
    signal = await signal_of(page)
    return await signal_page(page, signal, {"motifs": []}, new_request_id())


async def contact_attempt(page: Page) -> Response:
    require(page, QUALIFIERS, NOT_QUALIFIER)
    signal = await signal_of(page)
    request_id = page.field("request_id") or new_request_id()
    try:
        await page.calls.signals.RecordContactAttempt(
            signals_pb2.RecordContactAttemptRequest(signal_id=signal.signal_id, request_id=request_id)
        )
    except grpc.RpcError as error:
        if web.code_of(error) not in FORM_CODES:
            raise
        return await signal_page(page, signal, {"motifs": []}, new_request_id(), refusal_errors(error), 400)
    return page.redirect(f"/signalements/{signal.signal_id}?fait=tentative")


async def qualify(page: Page) -> Response:
    require(page, QUALIFIERS, NOT_QUALIFIER)
    signal = await signal_of(page)
    values: dict[str, Any] = {name: page.field(name) for name in QUALIFY_FIELDS}
    values["motifs"] = page.fields("motifs")
    request_id = page.field("request_id") or new_request_id()
    contacted = values["status"] == SignalStatus.CONTACTED
    try:
        await page.calls.signals.QualifySignal(
            signals_pb2.QualifySignalRequest(
                signal_id=signal.signal_id,
                status=values["status"],
                # The dossier's opening is only a contacted signal's.
                motifs=values["motifs"] if contacted else [],
                urgent=contacted and bool(values["urgent"]),
                site=values["site"] if contacted else "",
                person_id=values["person_id"] if contacted else "",
                request_id=request_id,
            )
        )
    except grpc.RpcError as error:
        if web.code_of(error) not in FORM_CODES:
            raise
        return await signal_page(page, signal, values, request_id, refusal_errors(error), status=400)
    return page.redirect(f"/signalements/{signal.signal_id}?fait=qualifie")


ROUTES = [
    page_route("/signalement", new_signal),
    page_route("/signalement", submit_signal, methods=("POST",), name="submit_signal"),
    page_route("/signalements", queue),
    page_route("/signalements/{signal_id}", show_signal),
    page_route(
        "/signalements/{signal_id}/tentative", contact_attempt, methods=("POST",), name="contact_attempt"
    ),
    page_route("/signalements/{signal_id}/qualification", qualify, methods=("POST",), name="qualify_signal"),
]
