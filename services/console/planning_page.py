"""The week planning of a site (rooms × days, printable on one A4 landscape page), its
iCalendar feeds per room and per host, and, for responsables, the forms that place a
permanence in a room and change its sessions (a cancelled day, a closure, an extra
session).

Everything is the planning service's: the sessions held, the appointments booked in
them, the refusal of a room already taken (shown with its French sentence).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

import grpc
from entraide.v1 import planning_pb2, referral_pb2
from starlette.responses import Response

from domain import labels_fr as labels
from domain.planning import DEFAULT_SLOT, ExceptionKind, HostKind, Recurrence
from services.console import web
from services.console.planning_forms import (
    BOOKERS,
    PLANNERS,
    agent_sites,
    chosen_site,
    instant,
    minutes,
    monday_of,
    parse_day,
    refusal_errors,
    require,
    today,
)
from services.console.web import FORM_CODES, FormErrors, Page, new_request_id, page_route

DONE = {
    "permanence": "La permanence est enregistrée : ses séances apparaissent dans le planning.",
    "exception": "Le changement est enregistré dans le planning.",
}
READERS = BOOKERS
NOT_ALLOWED = (
    "Le planning des permanences est réservé aux agents d'accueil, travailleurs sociaux et responsables."
)
NOT_PLANNER = (
    "Seuls les agents d'accueil et les responsables ajoutent une permanence ou en modifient les séances."
)
PERMANENCE_FIELDS = (
    "room",
    "host_kind",
    "host_id",
    "host_label",
    "host_category",
    "recurrence",
    "weekday",
    "starts_at",
    "ends_at",
    "first_day",
    "last_day",
    "slot_minutes",
)
EXCEPTION_FIELDS = ("kind", "date", "until", "starts_at", "ends_at", "reason")
# The service's field paths of an exception, as the exception form names its inputs.
EXCEPTION_RENAME = {f"exception_{name}": name for name in EXCEPTION_FIELDS}


@dataclass
class Cell:
    day: date
    sessions: list[dict[str, Any]] = field(default_factory=list)
    closures: list[Any] = field(default_factory=list)


@dataclass
class Row:
    room: Any
    cells: list[Cell]


def slots_in(session: Any, slot_minutes: int) -> int:
    """How many bookable slots the session holds."""
    length = instant(session.ends_at) - instant(session.starts_at)
    slot = timedelta(minutes=slot_minutes) if slot_minutes > 0 else DEFAULT_SLOT
    return max(0, int(length / slot))


def week_grid(
    site: Any, week: Any, permanences: dict[str, Any], monday: date
) -> tuple[list[date], list[Row]]:
    """Rooms × days; Saturday and Sunday only when something is held or closed then."""
    busy = {s.day for s in week.sessions} | {c.day for c in week.closures}
    days = [monday + timedelta(days=n) for n in range(7)]
    days = [d for d in days if d.isoweekday() <= 5 or d.isoformat() in busy]
    rooms = list(site.rooms)
    known = {r.code for r in rooms}
    # A session in a room the deployment no longer lists is still shown.
    for code in sorted({s.room for s in week.sessions} - known):
        rooms.append(planning_pb2.Room(code=code, label=code))
    rows = []
    for room in rooms:
        cells = []
        for day in days:
            cell = Cell(day)
            for session in week.sessions:
                if session.room == room.code and session.day == day.isoformat():
                    permanence = permanences.get(session.permanence_id)
                    total = slots_in(session, permanence.slot_minutes if permanence else 0)
                    cell.sessions.append({"session": session, "total": total})
            cell.sessions.sort(key=lambda s: instant(s["session"].starts_at))
            cell.closures = [c for c in week.closures if c.room == room.code and c.day == day.isoformat()]
            cells.append(cell)
        rows.append(Row(room, cells))
    return days, rows


def hosts_of(permanences: list[Any]) -> list[Any]:
    """Each host once (by id), for its iCalendar feed."""
    seen: dict[str, Any] = {}
    for permanence in permanences:
        seen.setdefault(permanence.host.id, permanence.host)
    return sorted(seen.values(), key=lambda h: h.label.lower())


def planning_url(site: str, monday: date) -> str:
    return "/planning?" + urlencode({"site": site, "semaine": monday.isoformat()})


async def planning(page: Page) -> Response:
    require(page, READERS, NOT_ALLOWED)
    sites = await agent_sites(page)
    site = chosen_site(page, sites, web.query(page.request, "site"))
    monday = monday_of(parse_day(web.query(page.request, "semaine"), today()))
    values: dict[str, Any] = {
        "sites": sites,
        "site": site,
        "monday": monday,
        "previous": planning_url(site.code, monday - timedelta(days=7)) if site else "",
        "next": planning_url(site.code, monday + timedelta(days=7)) if site else "",
        "this_week": planning_url(site.code, monday_of(today())) if site else "",
        "days": [],
        "rows": [],
        "permanences": [],
        "hosts": [],
    }
    if site is not None:
        week = await page.calls.planning.GetWeekPlanning(
            planning_pb2.GetWeekPlanningRequest(site=site.code, day=monday.isoformat())
        )
        listed = await page.calls.planning.ListPermanences(
            planning_pb2.ListPermanencesRequest(site=site.code)
        )
        permanences = list(listed.permanences)
        values["days"], values["rows"] = week_grid(
            site, week, {p.permanence_id: p for p in permanences}, monday
        )
        # The grid is this week's; the list below, the permanences still held.
        held = [p for p in permanences if not p.last_day or p.last_day >= today().isoformat()]
        values["permanences"] = held
        values["hosts"] = hosts_of(held)
    return page.render(
        "planning_page.html",
        title="Planning des permanences",
        can_plan=page.session.agent.role in PLANNERS,
        done=web.messages(DONE, page.request),
        sunday=monday + timedelta(days=6),
        **values,
    )


async def calendar(page: Page) -> Response:
    """A room's or a host's sessions as an iCalendar file (ExportCalendar)."""
    require(page, READERS, NOT_ALLOWED)
    request = planning_pb2.ExportCalendarRequest(
        site=web.query(page.request, "site"),
        room=web.query(page.request, "salle"),
        host_id=web.query(page.request, "hote"),
    )
    document = await web.read_by_path_id(page.calls.planning.ExportCalendar(request))
    # The service names the file after the room or the host's id: no personal data.
    filename = document.filename or "planning.ics"
    return Response(
        bytes(document.content),
        media_type=document.content_type or "text/calendar; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


# --- Placing a permanence ------------------------------------------------------------


async def partners(page: Page) -> list[tuple[str, str]]:
    reply = await page.calls.referral.ListPartners(referral_pb2.ListPartnersRequest())
    return [(p.partner_id, p.name) for p in reply.partners]


async def permanence_form(
    page: Page,
    site: Any,
    values: dict[str, str],
    request_id: str,
    errors: FormErrors | None = None,
    status: int = 200,
) -> Response:
    return page.render(
        "planning_permanence_new.html",
        status=status,
        title="Ajouter une permanence",
        site=site,
        values=values,
        request_id=request_id,
        errors=errors or FormErrors(),
        partners=await partners(page),
        host_kinds=[(k.value, labels.HOST_KIND_LABELS[k].capitalize()) for k in HostKind],
        recurrences=[(r.value, labels.RECURRENCE_LABELS[r].capitalize()) for r in Recurrence],
        weekdays=[(str(n), name.capitalize()) for n, name in labels.WEEKDAY_LABELS.items()],
    )


async def site_of_form(page: Page, asked: str) -> Any:
    sites = await agent_sites(page)
    site = chosen_site(page, sites, asked)
    if site is None:
        raise web.not_found()
    return site


async def new_permanence(page: Page) -> Response:
    require(page, PLANNERS, NOT_PLANNER)
    site = await site_of_form(page, web.query(page.request, "site"))
    values = {
        "room": site.rooms[0].code if site.rooms else "",
        "host_kind": HostKind.PARTENAIRE.value,
        "recurrence": Recurrence.WEEKLY.value,
        "weekday": "1",
        "first_day": today().isoformat(),
        "slot_minutes": str(int(DEFAULT_SLOT.total_seconds() // 60)),
    }
    return await permanence_form(page, site, values, new_request_id())


async def create_permanence(page: Page) -> Response:
    require(page, PLANNERS, NOT_PLANNER)
    site = await site_of_form(page, page.field("site"))
    values = {name: page.field(name) for name in PERMANENCE_FIELDS}
    request_id = page.field("request_id") or new_request_id()
    try:
        weekday = int(values["weekday"]) if values["weekday"] else 0
    except ValueError:
        weekday = 0
    try:
        await page.calls.planning.CreatePermanence(
            planning_pb2.CreatePermanenceRequest(
                site=site.code,
                room=values["room"],
                host=planning_pb2.Host(
                    kind=values["host_kind"],
                    id=values["host_id"],
                    label=values["host_label"],
                    category=values["host_category"],
                ),
                recurrence=values["recurrence"],
                weekday=weekday,
                starts_at=values["starts_at"],
                ends_at=values["ends_at"],
                first_day=values["first_day"],
                last_day=values["last_day"],
                slot_minutes=minutes(values["slot_minutes"]) if values["slot_minutes"] else 0,
                request_id=request_id,
            )
        )
    except grpc.RpcError as error:
        if web.code_of(error) not in FORM_CODES:
            raise
        return await permanence_form(page, site, values, request_id, refusal_errors(error), status=400)
    monday = monday_of(parse_day(values["first_day"], today()))
    return page.redirect(planning_url(site.code, monday) + "&fait=permanence")


# --- A change to a permanence's sessions -----------------------------------------------


async def permanence_of(page: Page) -> Any:
    permanence_id = str(page.request.path_params["permanence_id"])
    listed = await page.calls.planning.ListPermanences(planning_pb2.ListPermanencesRequest())
    found = next((p for p in listed.permanences if p.permanence_id == permanence_id), None)
    if found is None:
        raise web.not_found()
    return found


def exception_form(
    page: Page,
    permanence: Any,
    values: dict[str, str],
    request_id: str,
    errors: FormErrors | None = None,
    status: int = 200,
) -> Response:
    return page.render(
        "planning_exception_new.html",
        status=status,
        title="Modifier les séances d'une permanence",
        permanence=permanence,
        values=values,
        request_id=request_id,
        errors=errors or FormErrors(),
        kinds=[(k.value, labels.EXCEPTION_KIND_LABELS[k].capitalize()) for k in ExceptionKind],
    )


async def new_exception(page: Page) -> Response:
    require(page, PLANNERS, NOT_PLANNER)
    permanence = await permanence_of(page)
    values = {"kind": ExceptionKind.CANCELLED.value, "date": web.query(page.request, "jour")}
    return exception_form(page, permanence, values, new_request_id())


async def add_exception(page: Page) -> Response:
    require(page, PLANNERS, NOT_PLANNER)
    permanence = await permanence_of(page)
    values = {name: page.field(name) for name in EXCEPTION_FIELDS}
    request_id = page.field("request_id") or new_request_id()
    kind = values["kind"]
    try:
        await page.calls.planning.AddPermanenceException(
            planning_pb2.AddPermanenceExceptionRequest(
                permanence_id=permanence.permanence_id,
                exception=planning_pb2.PermanenceException(
                    kind=kind,
                    date=values["date"],
                    # Each kind sends only its own fields (the form shows them all).
                    until=values["until"] if kind == ExceptionKind.HOLIDAY else "",
                    starts_at=values["starts_at"] if kind == ExceptionKind.EXTRA else "",
                    ends_at=values["ends_at"] if kind == ExceptionKind.EXTRA else "",
                    reason=values["reason"],
                ),
                request_id=request_id,
            )
        )
    except grpc.RpcError as error:
        if web.code_of(error) not in FORM_CODES:
            raise
        errors = refusal_errors(error, EXCEPTION_RENAME)
        return exception_form(page, permanence, values, request_id, errors, status=400)
    monday = monday_of(parse_day(values["date"], today()))
    return page.redirect(planning_url(permanence.site, monday) + "&fait=exception")


ROUTES = [
    page_route("/planning", planning),
    page_route("/planning/calendrier", calendar),
    page_route("/planning/permanences/nouvelle", new_permanence),
    page_route(
        "/planning/permanences/nouvelle", create_permanence, methods=("POST",), name="create_permanence"
    ),
    page_route("/planning/permanences/{permanence_id}/exception", new_exception),
    page_route(
        "/planning/permanences/{permanence_id}/exception",
        add_exception,
        methods=("POST",),
        name="add_exception",
    ),
]
