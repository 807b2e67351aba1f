"""A group session's attendance sheet (one row per enrolled participant, present / absent
/ absent excusé, saved with one post; printable on one A4 page with an empty signature
column for the paper version) and a participant's page (their goals with status changes
and dated progress notes, the outcome at the end).

The collective service keeps the rules (who is enrolled, a goal on a person not enrolled,
the statuses); these pages translate.
"""

from __future__ import annotations

from typing import Any

import grpc
from entraide.v1 import collective_pb2
from starlette.responses import Response

from domain.collective import EnrolmentStatus, GoalStatus, ParticipantOutcome, SessionPresence
from services.console import web
from services.console.access_gate import require
from services.console.collective_pages import NOT_ALLOWED, READERS, get_programme
from services.console.planning_forms import refusal_errors, today
from services.console.web import FORM_CODES, FormErrors, Page, new_request_id, page_route

DONE = {
    "presences": "Les présences de la séance sont enregistrées.",
    "objectif": "L'objectif est enregistré.",
    "etat": "L'état de l'objectif est changé.",
    "note": "La note de suivi est ajoutée.",
    "suite": "La suite du parcours est enregistrée.",
}
PRESENCE_FIELD = "presence-"
# The service's field paths as the goal and note forms name their inputs.
GOAL_RENAME = {"title": "goal_title", "status": "goal_status", "text": "note_text", "day": "note_day"}
# Who is on the sheet: the participants holding a place (not the waiting list).
ON_THE_SHEET = (EnrolmentStatus.ENROLLED, EnrolmentStatus.COMPLETED)


# --- The attendance sheet ---------------------------------------------------------------


async def session_of(page: Page) -> Any:
    session_id = str(page.request.path_params["session_id"])
    return await web.read_by_path_id(
        page.calls.collective.GetSession(collective_pb2.GetSessionRequest(session_id=session_id))
    )


def sheet_rows(programme: Any, session: Any) -> list[dict[str, str]]:
    """One row per participant holding a place, and anyone the sheet already records
    (a participant withdrawn after the session)."""
    recorded = {a.enrolment_id: a for a in session.attendance}
    rows = []
    for enrolment in programme.enrolments:
        if enrolment.status in ON_THE_SHEET or enrolment.enrolment_id in recorded:
            entry = recorded.get(enrolment.enrolment_id)
            rows.append(
                {
                    "enrolment_id": enrolment.enrolment_id,
                    "label": enrolment.person_label or (entry.person_label if entry else ""),
                    "presence": entry.presence if entry else "",
                }
            )
    return sorted(rows, key=lambda r: r["label"].lower())


def sheet(
    page: Page,
    programme: Any,
    session: Any,
    rows: list[dict[str, str]],
    request_id: str,
    errors: FormErrors | None = None,
    status: int = 200,
) -> Response:
    return page.render(
        "collective_sheet.html",
        status=status,
        title=f"Feuille de présence — {programme.name}",
        programme=programme,
        # `session` is the console's (web.Page.render passes the agent's session).
        group_session=session,
        rows=rows,
        presences=[p.value for p in SessionPresence],
        request_id=request_id,
        errors=errors or FormErrors(),
        done=web.messages(DONE, page.request),
    )


async def show_sheet(page: Page) -> Response:
    require(page, READERS, NOT_ALLOWED)
    session = await session_of(page)
    programme = await get_programme(page, session.programme_id)
    return sheet(page, programme, session, sheet_rows(programme, session), new_request_id())


async def save_sheet(page: Page) -> Response:
    require(page, READERS, NOT_ALLOWED)
    session = await session_of(page)
    programme = await get_programme(page, session.programme_id)
    rows = sheet_rows(programme, session)
    for row in rows:
        row["presence"] = page.field(PRESENCE_FIELD + row["enrolment_id"])
    request_id = page.field("request_id") or new_request_id()
    try:
        await page.calls.collective.RecordSessionAttendance(
            collective_pb2.RecordSessionAttendanceRequest(
                session_id=session.session_id,
                attendance=[
                    collective_pb2.SessionAttendance(enrolment_id=r["enrolment_id"], presence=r["presence"])
                    for r in rows
                ],
                request_id=request_id,
            )
        )
    except grpc.RpcError as error:
        if web.code_of(error) not in FORM_CODES:
            raise
        return sheet(page, programme, session, rows, request_id, refusal_errors(error), status=400)
    return page.redirect(f"/actions-collectives/seances/{session.session_id}?fait=presences")


# --- A participant's goals and outcome ------------------------------------------------------


async def enrolment_of(page: Page) -> tuple[Any, Any]:
    """The programme and the enrolment the path names (no RPC reads one enrolment: it is
    found among the programmes the agent may read)."""
    enrolment_id = str(page.request.path_params["enrolment_id"])
    asked = web.query(page.request, "action") or page.field("programme_id")
    if asked:
        candidates = [await get_programme(page, asked)]
    else:
        listed = await page.calls.collective.ListProgrammes(
            collective_pb2.ListProgrammesRequest(include_closed=True)
        )
        candidates = list(listed.programmes)
    for programme in candidates:
        if not programme.enrolments:
            programme = await get_programme(page, programme.programme_id)
        for enrolment in programme.enrolments:
            if enrolment.enrolment_id == enrolment_id:
                return programme, enrolment
    raise web.not_found()


def participant_url(programme: Any, enrolment: Any, done: str = "") -> str:
    url = f"/actions-collectives/participants/{enrolment.enrolment_id}?action={programme.programme_id}"
    return url + (f"&fait={done}" if done else "")


async def participant_page(
    page: Page,
    programme: Any,
    enrolment: Any,
    *,
    values: dict[str, str] | None = None,
    errors: FormErrors | None = None,
    refused: str = "",
    request_id: str = "",
    status: int = 200,
) -> Response:
    goals = await page.calls.collective.ListGoals(
        collective_pb2.ListGoalsRequest(enrolment_id=enrolment.enrolment_id)
    )
    return page.render(
        "collective_participant.html",
        status=status,
        title=f"{enrolment.person_label} — {programme.name}",
        programme=programme,
        enrolment=enrolment,
        goals=list(goals.goals),
        goal_statuses=[s.value for s in GoalStatus],
        outcomes=[o.value for o in ParticipantOutcome],
        values=values or {"note_day": today().isoformat()},
        errors=errors or FormErrors(),
        refused=refused,
        request_id=request_id or new_request_id(),
        today=today().isoformat(),
        done=web.messages(DONE, page.request),
    )


async def show_participant(page: Page) -> Response:
    require(page, READERS, NOT_ALLOWED)
    programme, enrolment = await enrolment_of(page)
    return await participant_page(page, programme, enrolment)


async def refused_or_raise(
    page: Page, error: grpc.RpcError, programme: Any, enrolment: Any, values: dict[str, str], form: str
) -> Response:
    if web.code_of(error) not in FORM_CODES:
        raise error
    return await participant_page(
        page,
        programme,
        enrolment,
        values=values,
        errors=refusal_errors(error, GOAL_RENAME),
        refused=form,
        request_id=page.field("request_id"),
        status=400,
    )


async def set_goal(page: Page) -> Response:
    """A new goal (no goal_id) or a goal's status changed."""
    require(page, READERS, NOT_ALLOWED)
    programme, enrolment = await enrolment_of(page)
    goal_id = page.field("goal_id")
    values = {"goal_title": page.field("goal_title"), "goal_status": page.field("goal_status")}
    try:
        await page.calls.collective.SetGoal(
            collective_pb2.SetGoalRequest(
                goal_id=goal_id,
                enrolment_id=enrolment.enrolment_id,
                title=values["goal_title"],
                status=values["goal_status"] or (GoalStatus.PROPOSED.value if not goal_id else ""),
                request_id=page.field("request_id") or new_request_id(),
            )
        )
    except grpc.RpcError as error:
        form = f"etat-{goal_id}" if goal_id else "objectif"
        return await refused_or_raise(page, error, programme, enrolment, values, form)
    return page.redirect(participant_url(programme, enrolment, "etat" if goal_id else "objectif"))


async def add_note(page: Page) -> Response:
    require(page, READERS, NOT_ALLOWED)
    programme, enrolment = await enrolment_of(page)
    goal_id = page.field("goal_id")
    values = {"note_day": page.field("note_day"), "note_text": page.field("note_text"), "note_goal": goal_id}
    try:
        await page.calls.collective.AddGoalNote(
            collective_pb2.AddGoalNoteRequest(
                goal_id=goal_id,
                day=values["note_day"],
                text=values["note_text"],
                request_id=page.field("request_id") or new_request_id(),
            )
        )
    except grpc.RpcError as error:
        return await refused_or_raise(page, error, programme, enrolment, values, f"note-{goal_id}")
    return page.redirect(participant_url(programme, enrolment, "note"))


async def record_outcome(page: Page) -> Response:
    require(page, READERS, NOT_ALLOWED)
    programme, enrolment = await enrolment_of(page)
    values = {"outcome": page.field("outcome")}
    try:
        await page.calls.collective.RecordOutcome(
            collective_pb2.RecordOutcomeRequest(
                enrolment_id=enrolment.enrolment_id,
                outcome=values["outcome"],
                request_id=page.field("request_id") or new_request_id(),
            )
        )
    except grpc.RpcError as error:
        return await refused_or_raise(page, error, programme, enrolment, values, "suite")
    return page.redirect(participant_url(programme, enrolment, "suite"))


ROUTES = [
    page_route("/actions-collectives/seances/{session_id}", show_sheet),
    page_route(
        "/actions-collectives/seances/{session_id}",
        save_sheet,
        methods=("POST",),
        name="save_attendance_sheet",
    ),
    page_route("/actions-collectives/participants/{enrolment_id}", show_participant),
    page_route(
        "/actions-collectives/participants/{enrolment_id}/objectif",
        set_goal,
        methods=("POST",),
        name="set_participant_goal",
    ),
    page_route(
        "/actions-collectives/participants/{enrolment_id}/note",
        add_note,
        methods=("POST",),
        name="add_goal_note",
    ),
    page_route(
        "/actions-collectives/participants/{enrolment_id}/suite",
        record_outcome,
        methods=("POST",),
        name="record_participant_outcome",
    ),
]
