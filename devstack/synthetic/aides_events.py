"""Builders of the aid events (domain.events catalogue) as intake emits them: the
generated year of aid activity (aides.py) and the tests use them. Each builder takes the
event's id (the generator's are uuid5: a year is byte-identical for a seed) and its
time. Ids, codes and cents only."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from entraide.v1 import events_pb2
from google.protobuf.message import Message

from domain.events import EventType
from kernel.events import Event, new_event
from kernel.timestamps import to_timestamp

SOURCE = "entraide/intake"


def _event(kind: EventType, subject: str, data: Message, event_id: uuid.UUID | None, at: datetime) -> Event:
    return new_event(kind, SOURCE, subject, data, event_id=event_id, time=at)


def aid_requested(
    aid_request_id: str,
    dossier_id: str,
    person_id: str,
    territory: str,
    aid_type: str,
    amount_asked_cents: int,
    at: datetime,
    *,
    event_id: uuid.UUID | None = None,
) -> Event:
    data = events_pb2.AidRequested(
        aid_request_id=aid_request_id,
        dossier_id=dossier_id,
        person_id=person_id,
        territory=territory,
        aid_type=aid_type,
        amount_asked_cents=amount_asked_cents,
        at=to_timestamp(at),
    )
    return _event(EventType.AID_REQUESTED, aid_request_id, data, event_id, at)


def aid_instructed(
    aid_request_id: str,
    territory: str,
    complete: bool,
    at: datetime,
    sequence: int,
    *,
    missing_documents: int = 0,
    event_id: uuid.UUID | None = None,
) -> Event:
    data = events_pb2.AidInstructed(
        aid_request_id=aid_request_id,
        territory=territory,
        complete=complete,
        missing_documents=missing_documents,
        at=to_timestamp(at),
        sequence=sequence,
    )
    return _event(EventType.AID_INSTRUCTED, aid_request_id, data, event_id, at)


def aid_scheduled(
    aid_request_id: str,
    territory: str,
    commission_id: str,
    at: datetime,
    sequence: int,
    *,
    event_id: uuid.UUID | None = None,
) -> Event:
    data = events_pb2.AidScheduled(
        aid_request_id=aid_request_id,
        territory=territory,
        commission_id=commission_id,
        at=to_timestamp(at),
        sequence=sequence,
    )
    return _event(EventType.AID_SCHEDULED, aid_request_id, data, event_id, at)


def aid_decided(
    aid_request_id: str,
    territory: str,
    aid_type: str,
    decision: str,
    channel: str,
    at: datetime,
    sequence: int,
    *,
    amount_granted_cents: int = 0,
    refusal_reason: str = "",
    budget_line_id: str = "",
    overridden: bool = False,
    commission_id: str = "",
    event_id: uuid.UUID | None = None,
) -> Event:
    data = events_pb2.AidDecided(
        aid_request_id=aid_request_id,
        territory=territory,
        aid_type=aid_type,
        decision=decision,
        channel=channel,
        amount_granted_cents=amount_granted_cents,
        refusal_reason=refusal_reason,
        budget_line_id=budget_line_id,
        overridden=overridden,
        commission_id=commission_id,
        at=to_timestamp(at),
        sequence=sequence,
    )
    return _event(EventType.AID_DECIDED, aid_request_id, data, event_id, at)


def aid_withdrawn(
    aid_request_id: str, territory: str, at: datetime, sequence: int, *, event_id: uuid.UUID | None = None
) -> Event:
    data = events_pb2.AidWithdrawn(
        aid_request_id=aid_request_id, territory=territory, at=to_timestamp(at), sequence=sequence
    )
    return _event(EventType.AID_WITHDRAWN, aid_request_id, data, event_id, at)


def payment_changed(
    payment_id: str,
    aid_request_id: str,
    territory: str,
    aid_type: str,
    budget_line_id: str,
    amount_cents: int,
    mode: str,
    status: str,
    at: datetime,
    sequence: int,
    *,
    event_id: uuid.UUID | None = None,
) -> Event:
    data = events_pb2.AidPaymentChanged(
        payment_id=payment_id,
        aid_request_id=aid_request_id,
        territory=territory,
        aid_type=aid_type,
        budget_line_id=budget_line_id,
        amount_cents=amount_cents,
        mode=mode,
        status=status,
        at=to_timestamp(at),
        sequence=sequence,
    )
    return _event(EventType.AID_PAYMENT_CHANGED, aid_request_id, data, event_id, at)


def loan_set_up(
    loan_id: str,
    aid_request_id: str,
    territory: str,
    bank: str,
    amount_cents: int,
    months: int,
    annual_rate_bp: int,
    at: datetime,
    *,
    event_id: uuid.UUID | None = None,
) -> Event:
    data = events_pb2.LoanSetUp(
        loan_id=loan_id,
        aid_request_id=aid_request_id,
        territory=territory,
        bank=bank,
        amount_cents=amount_cents,
        months=months,
        annual_rate_bp=annual_rate_bp,
        at=to_timestamp(at),
    )
    return _event(EventType.LOAN_SET_UP, aid_request_id, data, event_id, at)


def loan_incident(
    loan_id: str,
    aid_request_id: str,
    territory: str,
    kind: str,
    amount_cents: int,
    at: datetime,
    sequence: int,
    *,
    event_id: uuid.UUID | None = None,
) -> Event:
    data = events_pb2.LoanIncidentRecorded(
        loan_id=loan_id,
        aid_request_id=aid_request_id,
        territory=territory,
        kind=kind,
        amount_cents=amount_cents,
        at=to_timestamp(at),
        sequence=sequence,
    )
    return _event(EventType.LOAN_INCIDENT_RECORDED, aid_request_id, data, event_id, at)


def budget_line_created(
    budget_line_id: str,
    territory: str,
    year: int,
    label: str,
    aid_types: Sequence[str],
    envelope_cents: int,
    at: datetime,
    *,
    event_id: uuid.UUID | None = None,
) -> Event:
    data = events_pb2.BudgetLineCreated(
        budget_line_id=budget_line_id,
        territory=territory,
        year=year,
        label=label,
        aid_types=list(aid_types),
        envelope_cents=envelope_cents,
        at=to_timestamp(at),
    )
    return _event(EventType.BUDGET_LINE_CREATED, budget_line_id, data, event_id, at)


def persons_merged(
    merged_id: str, keep_id: str, territory: str, at: datetime, *, event_id: uuid.UUID | None = None
) -> Event:
    data = events_pb2.PersonsMerged(
        merged_id=merged_id, keep_id=keep_id, territory=territory, at=to_timestamp(at)
    )
    return _event(EventType.PERSONS_MERGED, keep_id, data, event_id, at)
