"""Appointments: booking a person at a permanence's free slot or with an agent (from the
person's page), the appointment's page, moving and cancelling it.

The motif stays internal (the planning service never puts it in a message to the person);
the free slots, the rules of a move and who may do what are the service's.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import groupby
from typing import Any
from urllib.parse import urlencode

import grpc
from entraide.v1 import intake_pb2, planning_pb2
from starlette.responses import Response

from domain.planning import AppointmentStatus
from services.console import web
from services.console.planning_forms import (
    BOOKERS,
    MESSAGE_READERS,
    agent_sites,
    instant,
    local_instant,
    minutes,
    parse_slot,
    refusal_errors,
    require,
    slot_value,
    today,
)
from services.console.templating import PARIS
from services.console.web import FORM_CODES, FormErrors, Page, new_request_id, page_route

DONE = {
    "pris": "Le rendez-vous est pris : la personne en reçoit la confirmation si elle a accepté"
    " d'être contactée.",
    "deplace": "Le rendez-vous est déplacé : les rappels suivent la nouvelle heure.",
    "annule": "Le rendez-vous est annulé.",
    "presence": "La présence est enregistrée.",
}
NOT_ALLOWED = "Les rendez-vous sont gérés par les agents d'accueil, travailleurs sociaux et responsables."
WITH_AGENT = "agent"
# Free slots shown: this many weeks ahead (ListSlots takes at most 62 days).
DEFAULT_WEEKS = 4
MAX_WEEKS = 8
BOOK_FIELDS = ("person_id", "permanence_id", "slot", "site", "day", "hour", "duration_minutes", "agent_id")
# The service's field paths as the booking form names its inputs.
PERMANENCE_RENAME = {"starts_at": "slot", "duration_minutes": "duration_minutes"}
AGENT_RENAME = {"starts_at": "day"}


def appointment_id_of(page: Page) -> str:
    return str(page.request.path_params["appointment_id"])


async def get_person(page: Page, person_id: str) -> Any:
    if not person_id:
        raise web.not_found()
    return await web.read_by_path_id(
        page.calls.intake.GetPerson(intake_pb2.GetPersonRequest(person_id=person_id))
    )


async def person_dossiers(page: Page, person_id: str) -> list[Any]:
    reply = await page.calls.intake.ListDossiers(
        intake_pb2.ListDossiersRequest(person_id=person_id, page_size=200)
    )
    return list(reply.dossiers)


async def free_slots(page: Page, permanence_id: str, weeks: int) -> list[tuple[str, list[Any]]]:
    """The permanence's free slots from today, by day (Paris)."""
    start = today()
    reply = await page.calls.planning.ListSlots(
        planning_pb2.ListSlotsRequest(
            permanence_id=permanence_id,
            from_day=start.isoformat(),
            to_day=(start + timedelta(days=7 * weeks - 1)).isoformat(),
        )
    )
    slots = [s for s in reply.slots if instant(s.starts_at) > datetime.now(UTC)]
    by_day = groupby(slots, key=lambda s: instant(s.starts_at).astimezone(PARIS).date().isoformat())
    return [(day, list(group)) for day, group in by_day]


async def permanences(page: Page) -> list[Any]:
    """The permanences still held in the agent's communes, by site."""
    reply = await page.calls.planning.ListPermanences(planning_pb2.ListPermanencesRequest())
    day = today().isoformat()
    held = [p for p in reply.permanences if not p.last_day or p.last_day >= day]
    return sorted(held, key=lambda p: (p.site, p.host.label.lower()))


def weeks_asked(page: Page) -> int:
    try:
        return min(MAX_WEEKS, max(1, int(web.query(page.request, "semaines") or DEFAULT_WEEKS)))
    except ValueError:
        return DEFAULT_WEEKS


async def booking_form(
    page: Page,
    person: Any,
    values: dict[str, str],
    request_id: str,
    errors: FormErrors | None = None,
    status: int = 200,
    weeks: int = DEFAULT_WEEKS,
) -> Response:
    permanence_id, with_agent = values.get("permanence_id", ""), values.get("mode") == WITH_AGENT
    chosen: Any = None
    slots: list[tuple[str, list[Any]]] = []
    listed: list[Any] = []
    sites: list[Any] = []
    if permanence_id:
        listed = await permanences(page)
        chosen = next((p for p in listed if p.permanence_id == permanence_id), None)
        if chosen is None:
            raise web.not_found()
        slots = await free_slots(page, permanence_id, weeks)
    elif with_agent:
        sites = await agent_sites(page)
    else:
        listed = await permanences(page)
    return page.render(
        "appointment_new.html",
        status=status,
        title=f"Prendre rendez-vous pour {person.first_name} {person.last_name}",
        person=person,
        values=values,
        request_id=request_id,
        errors=errors or FormErrors(),
        permanences=listed,
        chosen=chosen,
        slots=slots,
        with_agent=with_agent,
        sites=sites,
        dossiers=await person_dossiers(page, person.person_id),
        weeks=weeks,
        more_weeks=min(MAX_WEEKS, weeks + DEFAULT_WEEKS),
        max_weeks=MAX_WEEKS,
        slot_value=slot_value,
    )


async def new_appointment(page: Page) -> Response:
    require(page, BOOKERS, NOT_ALLOWED)
    person = await get_person(page, web.query(page.request, "personne"))
    values = {
        "person_id": person.person_id,
        "permanence_id": web.query(page.request, "permanence"),
        "mode": WITH_AGENT if web.query(page.request, "avec") == WITH_AGENT else "",
        "agent_id": page.agent_id,
        "site": page.session.agent.site,
        "day": today().isoformat(),
        "duration_minutes": "30",
    }
    values["dossier_id"] = web.query(page.request, "dossier")
    return await booking_form(page, person, values, new_request_id(), weeks=weeks_asked(page))


async def book_appointment(page: Page) -> Response:
    require(page, BOOKERS, NOT_ALLOWED)
    values = {name: page.field(name) for name in (*BOOK_FIELDS, "dossier_id", "motif", "mode")}
    person = await get_person(page, values["person_id"])
    request_id = page.field("request_id") or new_request_id()
    with_agent = values["mode"] == WITH_AGENT
    if with_agent:
        starts_at = local_instant(values["day"], values["hour"])
        if starts_at is None:
            errors = FormErrors(
                "Le rendez-vous n'a pas été pris", {"day": "Indiquez le jour et l'heure du rendez-vous."}
            )
            return await booking_form(page, person, values, request_id, errors, status=400)
        request = planning_pb2.BookAppointmentRequest(
            person_id=person.person_id,
            agent_id=values["agent_id"],
            site=values["site"],
            starts_at=starts_at,
            duration_minutes=minutes(values["duration_minutes"]) if values["duration_minutes"] else 0,
            dossier_id=values["dossier_id"],
            motif=values["motif"],
            request_id=request_id,
        )
    else:
        slot = parse_slot(values["slot"])
        if slot is None:
            errors = FormErrors("Le rendez-vous n'a pas été pris", {"slot": "Choisissez un créneau libre."})
            return await booking_form(page, person, values, request_id, errors, status=400)
        request = planning_pb2.BookAppointmentRequest(
            person_id=person.person_id,
            permanence_id=values["permanence_id"],
            starts_at=slot,
            dossier_id=values["dossier_id"],
            motif=values["motif"],
            request_id=request_id,
        )
    try:
        booked = await page.calls.planning.BookAppointment(request)
    except grpc.RpcError as error:
        if web.code_of(error) not in FORM_CODES:
            raise
        errors = refusal_errors(error, AGENT_RENAME if with_agent else PERMANENCE_RENAME)
        return await booking_form(page, person, values, request_id, errors, status=400)
    return page.redirect(f"/rendez-vous/{booked.appointment_id}?fait=pris")


# --- The appointment's page ----------------------------------------------------------


async def get_appointment(page: Page, appointment_id: str) -> Any:
    return await web.read_by_path_id(
        page.calls.planning.GetAppointment(planning_pb2.GetAppointmentRequest(appointment_id=appointment_id))
    )


async def appointment_messages(page: Page, appointment_id: str) -> list[Any]:
    if page.session.agent.role not in MESSAGE_READERS:
        return []
    reply = await page.calls.planning.ListPersonMessages(
        planning_pb2.ListPersonMessagesRequest(appointment_id=appointment_id)
    )
    return list(reply.messages)


async def render_appointment(
    page: Page,
    appointment_id: str,
    status: int = 200,
    errors: FormErrors | None = None,
    values: dict[str, str] | None = None,
    refused_form: str = "",
) -> Response:
    appointment = await get_appointment(page, appointment_id)
    slots: list[tuple[str, list[Any]]] = []
    open_ = appointment.status == AppointmentStatus.BOOKED
    if open_ and appointment.permanence_id:
        slots = await free_slots(page, appointment.permanence_id, weeks_asked(page))
    starts = instant(appointment.starts_at).astimezone(PARIS)
    values = values or {"day": starts.date().isoformat(), "hour": starts.strftime("%H:%M")}
    return page.render(
        "appointment_page.html",
        status=status,
        title="Rendez-vous",
        appointment=appointment,
        slots=slots,
        can_change=open_,
        messages=await appointment_messages(page, appointment_id),
        values=values,
        errors=errors or FormErrors(),
        refused_form=refused_form,
        move_request_id=new_request_id(),
        cancel_request_id=new_request_id(),
        attendance_request_id=new_request_id(),
        done=web.messages(DONE, page.request),
        slot_value=slot_value,
        back=f"/rendez-vous/{appointment_id}",
    )


async def appointment_page(page: Page) -> Response:
    require(page, BOOKERS, NOT_ALLOWED)
    return await render_appointment(page, appointment_id_of(page))


async def move_appointment(page: Page) -> Response:
    require(page, BOOKERS, NOT_ALLOWED)
    appointment_id = appointment_id_of(page)
    values = {name: page.field(name) for name in ("slot", "day", "hour")}
    if values["slot"]:
        starts_at = parse_slot(values["slot"])
    else:
        starts_at = local_instant(values["day"], values["hour"])
    if starts_at is None:
        errors = FormErrors(
            "Le rendez-vous n'a pas été déplacé",
            {
                "deplacer-slot"
                if page.field("with_slots")
                else "deplacer-day": "Choisissez la nouvelle heure."
            },
        )
        return await render_appointment(page, appointment_id, 400, errors, values, "deplacer")
    try:
        await page.calls.planning.MoveAppointment(
            planning_pb2.MoveAppointmentRequest(
                appointment_id=appointment_id, starts_at=starts_at, request_id=page.field("request_id")
            )
        )
    except grpc.RpcError as error:
        if web.code_of(error) not in FORM_CODES:
            raise
        rename = {"starts_at": "deplacer-slot" if values["slot"] else "deplacer-day"}
        errors = refusal_errors(error, rename)
        return await render_appointment(page, appointment_id, 400, errors, values, "deplacer")
    return page.redirect(f"/rendez-vous/{appointment_id}?fait=deplace")


async def cancel_appointment(page: Page) -> Response:
    require(page, BOOKERS, NOT_ALLOWED)
    appointment_id = appointment_id_of(page)
    try:
        await page.calls.planning.CancelAppointment(
            planning_pb2.CancelAppointmentRequest(
                appointment_id=appointment_id,
                by_person=page.field("by_person") == "1",
                request_id=page.field("request_id"),
            )
        )
    except grpc.RpcError as error:
        if web.code_of(error) not in FORM_CODES:
            raise
        return await render_appointment(page, appointment_id, 400, refusal_errors(error), None, "annuler")
    return page.redirect(f"/rendez-vous/{appointment_id}?fait=annule")


def booking_url(person_id: str, **more: str) -> str:
    return "/rendez-vous/nouveau?" + urlencode({"personne": person_id, **more})


ROUTES = [
    page_route("/rendez-vous/nouveau", new_appointment),
    page_route("/rendez-vous/nouveau", book_appointment, methods=("POST",), name="book_appointment"),
    page_route("/rendez-vous/{appointment_id}", appointment_page),
    page_route("/rendez-vous/{appointment_id}/deplacer", move_appointment, methods=("POST",)),
    page_route("/rendez-vous/{appointment_id}/annuler", cancel_appointment, methods=("POST",)),
]
