"""Pure generation: a Bar-le-Duc-like year of collective actions (the "RV du CIAS"'s
weekly group sessions) and signals ("aller vers") from the élus and secrétaires de
mairie of the CIAS's 15 communes (devstack/synthetic/bar_le_duc.py), as domain events
with the records an oracle counts from, from a seed.

Everything is derived from the arguments: the same arguments give the same events, byte
for byte and ids included (uuid5 ids, no clock, no set or hash order). No I/O.

What a generated year looks like
--------------------------------
- Two groups (Bar-le-Duc on Tuesday afternoons, Ligny-en-Barrois on Thursday mornings),
  three cycles a year each (10, 10 and 12 weekly sessions, none on a public holiday or
  in the Christmas week), each cycle a programme of capacity 8: 8 to 12 enrolment
  requests, the first 8 enrolled, the others on the waiting list; up to two
  withdrawals a cycle, each place taken by the first waiting, those still waiting
  withdrawn when the cycle ends (the list closes with it); some persons come back
  in a later cycle or the other group (a person counted once in the bilan).
- Every session's sheet lists the enrolled of the day (4 to 8): present, absent or
  excused; a tenth of the sheets are sent again corrected (a higher sequence).
- Each participant has one or two goals, proposed at their first session, under way
  at the next, then reached, given up or left under way at a later one (given up at a
  withdrawal); each participant still enrolled at the end completes the cycle and an
  outcome is recorded within two weeks (a few corrected).
- Signals spread over the communes, signaller kinds and final statuses by exact
  quotas; qualified within days, a fifth after the escalation delay (escalated first),
  some never (escalated); some first found unreachable, reached later.
- No personal data: ids and codes.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from devstack.synthetic import bar_le_duc as P
from devstack.synthetic import outreach_events as ev
from devstack.synthetic.dijon import closed_days
from devstack.synthetic.mixes import quota
from domain.collective import EnrolmentStatus, GoalStatus, ParticipantOutcome
from domain.planning import PARIS
from domain.signals import SignalStatus
from kernel.events import Event

OUTREACH_NAMESPACE = uuid.UUID("0b7c1f3e-5d2a-4c8e-9f61-3a4d7e2b9c05")
E, G = EnrolmentStatus, GoalStatus


@dataclass(frozen=True)
class GeneratedSession:
    """A session's latest sheet."""

    session_id: str
    programme_id: str
    territory: str
    held_at: datetime
    capacity: int
    expected: int
    present: int
    absent: int  # excused included
    excused: int


@dataclass(frozen=True)
class GeneratedEnrolment:
    enrolment_id: str
    programme_id: str
    territory: str
    person_id: str
    status: str  # the latest
    waited: bool  # put on the waiting list when asked for
    ever_enrolled: bool  # on the list at some time (not only waiting)
    outcome: str = ""  # the latest, empty when none
    outcome_at: datetime | None = None


@dataclass(frozen=True)
class GeneratedGoal:
    goal_id: str
    programme_id: str
    territory: str
    set_at: datetime
    status: str  # the latest
    status_at: datetime


@dataclass(frozen=True)
class GeneratedSignal:
    signal_id: str
    territory: str
    signaller_kind: str
    submitted_at: datetime
    status: str  # the latest qualification, received when none
    dossier_id: str
    escalated: bool


@dataclass(frozen=True)
class OutreachYear:
    year: int
    sessions: tuple[GeneratedSession, ...]
    enrolments: tuple[GeneratedEnrolment, ...]
    goals: tuple[GeneratedGoal, ...]
    signals: tuple[GeneratedSignal, ...]
    events: tuple[Event, ...]


@dataclass
class _Participant:
    enrolment_id: str
    person_id: str
    enrolled_at: datetime
    waiting: bool
    waited: bool = False
    sequence: int = 0
    joined: int | None = None  # index of the first session on the list
    left: int | None = None  # index of the first session after a withdrawal
    left_at: datetime | None = None
    goals: list[str] = field(default_factory=list)


def session_days(year: int, first_week: int, sessions: int, weekday: int) -> list[date]:
    """`sessions` weekly days from ISO week `first_week`, closed days skipped."""
    closed = closed_days(year)
    out: list[date] = []
    week = first_week
    while len(out) < sessions:
        day = date.fromisocalendar(year, week, weekday + 1)
        if day not in closed:
            out.append(day)
        week += 1
    return out


class _Generator:
    def __init__(self, seed: int, year: int) -> None:
        self.key = hashlib.sha256(f"bar-le-duc-outreach/{seed}/{year}".encode()).hexdigest()[:16]
        self.rng = random.Random(f"bar-le-duc-outreach/{seed}/{year}")
        self.year = year
        self.keyed: list[tuple[datetime, str, Event]] = []
        self.sessions: list[GeneratedSession] = []
        self.enrolments: list[GeneratedEnrolment] = []
        self.goals: list[GeneratedGoal] = []
        self.signals: list[GeneratedSignal] = []
        self.persons: list[str] = []
        self.counter = 0

    def uid(self, *parts: object) -> str:
        return str(uuid.uuid5(OUTREACH_NAMESPACE, "/".join([self.key, *map(str, parts)])))

    def emit(self, build: Callable[..., Event], *args: Any, **kwargs: Any) -> None:
        self.counter += 1
        event_id = uuid.UUID(self.uid("event", self.counter))
        event = build(*args, event_id=event_id, **kwargs)
        self.keyed.append((event.time, str(event_id), event))

    def _at(self, day: date, at: time) -> datetime:
        return datetime.combine(day, at, PARIS).astimezone(UTC)

    def _minutes(self, low: int, high: int) -> timedelta:
        return timedelta(minutes=self.rng.randint(low, high))

    def person(self, programme_persons: set[str]) -> str:
        """A new person, or one enrolled before elsewhere (never twice in a programme)."""
        returning = [p for p in self.persons if p not in programme_persons]
        if returning and self.rng.random() < P.RETURNING_SHARE:
            return self.rng.choice(returning)
        person = self.uid("person", len(self.persons))
        self.persons.append(person)
        return person

    def programme(self, territory: str, cycle: int, first_week: int, count: int) -> None:
        rng = self.rng
        weekday, start = P.GROUPS[territory]
        programme_id = self.uid("programme", territory, cycle)
        days = session_days(self.year, first_week, count, weekday)
        times = [self._at(d, start) for d in days]
        first = times[0]
        requests = rng.randint(*P.ENROLMENT_REQUESTS)
        people: set[str] = set()
        participants: list[_Participant] = []
        for n in range(requests):
            person = self.person(people)
            people.add(person)
            at = first - timedelta(days=rng.randint(2, 25), minutes=rng.randint(0, 600))
            participants.append(_Participant(self.uid("enrolment", programme_id, n), person, at, False))
        participants.sort(key=lambda p: (p.enrolled_at, p.enrolment_id))
        for n, p in enumerate(participants):
            p.waiting = p.waited = n >= P.CAPACITY
            p.joined = None if p.waiting else 0
            self.emit(
                ev.participant_enrolled,
                programme_id,
                p.enrolment_id,
                territory,
                p.person_id,
                p.enrolled_at,
                waiting=p.waiting,
            )
        waiting = [p for p in participants if p.waiting]
        # Withdrawals before a session of the middle of the cycle; the first waiting takes the place.
        enrolled = [p for p in participants if not p.waiting]
        for leaver in rng.sample(enrolled, rng.randint(*P.WITHDRAWALS)):
            index = rng.randint(2, count - 3)
            at = times[index] - timedelta(days=rng.randint(1, 5))
            leaver.left, leaver.left_at, leaver.sequence = index, at, leaver.sequence + 1
            self.emit(ev.enrolment_changed, programme_id, leaver.enrolment_id, territory, E.WITHDRAWN, at, 1)
            if waiting:
                taker = waiting.pop(0)
                taker.waiting, taker.joined, taker.sequence = False, index, taker.sequence + 1
                self.emit(
                    ev.enrolment_changed,
                    programme_id,
                    taker.enrolment_id,
                    territory,
                    E.ENROLLED,
                    at + timedelta(minutes=5),
                    taker.sequence,
                )
        for index, held in enumerate(times):
            roster = [
                p
                for p in participants
                if p.joined is not None and p.joined <= index and (p.left is None or index < p.left)
            ]
            if not P.MIN_GROUP <= len(roster) <= P.CAPACITY:
                raise AssertionError("a group of 4 to 8 on every sheet")
            marks = rng.choices(("present", "absent", "excused"), weights=P.PRESENCE, k=len(roster))
            present, excused = marks.count("present"), marks.count("excused")
            absent = len(roster) - present
            session_id = self.uid("session", programme_id, index)
            recorded = held + timedelta(hours=2) + self._minutes(0, 240)
            sheet = dict(capacity=P.CAPACITY, expected=len(roster), excused=excused)
            sequence = 1
            if rng.random() < P.SHEET_CORRECTED_SHARE and present:
                # First sent with one present marked absent, corrected the next day.
                self.emit(
                    ev.group_session_held,
                    programme_id,
                    session_id,
                    territory,
                    held,
                    present=present - 1,
                    absent=absent + 1,
                    sequence=sequence,
                    recorded_at=recorded,
                    **sheet,
                )
                sequence, recorded = 2, recorded + timedelta(days=1)
            self.emit(
                ev.group_session_held,
                programme_id,
                session_id,
                territory,
                held,
                present=present,
                absent=absent,
                sequence=sequence,
                recorded_at=recorded,
                **sheet,
            )
            self.sessions.append(
                GeneratedSession(
                    session_id,
                    programme_id,
                    territory,
                    held,
                    P.CAPACITY,
                    len(roster),
                    present,
                    absent,
                    excused,
                )
            )
            for p in roster:
                if p.joined == index:
                    for g in range(rng.randint(*P.GOALS_PER_PARTICIPANT)):
                        goal_id = self.uid("goal", p.enrolment_id, g)
                        p.goals.append(goal_id)
                        self.goal(
                            programme_id, p, goal_id, territory, G.PROPOSED, held + timedelta(hours=1), 1
                        )
        # Goals: under way at the session after the participant joined, then an end.
        ends = quota(sum(len(p.goals) for p in participants), P.GOAL_ENDS)
        rng.shuffle(ends)
        for p in participants:
            for goal_id in p.goals:
                goal_end = ends.pop()
                joined = p.joined or 0
                last = (p.left or count) - 1
                way = times[min(joined + 1, last)] + timedelta(hours=1, minutes=5)
                self.goal(programme_id, p, goal_id, territory, G.UNDER_WAY, way, 2)
                if p.left_at is not None:
                    at = p.left_at
                    self.goal(
                        programme_id, p, goal_id, territory, G.GIVEN_UP, max(at, way + timedelta(hours=1)), 3
                    )
                elif goal_end != G.UNDER_WAY:
                    at = times[rng.randint(min(joined + 2, last), last)] + timedelta(hours=1, minutes=10)
                    self.goal(
                        programme_id, p, goal_id, territory, goal_end, max(at, way + timedelta(hours=1)), 3
                    )
        # The end of the cycle: completion and outcomes of those still enrolled.
        finishers = [p for p in participants if p.joined is not None and p.left is None]
        outcomes = quota(len(finishers), P.OUTCOMES)
        rng.shuffle(outcomes)
        end = times[-1] + timedelta(days=1)
        for p in participants:
            status = E.WITHDRAWN if p.joined is None or p.left is not None else E.COMPLETED
            outcome, outcome_at = "", None
            if p.joined is None:  # the waiting list ends with the cycle
                p.sequence += 1
                self.emit(
                    ev.enrolment_changed,
                    programme_id,
                    p.enrolment_id,
                    territory,
                    E.WITHDRAWN,
                    end,
                    p.sequence,
                )
            if p in finishers:
                p.sequence += 1
                self.emit(
                    ev.enrolment_changed,
                    programme_id,
                    p.enrolment_id,
                    territory,
                    E.COMPLETED,
                    end,
                    p.sequence,
                )
                outcome, outcome_at = outcomes.pop(), end + timedelta(days=rng.randint(0, 14), hours=2)
                sequence = 1
                if rng.random() < 0.1:
                    self.emit(
                        ev.outcome_recorded,
                        programme_id,
                        p.enrolment_id,
                        territory,
                        ParticipantOutcome.NONE,
                        outcome_at,
                        1,
                    )
                    sequence, outcome_at = 2, outcome_at + timedelta(days=3)
                self.emit(
                    ev.outcome_recorded,
                    programme_id,
                    p.enrolment_id,
                    territory,
                    outcome,
                    outcome_at,
                    sequence,
                )
            self.enrolments.append(
                GeneratedEnrolment(
                    p.enrolment_id,
                    programme_id,
                    territory,
                    p.person_id,
                    status,
                    p.waited,
                    p.joined is not None,
                    outcome,
                    outcome_at,
                )
            )

    def goal(
        self,
        programme_id: str,
        p: _Participant,
        goal_id: str,
        territory: str,
        status: str,
        at: datetime,
        seq: int,
    ) -> None:
        self.emit(ev.goal_changed, programme_id, p.enrolment_id, goal_id, territory, status, at, seq)
        previous = next((g for g in self.goals if g.goal_id == goal_id), None)
        if previous is not None:
            self.goals.remove(previous)
        set_at = previous.set_at if previous else at
        self.goals.append(GeneratedGoal(goal_id, programme_id, territory, set_at, status, at))

    def signal_year(self, count: int) -> None:
        rng = self.rng
        communes = quota(count, P.COMMUNES)
        kinds = quota(count, P.SIGNALLERS)
        statuses = quota(count, P.QUALIFICATIONS)
        for values in (communes, kinds, statuses):
            rng.shuffle(values)
        first, last = date(self.year, 1, 1), date(self.year, 12, 31)
        closed = closed_days(self.year)
        days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
        open_days = [d for d in days if d.weekday() < 5 and d not in closed]
        submitted = sorted(
            self._at(rng.choice(open_days), time(8, 30)) + self._minutes(0, 9 * 60) for _ in range(count)
        )
        delay = timedelta(days=P.ESCALATION_DAYS)
        for n, (at, territory, kind, status) in enumerate(
            zip(submitted, communes, kinds, statuses, strict=True)
        ):
            signal_id = self.uid("signal", n)
            self.emit(ev.signal_submitted, signal_id, territory, kind, at)
            late = status == SignalStatus.RECEIVED or rng.random() < P.LATE_SHARE
            if late:
                self.emit(ev.signal_escalated, signal_id, territory, at + delay)
            dossier_id = ""
            if status != SignalStatus.RECEIVED:
                qualified = at + (
                    timedelta(days=rng.randint(8, 20)) if late else timedelta(hours=rng.randint(3, 6 * 24))
                )
                if status == SignalStatus.CONTACTED and rng.random() < P.REQUALIFIED_SHARE:
                    self.emit(
                        ev.signal_qualified, signal_id, territory, kind, SignalStatus.UNREACHABLE, qualified
                    )
                    qualified += timedelta(days=rng.randint(2, 10))
                if status == SignalStatus.CONTACTED:
                    dossier_id = self.uid("dossier", signal_id)
                self.emit(
                    ev.signal_qualified, signal_id, territory, kind, status, qualified, dossier_id=dossier_id
                )
            self.signals.append(GeneratedSignal(signal_id, territory, kind, at, status, dossier_id, late))

    def year_events(self) -> tuple[Event, ...]:
        self.keyed.sort(key=lambda item: (item[0], item[1]))
        return tuple(item[2] for item in self.keyed)


def generate_outreach_year(seed: int, *, year: int, signals: int = P.SIGNALS) -> OutreachYear:
    """A year of the Bar-le-Duc-like CIAS's group sessions and signals."""
    g = _Generator(seed, year)
    for cycle, (first_week, count) in enumerate(P.CYCLES):
        for territory in P.GROUPS:
            g.programme(territory, cycle, first_week, count)
    g.signal_year(signals)
    return OutreachYear(
        year,
        tuple(g.sessions),
        tuple(g.enrolments),
        tuple(sorted(g.goals, key=lambda x: x.goal_id)),
        tuple(g.signals),
        g.year_events(),
    )
