"""Collective actions end to end on the real intake process: a full programme of 10
weekly sessions with 8 places and 9 persons (tests/collective_scenario.py), its sheets,
goals, outcomes and events; each participant's dossier timeline with their own lines
only; the bad inputs refused in French with nothing written; retries; concurrent
enrolments that cannot over-fill a programme."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import asyncpg
import grpc
import pytest
from entraide.v1 import collective_pb2, collective_pb2_grpc, events_pb2, intake_pb2

from domain.collective import EnrolmentStatus, GoalStatus, SessionPresence
from domain.events import EventType
from kernel.auth import Role
from services.intake.collective.rules import EntryKind
from tests import collective_scenario as scenario
from tests.conftest import AppStack
from tests.e2e.services.intake.planning_helpers import intake, new_person, refused
from tests.helpers import rich_details

if TYPE_CHECKING:
    from entraide.v1.collective_pb2_grpc import CollectiveServiceAsyncStub as Stub
    from entraide.v1.intake_pb2_grpc import IntakeServiceAsyncStub as IntakeStub

__all__ = ["intake"]  # fixture
INVALID = grpc.StatusCode.INVALID_ARGUMENT
REFUSED = grpc.StatusCode.FAILED_PRECONDITION
TABLES = (
    "programmes",
    "group_sessions",
    "enrolments",
    "session_attendance",
    "goals",
    "goal_notes",
    "programme_changes",
    "collective_timeline",
)
# Years no other test publishes figures for (the scenario's sessions are dated then).
YEAR = 2014


@pytest.fixture
async def collective(app_stack: AppStack) -> AsyncIterator[Stub]:
    """CollectiveService on the intake address, as a social worker of every demo commune."""
    async with app_stack.channel("intake") as channel:
        yield collective_pb2_grpc.CollectiveServiceStub(channel)


def rid() -> str:
    return uuid.uuid4().hex


async def counts(pool: asyncpg.Pool) -> dict[str, int]:
    async with pool.acquire() as conn:
        found = {t: int(await conn.fetchval(f"SELECT count(*) FROM intake.{t}")) for t in TABLES}
        found["events"] = int(
            await conn.fetchval(
                "SELECT count(*) FROM intake.outbox WHERE ce_type LIKE 'entraide.collective.%'"
            )
        )
    return found


async def events_of(pool: asyncpg.Pool, programme_id: str) -> list[tuple[str, Any]]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT ce_type, data FROM intake.outbox WHERE ce_subject = $1 ORDER BY seq", programme_id
        )
    classes: dict[EventType, Any] = {
        EventType.PARTICIPANT_ENROLLED: events_pb2.ParticipantEnrolled,
        EventType.ENROLMENT_CHANGED: events_pb2.EnrolmentChanged,
        EventType.GROUP_SESSION_HELD: events_pb2.GroupSessionHeld,
        EventType.GOAL_CHANGED: events_pb2.GoalChanged,
        EventType.PARTICIPANT_OUTCOME_RECORDED: events_pb2.ParticipantOutcomeRecorded,
    }
    return [(r["ce_type"], classes[EventType(r["ce_type"])].FromString(r["data"])) for r in rows]


async def test_a_full_programme_reads_back_exactly(
    collective: Stub, intake: IntakeStub, pool: asyncpg.Pool
) -> None:
    played = await scenario.run_programme(collective, intake, year=YEAR)
    want = scenario.EXPECTED
    # The 9th of 8 places went to the waiting list, first in line.
    assert played.ninth is not None
    assert (played.ninth.status, played.ninth.waiting_position) == (EnrolmentStatus.WAITING, 1)

    programme = await collective.GetProgramme(
        collective_pb2.GetProgrammeRequest(programme_id=played.programme.programme_id), timeout=15
    )
    assert programme.status == "closed" and programme.capacity == 8
    assert [s.held for s in programme.sessions] == [True] * scenario.SESSIONS
    statuses = Counter(e.status for e in programme.enrolments)
    assert statuses == {EnrolmentStatus.COMPLETED: want.completed, EnrolmentStatus.WITHDRAWN: want.withdrawn}
    assert Counter(e.outcome for e in programme.enrolments if e.outcome) == want.outcomes

    # Each sheet as planned (session 4 as corrected), with the participants' names for agents.
    lines = Counter[str]()
    for n, session in enumerate(programme.sessions, start=1):
        sheet = await collective.GetSession(
            collective_pb2.GetSessionRequest(session_id=session.session_id), timeout=15
        )
        by_enrolment = {a.enrolment_id: a for a in sheet.attendance}
        assert len(by_enrolment) == len(scenario.on_sheet(n))
        for p in scenario.on_sheet(n):
            line = by_enrolment[played.enrolment_ids[p]]
            assert line.presence == scenario.presence(n, p)
            assert line.person_label == played.labels[p]
            lines[line.presence] += 1
    assert sum(lines.values()) == want.attendance_lines
    assert lines[SessionPresence.PRESENT] == want.presences
    assert lines[SessionPresence.ABSENT] + lines[SessionPresence.ABSENT_EXCUSED] == want.absences
    assert lines[SessionPresence.ABSENT_EXCUSED] == want.excused

    goals = await collective.ListGoals(
        collective_pb2.ListGoalsRequest(programme_id=played.programme.programme_id), timeout=15
    )
    finals = Counter(g.status for g in goals.goals)
    assert finals == {
        GoalStatus.REACHED: want.goals_reached,
        GoalStatus.GIVEN_UP: want.goals_given_up,
        GoalStatus.UNDER_WAY: want.goals_under_way,
        GoalStatus.PROPOSED: want.goals_proposed,
    }
    assert sum(len(g.notes) for g in goals.goals) == want.goal_notes
    assert all(n.author == "agent-martin" and n.day for g in goals.goals for n in g.notes)

    # The events say the same, codes and ids only; the latest of each sheet wins.
    events = await events_of(pool, played.programme.programme_id)
    types = Counter(t for t, _ in events)
    enrolled = [e for t, e in events if t == EventType.PARTICIPANT_ENROLLED]
    assert len({e.person_id for e in enrolled}) == want.persons_enrolled
    assert sum(e.waiting for e in enrolled) == want.enrolled_waiting_first
    held = [e for t, e in events if t == EventType.GROUP_SESSION_HELD]
    assert len(held) == want.sessions_held + want.sheets_corrected
    latest: dict[str, events_pb2.GroupSessionHeld] = {}
    for e in held:
        if e.session_id not in latest or e.sequence > latest[e.session_id].sequence:
            latest[e.session_id] = e
    assert len(latest) == want.sessions_held
    assert sum(e.expected for e in latest.values()) == want.attendance_lines
    assert sum(e.present for e in latest.values()) == want.presences
    assert sum(e.absent for e in latest.values()) == want.absences
    assert sum(e.excused for e in latest.values()) == want.excused
    assert max(e.sequence for e in held) == 2
    assert all(e.at.ToDatetime().year == YEAR for e in held)
    changed = [e for t, e in events if t == EventType.ENROLMENT_CHANGED]
    # The withdrawal, the 9th's promotion, then the 8 completed at closing.
    assert Counter(e.status for e in changed) == {
        EnrolmentStatus.WITHDRAWN: 1,
        EnrolmentStatus.ENROLLED: 1,
        EnrolmentStatus.COMPLETED: want.completed,
    }
    goal_latest: dict[str, events_pb2.GoalChanged] = {}
    for _, e in ((t, e) for t, e in events if t == EventType.GOAL_CHANGED):
        if e.goal_id not in goal_latest or e.sequence > goal_latest[e.goal_id].sequence:
            goal_latest[e.goal_id] = e
    assert Counter(e.status for e in goal_latest.values()) == finals
    assert types[EventType.PARTICIPANT_OUTCOME_RECORDED] == sum(want.outcomes.values())

    # Each participant's timeline: their own presence at each session they were on the
    # sheet of, their goal's states; never another participant's name.
    for p in range(1, scenario.PERSONS + 1):
        timeline = await intake.GetDossierTimeline(
            intake_pb2.GetDossierRequest(dossier_id=played.dossier_ids[p]), timeout=15
        )
        sessions = [e for e in timeline.entries if e.kind == EntryKind.SESSION]
        attended = [n for n in range(1, scenario.SESSIONS + 1) if p in scenario.on_sheet(n)]
        assert len(sessions) == len(attended)
        assert sessions[0].summary.startswith(f"Atelier collectif « {scenario.NAME} » du jeudi ")
        words = {
            SessionPresence.PRESENT: "présent(e)",
            SessionPresence.ABSENT: "absent(e)",
            SessionPresence.ABSENT_EXCUSED: "absent(e) excusé(e)",
        }
        assert [e.summary.rsplit(" : ", 1)[1] for e in sessions] == [
            words[scenario.presence(n, p)] for n in attended
        ]
        goal_entries = [e.summary for e in timeline.entries if e.kind == EntryKind.GOAL]
        title, steps = scenario.GOALS[p]
        assert goal_entries[0] == f"Projet « {title} » : proposé"
        assert len(goal_entries) == 1 + len(steps)
        if steps and steps[-1] is GoalStatus.REACHED:
            assert goal_entries[-1] == f"Projet « {title} » : atteint"
        # The dossier's steps keep their order; the group's entries are placed by time (the
        # scenario's sessions are dated in a past year, so before the opening here).
        numbers = [e.step for e in timeline.entries if e.kind not in set(EntryKind)]
        assert numbers == sorted(numbers) and numbers[0] == 0
        placed = [e.at.ToDatetime() for e in timeline.entries if e.kind in set(EntryKind)]
        assert placed == sorted(placed)
        text = str(timeline)
        for other in range(1, scenario.PERSONS + 1):
            if other != p:
                assert played.labels[other].split()[1] not in text
                assert scenario.GOALS[other][0] not in text


async def small_programme(collective: Stub, capacity: int = 2, **fields: Any) -> collective_pb2.Programme:
    request = collective_pb2.CreateProgrammeRequest(
        territory="55029",
        name="Atelier cuisine",
        place="Salle des associations",
        first_day="2014-09-04",
        last_day="2014-12-18",
        capacity=capacity,
        request_id=rid(),
    )
    for name, value in fields.items():
        setattr(request, name, value)
    return await collective.CreateProgramme(request, timeout=15)


async def enrol(
    collective: Stub, intake: IntakeStub, programme_id: str, **fields: Any
) -> collective_pb2.Enrolment:
    person_id, dossier_id, _ = await scenario.person_and_dossier(intake, "55029", 1, uuid.uuid4().hex[:6])
    request = collective_pb2.EnrolRequest(
        programme_id=programme_id, person_id=person_id, dossier_id=dossier_id, consent=True, request_id=rid()
    )
    for name, value in fields.items():
        setattr(request, name, value)
    return await collective.Enrol(request, timeout=15)


async def test_bad_inputs_are_refused_in_french_and_write_nothing(
    collective: Stub, intake: IntakeStub, pool: asyncpg.Pool
) -> None:
    programme = await small_programme(collective, capacity=1)
    pid = programme.programme_id
    session = await collective.AddSession(
        collective_pb2.AddSessionRequest(
            programme_id=pid, day="2014-09-04", starts_at="14:00", ends_at="16:00", request_id=rid()
        ),
        timeout=15,
    )
    first = await enrol(collective, intake, pid)
    waiting = await enrol(collective, intake, pid)
    assert (first.status, waiting.status, waiting.waiting_position) == ("enrolled", "waiting", 1)
    person = await new_person(intake)
    other = await new_person(intake)
    dossier = await intake.OpenDossier(
        intake_pb2.OpenDossierRequest(
            request_id=rid(),
            territory="55029",
            motifs=["logement"],
            arrival_channel="visite_spontanee",
            person_id=other.person_id,
        ),
        timeout=15,
    )
    before = await counts(pool)

    cases: list[tuple[Any, Any, grpc.StatusCode, str, str]] = [
        (
            collective.CreateProgramme,
            collective_pb2.CreateProgrammeRequest(
                territory="99999",
                name="X",
                place="Salle",
                first_day="2014-01-02",
                last_day="2014-02-02",
                request_id=rid(),
            ),
            INVALID,
            "territory",
            "UNKNOWN_TERRITORY",
        ),
        (
            collective.CreateProgramme,
            collective_pb2.CreateProgrammeRequest(
                territory="55029",
                name="  ",
                place="Salle",
                first_day="2014-01-02",
                last_day="2014-02-02",
                request_id=rid(),
            ),
            INVALID,
            "name",
            "FIELD_REQUIRED",
        ),
        (
            collective.CreateProgramme,
            collective_pb2.CreateProgrammeRequest(
                territory="55029",
                name="X",
                place="Salle",
                first_day="2014-03-02",
                last_day="2014-02-02",
                request_id=rid(),
            ),
            INVALID,
            "last_day",
            "ENDS_BEFORE_STARTS",
        ),
        (
            collective.CreateProgramme,
            collective_pb2.CreateProgrammeRequest(
                territory="55029",
                name="X",
                site="nulle-part",
                first_day="2014-01-02",
                last_day="2014-02-02",
                request_id=rid(),
            ),
            INVALID,
            "site",
            "UNKNOWN_SITE",
        ),
        (
            collective.AddSession,
            collective_pb2.AddSessionRequest(
                programme_id=pid,
                day="2014-09-11",
                starts_at="14:00",
                ends_at="16:00",
                capacity=2,
                request_id=rid(),
            ),
            INVALID,
            "capacity",
            "OVER_CAPACITY",
        ),
        (
            collective.AddSession,
            collective_pb2.AddSessionRequest(
                programme_id=pid,
                day="2014-09-11",
                starts_at="14:00",
                ends_at="16:00",
                capacity=-1,
                request_id=rid(),
            ),
            INVALID,
            "capacity",
            "OUT_OF_RANGE",
        ),
        (
            collective.AddSession,
            collective_pb2.AddSessionRequest(
                programme_id=pid, day="2015-09-11", starts_at="14:00", ends_at="16:00", request_id=rid()
            ),
            INVALID,
            "day",
            "OUT_OF_RANGE",
        ),
        (
            collective.Enrol,
            collective_pb2.EnrolRequest(
                programme_id=pid,
                person_id=person.person_id,
                dossier_id=dossier.dossier.dossier_id,
                request_id=rid(),
            ),
            REFUSED,
            "consent",
            "CONSENT_MISSING",
        ),
        (
            collective.Enrol,
            collective_pb2.EnrolRequest(
                programme_id=pid,
                person_id=person.person_id,
                dossier_id=dossier.dossier.dossier_id,
                consent=True,
                request_id=rid(),
            ),
            REFUSED,
            "dossier_id",
            "DOSSIER_OF_ANOTHER_PERSON",
        ),
        (
            collective.SetGoal,
            collective_pb2.SetGoalRequest(
                enrolment_id=waiting.enrolment_id, title="Prendre le bus", request_id=rid()
            ),
            REFUSED,
            "enrolment_id",
            "NOT_ENROLLED",
        ),
        (
            collective.RecordSessionAttendance,
            collective_pb2.RecordSessionAttendanceRequest(
                session_id=session.session_id,
                attendance=[
                    collective_pb2.SessionAttendance(enrolment_id=waiting.enrolment_id, presence="present")
                ],
                request_id=rid(),
            ),
            REFUSED,
            "attendance[0].enrolment_id",
            "NOT_ENROLLED",
        ),
        (
            collective.RecordSessionAttendance,
            collective_pb2.RecordSessionAttendanceRequest(
                session_id=session.session_id,
                attendance=[collective_pb2.SessionAttendance(enrolment_id=first.enrolment_id, presence="là")],
                request_id=rid(),
            ),
            INVALID,
            "attendance[0].presence",
            "UNKNOWN_PRESENCE",
        ),
    ]
    for call, request, code, field, reason in cases:
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await call(request, timeout=15)
        assert error.value.code() == code, (field, error.value.details())
        got_reason, fr = rich_details(error.value)
        assert got_reason == reason and fr, (field, got_reason, fr)
        described = await refused(call, request, code)
        assert field in [v.field for v in described.violations], (field, described)
    assert await counts(pool) == before

    # A goal on a withdrawn person, then a goal moved from reached to proposed.
    goal = await collective.SetGoal(
        collective_pb2.SetGoalRequest(
            enrolment_id=first.enrolment_id, title="Prendre le bus", status="under_way"
        ),
        timeout=15,
    )
    await collective.SetGoal(
        collective_pb2.SetGoalRequest(goal_id=goal.goal_id, status="reached"), timeout=15
    )
    before = await counts(pool)
    refusal = await refused(
        collective.SetGoal, collective_pb2.SetGoalRequest(goal_id=goal.goal_id, status="proposed"), REFUSED
    )
    assert refusal.reason == "GOAL_TRANSITION_NOT_ALLOWED" and "atteint" in refusal.fr
    assert await counts(pool) == before
    reopened = await collective.SetGoal(
        collective_pb2.SetGoalRequest(goal_id=goal.goal_id, status="under_way"), timeout=15
    )
    assert reopened.status == "under_way"
    await collective.Withdraw(collective_pb2.WithdrawRequest(enrolment_id=first.enrolment_id), timeout=15)
    before = await counts(pool)
    refusal = await refused(
        collective.SetGoal,
        collective_pb2.SetGoalRequest(enrolment_id=first.enrolment_id, title="Autre projet"),
        REFUSED,
    )
    assert refusal.reason == "NOT_ENROLLED" and "retiré" in refusal.fr
    refusal = await refused(
        collective.AddGoalNote,
        collective_pb2.AddGoalNoteRequest(goal_id=goal.goal_id, day="2014-09-04", text="Note"),
        REFUSED,
    )
    assert refusal.reason == "NOT_ENROLLED"
    refusal = await refused(
        collective.AddGoalNote,
        collective_pb2.AddGoalNoteRequest(goal_id=goal.goal_id, day="2014-09-04", text="x" * 2001),
        INVALID,
    )
    assert await counts(pool) == before
    # The waiting person took the place.
    promoted = await collective.GetProgramme(collective_pb2.GetProgrammeRequest(programme_id=pid), timeout=15)
    assert {e.enrolment_id: e.status for e in promoted.enrolments}[waiting.enrolment_id] == "enrolled"


async def test_a_request_id_again_changes_nothing_and_answers_the_same(
    collective: Stub, intake: IntakeStub, pool: asyncpg.Pool
) -> None:
    request = collective_pb2.CreateProgrammeRequest(
        territory="55029",
        name="Atelier mobilité",
        place="Salle des associations",
        first_day="2014-10-02",
        last_day="2014-12-18",
        request_id=rid(),
    )
    made = await collective.CreateProgramme(request, timeout=15)
    assert made.capacity == 8
    before = await counts(pool)
    assert await collective.CreateProgramme(request, timeout=15) == made
    assert await counts(pool) == before
    add = collective_pb2.AddSessionRequest(
        programme_id=made.programme_id, day="2014-10-02", starts_at="14:00", ends_at="16:00", request_id=rid()
    )
    session = await collective.AddSession(add, timeout=15)
    assert session.capacity == 8 and session.place == "Salle des associations"
    enrolment = await enrol(collective, intake, made.programme_id)
    sheet = collective_pb2.RecordSessionAttendanceRequest(
        session_id=session.session_id,
        attendance=[
            collective_pb2.SessionAttendance(enrolment_id=enrolment.enrolment_id, presence="present")
        ],
        request_id=rid(),
    )
    before = await counts(pool)
    first = await collective.RecordSessionAttendance(sheet, timeout=15)
    after = await counts(pool)
    assert after["events"] == before["events"] + 1
    assert await collective.RecordSessionAttendance(sheet, timeout=15) == first
    assert await collective.AddSession(add, timeout=15) == session
    assert await counts(pool) == after


async def test_concurrent_enrolments_cannot_overfill(
    collective: Stub, intake: IntakeStub, pool: asyncpg.Pool
) -> None:
    programme = await small_programme(collective, capacity=2)
    answers = await asyncio.gather(*(enrol(collective, intake, programme.programme_id) for _ in range(6)))
    assert Counter(a.status for a in answers) == {"enrolled": 2, "waiting": 4}
    read = await collective.GetProgramme(
        collective_pb2.GetProgrammeRequest(programme_id=programme.programme_id), timeout=15
    )
    assert sorted(e.waiting_position for e in read.enrolments if e.status == "waiting") == [1, 2, 3, 4]


async def test_reception_enrols_but_does_not_run_the_programme(
    app_stack: AppStack, collective: Stub, intake: IntakeStub
) -> None:
    programme = await small_programme(collective)
    async with app_stack.channel("intake", app_stack.token("accueil-collectif", Role.ACCUEIL)) as channel:
        reception = collective_pb2_grpc.CollectiveServiceStub(channel)
        enrolment = await enrol(reception, intake, programme.programme_id)
        assert enrolment.status == "enrolled"
        refusal = await refused(
            reception.SetGoal,
            collective_pb2.SetGoalRequest(enrolment_id=enrolment.enrolment_id, title="Prendre le bus"),
            grpc.StatusCode.PERMISSION_DENIED,
        )
        assert refusal.reason == "ROLE_NOT_ALLOWED"


async def test_another_communes_rows_are_invisible_in_the_database(
    app_stack: AppStack, collective: Stub, intake: IntakeStub, pool: asyncpg.Pool
) -> None:
    programme = await small_programme(collective)
    enrolment = await enrol(collective, intake, programme.programme_id)
    conn = await asyncpg.connect(app_stack.settings.database_url, server_settings={"role": "entraide_app"})
    try:

        async def visible(territories: str) -> dict[str, int]:
            await conn.execute("SELECT set_config('entraide.territories', $1, false)", territories)
            found = {}
            for table, column, value in (
                ("programmes", "programme_id", programme.programme_id),
                ("enrolments", "enrolment_id", enrolment.enrolment_id),
                ("programme_changes", "programme_id", programme.programme_id),
            ):
                found[table] = int(
                    await conn.fetchval(
                        f"SELECT count(*) FROM intake.{table} WHERE {column} = $1::uuid", value
                    )
                )
            return found

        assert await visible("55029") == {"programmes": 1, "enrolments": 1, "programme_changes": 2}
        assert await visible("55291") == {"programmes": 0, "enrolments": 0, "programme_changes": 0}
    finally:
        await conn.close()
    async with pool.acquire() as admin:
        tables = await admin.fetch(
            """SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = 'intake' AND c.relkind = 'r' AND c.relrowsecurity AND c.relforcerowsecurity
                  AND c.relname = ANY($1::text[])""",
            list(TABLES),
        )
    assert {t["relname"] for t in tables} == set(TABLES)
