"""Permanences as rules: their sessions between two days, the clash of two permanences
in one room, the bookable slots of a session.

Pure (no I/O): the planning service loads the rows, this module says which sessions are
held and whether two permanences meet. A rule is a weekday, weekly or every other week
from its first day, with Paris wall-clock hours; its exceptions cancel a session, close
a range of days (holiday) or add a one-off session with its own hours. Sessions are
returned as aware datetimes in Europe/Paris (domain.planning.PARIS): 10:00 is 10:00 in
winter and in summer, so the UTC instants move by an hour across a DST change.
docs/planning.md says the rules in words.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from domain.planning import PARIS, ExceptionKind, Recurrence

# An open-ended permanence is compared with another open-ended one over this many days
# from the later first day. Two rules repeat together with a period of 14 days (weekly
# and fortnightly), so a clash that exists at all shows within any 14 days where no
# exception hides it; exceptions are dated, so scanning up to 28 days past the last one
# (see `_scan_end`) finds every clash there will ever be. Two years keeps the answer
# meaningful to a person (« le premier jour en conflit ») and the scan small.
OPEN_HORIZON = timedelta(days=2 * 365)
_PERIOD = timedelta(days=14)
# A holiday closes at most this many days (a year): longer is an end, not a holiday.
MAX_HOLIDAY_DAYS = 366


@dataclass(frozen=True)
class PermanenceRule:
    """The recurring part: ISO weekday (1 = Monday), weekly or fortnightly counted
    from the first session on or after `first_day`, until `last_day` (None: no end)."""

    weekday: int
    recurrence: Recurrence
    first_day: date
    last_day: date | None
    starts_at: time
    ends_at: time

    @property
    def interval_days(self) -> int:
        return 14 if self.recurrence is Recurrence.FORTNIGHTLY else 7

    @property
    def anchor(self) -> date:
        """The first session day: the first day on or after first_day with the weekday."""
        return self.first_day + timedelta(days=(self.weekday - self.first_day.isoweekday()) % 7)


@dataclass(frozen=True)
class Change:
    """A permanence exception: a cancelled day, a holiday (day..until inclusive), or an
    extra session on `day` with its own hours."""

    kind: ExceptionKind
    day: date
    until: date
    starts_at: time | None = None
    ends_at: time | None = None
    reason: str = ""

    def closes(self, day: date) -> bool:
        return self.kind is not ExceptionKind.EXTRA and self.day <= day <= self.until


@dataclass(frozen=True)
class Permanence:
    """A rule and its exceptions; `key` identifies it to the caller (its id)."""

    rule: PermanenceRule
    changes: tuple[Change, ...] = ()
    key: str = ""

    @property
    def extras(self) -> list[Change]:
        return [c for c in self.changes if c.kind is ExceptionKind.EXTRA]


@dataclass(frozen=True)
class Session:
    day: date
    starts_at: datetime  # aware, Europe/Paris
    ends_at: datetime
    extra: bool = False

    def overlaps(self, other: Session) -> bool:
        return self.starts_at < other.ends_at and other.starts_at < self.ends_at

    def contains(self, starts_at: datetime, ends_at: datetime) -> bool:
        return self.starts_at <= starts_at and ends_at <= self.ends_at


@dataclass(frozen=True)
class Closure:
    """A rule session not held, and the exception that closes it."""

    day: date
    change: Change


@dataclass(frozen=True)
class Clash:
    """The first session of `other` that a new session would overlap."""

    other: str
    day: date
    ours: Session
    theirs: Session


@dataclass(frozen=True)
class Slot:
    starts_at: datetime
    ends_at: datetime


def paris(day: date, at: time) -> datetime:
    """The aware Paris datetime of a wall-clock time on a day. A time that does not
    exist (02:30 on the last Sunday of March) reads as the offset before the change."""
    return datetime.combine(day, at, tzinfo=PARIS)


def rule_days(rule: PermanenceRule, start: date, end: date) -> Iterator[date]:
    """The days of the rule between start and end inclusive (exceptions not applied)."""
    last = end if rule.last_day is None else min(end, rule.last_day)
    anchor = rule.anchor
    step = rule.interval_days
    if start <= anchor:
        day = anchor
    else:
        # The first session day on or after `start` (whole intervals from the anchor).
        periods = -(-(start - anchor).days // step)
        day = anchor + timedelta(days=periods * step)
    while day <= last:
        yield day
        day += timedelta(days=step)


def _in_range(permanence: Permanence, day: date) -> bool:
    rule = permanence.rule
    return rule.first_day <= day and (rule.last_day is None or day <= rule.last_day)


def closing(permanence: Permanence, day: date) -> Change | None:
    """The exception that closes the rule's session of `day`, if any (a cancellation
    first: it names the day itself)."""
    found = [c for c in permanence.changes if c.closes(day)]
    found.sort(key=lambda c: c.kind is not ExceptionKind.CANCELLED)
    return found[0] if found else None


def sessions(permanence: Permanence, start: date, end: date) -> list[Session]:
    """The sessions held between start and end inclusive, in time order: the rule's
    days not closed, and the extra sessions within the permanence's first and last
    days (a permanence ended is held no more, extras included)."""
    rule = permanence.rule
    held = [
        Session(day, paris(day, rule.starts_at), paris(day, rule.ends_at))
        for day in rule_days(rule, start, end)
        if closing(permanence, day) is None
    ]
    for extra in permanence.extras:
        if start <= extra.day <= end and _in_range(permanence, extra.day):
            assert extra.starts_at is not None and extra.ends_at is not None
            held.append(
                Session(extra.day, paris(extra.day, extra.starts_at), paris(extra.day, extra.ends_at), True)
            )
    held.sort(key=lambda s: (s.starts_at, s.ends_at))
    return held


def closures(permanence: Permanence, start: date, end: date) -> list[Closure]:
    """The rule's sessions between start and end that an exception closes."""
    found = []
    for day in rule_days(permanence.rule, start, end):
        change = closing(permanence, day)
        if change is not None:
            found.append(Closure(day, change))
    return found


def session_at(permanence: Permanence, starts_at: datetime, ends_at: datetime) -> Session | None:
    """The held session that contains [starts_at, ends_at), if any."""
    local = starts_at.astimezone(PARIS).date()
    for session in sessions(permanence, local, local):
        if session.contains(starts_at, ends_at):
            return session
    return None


def _last_change_day(permanences: Iterable[Permanence]) -> date | None:
    days = [c.until for p in permanences for c in p.changes]
    return max(days) if days else None


def _scan_end(a: Permanence, b: Permanence, start: date) -> date | None:
    """The last day both may hold a session: the earlier last day, or for two
    open-ended rules the horizon (OPEN_HORIZON, stretched past the last exception)."""
    ends = [d for d in (a.rule.last_day, b.rule.last_day) if d is not None]
    if ends:
        return min(ends)
    end = start + OPEN_HORIZON
    last_change = _last_change_day((a, b))
    if last_change is not None:
        end = max(end, last_change + 2 * _PERIOD)
    return end


def first_clash(new: Permanence, existing: Sequence[Permanence]) -> Clash | None:
    """The first day on which a session of `new` overlaps a session of one of the
    `existing` permanences (the same room), compared over the intersection of their
    date ranges; None when they never meet."""
    best: Clash | None = None
    for other in existing:
        start = max(new.rule.first_day, other.rule.first_day)
        end = _scan_end(new, other, start)
        if end is None or end < start:
            continue
        found = _clash_between(sessions(new, start, end), sessions(other, start, end), other.key)
        if found is not None and (best is None or found.ours.starts_at < best.ours.starts_at):
            best = found
    return best


def extra_clash(session: Session, existing: Sequence[Permanence]) -> Clash | None:
    """The first session of the existing permanences overlapping one extra session
    (the permanence it is added to included: its own rule session that day counts)."""
    for other in existing:
        for theirs in sessions(other, session.day, session.day):
            if theirs.overlaps(session):
                return Clash(other.key, session.day, session, theirs)
    return None


def _clash_between(ours: Sequence[Session], theirs: Sequence[Session], key: str) -> Clash | None:
    by_day: dict[date, list[Session]] = defaultdict(list)
    for session in theirs:
        by_day[session.day].append(session)
    for session in ours:  # in time order: the first clash found is the first one
        for other in by_day.get(session.day, ()):
            if session.overlaps(other):
                return Clash(key, session.day, session, other)
    return None


def slots(session: Session, slot_minutes: int) -> list[Slot]:
    """The bookable slots of a session: consecutive `slot_minutes` from its start, the
    last one ending at or before its end."""
    step = timedelta(minutes=slot_minutes)
    found = []
    start = session.starts_at.astimezone(UTC)
    end = session.ends_at.astimezone(UTC)
    while start + step <= end:
        found.append(Slot(start.astimezone(PARIS), (start + step).astimezone(PARIS)))
        start += step
    return found


@dataclass
class Busy:
    """Intervals already taken (appointments not cancelled), to tell free slots."""

    intervals: list[tuple[datetime, datetime]] = field(default_factory=list)

    def overlaps(self, starts_at: datetime, ends_at: datetime) -> bool:
        return any(s < ends_at and starts_at < e for s, e in self.intervals)


def free_slots(
    permanence: Permanence, slot_minutes: int, start: date, end: date, busy: Busy, after: datetime
) -> list[Slot]:
    """The slots of the sessions between start and end that start at or after `after`
    and overlap no busy interval."""
    return [
        slot
        for session in sessions(permanence, start, end)
        for slot in slots(session, slot_minutes)
        if slot.starts_at >= after and not busy.overlaps(slot.starts_at, slot.ends_at)
    ]


def week_start(day: date) -> date:
    """The Monday of the day's week."""
    return day - timedelta(days=day.isoweekday() - 1)
