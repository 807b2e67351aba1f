"""Reception's list of the day's appointments at a site (printable), the attendance
buttons (« Arrivé », « Vu », « Absent », « Absence excusée »: htmx replaces the row,
a plain form post works the same without JavaScript), and a person received without
appointment (« Sans rendez-vous »: booked and checked in at once).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import grpc
from entraide.v1 import intake_pb2, planning_pb2
from starlette.responses import Response

from services.console import web
from services.console.appointments import NOT_ALLOWED, person_dossiers
from services.console.planning_forms import (
    BOOKERS,
    agent_sites,
    chosen_site,
    parse_day,
    refusal_errors,
    require,
    today,
)
from services.console.reception import is_htmx
from services.console.web import FORM_CODES, FormErrors, Page, new_request_id, page_route

DONE = {
    "presence": "La présence est enregistrée.",
    "sans-rdv": "La personne est enregistrée comme arrivée, sans rendez-vous.",
}
WITH_AGENT = "agent"


def day_url(site: str, day: str, done: str = "") -> str:
    return "/accueil/rendez-vous?" + urlencode(
        {"site": site, "jour": day, **({"fait": done} if done else {})}
    )


def safe_return(target: str, default: str) -> str:
    """Back to a page of this console only (never another site's address)."""
    return target if target.startswith("/") and not target.startswith("//") else default


async def day_list(page: Page) -> Response:
    require(page, BOOKERS, NOT_ALLOWED)
    sites = await agent_sites(page)
    site = chosen_site(page, sites, web.query(page.request, "site"))
    day = parse_day(web.query(page.request, "jour"), today())
    appointments: list[Any] = []
    if site is not None:
        reply = await page.calls.planning.ListAppointments(
            planning_pb2.ListAppointmentsRequest(site=site.code, day=day.isoformat())
        )
        appointments = sorted(reply.appointments, key=lambda a: (a.starts_at.seconds, a.person_label))
    back = day_url(site.code, day.isoformat()) if site else "/accueil/rendez-vous"
    return page.render(
        "day_list.html",
        title="Rendez-vous du jour",
        sites=sites,
        site=site,
        day=day,
        appointments=appointments,
        back=back,
        attendance_request_id=new_request_id(),
        done=web.messages(DONE, page.request),
    )


def row(page: Page, appointment: Any, back: str, error: str = "") -> Response:
    return page.render(
        "day_list_row.html",
        a=appointment,
        back=back,
        attendance_request_id=new_request_id(),
        row_error=error,
    )


async def record_attendance(page: Page) -> Response:
    require(page, BOOKERS, NOT_ALLOWED)
    appointment_id = str(page.request.path_params["appointment_id"])
    back = safe_return(page.field("retour"), "/accueil/rendez-vous")
    try:
        recorded = await page.calls.planning.RecordAttendance(
            planning_pb2.RecordAttendanceRequest(
                appointment_id=appointment_id,
                status=page.field("status"),
                request_id=page.field("request_id"),
            )
        )
    except grpc.RpcError as error:
        if web.code_of(error) not in FORM_CODES:
            raise
        message = refusal_errors(error).message
        if is_htmx(page):
            # htmx swaps only 2xx answers: the refusal is shown in the row.
            current = await web.read_by_path_id(
                page.calls.planning.GetAppointment(
                    planning_pb2.GetAppointmentRequest(appointment_id=appointment_id)
                )
            )
            return row(page, current, back, message)
        raise web.PageFailure(409, "Action impossible", message) from error
    if is_htmx(page):
        return row(page, recorded, back)
    return page.redirect(back + ("&" if "?" in back else "?") + "fait=presence")


# --- Without appointment -------------------------------------------------------------


async def todays_sessions(page: Page, site: Any) -> list[Any]:
    day = today().isoformat()
    week = await page.calls.planning.GetWeekPlanning(
        planning_pb2.GetWeekPlanningRequest(site=site.code, day=day)
    )
    return [s for s in week.sessions if s.day == day]


async def walk_in_form(
    page: Page,
    site: Any,
    sites: list[Any],
    values: dict[str, str],
    request_id: str,
    errors: FormErrors | None = None,
    status: int = 200,
) -> Response:
    person: Any = None
    persons: list[Any] = []
    search_error = ""
    if values.get("person_id"):
        person = await web.read_by_path_id(
            page.calls.intake.GetPerson(intake_pb2.GetPersonRequest(person_id=values["person_id"]))
        )
    elif values.get("nom"):
        try:
            found = await page.calls.intake.SearchPersons(intake_pb2.SearchPersonsRequest(name=values["nom"]))
        except grpc.RpcError as error:
            if web.code_of(error) not in FORM_CODES:
                raise
            search_error = refusal_errors(error).message
        else:
            persons = list(found.persons)
    return page.render(
        "day_list_walk_in.html",
        status=status,
        title="Personne reçue sans rendez-vous",
        site=site,
        sites=sites,
        values=values,
        request_id=request_id,
        errors=errors or FormErrors(),
        person=person,
        persons=persons,
        search_error=search_error,
        sessions=await todays_sessions(page, site) if person is not None else [],
        dossiers=await person_dossiers(page, person.person_id) if person is not None else [],
    )


async def walk_in_page(page: Page) -> Response:
    require(page, BOOKERS, NOT_ALLOWED)
    sites = await agent_sites(page)
    site = chosen_site(page, sites, web.query(page.request, "site"))
    if site is None:
        raise web.not_found()
    values = {"person_id": web.query(page.request, "personne"), "nom": web.query(page.request, "nom")}
    return await walk_in_form(page, site, sites, values, new_request_id())


async def walk_in(page: Page) -> Response:
    require(page, BOOKERS, NOT_ALLOWED)
    sites = await agent_sites(page)
    site = chosen_site(page, sites, page.field("site"))
    if site is None:
        raise web.not_found()
    values = {name: page.field(name) for name in ("person_id", "host", "dossier_id", "motif")}
    request_id = page.field("request_id") or new_request_id()
    with_agent = values["host"] in ("", WITH_AGENT)
    try:
        await page.calls.planning.BookAppointment(
            planning_pb2.BookAppointmentRequest(
                person_id=values["person_id"],
                permanence_id="" if with_agent else values["host"],
                agent_id=page.agent_id if with_agent else "",
                site=site.code if with_agent else "",
                # No start: a walk-in is received now, by the service's clock.
                dossier_id=values["dossier_id"],
                motif=values["motif"],
                walk_in=True,
                request_id=request_id,
            )
        )
    except grpc.RpcError as error:
        if web.code_of(error) not in FORM_CODES:
            raise
        errors = refusal_errors(error, {"permanence_id": "host", "agent_id": "host", "starts_at": "host"})
        return await walk_in_form(page, site, sites, values, request_id, errors, status=400)
    return page.redirect(day_url(site.code, today().isoformat(), "sans-rdv"))


ROUTES = [
    page_route("/accueil/rendez-vous", day_list),
    page_route("/accueil/rendez-vous/sans-rendez-vous", walk_in_page),
    page_route("/accueil/rendez-vous/sans-rendez-vous", walk_in, methods=("POST",), name="walk_in"),
    page_route("/accueil/rendez-vous/{appointment_id}/presence", record_attendance, methods=("POST",)),
]
