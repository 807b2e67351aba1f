"""Permanences end to end on the real intake process: room clashes refused with the
permanence named and nothing written, extra sessions checked the same way, fortnightly
rules sharing a room, the week planning, the iCalendar feed parsed back, retries."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

import asyncpg
import grpc
import icalendar
from entraide.v1 import planning_pb2, planning_pb2_grpc

from domain.planning import PARIS
from kernel.auth import Role
from services.intake.planning.convert import day_fr
from tests.conftest import AppStack
from tests.e2e.services.intake.planning_helpers import (
    SITE,
    counts,
    far_monday,
    host,
    intake,
    permanence_request,
    place,
    planning,
    refused,
)

if TYPE_CHECKING:
    from entraide.v1.planning_pb2_grpc import PlanningServiceAsyncStub as Stub

__all__ = ["intake", "planning"]  # fixtures
INVALID = grpc.StatusCode.INVALID_ARGUMENT
REFUSED = grpc.StatusCode.FAILED_PRECONDITION


async def test_list_sites_gives_the_callers_sites_with_their_rooms(app_stack: AppStack) -> None:
    token = app_stack.token("acc-ligny", Role.ACCUEIL, ["55291"])
    async with app_stack.channel("intake", token) as channel:
        reply = await planning_pb2_grpc.PlanningServiceStub(channel).ListSites(
            planning_pb2.ListSitesRequest(), timeout=10
        )
    assert [s.code for s in reply.sites] == ["mairie-ligny"]
    assert [r.code for r in reply.sites[0].rooms] == ["bureau-social"]


async def test_a_room_clash_is_refused_naming_the_permanence_and_nothing_is_written(
    planning: Stub, pool: asyncpg.Pool
) -> None:
    label = f"CRESUS Meuse {uuid.uuid4().hex[:6]}"
    first = await place(
        planning, lambda: permanence_request(far_monday() + timedelta(days=1), host=host(label))
    )
    start = date.fromisoformat(first.first_day)
    before = await counts(pool)
    clashing = permanence_request(
        start + timedelta(weeks=2), starts_at="11:00", ends_at="13:00", weekday=start.isoweekday()
    )
    described = await refused(planning.CreatePermanence, clashing, REFUSED)
    assert described.reason == "ROOM_TAKEN"
    assert f"« {label} »" in described.fr
    assert "le mardi de 9h à 12h" in described.fr, described.fr
    assert f"premier jour en conflit le {day_fr(start + timedelta(weeks=2))}" in described.fr
    assert first.permanence_id in described.message
    assert await counts(pool) == before
    # The same request again is refused again (a refusal leaves no stored answer).
    again = await refused(planning.CreatePermanence, clashing, REFUSED)
    assert again.reason == "ROOM_TAKEN"
    assert await counts(pool) == before
    # From noon, the room is free (the hours only touch).
    afternoon = planning_pb2.CreatePermanenceRequest()
    afternoon.CopyFrom(clashing)
    afternoon.starts_at, afternoon.ends_at, afternoon.request_id = "12:00", "14:00", uuid.uuid4().hex
    placed = await planning.CreatePermanence(afternoon, timeout=10)
    assert (placed.starts_at, placed.ends_at) == ("12:00", "14:00")


async def test_concurrent_creates_in_one_room_place_one_permanence(
    planning: Stub, pool: asyncpg.Pool
) -> None:
    monday = far_monday()
    requests = [
        permanence_request(
            monday + timedelta(days=2), starts_at=f"{9 + i % 2:02d}:00", ends_at="12:00", room="accueil"
        )
        for i in range(6)
    ]
    before = await counts(pool)
    results = await asyncio.gather(
        *(planning.CreatePermanence(r, timeout=15) for r in requests), return_exceptions=True
    )
    placed = [r for r in results if isinstance(r, planning_pb2.PlannedPermanence)]
    refusals = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(placed) <= 1 and len(placed) + len(refusals) == 6
    assert all(e.code() == REFUSED for e in refusals)
    assert (await counts(pool))["permanences"] == before["permanences"] + len(placed)


async def test_an_extra_session_clashing_is_refused_and_one_beside_it_is_added(
    planning: Stub, pool: asyncpg.Pool
) -> None:
    label = f"Permanence de M. le Maire {uuid.uuid4().hex[:4]}"
    tuesday = await place(
        planning,
        lambda: permanence_request(
            far_monday() + timedelta(days=1), host=host(label, "elu", ""), room="bureau-2"
        ),
    )
    start = date.fromisoformat(tuesday.first_day)
    thursday = await place(
        planning,
        lambda: permanence_request(
            start + timedelta(days=2), room="bureau-2", starts_at="14:00", ends_at="17:00"
        ),
    )
    assert tuesday.host.category == "elus"  # an élu's permanence falls in the élus' category
    before = await counts(pool)
    day = start + timedelta(weeks=3)
    extra = planning_pb2.PermanenceException(
        kind="extra", date=day.isoformat(), starts_at="11:30", ends_at="12:30", reason="rattrapage"
    )
    described = await refused(
        planning.AddPermanenceException,
        planning_pb2.AddPermanenceExceptionRequest(permanence_id=thursday.permanence_id, exception=extra),
        REFUSED,
    )
    assert described.reason == "ROOM_TAKEN" and f"« {label} »" in described.fr
    assert f"premier jour en conflit le {day_fr(day)}" in described.fr
    assert await counts(pool) == before

    extra.starts_at, extra.ends_at = "12:00", "13:30"
    added = await planning.AddPermanenceException(
        planning_pb2.AddPermanenceExceptionRequest(
            permanence_id=thursday.permanence_id, exception=extra, request_id=uuid.uuid4().hex
        ),
        timeout=10,
    )
    assert [(e.kind, e.date, e.starts_at, e.ends_at) for e in added.exceptions] == [
        ("extra", day.isoformat(), "12:00", "13:30")
    ]
    # A new permanence is checked against the extra session too.
    over_extra = permanence_request(
        day, room="bureau-2", starts_at="13:00", ends_at="15:00", last_day=day.isoformat()
    )
    described = await refused(planning.CreatePermanence, over_extra, REFUSED)
    assert described.reason == "ROOM_TAKEN" and "séance supplémentaire de 12h à 13h30" in described.fr


async def test_fortnightly_rules_of_alternate_weeks_share_a_room(planning: Stub) -> None:
    def fortnightly(first: date, **more: object) -> planning_pb2.CreatePermanenceRequest:
        return permanence_request(
            first,
            recurrence="fortnightly",
            room="accueil",
            last_day=(first + timedelta(weeks=20)).isoformat(),
            **more,
        )

    a = await place(planning, lambda: fortnightly(far_monday() + timedelta(days=3)))
    start = date.fromisoformat(a.first_day)
    b = await planning.CreatePermanence(fortnightly(start + timedelta(weeks=1)), timeout=10)
    assert (a.recurrence, b.recurrence) == ("fortnightly", "fortnightly")
    weekly = permanence_request(
        start + timedelta(weeks=4), room="accueil", starts_at="10:00", ends_at="10:30"
    )
    described = await refused(planning.CreatePermanence, weekly, REFUSED)
    assert described.reason == "ROOM_TAKEN"
    assert "une semaine sur deux" in described.fr
    # A fortnightly rule starts on a day of session.
    wrong = await refused(
        planning.CreatePermanence, fortnightly(start + timedelta(days=1), weekday=4), INVALID
    )
    assert [v.field for v in wrong.violations] == ["first_day"]


async def test_the_week_planning_gives_sessions_with_closures_and_extras(planning: Stub) -> None:
    made = await place(
        planning,
        lambda: permanence_request(
            far_monday() + timedelta(days=1), room="bureau-2", host=host("Point justice")
        ),
    )
    tuesday = date.fromisoformat(made.first_day)
    pid = made.permanence_id
    for exception in (
        planning_pb2.PermanenceException(kind="cancelled", date=(tuesday + timedelta(weeks=1)).isoformat()),
        planning_pb2.PermanenceException(
            kind="holiday",
            date=(tuesday + timedelta(weeks=2, days=-1)).isoformat(),
            until=(tuesday + timedelta(weeks=3, days=5)).isoformat(),
            reason="congés",
        ),
        planning_pb2.PermanenceException(
            kind="extra", date=(tuesday + timedelta(days=2)).isoformat(), starts_at="14:00", ends_at="16:00"
        ),
    ):
        await planning.AddPermanenceException(
            planning_pb2.AddPermanenceExceptionRequest(permanence_id=pid, exception=exception), timeout=10
        )

    async def week(day: date) -> planning_pb2.WeekPlanning:
        return await planning.GetWeekPlanning(
            planning_pb2.GetWeekPlanningRequest(site=SITE, day=day.isoformat()), timeout=10
        )

    first = await week(tuesday + timedelta(days=4))  # a Saturday: the week runs Monday to Sunday
    assert first.week_start == (tuesday - timedelta(days=1)).isoformat()
    assert first.site.code == SITE and len(first.site.rooms) == 3
    mine = [s for s in first.sessions if s.permanence_id == pid]
    assert [(s.day, s.room, s.extra, s.booked) for s in mine] == [
        (tuesday.isoformat(), "bureau-2", False, 0),
        ((tuesday + timedelta(days=2)).isoformat(), "bureau-2", True, 0),
    ]
    assert mine[0].starts_at.ToDatetime(tzinfo=UTC) == datetime.combine(tuesday, time(9), PARIS)
    assert mine[0].host.label == "Point justice"
    second = await week(tuesday + timedelta(weeks=1))
    assert [s for s in second.sessions if s.permanence_id == pid] == []
    assert [(c.day, c.kind) for c in second.closures if c.permanence_id == pid] == [
        ((tuesday + timedelta(weeks=1)).isoformat(), "cancelled")
    ]
    third = await week(tuesday + timedelta(weeks=3))
    assert [(c.kind, c.reason) for c in third.closures if c.permanence_id == pid] == [("holiday", "congés")]
    fifth = await week(tuesday + timedelta(weeks=4))
    assert len([s for s in fifth.sessions if s.permanence_id == pid]) == 1

    # Ended: the later weeks hold no session.
    ended = await planning.EndPermanence(
        planning_pb2.EndPermanenceRequest(
            permanence_id=pid, last_day=(tuesday + timedelta(weeks=4)).isoformat()
        ),
        timeout=10,
    )
    assert ended.last_day == (tuesday + timedelta(weeks=4)).isoformat()
    assert [s for s in (await week(tuesday + timedelta(weeks=5))).sessions if s.permanence_id == pid] == []
    later = await refused(
        planning.EndPermanence,
        planning_pb2.EndPermanenceRequest(
            permanence_id=pid, last_day=(tuesday + timedelta(weeks=6)).isoformat()
        ),
        REFUSED,
    )
    assert later.reason == "CANNOT_EXTEND"


def _events(calendar: icalendar.Calendar, uid_part: str) -> list[Any]:
    """The VEVENTs whose UID holds `uid_part` (Any: icalendar's property values are a
    union of every value type)."""
    return [e for e in calendar.walk("VEVENT") if uid_part in str(e["UID"])]


async def test_the_calendar_feed_parses_back_with_its_rule_exceptions_and_paris_times(planning: Stub) -> None:
    made = await place(
        planning,
        lambda: permanence_request(
            far_monday() + timedelta(days=4),
            recurrence="fortnightly",
            room="bureau-1",
            starts_at="14:00",
            ends_at="16:30",
            host=host("Info Droits"),
        ),
    )
    friday = date.fromisoformat(made.first_day)
    pid = made.permanence_id
    cancelled = friday + timedelta(weeks=2)
    extra_day = friday + timedelta(days=3)
    for exception in (
        planning_pb2.PermanenceException(kind="cancelled", date=cancelled.isoformat()),
        planning_pb2.PermanenceException(
            kind="extra", date=extra_day.isoformat(), starts_at="09:00", ends_at="10:00"
        ),
    ):
        await planning.AddPermanenceException(
            planning_pb2.AddPermanenceExceptionRequest(permanence_id=pid, exception=exception), timeout=10
        )
    document = await planning.ExportCalendar(
        planning_pb2.ExportCalendarRequest(site=SITE, room="bureau-1"), timeout=10
    )
    assert document.content_type.startswith("text/calendar")
    assert document.filename.endswith(".ics")
    calendar: Any = icalendar.Calendar.from_ical(document.content)
    assert [str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE")] == ["Europe/Paris"]
    (rule_event,) = [e for e in _events(calendar, pid) if "extra" not in str(e["UID"])]
    assert str(rule_event["UID"]) == f"permanence-{pid}@entraide"
    rrule = rule_event["RRULE"]
    assert rrule["FREQ"] == ["WEEKLY"] and rrule["INTERVAL"] == [2]
    (until,) = rrule["UNTIL"]
    assert until.astimezone(PARIS).date() == date.fromisoformat(made.last_day)
    start = rule_event["DTSTART"].dt
    assert str(start.tzinfo) == "Europe/Paris" and rule_event["DTSTART"].params["TZID"] == "Europe/Paris"
    assert (start.date(), start.time()) == (friday, time(14, 0))
    assert rule_event["DTEND"].dt.time() == time(16, 30)
    exdates = rule_event["EXDATE"] if isinstance(rule_event["EXDATE"], list) else [rule_event["EXDATE"]]
    assert [d.dt for x in exdates for d in x.dts] == [datetime.combine(cancelled, time(14), PARIS)]
    assert str(rule_event["SUMMARY"]) == "Permanence : Info Droits"
    assert "Bureau 1" in str(rule_event["LOCATION"]) and "Bar-le-Duc" in str(rule_event["LOCATION"])
    (extra,) = [e for e in _events(calendar, pid) if "extra" in str(e["UID"])]
    assert extra["DTSTART"].dt == datetime.combine(extra_day, time(9), PARIS)
    assert "RRULE" not in extra

    # Per host, the same events (stable UIDs), and the same bytes twice.
    by_host = await planning.ExportCalendar(
        planning_pb2.ExportCalendarRequest(host_id=made.host.id), timeout=10
    )
    hosted: Any = icalendar.Calendar.from_ical(by_host.content)
    assert sorted(str(e["UID"]) for e in hosted.walk("VEVENT")) == sorted(
        str(e["UID"]) for e in _events(calendar, pid)
    )
    again = await planning.ExportCalendar(
        planning_pb2.ExportCalendarRequest(host_id=made.host.id), timeout=10
    )
    strip = [line for line in by_host.content.splitlines() if not line.startswith(b"DTSTAMP")]
    assert strip == [line for line in again.content.splitlines() if not line.startswith(b"DTSTAMP")]


async def test_the_same_request_id_twice_places_one_permanence_with_the_same_answer(
    app_stack: AppStack, planning: Stub, pool: asyncpg.Pool
) -> None:
    sent: list[planning_pb2.CreatePermanenceRequest] = []

    def make() -> planning_pb2.CreatePermanenceRequest:
        sent.append(permanence_request(far_monday(), room="accueil", host=host("Retry")))
        return sent[-1]

    created = await place(planning, make)
    request = sent[-1]
    before = await counts(pool)
    again = await planning.CreatePermanence(request, timeout=10)
    assert again.SerializeToString() == created.SerializeToString()
    assert await counts(pool) == before
    # Another caller's request with the same id (the row's id derives from it) is refused.
    other = permanence_request(far_monday(), room="bureau-2", request_id=request.request_id)
    async with app_stack.channel("intake", app_stack.token("acc-planning", Role.ACCUEIL)) as channel:
        stub = planning_pb2_grpc.PlanningServiceStub(channel)
        reused = await refused(stub.CreatePermanence, other, grpc.StatusCode.ALREADY_EXISTS)
    assert reused.reason == "REQUEST_ID_REUSED"
    assert await counts(pool) == before
    exception = planning_pb2.AddPermanenceExceptionRequest(
        permanence_id=created.permanence_id,
        exception=planning_pb2.PermanenceException(kind="cancelled", date=created.first_day),
        request_id=uuid.uuid4().hex,
    )
    once = await planning.AddPermanenceException(exception, timeout=10)
    twice = await planning.AddPermanenceException(exception, timeout=10)
    assert once == twice and len(twice.exceptions) == 1
    # The same exception without a request id is recognised as already there.
    exception.request_id = ""
    assert len((await planning.AddPermanenceException(exception, timeout=10)).exceptions) == 1
    async with pool.acquire() as conn:
        rows = await conn.fetchval(
            "SELECT count(*) FROM intake.permanences WHERE permanence_id = $1",
            uuid.UUID(created.permanence_id),
        )
    assert rows == 1


async def test_bad_fields_are_named_in_french(planning: Stub) -> None:
    bad = permanence_request(
        far_monday(),
        site="nulle-part",
        host=planning_pb2.Host(kind="association", id="x", label="X", category="inconnue"),
        starts_at="9h",
        ends_at="25:00",
        slot_minutes=3,
        weekday=9,
        first_day="2027-02-30",
    )
    described = await refused(planning.CreatePermanence, bad, INVALID)
    fields = {v.field: v for v in described.violations}
    assert set(fields) == {
        "site",
        "host.kind",
        "host.category",
        "weekday",
        "starts_at",
        "ends_at",
        "first_day",
        "slot_minutes",
    }
    assert fields["site"].reason == "UNKNOWN_SITE" and "nulle-part" in fields["site"].fr
    assert fields["host.kind"].reason == "UNKNOWN_HOST_KIND"
    assert fields["host.category"].reason == "UNKNOWN_PARTNER_CATEGORY"
    assert all(v.fr for v in described.violations)
    backwards = await refused(
        planning.CreatePermanence,
        permanence_request(far_monday(), starts_at="12:00", ends_at="09:00"),
        INVALID,
    )
    assert [(v.field, v.reason) for v in backwards.violations] == [("ends_at", "ENDS_BEFORE_STARTS")]
    room = await refused(planning.CreatePermanence, permanence_request(far_monday(), room="cave"), INVALID)
    assert [(v.field, v.reason) for v in room.violations] == [("room", "UNKNOWN_ROOM")]


async def test_roles_reading_and_placing_permanences(app_stack: AppStack, planning: Stub) -> None:
    made = await place(planning, lambda: permanence_request(far_monday(), room="bureau-2"))
    social = app_stack.token("ts-planning", Role.TRAVAILLEUR_SOCIAL)
    async with app_stack.channel("intake", social) as channel:
        stub = planning_pb2_grpc.PlanningServiceStub(channel)
        denied = await refused(
            stub.CreatePermanence, permanence_request(far_monday()), grpc.StatusCode.PERMISSION_DENIED
        )
        assert denied.reason == "ROLE_NOT_ALLOWED" and "accueil ou responsable" in denied.fr
        listed = await stub.ListPermanences(
            planning_pb2.ListPermanencesRequest(host_id=made.host.id), timeout=10
        )
        assert [p.permanence_id for p in listed.permanences] == [made.permanence_id]
    partner = app_stack.token("partner-user", Role.PARTENAIRE, ["55029"], partner_id=made.host.id)
    async with app_stack.channel("intake", partner) as channel:
        stub = planning_pb2_grpc.PlanningServiceStub(channel)
        own = await stub.ListPermanences(planning_pb2.ListPermanencesRequest(), timeout=10)
        assert [p.permanence_id for p in own.permanences] == [made.permanence_id]
        other = await refused(
            stub.ListPermanences,
            planning_pb2.ListPermanencesRequest(host_id="someone-else"),
            grpc.StatusCode.PERMISSION_DENIED,
        )
        assert other.reason == "NOT_YOUR_PERMANENCE"
        week = await stub.GetWeekPlanning(
            planning_pb2.GetWeekPlanningRequest(site=SITE, day=made.first_day), timeout=10
        )
        assert {s.permanence_id for s in week.sessions} == {made.permanence_id}


def last_sunday(year: int, month: int) -> date:
    end = date(year, month, 31)
    return end - timedelta(days=end.isoweekday() % 7)


async def test_sessions_keep_their_paris_hours_across_both_dst_changes(planning: Stub) -> None:
    """10:00 Paris is 09:00 UTC the Monday before the March change and 08:00 UTC the
    Monday after; the other way round in October."""
    for month, utc_hours in ((3, [9, 8]), (10, [8, 9])):

        def make(month: int = month) -> planning_pb2.CreatePermanenceRequest:
            monday = last_sunday(far_monday().year, month) - timedelta(days=6)
            return permanence_request(
                monday, starts_at="10:00", ends_at="12:00", last_day=(monday + timedelta(days=7)).isoformat()
            )

        made = await place(planning, make)
        monday = date.fromisoformat(made.first_day)
        hours = []
        for week in (monday, monday + timedelta(days=7)):
            reply = await planning.GetWeekPlanning(
                planning_pb2.GetWeekPlanningRequest(site=SITE, day=week.isoformat()), timeout=10
            )
            (session,) = [s for s in reply.sessions if s.permanence_id == made.permanence_id]
            starts = session.starts_at.ToDatetime(tzinfo=UTC)
            assert starts.astimezone(PARIS).time() == time(10, 0)
            assert session.ends_at.ToDatetime(tzinfo=UTC) - starts == timedelta(hours=2)
            hours.append(starts.hour)
        assert hours == utc_hours, (month, monday)
