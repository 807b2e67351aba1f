"""Builders of the collective actions' and signals' events (domain.events catalogue),
as intake emits them: the generated Bar-le-Duc-like year and the tests use them. Each
builder takes the event's id (the generator's are uuid5: a year is byte-identical for a
seed) and its time."""

from __future__ import annotations

import uuid
from datetime import datetime

from entraide.v1 import events_pb2
from google.protobuf.message import Message

from domain.events import EventType
from kernel.events import Event, new_event
from kernel.timestamps import to_timestamp

SOURCE = "entraide/intake"


def _event(kind: EventType, subject: str, data: Message, event_id: uuid.UUID | None, at: datetime) -> Event:
    return new_event(kind, SOURCE, subject, data, event_id=event_id, time=at)


def participant_enrolled(
    programme_id: str,
    enrolment_id: str,
    territory: str,
    person_id: str,
    at: datetime,
    *,
    waiting: bool = False,
    event_id: uuid.UUID | None = None,
) -> Event:
    data = events_pb2.ParticipantEnrolled(
        programme_id=programme_id,
        enrolment_id=enrolment_id,
        territory=territory,
        person_id=person_id,
        waiting=waiting,
        at=to_timestamp(at),
    )
    return _event(EventType.PARTICIPANT_ENROLLED, programme_id, data, event_id, at)


def enrolment_changed(
    programme_id: str,
    enrolment_id: str,
    territory: str,
    status: str,
    at: datetime,
    sequence: int,
    *,
    event_id: uuid.UUID | None = None,
) -> Event:
    data = events_pb2.EnrolmentChanged(
        programme_id=programme_id,
        enrolment_id=enrolment_id,
        territory=territory,
        status=status,
        at=to_timestamp(at),
        sequence=sequence,
    )
    return _event(EventType.ENROLMENT_CHANGED, programme_id, data, event_id, at)


def group_session_held(
    programme_id: str,
    session_id: str,
    territory: str,
    held_at: datetime,
    *,
    capacity: int,
    expected: int,
    present: int,
    absent: int,
    excused: int,
    sequence: int,
    recorded_at: datetime | None = None,
    event_id: uuid.UUID | None = None,
) -> Event:
    data = events_pb2.GroupSessionHeld(
        programme_id=programme_id,
        session_id=session_id,
        territory=territory,
        at=to_timestamp(held_at),
        capacity=capacity,
        expected=expected,
        present=present,
        absent=absent,
        excused=excused,
        sequence=sequence,
    )
    return _event(EventType.GROUP_SESSION_HELD, programme_id, data, event_id, recorded_at or held_at)


def goal_changed(
    programme_id: str,
    enrolment_id: str,
    goal_id: str,
    territory: str,
    status: str,
    at: datetime,
    sequence: int,
    *,
    event_id: uuid.UUID | None = None,
) -> Event:
    data = events_pb2.GoalChanged(
        programme_id=programme_id,
        enrolment_id=enrolment_id,
        goal_id=goal_id,
        territory=territory,
        status=status,
        at=to_timestamp(at),
        sequence=sequence,
    )
    return _event(EventType.GOAL_CHANGED, programme_id, data, event_id, at)


def outcome_recorded(
    programme_id: str,
    enrolment_id: str,
    territory: str,
    outcome: str,
    at: datetime,
    sequence: int,
    *,
    event_id: uuid.UUID | None = None,
) -> Event:
    data = events_pb2.ParticipantOutcomeRecorded(
        programme_id=programme_id,
        enrolment_id=enrolment_id,
        territory=territory,
        outcome=outcome,
        at=to_timestamp(at),
        sequence=sequence,
    )
    return _event(EventType.PARTICIPANT_OUTCOME_RECORDED, programme_id, data, event_id, at)


def signal_submitted(
    signal_id: str, territory: str, signaller_kind: str, at: datetime, *, event_id: uuid.UUID | None = None
) -> Event:
    data = events_pb2.SignalSubmitted(
        signal_id=signal_id, territory=territory, signaller_kind=signaller_kind, at=to_timestamp(at)
    )
    return _event(EventType.SIGNAL_SUBMITTED, signal_id, data, event_id, at)


def signal_qualified(
    signal_id: str,
    territory: str,
    signaller_kind: str,
    status: str,
    at: datetime,
    *,
    dossier_id: str = "",
    event_id: uuid.UUID | None = None,
) -> Event:
    data = events_pb2.SignalQualified(
        signal_id=signal_id,
        territory=territory,
        signaller_kind=signaller_kind,
        status=status,
        dossier_id=dossier_id,
        at=to_timestamp(at),
    )
    return _event(EventType.SIGNAL_QUALIFIED, signal_id, data, event_id, at)


def signal_escalated(
    signal_id: str, territory: str, at: datetime, *, event_id: uuid.UUID | None = None
) -> Event:
    data = events_pb2.SignalEscalated(signal_id=signal_id, territory=territory, at=to_timestamp(at))
    return _event(EventType.SIGNAL_ESCALATED, signal_id, data, event_id, at)
