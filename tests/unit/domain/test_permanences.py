"""domain.permanences: sessions of a rule with its exceptions (DST-correct), clashes
between two permanences of a room, slots."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.appointments import attendance_allowed, attendance_due
from domain.permanences import (
    OPEN_HORIZON,
    Busy,
    Change,
    Permanence,
    PermanenceRule,
    Session,
    closures,
    extra_clash,
    first_clash,
    free_slots,
    paris,
    rule_days,
    session_at,
    sessions,
    slots,
    week_start,
)
from domain.planning import PARIS, AppointmentStatus, ExceptionKind, Recurrence

W, F = Recurrence.WEEKLY, Recurrence.FORTNIGHTLY


def rule(
    weekday: int = 2,
    recurrence: Recurrence = W,
    first: date = date(2027, 1, 5),
    last: date | None = None,
    starts: time = time(9, 0),
    ends: time = time(12, 0),
) -> PermanenceRule:
    return PermanenceRule(weekday, recurrence, first, last, starts, ends)


def cancelled(day: date) -> Change:
    return Change(ExceptionKind.CANCELLED, day, day)


def holiday(day: date, until: date) -> Change:
    return Change(ExceptionKind.HOLIDAY, day, until)


def extra(day: date, starts: time, ends: time) -> Change:
    return Change(ExceptionKind.EXTRA, day, day, starts, ends)


def test_weekly_sessions_start_on_the_first_weekday_on_or_after_the_first_day() -> None:
    # 2027-01-04 is a Monday: a Tuesday rule starts on the 5th.
    days = [
        s.day for s in sessions(Permanence(rule(first=date(2027, 1, 4))), date(2027, 1, 1), date(2027, 1, 31))
    ]
    assert days == [date(2027, 1, 5), date(2027, 1, 12), date(2027, 1, 19), date(2027, 1, 26)]


def test_fortnightly_sessions_every_other_week_from_the_first_day() -> None:
    p = Permanence(rule(recurrence=F, first=date(2027, 1, 5)))
    days = [s.day for s in sessions(p, date(2027, 1, 10), date(2027, 2, 28))]
    assert days == [date(2027, 1, 19), date(2027, 2, 2), date(2027, 2, 16)]


def test_last_day_ends_the_rule_and_its_extras() -> None:
    p = Permanence(
        rule(first=date(2027, 1, 5), last=date(2027, 1, 26)),
        (
            extra(date(2027, 1, 21), time(14, 0), time(16, 0)),
            extra(date(2027, 1, 28), time(14, 0), time(16, 0)),
        ),
    )
    got = sessions(p, date(2027, 1, 1), date(2027, 3, 1))
    assert [(s.day, s.extra) for s in got] == [
        (date(2027, 1, 5), False),
        (date(2027, 1, 12), False),
        (date(2027, 1, 19), False),
        (date(2027, 1, 21), True),
        (date(2027, 1, 26), False),
    ]


def test_cancelled_and_holiday_days_are_not_held_but_listed_as_closures() -> None:
    p = Permanence(
        rule(first=date(2027, 1, 5)),
        (cancelled(date(2027, 1, 12)), holiday(date(2027, 1, 18), date(2027, 1, 31))),
    )
    held = [s.day for s in sessions(p, date(2027, 1, 1), date(2027, 2, 10))]
    assert held == [date(2027, 1, 5), date(2027, 2, 2), date(2027, 2, 9)]
    closed = [(c.day, c.change.kind) for c in closures(p, date(2027, 1, 1), date(2027, 2, 10))]
    assert closed == [
        (date(2027, 1, 12), ExceptionKind.CANCELLED),
        (date(2027, 1, 19), ExceptionKind.HOLIDAY),
        (date(2027, 1, 26), ExceptionKind.HOLIDAY),
    ]


def test_an_extra_session_is_held_on_a_holiday() -> None:
    p = Permanence(
        rule(first=date(2027, 1, 5)),
        (holiday(date(2027, 1, 11), date(2027, 1, 17)), extra(date(2027, 1, 14), time(9, 0), time(11, 0))),
    )
    got = sessions(p, date(2027, 1, 11), date(2027, 1, 17))
    assert [(s.day, s.extra) for s in got] == [(date(2027, 1, 14), True)]


def test_wall_clock_hours_across_the_dst_weeks() -> None:
    """10:00 Paris is 09:00 UTC in winter and 08:00 UTC in summer; the sessions of the
    weeks around both changes (28 March and 31 October 2027) keep 10:00 local."""
    p = Permanence(rule(weekday=1, first=date(2027, 3, 22), starts=time(10, 0), ends=time(12, 0)))
    spring = sessions(p, date(2027, 3, 22), date(2027, 4, 4))
    assert [s.starts_at.astimezone(UTC).hour for s in spring] == [9, 8]
    assert all(s.starts_at.astimezone(PARIS).time() == time(10, 0) for s in spring)
    assert all(s.ends_at - s.starts_at == timedelta(hours=2) for s in spring)
    autumn = sessions(p, date(2027, 10, 25), date(2027, 11, 7))
    assert [s.starts_at.astimezone(UTC).hour for s in autumn] == [8, 9]


def test_a_session_on_the_dst_sunday_itself() -> None:
    # Sunday 31 October 2027, 01:00 to 04:00 Paris: the night the clocks go back lasts 4 hours.
    p = Permanence(rule(weekday=7, first=date(2027, 10, 31), starts=time(1, 0), ends=time(4, 0)))
    (only,) = sessions(p, date(2027, 10, 31), date(2027, 10, 31))
    assert only.ends_at.astimezone(UTC) - only.starts_at.astimezone(UTC) == timedelta(hours=4)
    assert len(slots(only, 60)) == 4


def test_slots_fill_the_session_without_passing_its_end() -> None:
    session = Session(
        date(2027, 1, 5), paris(date(2027, 1, 5), time(9, 0)), paris(date(2027, 1, 5), time(10, 50))
    )
    got = slots(session, 30)
    assert [s.starts_at.time() for s in got] == [time(9, 0), time(9, 30), time(10, 0)]
    assert got[-1].ends_at.time() == time(10, 30)


def test_free_slots_leave_out_the_busy_and_the_past() -> None:
    p = Permanence(rule(first=date(2027, 1, 5), starts=time(9, 0), ends=time(10, 30)))
    day = date(2027, 1, 5)
    busy = Busy([(paris(day, time(9, 30)), paris(day, time(10, 0)))])
    got = free_slots(p, 30, day, day, busy, after=paris(day, time(0, 0)))
    assert [s.starts_at.time() for s in got] == [time(9, 0), time(10, 0)]
    later = free_slots(p, 30, day, day, Busy(), after=paris(day, time(9, 15)))
    assert [s.starts_at.time() for s in later] == [time(9, 30), time(10, 0)]


def test_session_at_finds_the_session_containing_an_interval() -> None:
    p = Permanence(rule(first=date(2027, 1, 5)))
    inside = paris(date(2027, 1, 12), time(11, 0))
    assert session_at(p, inside, inside + timedelta(minutes=30)) is not None
    assert session_at(p, inside, inside + timedelta(hours=2)) is None  # past the end
    assert session_at(p, inside + timedelta(days=1), inside + timedelta(days=1, minutes=30)) is None


def test_two_weekly_rules_on_the_same_morning_clash_on_the_later_first_day() -> None:
    ours = Permanence(rule(first=date(2027, 2, 1), starts=time(11, 0), ends=time(13, 0)), key="new")
    theirs = Permanence(rule(first=date(2027, 1, 5)), key="old")
    clash = first_clash(ours, [theirs])
    assert clash is not None and clash.other == "old" and clash.day == date(2027, 2, 2)


def test_touching_hours_do_not_clash() -> None:
    ours = Permanence(rule(starts=time(12, 0), ends=time(14, 0)), key="new")
    assert first_clash(ours, [Permanence(rule(), key="old")]) is None


def test_fortnightly_rules_in_alternate_weeks_do_not_clash() -> None:
    a = Permanence(rule(recurrence=F, first=date(2027, 1, 5)), key="a")
    b = Permanence(rule(recurrence=F, first=date(2027, 1, 12)), key="b")
    assert first_clash(a, [b]) is None
    c = Permanence(rule(recurrence=F, first=date(2027, 1, 19)), key="c")
    clash = first_clash(c, [a, b])
    assert clash is not None and (clash.other, clash.day) == ("a", date(2027, 1, 19))


def test_a_weekly_rule_clashes_with_a_fortnightly_one() -> None:
    a = Permanence(rule(recurrence=F, first=date(2027, 1, 12)), key="a")
    clash = first_clash(Permanence(rule(first=date(2027, 1, 4)), key="w"), [a])
    assert clash is not None and clash.day == date(2027, 1, 12)


def test_disjoint_date_ranges_never_clash() -> None:
    old = Permanence(rule(first=date(2027, 1, 5), last=date(2027, 3, 30)), key="old")
    new = Permanence(rule(first=date(2027, 3, 31)), key="new")
    assert first_clash(new, [old]) is None


def test_exceptions_hide_a_clash_only_where_they_are() -> None:
    """The existing permanence is closed through the first weeks of the new one: the
    clash is the first week it is held again."""
    old = Permanence(rule(first=date(2027, 1, 5)), (holiday(date(2027, 2, 1), date(2027, 2, 14)),), key="old")
    clash = first_clash(Permanence(rule(first=date(2027, 2, 1)), key="new"), [old])
    assert clash is not None and clash.day == date(2027, 2, 16)


def test_open_ended_rules_are_compared_past_the_last_exception() -> None:
    """A holiday longer than the horizon does not hide the clash after it."""
    start = date(2027, 1, 5)
    closed_until = start + OPEN_HORIZON + timedelta(days=30)
    old = Permanence(rule(first=start), (holiday(start, closed_until),), key="old")
    clash = first_clash(Permanence(rule(first=start), key="new"), [old])
    assert clash is not None and clash.day > closed_until


def test_an_extra_session_clashes_with_a_rule_session_or_another_extra() -> None:
    day = date(2027, 1, 12)
    old = Permanence(
        rule(first=date(2027, 1, 5)), (extra(date(2027, 1, 14), time(14, 0), time(16, 0)),), key="old"
    )
    morning = Session(day, paris(day, time(11, 30)), paris(day, time(12, 30)), True)
    assert extra_clash(morning, [old]) is not None
    thursday = date(2027, 1, 14)
    afternoon = Session(thursday, paris(thursday, time(15, 0)), paris(thursday, time(17, 0)), True)
    found = extra_clash(afternoon, [old])
    assert found is not None and found.theirs.extra
    evening = Session(day, paris(day, time(12, 0)), paris(day, time(13, 0)), True)
    assert extra_clash(evening, [old]) is None


def test_week_start_is_monday() -> None:
    assert week_start(date(2027, 1, 10)) == date(2027, 1, 4)
    assert week_start(date(2027, 1, 4)) == date(2027, 1, 4)


def test_attendance_transitions() -> None:
    s = AppointmentStatus
    assert attendance_allowed(s.BOOKED, s.ARRIVED) and attendance_allowed(s.ARRIVED, s.SEEN)
    assert attendance_allowed(s.NO_SHOW, s.SEEN) and attendance_allowed(s.NO_SHOW, s.NO_SHOW_EXCUSED)
    assert not attendance_allowed(s.SEEN, s.NO_SHOW) and not attendance_allowed(s.CANCELLED, s.ARRIVED)
    assert not attendance_allowed(s.ARRIVED, s.NO_SHOW)
    assert attendance_due(date(2027, 1, 5), date(2027, 1, 5)) and not attendance_due(
        date(2027, 1, 6), date(2027, 1, 5)
    )


# ---- properties -----------------------------------------------------------------------
DAYS = st.dates(min_value=date(2026, 1, 1), max_value=date(2030, 12, 31))
HOURS = st.integers(6, 19).map(lambda h: time(h, 0))


@st.composite
def rules(draw: st.DrawFn) -> PermanenceRule:
    weekday = draw(st.integers(1, 7))
    recurrence = draw(st.sampled_from([W, F]))
    first = draw(DAYS)
    if recurrence is F:
        first += timedelta(days=(weekday - first.isoweekday()) % 7)
    last = draw(st.one_of(st.none(), st.integers(0, 400).map(lambda n: first + timedelta(days=n))))
    starts = draw(HOURS)
    length = draw(st.integers(1, 4))
    return PermanenceRule(weekday, recurrence, first, last, starts, time(starts.hour + length, 0))


@settings(max_examples=200, deadline=None)
@given(rules(), DAYS, st.integers(0, 120))
def test_rule_days_are_the_rule(r: PermanenceRule, start: date, span: int) -> None:
    end = start + timedelta(days=span)
    days = list(rule_days(r, start, end))
    expected = []
    day = start
    while day <= end:
        on_weekday = day.isoweekday() == r.weekday and day >= r.first_day
        in_range = r.last_day is None or day <= r.last_day
        in_phase = (day - r.anchor).days % r.interval_days == 0
        if on_weekday and in_range and in_phase:
            expected.append(day)
        day += timedelta(days=1)
    assert days == expected


@settings(max_examples=150, deadline=None)
@given(rules(), rules())
def test_first_clash_agrees_with_comparing_every_session(a: PermanenceRule, b: PermanenceRule) -> None:
    """Brute force over the whole intersection (bounded rules) or the horizon."""
    ours, theirs = Permanence(a, key="a"), Permanence(b, key="b")
    clash = first_clash(ours, [theirs])
    start = max(a.first_day, b.first_day)
    ends = [d for d in (a.last_day, b.last_day) if d is not None]
    end = min(ends) if ends else start + OPEN_HORIZON
    mine = sessions(ours, start, end) if end >= start else []
    other = sessions(theirs, start, end) if end >= start else []
    meets = [s for s in mine if any(s.overlaps(o) for o in other)]
    if not meets:
        assert clash is None
    else:
        assert clash is not None and clash.day == meets[0].day
        assert clash.ours.overlaps(clash.theirs)
    # Symmetric: whether two permanences meet does not depend on which one is new.
    assert (first_clash(theirs, [ours]) is None) == (clash is None)


@settings(max_examples=100, deadline=None)
@given(rules(), st.integers(5, 60))
def test_slots_are_consecutive_inside_their_session(r: PermanenceRule, minutes: int) -> None:
    for session in sessions(Permanence(r), r.first_day, r.first_day + timedelta(days=30)):
        got = slots(session, minutes)
        assert all(session.contains(s.starts_at, s.ends_at) for s in got)
        assert all(a.ends_at == b.starts_at for a, b in pairwise(got))
        left = session.ends_at.astimezone(UTC) - (
            got[-1].ends_at.astimezone(UTC) if got else session.starts_at
        )
        assert left < timedelta(minutes=minutes)


def test_paris_is_aware() -> None:
    assert paris(date(2027, 7, 1), time(10, 0)) == datetime(2027, 7, 1, 8, 0, tzinfo=UTC)
