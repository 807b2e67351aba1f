"""Appointments end to end on the real intake process and Temporal: booked at a slot
(the row, its history and its event in one transaction, then the workflow started),
a slot taken refused, moved, cancelled, attendance and its transitions, the day's
list and the person's, contact preferences, bad inputs named in French, retries."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

import asyncpg
import grpc
import pytest
from entraide.v1 import events_pb2, planning_pb2, planning_pb2_grpc
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from domain.planning import PARIS
from kernel import auth
from kernel import temporal as temporal_kernel
from kernel.auth import Claims, Role
from kernel.db import APP_ROLE, ScopedPool, create_pool
from kernel.reference import load
from kernel.settings import Settings
from kernel.timestamps import to_timestamp
from services.intake.planning.servicer import PlanningServicer
from services.intake.service import appointment_timers
from tests.conftest import TERRITORIES, AppStack
from tests.e2e.services.intake.planning_helpers import (
    ROOMS,
    SITE,
    counts,
    intake,
    near_day,
    new_person,
    permanence_request,
    place,
    planning,
    refused,
)
from tests.helpers import FORBIDDEN, eventually, rich_details
from workflows.contracts import appointment_workflow_id

if TYPE_CHECKING:
    from entraide.v1.intake_pb2_grpc import IntakeServiceAsyncStub as IntakeStub
    from entraide.v1.planning_pb2_grpc import PlanningServiceAsyncStub as Stub

__all__ = ["intake", "planning"]  # fixtures
INVALID = grpc.StatusCode.INVALID_ARGUMENT
REFUSED = grpc.StatusCode.FAILED_PRECONDITION
SLOT = timedelta(minutes=30)


class Held:
    """A one-day permanence of the next two years (four 30-minute slots)."""

    def __init__(self, made: planning_pb2.PlannedPermanence) -> None:
        self.made = made
        self.id = made.permanence_id
        self.day = date.fromisoformat(made.first_day)
        self.start = datetime.combine(self.day, time.fromisoformat(made.starts_at), PARIS)

    def slot(self, n: int) -> datetime:
        return self.start + n * SLOT


async def held(planning: Stub) -> Held:
    def make() -> planning_pb2.CreatePermanenceRequest:
        day = near_day()
        hour = random.randrange(8, 16)
        return permanence_request(
            day,
            room=random.choice(ROOMS),
            starts_at=f"{hour:02d}:00",
            ends_at=f"{hour + 2:02d}:00",
            last_day=day.isoformat(),
        )

    return Held(await place(planning, make))


def book_request(person_id: str, **fields: Any) -> planning_pb2.BookAppointmentRequest:
    if isinstance(fields.get("starts_at"), datetime):
        fields["starts_at"] = to_timestamp(fields["starts_at"])
    fields.setdefault("request_id", uuid.uuid4().hex)
    return planning_pb2.BookAppointmentRequest(person_id=person_id, **fields)


@pytest.fixture
async def temporal(settings: Settings) -> Client:
    return await temporal_kernel.connect(settings)


async def workflow_exists(temporal: Client, appointment_id: str) -> bool:
    try:
        await temporal.get_workflow_handle(appointment_workflow_id(appointment_id)).describe()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def events_of(pool: asyncpg.Pool, appointment_id: str) -> list[asyncpg.Record]:
    async with pool.acquire() as conn:
        return list(
            await conn.fetch("SELECT * FROM intake.outbox WHERE ce_subject = $1 ORDER BY seq", appointment_id)
        )


async def changes_of(pool: asyncpg.Pool, appointment_id: str) -> list[tuple[str, str]]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT change, status FROM intake.appointment_changes WHERE appointment_id = $1 ORDER BY seq",
            uuid.UUID(appointment_id),
        )
    return [(r["change"], r["status"]) for r in rows]


async def free(planning: Stub, perm: Held) -> list[datetime]:
    reply = await planning.ListSlots(
        planning_pb2.ListSlotsRequest(
            permanence_id=perm.id, from_day=perm.made.first_day, to_day=perm.made.first_day
        ),
        timeout=10,
    )
    return [s.starts_at.ToDatetime(tzinfo=UTC) for s in reply.slots]


# ---------------------------------------------------------------- booking


async def test_a_person_is_booked_at_a_slot_and_the_slot_is_then_taken(
    planning: Stub, intake: IntakeStub, pool: asyncpg.Pool, temporal: Client
) -> None:
    perm = await held(planning)
    person = await new_person(intake)
    assert await free(planning, perm) == [perm.slot(n) for n in range(4)]
    booked = await planning.BookAppointment(
        book_request(person.person_id, permanence_id=perm.id, starts_at=perm.slot(1), motif="logement"),
        timeout=15,
    )
    assert (booked.status, booked.version, booked.walk_in) == ("booked", 1, False)
    assert (booked.site, booked.room, booked.permanence_id) == (SITE, perm.made.room, perm.id)
    assert booked.starts_at.ToDatetime(tzinfo=UTC) == perm.slot(1)
    assert booked.ends_at.ToDatetime(tzinfo=UTC) == perm.slot(2)
    assert booked.host == perm.made.host and booked.motif == "logement"
    assert booked.person_label == f"{person.first_name} {person.last_name}"
    assert await free(planning, perm) == [perm.slot(0), perm.slot(2), perm.slot(3)]
    assert await changes_of(pool, booked.appointment_id) == [("booked", "booked")]
    (event,) = await events_of(pool, booked.appointment_id)
    assert event["ce_type"] == "entraide.appointment.booked"
    data = bytes(event["data"])
    payload = events_pb2.AppointmentBooked.FromString(data)
    place_ = payload.place
    assert (place_.territory, place_.site, place_.room, place_.permanence_id) == (
        "55029",
        SITE,
        perm.made.room,
        perm.id,
    )
    assert (place_.host_kind, place_.partner_id, place_.partner_name, place_.category) == (
        "partenaire",
        perm.made.host.id,
        perm.made.host.label,
        "budget_endettement",
    )
    # Codes only: neither the person nor the motif travel in the event.
    assert person.person_id.encode() not in data and b"logement" not in data
    assert await workflow_exists(temporal, booked.appointment_id)

    week = await planning.GetWeekPlanning(
        planning_pb2.GetWeekPlanningRequest(site=SITE, day=perm.made.first_day), timeout=10
    )
    (session,) = [s for s in week.sessions if s.permanence_id == perm.id]
    assert session.booked == 1

    fetched = await planning.GetAppointment(
        planning_pb2.GetAppointmentRequest(appointment_id=booked.appointment_id), timeout=10
    )
    assert fetched == booked

    other = await new_person(intake)
    before = await counts(pool)
    taken = await refused(
        planning.BookAppointment,
        book_request(other.person_id, permanence_id=perm.id, starts_at=perm.slot(1)),
        REFUSED,
    )
    assert taken.reason == "SLOT_TAKEN" and "déjà pris" in taken.fr
    # A longer appointment starting before overlaps it too.
    overlapping = book_request(
        other.person_id, permanence_id=perm.id, starts_at=perm.slot(0), duration_minutes=60
    )
    assert (await refused(planning.BookAppointment, overlapping, REFUSED)).reason == "SLOT_TAKEN"
    assert await counts(pool) == before


async def test_a_booking_outside_the_sessions_or_off_the_slots_is_refused(
    planning: Stub, intake: IntakeStub, pool: asyncpg.Pool
) -> None:
    perm = await held(planning)
    person = await new_person(intake)
    before = await counts(pool)
    cases = [
        (perm.slot(0) + timedelta(minutes=10), 0, "NOT_A_SLOT"),
        (perm.slot(4), 0, "NO_SESSION"),  # the session's end
        (perm.slot(3), 60, "NO_SESSION"),  # past the session's end
        (perm.slot(0) + timedelta(days=7), 0, "NO_SESSION"),  # a one-day permanence
    ]
    for starts_at, minutes, reason in cases:
        request = book_request(
            person.person_id, permanence_id=perm.id, starts_at=starts_at, duration_minutes=minutes
        )
        described = await refused(planning.BookAppointment, request, REFUSED)
        assert (described.reason, [v.field for v in described.violations]) == (reason, ["starts_at"]), (
            starts_at
        )
        assert described.fr
    assert await counts(pool) == before
    missing = book_request(str(uuid.uuid4()), permanence_id=perm.id, starts_at=perm.slot(0))
    assert (
        await refused(planning.BookAppointment, missing, grpc.StatusCode.NOT_FOUND)
    ).reason == "PERSON_NOT_FOUND"
    unknown = book_request(person.person_id, permanence_id=str(uuid.uuid4()), starts_at=perm.slot(0))
    not_found = await refused(planning.BookAppointment, unknown, grpc.StatusCode.NOT_FOUND)
    assert not_found.reason == "PERMANENCE_NOT_FOUND"
    assert await counts(pool) == before


async def test_bad_inputs_are_invalid_argument_naming_each_field(planning: Stub) -> None:
    request = planning_pb2.BookAppointmentRequest(
        person_id="pas-un-id", permanence_id="x", duration_minutes=300, motif="inconnu", dossier_id="y"
    )
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await planning.BookAppointment(request, timeout=10)
    assert error.value.code() == INVALID and error.value.code() not in FORBIDDEN
    reason, fr = rich_details(error.value)
    assert reason and fr
    described = await refused(planning.BookAppointment, request, INVALID)
    assert {v.field for v in described.violations} == {
        "person_id",
        "permanence_id",
        "starts_at",
        "duration_minutes",
        "dossier_id",
        "motif",
    }
    assert all(v.fr for v in described.violations)
    past = book_request(
        str(uuid.uuid4()), agent_id="agent-x", site=SITE, starts_at=datetime.now(UTC) - timedelta(hours=2)
    )
    assert [v.reason for v in (await refused(planning.BookAppointment, past, INVALID)).violations] == [
        "IN_THE_PAST"
    ]
    both = book_request(
        str(uuid.uuid4()), agent_id="agent-x", permanence_id=str(uuid.uuid4()), starts_at=datetime.now(UTC)
    )
    assert [v.field for v in (await refused(planning.BookAppointment, both, INVALID)).violations] == [
        "agent_id"
    ]
    no_site = book_request(
        str(uuid.uuid4()), agent_id="agent-x", starts_at=datetime.now(UTC) + timedelta(days=1)
    )
    assert [v.field for v in (await refused(planning.BookAppointment, no_site, INVALID)).violations] == [
        "site"
    ]
    status = planning_pb2.RecordAttendanceRequest(appointment_id=str(uuid.uuid4()), status="present")
    assert [v.field for v in (await refused(planning.RecordAttendance, status, INVALID)).violations] == [
        "status"
    ]
    day = planning_pb2.ListAppointmentsRequest(site=SITE, day="03/12/2026")
    assert [v.field for v in (await refused(planning.ListAppointments, day, INVALID)).violations] == ["day"]
    slots = planning_pb2.ListSlotsRequest(
        permanence_id=str(uuid.uuid4()), from_day="2027-01-01", to_day="2027-06-01"
    )
    assert [v.field for v in (await refused(planning.ListSlots, slots, INVALID)).violations] == ["to_day"]


async def test_the_same_request_id_books_once(
    app_stack: AppStack, planning: Stub, intake: IntakeStub, pool: asyncpg.Pool
) -> None:
    perm = await held(planning)
    person = await new_person(intake)
    request = book_request(person.person_id, permanence_id=perm.id, starts_at=perm.slot(2))
    first = await planning.BookAppointment(request, timeout=15)
    before = await counts(pool)
    again = await planning.BookAppointment(request, timeout=15)
    assert again.SerializeToString() == first.SerializeToString()
    assert await counts(pool) == before
    # Another caller's request with the same id is not this booking's retry.
    other = await new_person(intake)
    reused = book_request(
        other.person_id, permanence_id=perm.id, starts_at=perm.slot(3), request_id=request.request_id
    )
    async with app_stack.channel("intake", app_stack.token("acc-other", Role.ACCUEIL)) as channel:
        stub = planning_pb2_grpc.PlanningServiceStub(channel)
        described = await refused(stub.BookAppointment, reused, grpc.StatusCode.ALREADY_EXISTS)
    assert described.reason == "REQUEST_ID_REUSED"
    assert await counts(pool) == before


# ---------------------------------------------------------------- move, cancel


async def test_move_then_cancel(
    planning: Stub, intake: IntakeStub, pool: asyncpg.Pool, temporal: Client
) -> None:
    perm = await held(planning)
    person, other = await new_person(intake), await new_person(intake)
    booked = await planning.BookAppointment(
        book_request(person.person_id, permanence_id=perm.id, starts_at=perm.slot(0)), timeout=15
    )
    await planning.BookAppointment(
        book_request(other.person_id, permanence_id=perm.id, starts_at=perm.slot(3)), timeout=15
    )
    aid = booked.appointment_id
    move = planning_pb2.MoveAppointmentRequest(
        appointment_id=aid, starts_at=to_timestamp(perm.slot(2)), request_id=uuid.uuid4().hex
    )
    moved = await planning.MoveAppointment(move, timeout=15)
    assert (moved.version, moved.status) == (2, "booked")
    assert moved.starts_at.ToDatetime(tzinfo=UTC) == perm.slot(2)
    assert await free(planning, perm) == [perm.slot(0), perm.slot(1)]
    assert await planning.MoveAppointment(move, timeout=15) == moved  # a repeat: the same answer
    assert await changes_of(pool, aid) == [("booked", "booked"), ("moved", "booked")]
    before = await counts(pool)
    onto = planning_pb2.MoveAppointmentRequest(appointment_id=aid, starts_at=to_timestamp(perm.slot(3)))
    assert (await refused(planning.MoveAppointment, onto, REFUSED)).reason == "SLOT_TAKEN"
    assert await counts(pool) == before

    cancel = planning_pb2.CancelAppointmentRequest(
        appointment_id=aid, by_person=True, request_id=uuid.uuid4().hex
    )
    cancelled = await planning.CancelAppointment(cancel, timeout=15)
    assert (cancelled.status, cancelled.version) == ("cancelled", 2)
    assert perm.slot(2) in await free(planning, perm)
    types = [e["ce_type"] for e in await events_of(pool, aid)]
    assert types == [
        "entraide.appointment.booked",
        "entraide.appointment.moved",
        "entraide.appointment.cancelled",
    ]
    moved_event = events_pb2.AppointmentMoved.FromString(bytes((await events_of(pool, aid))[1]["data"]))
    assert moved_event.version == 2 and moved_event.place.starts_at.ToDatetime(tzinfo=UTC) == perm.slot(2)

    again = planning_pb2.MoveAppointmentRequest(appointment_id=aid, starts_at=to_timestamp(perm.slot(1)))
    assert (await refused(planning.MoveAppointment, again, REFUSED)).reason == "APPOINTMENT_CANCELLED"
    attend = planning_pb2.RecordAttendanceRequest(appointment_id=aid, status="arrived")
    assert (await refused(planning.RecordAttendance, attend, REFUSED)).reason == "APPOINTMENT_CANCELLED"
    # The workflow was told: it ends without a reminder.
    handle = temporal.get_workflow_handle(appointment_workflow_id(aid))
    await eventually(
        lambda: handle.describe(), lambda d: d.status is not None and d.status.name != "RUNNING", timeout=20
    )


# ---------------------------------------------------------------- attendance


async def agent_appointment(
    planning: Stub, person_id: str, starts_at: datetime, **more: Any
) -> planning_pb2.Appointment:
    request = book_request(
        person_id, agent_id=f"agent-{uuid.uuid4().hex[:8]}", site=SITE, starts_at=starts_at, **more
    )
    return await planning.BookAppointment(request, timeout=15)


async def test_attendance_transitions(planning: Stub, intake: IntakeStub, pool: asyncpg.Pool) -> None:
    person = await new_person(intake)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    today = await agent_appointment(planning, person.person_id, now - timedelta(minutes=1))
    assert (today.host.kind, today.room, today.permanence_id) == ("agent", "", "")

    async def record(appointment_id: str, status: str, request_id: str = "") -> planning_pb2.Appointment:
        return await planning.RecordAttendance(
            planning_pb2.RecordAttendanceRequest(
                appointment_id=appointment_id, status=status, request_id=request_id
            ),
            timeout=15,
        )

    rid = uuid.uuid4().hex
    assert (await record(today.appointment_id, "arrived", rid)).status == "arrived"
    assert (await record(today.appointment_id, "arrived", rid)).status == "arrived"
    assert (await record(today.appointment_id, "seen")).status == "seen"
    after_seen = await refused(
        planning.RecordAttendance,
        planning_pb2.RecordAttendanceRequest(appointment_id=today.appointment_id, status="no_show"),
        REFUSED,
    )
    assert after_seen.reason == "ATTENDANCE_NOT_ALLOWED" and "« vu »" in after_seen.fr
    move = planning_pb2.MoveAppointmentRequest(
        appointment_id=today.appointment_id, starts_at=to_timestamp(now + timedelta(days=1))
    )
    assert (await refused(planning.MoveAppointment, move, REFUSED)).reason == "APPOINTMENT_ATTENDED"
    assert await changes_of(pool, today.appointment_id) == [
        ("booked", "booked"),
        ("attendance", "arrived"),
        ("attendance", "seen"),
    ]
    recorded = [
        events_pb2.AttendanceRecorded.FromString(bytes(e["data"])).status
        for e in await events_of(pool, today.appointment_id)
        if e["ce_type"] == "entraide.appointment.attendance_recorded"
    ]
    assert recorded == ["arrived", "seen"]

    # A no-show may be excused, then corrected to seen (the person came late).
    absent = await agent_appointment(planning, person.person_id, now - timedelta(minutes=2))
    assert (await record(absent.appointment_id, "no_show")).status == "no_show"
    assert (await record(absent.appointment_id, "no_show_excused")).status == "no_show_excused"
    assert (await record(absent.appointment_id, "seen")).status == "seen"

    # Not before its day.
    later = await agent_appointment(planning, person.person_id, now + timedelta(days=3))
    early = await refused(
        planning.RecordAttendance,
        planning_pb2.RecordAttendanceRequest(appointment_id=later.appointment_id, status="no_show"),
        REFUSED,
    )
    assert early.reason == "NOT_YET_DUE" and "à partir de ce jour" in early.fr


async def test_an_agent_is_not_booked_twice_at_once_and_a_walk_in_is_checked_in(
    planning: Stub, intake: IntakeStub, pool: asyncpg.Pool, temporal: Client
) -> None:
    person, other = await new_person(intake), await new_person(intake)
    agent = f"agent-{uuid.uuid4().hex[:8]}"
    at = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(days=5)
    first = book_request(person.person_id, agent_id=agent, site=SITE, starts_at=at, duration_minutes=45)
    await planning.BookAppointment(first, timeout=15)
    overlapping = book_request(
        other.person_id, agent_id=agent, site=SITE, starts_at=at + timedelta(minutes=30)
    )
    busy = await refused(planning.BookAppointment, overlapping, REFUSED)
    assert busy.reason == "AGENT_BUSY" and "L'agent a déjà un rendez-vous" in busy.fr
    after = book_request(other.person_id, agent_id=agent, site=SITE, starts_at=at + timedelta(minutes=45))
    assert (await planning.BookAppointment(after, timeout=15)).status == "booked"

    walk_in = await agent_appointment(planning, other.person_id, datetime.now(UTC), walk_in=True)
    assert (walk_in.status, walk_in.walk_in) == ("arrived", True)
    types = [e["ce_type"] for e in await events_of(pool, walk_in.appointment_id)]
    assert types == ["entraide.appointment.booked", "entraide.appointment.attendance_recorded"]
    booked_event = events_pb2.AppointmentBooked.FromString(
        bytes((await events_of(pool, walk_in.appointment_id))[0]["data"])
    )
    assert (
        booked_event.walk_in and booked_event.place.partner_id == "" and booked_event.place.partner_name == ""
    )
    assert await workflow_exists(temporal, walk_in.appointment_id)
    # A walk-in's workflow has nothing to remind: it ends, and what is recorded later is
    # not refused for it.
    handle = temporal.get_workflow_handle(appointment_workflow_id(walk_in.appointment_id))
    await eventually(
        handle.describe, lambda d: d.status is not None and d.status.name == "COMPLETED", timeout=20
    )
    seen = await planning.RecordAttendance(
        planning_pb2.RecordAttendanceRequest(appointment_id=walk_in.appointment_id, status="seen"), timeout=15
    )
    assert seen.status == "seen"
    tomorrow = book_request(other.person_id, agent_id=agent, site=SITE, starts_at=at, walk_in=True)
    assert (await refused(planning.BookAppointment, tomorrow, INVALID)).reason == "WALK_IN_NOT_TODAY"


# ---------------------------------------------------------------- lists


async def test_the_days_list_of_a_site_and_the_persons_appointments(
    planning: Stub, intake: IntakeStub
) -> None:
    perm = await held(planning)
    person, other = await new_person(intake), await new_person(intake)
    late = await planning.BookAppointment(
        book_request(person.person_id, permanence_id=perm.id, starts_at=perm.slot(3)), timeout=15
    )
    early = await planning.BookAppointment(
        book_request(other.person_id, permanence_id=perm.id, starts_at=perm.slot(0)), timeout=15
    )
    later_day = await agent_appointment(planning, person.person_id, perm.slot(0) + timedelta(days=1))
    listed = await planning.ListAppointments(
        planning_pb2.ListAppointmentsRequest(site=SITE, day=perm.made.first_day), timeout=10
    )
    mine = [a for a in listed.appointments if a.permanence_id == perm.id]
    assert [a.appointment_id for a in mine] == [early.appointment_id, late.appointment_id]
    assert mine[0].person_label == f"{other.first_name} {other.last_name}"
    assert later_day.appointment_id not in {a.appointment_id for a in listed.appointments}
    persons = await planning.ListAppointments(
        planning_pb2.ListAppointmentsRequest(person_id=person.person_id), timeout=10
    )
    assert [a.appointment_id for a in persons.appointments] == [later_day.appointment_id, late.appointment_id]
    both = planning_pb2.ListAppointmentsRequest(
        site=SITE, day=perm.made.first_day, person_id=person.person_id
    )
    assert (await refused(planning.ListAppointments, both, INVALID)).reason == "CONFLICTING_FIELDS"


# ---------------------------------------------------------------- contact preferences, messages


async def test_contact_preferences_need_the_persons_number_or_address(
    planning: Stub, intake: IntakeStub
) -> None:
    no_phone = await new_person(intake, phone="")
    never = await planning.GetContactPreferences(
        planning_pb2.GetContactPreferencesRequest(person_id=no_phone.person_id), timeout=10
    )
    assert (never.consent, never.channel, never.opted_out) == (False, "", False)
    sms = planning_pb2.SetContactPreferencesRequest(person_id=no_phone.person_id, consent=True, channel="sms")
    missing = await refused(planning.SetContactPreferences, sms, REFUSED)
    assert missing.reason == "CONTACT_MISSING" and "téléphone" in missing.fr
    email = planning_pb2.SetContactPreferencesRequest(
        person_id=no_phone.person_id, consent=True, channel="email", request_id=uuid.uuid4().hex
    )
    saved = await planning.SetContactPreferences(email, timeout=10)
    assert (saved.consent, saved.channel, saved.opted_out, saved.updated_by) == (
        True,
        "email",
        False,
        "resp-planning",
    )
    assert (
        await planning.GetContactPreferences(
            planning_pb2.GetContactPreferencesRequest(person_id=no_phone.person_id), timeout=10
        )
        == saved
    )
    opt_out = planning_pb2.SetContactPreferencesRequest(
        person_id=no_phone.person_id, consent=True, channel="sms", opted_out=True
    )
    assert (await planning.SetContactPreferences(opt_out, timeout=10)).opted_out
    no_email = await new_person(intake, email="")
    by_mail = planning_pb2.SetContactPreferencesRequest(
        person_id=no_email.person_id, consent=True, channel="email"
    )
    assert (await refused(planning.SetContactPreferences, by_mail, REFUSED)).reason == "CONTACT_MISSING"
    refusing = planning_pb2.SetContactPreferencesRequest(person_id=no_email.person_id, consent=False)
    refused_prefs = await planning.SetContactPreferences(refusing, timeout=10)
    assert (refused_prefs.consent, refused_prefs.channel) == (False, "")
    no_channel = planning_pb2.SetContactPreferencesRequest(person_id=no_email.person_id, consent=True)
    described = await refused(planning.SetContactPreferences, no_channel, INVALID)
    assert [v.field for v in described.violations] == ["channel"]
    unknown = planning_pb2.SetContactPreferencesRequest(
        person_id=no_email.person_id, consent=True, channel="pigeon"
    )
    assert [
        v.field for v in (await refused(planning.SetContactPreferences, unknown, INVALID)).violations
    ] == ["channel"]


async def test_the_messages_sent_are_for_a_responsable(app_stack: AppStack, planning: Stub) -> None:
    reply = await planning.ListPersonMessages(planning_pb2.ListPersonMessagesRequest(limit=50), timeout=10)
    for message in reply.messages:
        assert "•" in message.recipient
    bad = planning_pb2.ListPersonMessagesRequest(status="perdu")
    assert [v.field for v in (await refused(planning.ListPersonMessages, bad, INVALID)).violations] == [
        "status"
    ]
    async with app_stack.channel("intake", app_stack.token("acc", Role.ACCUEIL)) as channel:
        stub = planning_pb2_grpc.PlanningServiceStub(channel)
        denied = await refused(
            stub.ListPersonMessages,
            planning_pb2.ListPersonMessagesRequest(),
            grpc.StatusCode.PERMISSION_DENIED,
        )
        assert denied.reason == "ROLE_NOT_ALLOWED"


async def test_concurrent_bookings_of_one_slot_book_one(
    planning: Stub, intake: IntakeStub, pool: asyncpg.Pool
) -> None:
    perm = await held(planning)
    people = [await new_person(intake) for _ in range(5)]
    before = await counts(pool)
    results = await asyncio.gather(
        *(
            planning.BookAppointment(
                book_request(p.person_id, permanence_id=perm.id, starts_at=perm.slot(2)), timeout=15
            )
            for p in people
        ),
        return_exceptions=True,
    )
    booked = [r for r in results if isinstance(r, planning_pb2.Appointment)]
    refusals = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(booked) == 1 and len(refusals) == 4
    assert {rich_details(e)[0] for e in refusals} == {"SLOT_TAKEN"}
    assert (await counts(pool))["appointments"] == before["appointments"] + 1


async def test_reads_of_a_persons_appointments_are_access_logged(
    planning: Stub, intake: IntakeStub, pool: asyncpg.Pool
) -> None:
    person = await new_person(intake)
    booked = await agent_appointment(planning, person.person_id, datetime.now(UTC) + timedelta(days=2))
    await planning.ListAppointments(
        planning_pb2.ListAppointmentsRequest(person_id=person.person_id), timeout=10
    )
    await planning.GetAppointment(
        planning_pb2.GetAppointmentRequest(appointment_id=booked.appointment_id), timeout=10
    )
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            """SELECT method, action, resource_type, resource_id, actor FROM audit.access_log
                WHERE resource_id = ANY($1::text[]) ORDER BY at, id""",
            [person.person_id, booked.appointment_id],
        )
    logged = {(r["method"].rsplit("/", 1)[-1], r["action"], r["resource_type"]) for r in rows}
    assert {
        ("BookAppointment", "write", "person"),
        ("BookAppointment", "write", "appointment"),
        ("ListAppointments", "read", "person"),
        ("GetAppointment", "read", "appointment"),
        ("GetAppointment", "read", "person"),
    } <= logged
    assert {r["actor"] for r in rows} >= {"resp-planning"}


# ---------------------------------------------------------------- a start or an update that failed


class FlakyTemporal:
    """The real client, whose first workflow start fails as when Temporal is down."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.failures = 1

    async def start_workflow(self, *args: Any, **kwargs: Any) -> Any:
        if self.failures:
            self.failures -= 1
            raise RPCError("temporal is restarting", RPCStatusCode.UNAVAILABLE, b"")
        return await self.client.start_workflow(*args, **kwargs)

    def get_workflow_handle(self, workflow_id: str) -> Any:
        return FlakyHandle(self, self.client.get_workflow_handle(workflow_id))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


class FlakyHandle:
    """A workflow handle whose update fails while its client still has failures to give."""

    def __init__(self, owner: FlakyTemporal, handle: Any) -> None:
        self.owner = owner
        self.handle = handle

    async def start_update(self, *args: Any, **kwargs: Any) -> Any:
        if self.owner.failures:
            self.owner.failures -= 1
            raise RPCError("temporal is restarting", RPCStatusCode.UNAVAILABLE, b"")
        return await self.handle.start_update(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.handle, name)


class Deadline:
    """What handlers read of their gRPC context."""

    def time_remaining(self) -> float:
        return 20.0


@pytest.fixture
async def app_pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    created = await create_pool(settings.database_url, role=APP_ROLE, max_size=3)
    try:
        yield created
    finally:
        await created.close()


async def test_a_booking_retried_after_the_workflow_start_failed_finds_its_row(
    planning: Stub,
    intake: IntakeStub,
    pool: asyncpg.Pool,
    app_pool: asyncpg.Pool,
    temporal: Client,
    settings: Settings,
) -> None:
    """The handler in this process, on the real database and Temporal: the row commits,
    the start fails (UNAVAILABLE for the caller), the retry with the same request id
    finds the row and starts the workflow."""
    perm = await held(planning)
    person = await new_person(intake)
    flaky = FlakyTemporal(temporal)
    servicer = PlanningServicer(ScopedPool(app_pool), flaky, load(settings.env), appointment_timers(settings))  # type: ignore[arg-type]
    request = book_request(person.person_id, permanence_id=perm.id, starts_at=perm.slot(1))
    token = auth.set_current(Claims("agent-retry", Role.ACCUEIL, frozenset(TERRITORIES)))
    try:
        before = await counts(pool)
        with pytest.raises(RPCError):
            await servicer.BookAppointment(request, Deadline())  # type: ignore[arg-type]
        after_failure = await counts(pool)
        assert after_failure["appointments"] == before["appointments"] + 1
        async with pool.acquire() as conn:
            (row,) = await conn.fetch(
                "SELECT appointment_id FROM intake.appointments WHERE person_id = $1",
                uuid.UUID(person.person_id),
            )
        appointment_id = str(row["appointment_id"])
        assert not await workflow_exists(temporal, appointment_id)
        retried = await servicer.BookAppointment(request, Deadline())  # type: ignore[arg-type]
    finally:
        auth.reset_current(token)
    assert retried.appointment_id == appointment_id
    assert await counts(pool) == after_failure
    assert await workflow_exists(temporal, appointment_id)
    assert len(await events_of(pool, appointment_id)) == 1


async def test_a_move_retried_after_its_update_failed_writes_one_change(
    planning: Stub,
    intake: IntakeStub,
    pool: asyncpg.Pool,
    app_pool: asyncpg.Pool,
    temporal: Client,
    settings: Settings,
) -> None:
    perm = await held(planning)
    person = await new_person(intake)
    booked = await planning.BookAppointment(
        book_request(person.person_id, permanence_id=perm.id, starts_at=perm.slot(0)), timeout=15
    )
    flaky = FlakyTemporal(temporal)
    servicer = PlanningServicer(ScopedPool(app_pool), flaky, load(settings.env), appointment_timers(settings))  # type: ignore[arg-type]
    move = planning_pb2.MoveAppointmentRequest(
        appointment_id=booked.appointment_id,
        starts_at=to_timestamp(perm.slot(1)),
        request_id=uuid.uuid4().hex,
    )
    token = auth.set_current(Claims("agent-retry", Role.ACCUEIL, frozenset(TERRITORIES)))
    try:
        with pytest.raises(RPCError):
            await servicer.MoveAppointment(move, Deadline())  # type: ignore[arg-type]
        assert await changes_of(pool, booked.appointment_id) == [("booked", "booked"), ("moved", "booked")]
        moved = await servicer.MoveAppointment(move, Deadline())  # type: ignore[arg-type]
    finally:
        auth.reset_current(token)
    assert moved.version == 2 and moved.starts_at.ToDatetime(tzinfo=UTC) == perm.slot(1)
    assert await changes_of(pool, booked.appointment_id) == [("booked", "booked"), ("moved", "booked")]
    assert [e["ce_type"] for e in await events_of(pool, booked.appointment_id)] == [
        "entraide.appointment.booked",
        "entraide.appointment.moved",
    ]
