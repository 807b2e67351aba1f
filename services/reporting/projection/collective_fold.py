"""The pure fold of the collective actions' and signals' events (migration 008): one
delta per group session, enrolment, goal and signal (no I/O), merged as their rows'
upserts do (projection/collective.py).

Every field merges commutatively: a latest group (status, outcome, a session's sheet)
is the greatest (sequence, at, value...) tuple, a first time is the least, and the
territory, programme and signaller kind every event repeats are the least non-empty
value. Any arrival order, duplicate or batch split gives the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from entraide.v1 import events_pb2

from domain.collective import EnrolmentStatus, GoalStatus, ParticipantOutcome
from domain.signals import QUALIFIED, SignallerKind, SignalStatus
from kernel.timestamps import from_timestamp

# The enrolment event's place among an enrolment's changes: before every
# EnrolmentChanged (whose sequences start at 0 or 1).
ENROLLED_SEQUENCE = -1
_ENROLMENT_STATUSES = frozenset(EnrolmentStatus)
# Statuses of a participant (a withdrawal may be from the waiting list: not one).
_ON_THE_LIST = frozenset({EnrolmentStatus.ENROLLED, EnrolmentStatus.COMPLETED})
_GOAL_STATUSES = frozenset(GoalStatus)
_OUTCOMES = frozenset(ParticipantOutcome)
_SIGNALLER_KINDS = frozenset(SignallerKind)

_T = TypeVar("_T", bound=tuple)  # type: ignore[type-arg]
Latest = tuple[int, datetime, str]  # (sequence, at, value): the greatest wins
# A session's sheet: (sequence, at, programme_id, territory, capacity, expected,
# present, absent, excused); the greatest wins.
Sheet = tuple[int, datetime, str, str, int, int, int, int, int]
# A signal's qualification: (at, status, dossier_id); the greatest wins.
Qualification = tuple[datetime, str, str]


def _least(a: str, b: str) -> str:
    return b if not a else a if not b else min(a, b)


def _greatest(a: _T | None, b: _T) -> _T:
    return b if a is None or b > a else a


def _min(a: datetime | None, b: datetime) -> datetime:
    return b if a is None else min(a, b)


@dataclass
class EnrolmentDelta:
    enrolment_id: str
    programme_id: str = ""
    territory: str = ""
    person_id: str = ""
    enrolled_at: datetime | None = None
    status: Latest | None = None
    waited: bool = False  # put on the waiting list when asked for
    ever_enrolled: bool = False  # on the list at some time (not only waiting)
    outcome: Latest | None = None


@dataclass
class GoalDelta:
    goal_id: str
    programme_id: str = ""
    enrolment_id: str = ""
    territory: str = ""
    set_at: datetime | None = None
    status: Latest | None = None


@dataclass
class SignalDelta:
    signal_id: str
    territory: str = ""
    signaller_kind: str = ""
    submitted_at: datetime | None = None
    qualification: Qualification | None = None
    escalated_at: datetime | None = None


@dataclass
class CollectiveFold:
    sessions: dict[str, Sheet] = field(default_factory=dict)
    enrolments: dict[str, EnrolmentDelta] = field(default_factory=dict)
    goals: dict[str, GoalDelta] = field(default_factory=dict)
    signals: dict[str, SignalDelta] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.sessions or self.enrolments or self.goals or self.signals)

    def enrolment(self, enrolment_id: str, programme_id: str, territory: str) -> EnrolmentDelta:
        if not enrolment_id or not programme_id or not territory:
            raise ValueError("enrolment event without enrolment, programme or territory")
        e = self.enrolments.get(enrolment_id)
        if e is None:
            e = self.enrolments[enrolment_id] = EnrolmentDelta(enrolment_id)
        e.programme_id = _least(e.programme_id, programme_id)
        e.territory = _least(e.territory, territory)
        return e

    def signal(self, signal_id: str, territory: str) -> SignalDelta:
        if not signal_id or not territory:
            raise ValueError("signal event without signal id or territory")
        s = self.signals.get(signal_id)
        if s is None:
            s = self.signals[signal_id] = SignalDelta(signal_id)
        s.territory = _least(s.territory, territory)
        return s


def participant_enrolled(f: CollectiveFold, e: events_pb2.ParticipantEnrolled) -> None:
    if not e.person_id:
        raise ValueError("collective.enrolled without a person id")
    at = from_timestamp(e.at)
    d = f.enrolment(e.enrolment_id, e.programme_id, e.territory)
    d.person_id = _least(d.person_id, e.person_id)
    d.enrolled_at = _min(d.enrolled_at, at)
    status = EnrolmentStatus.WAITING if e.waiting else EnrolmentStatus.ENROLLED
    d.status = _greatest(d.status, (ENROLLED_SEQUENCE, at, str(status)))
    d.waited = d.waited or e.waiting
    d.ever_enrolled = d.ever_enrolled or not e.waiting


def enrolment_changed(f: CollectiveFold, e: events_pb2.EnrolmentChanged) -> None:
    if e.status not in _ENROLMENT_STATUSES:
        raise ValueError("collective.enrolment_changed with an unknown status")
    d = f.enrolment(e.enrolment_id, e.programme_id, e.territory)
    d.status = _greatest(d.status, (e.sequence, from_timestamp(e.at), e.status))
    d.ever_enrolled = d.ever_enrolled or e.status in _ON_THE_LIST


def outcome_recorded(f: CollectiveFold, e: events_pb2.ParticipantOutcomeRecorded) -> None:
    if e.outcome not in _OUTCOMES:
        raise ValueError("collective.outcome_recorded with an unknown outcome")
    d = f.enrolment(e.enrolment_id, e.programme_id, e.territory)
    d.outcome = _greatest(d.outcome, (e.sequence, from_timestamp(e.at), e.outcome))


def session_held(f: CollectiveFold, e: events_pb2.GroupSessionHeld) -> None:
    if not e.session_id or not e.programme_id or not e.territory or not e.HasField("at"):
        raise ValueError("collective.session_held without session, programme, territory or time")
    sheet: Sheet = (
        e.sequence,
        from_timestamp(e.at),
        e.programme_id,
        e.territory,
        e.capacity,
        e.expected,
        e.present,
        e.absent,
        e.excused,
    )
    f.sessions[e.session_id] = _greatest(f.sessions.get(e.session_id), sheet)


def goal_changed(f: CollectiveFold, e: events_pb2.GoalChanged) -> None:
    if not e.goal_id or not e.territory or e.status not in _GOAL_STATUSES:
        raise ValueError("collective.goal_changed without goal, territory or a known status")
    g = f.goals.get(e.goal_id)
    if g is None:
        g = f.goals[e.goal_id] = GoalDelta(e.goal_id)
    at = from_timestamp(e.at)
    g.programme_id = _least(g.programme_id, e.programme_id)
    g.enrolment_id = _least(g.enrolment_id, e.enrolment_id)
    g.territory = _least(g.territory, e.territory)
    g.set_at = _min(g.set_at, at)
    g.status = _greatest(g.status, (e.sequence, at, e.status))


def signal_submitted(f: CollectiveFold, e: events_pb2.SignalSubmitted) -> None:
    if e.signaller_kind not in _SIGNALLER_KINDS:
        raise ValueError("signal.submitted with an unknown signaller kind")
    s = f.signal(e.signal_id, e.territory)
    s.signaller_kind = _least(s.signaller_kind, e.signaller_kind)
    s.submitted_at = _min(s.submitted_at, from_timestamp(e.at))


def signal_qualified(f: CollectiveFold, e: events_pb2.SignalQualified) -> None:
    if e.status not in QUALIFIED:
        raise ValueError("signal.qualified with a status that is not a qualification")
    s = f.signal(e.signal_id, e.territory)
    if e.signaller_kind in _SIGNALLER_KINDS:
        s.signaller_kind = _least(s.signaller_kind, e.signaller_kind)
    dossier = e.dossier_id if e.status == SignalStatus.CONTACTED else ""
    s.qualification = _greatest(s.qualification, (from_timestamp(e.at), e.status, dossier))


def signal_escalated(f: CollectiveFold, e: events_pb2.SignalEscalated) -> None:
    s = f.signal(e.signal_id, e.territory)
    s.escalated_at = _min(s.escalated_at, from_timestamp(e.at))
