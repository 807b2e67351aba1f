"""The pure fold of the aid events (migration 009): one row per request, decision,
withdrawal, payment change, loan, loan incident and budget line (no I/O), written by
projection/aides.py.

Every row is one event's, keyed by what identifies the event in its aggregate (a
request's change sequence for its decisions and payment changes): a duplicate writes
the same row again, and should two versions of a key ever differ, the least tuple is
kept (here and in the upsert), so any arrival order, duplicate or batch split gives the
same rows. AidInstructed and AidScheduled carry nothing the bilan counts: not projected.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from entraide.v1 import events_pb2
from google.protobuf.timestamp_pb2 import Timestamp

from domain.aides import Decision, DecisionChannel, LoanIncidentKind, PaymentStatus
from kernel.timestamps import from_timestamp

_DECISIONS = frozenset(Decision)
_CHANNELS = frozenset(DecisionChannel)
_PAYMENT_STATUSES = frozenset(PaymentStatus)
_INCIDENTS = frozenset(LoanIncidentKind)

# Columns after the key, in the tables' order (migration 009).
# (dossier_id, person_id ('' when none), territory, aid_type, amount_asked_cents, requested_at)
RequestRow = tuple[str, str, str, str, int, datetime]
# (territory, aid_type, decision, channel, amount_granted_cents, refusal_reason,
#  budget_line_id, overridden, commission_id, decided_at)
DecisionRow = tuple[str, str, str, str, int, str, str, bool, str, datetime]
# (territory, withdrawn_at) — ordered by time first: the first withdrawal is kept.
WithdrawalRow = tuple[datetime, str]
# (aid_request_id, territory, aid_type, budget_line_id, amount_cents, mode, status, changed_at)
PaymentRow = tuple[str, str, str, str, int, str, str, datetime]
# (aid_request_id, territory, bank, amount_cents, months, annual_rate_bp, set_up_at)
LoanRow = tuple[str, str, str, int, int, int, datetime]
# (aid_request_id, territory, kind, amount_cents, at)
IncidentRow = tuple[str, str, str, int, datetime]
# (territory, year, label, aid_types, envelope_cents, created_at)
BudgetLineRow = tuple[str, int, str, tuple[str, ...], int, datetime]

_K = TypeVar("_K")
_R = TypeVar("_R", bound=tuple)  # type: ignore[type-arg]


def _keep_least(rows: dict[_K, _R], key: _K, row: _R) -> None:
    known = rows.get(key)
    if known is None or row < known:
        rows[key] = row


def _at(stamp: Timestamp, has: bool, what: str) -> datetime:
    if not has:
        raise ValueError(f"{what} without a time")
    return from_timestamp(stamp)


def _required(what: str, **values: str) -> None:
    missing = [name for name, value in values.items() if not value]
    if missing:
        raise ValueError(f"{what} without {', '.join(missing)}")


def _cents(value: int, what: str) -> int:
    if value < 0:
        raise ValueError(f"{what} with a negative amount")
    return int(value)


def _person_id(value: str) -> str:
    if not value:
        return ""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ValueError("aid.requested with a person id that is not a uuid") from None


@dataclass
class AidFold:
    requests: dict[str, RequestRow] = field(default_factory=dict)
    decisions: dict[tuple[str, int], DecisionRow] = field(default_factory=dict)
    withdrawals: dict[str, WithdrawalRow] = field(default_factory=dict)
    payments: dict[tuple[str, int], PaymentRow] = field(default_factory=dict)
    loans: dict[str, LoanRow] = field(default_factory=dict)
    incidents: dict[tuple[str, int], IncidentRow] = field(default_factory=dict)
    budget_lines: dict[str, BudgetLineRow] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(
            self.requests
            or self.decisions
            or self.withdrawals
            or self.payments
            or self.loans
            or self.incidents
            or self.budget_lines
        )


def aid_requested(f: AidFold, e: events_pb2.AidRequested) -> None:
    _required(
        "aid.requested",
        aid_request_id=e.aid_request_id,
        dossier_id=e.dossier_id,
        territory=e.territory,
        aid_type=e.aid_type,
    )
    row: RequestRow = (
        e.dossier_id,
        _person_id(e.person_id),
        e.territory,
        e.aid_type,
        _cents(e.amount_asked_cents, "aid.requested"),
        _at(e.at, e.HasField("at"), "aid.requested"),
    )
    _keep_least(f.requests, e.aid_request_id, row)


def aid_decided(f: AidFold, e: events_pb2.AidDecided) -> None:
    _required("aid.decided", aid_request_id=e.aid_request_id, territory=e.territory, aid_type=e.aid_type)
    if e.decision not in _DECISIONS or e.channel not in _CHANNELS:
        raise ValueError("aid.decided with an unknown decision or channel")
    granted = e.decision == Decision.GRANTED
    row: DecisionRow = (
        e.territory,
        e.aid_type,
        e.decision,
        e.channel,
        _cents(e.amount_granted_cents, "aid.decided") if granted else 0,
        e.refusal_reason if e.decision == Decision.REFUSED else "",
        e.budget_line_id,
        e.overridden,
        e.commission_id,
        _at(e.at, e.HasField("at"), "aid.decided"),
    )
    _keep_least(f.decisions, (e.aid_request_id, e.sequence), row)


def aid_withdrawn(f: AidFold, e: events_pb2.AidWithdrawn) -> None:
    _required("aid.withdrawn", aid_request_id=e.aid_request_id, territory=e.territory)
    row: WithdrawalRow = (_at(e.at, e.HasField("at"), "aid.withdrawn"), e.territory)
    _keep_least(f.withdrawals, e.aid_request_id, row)


def payment_changed(f: AidFold, e: events_pb2.AidPaymentChanged) -> None:
    _required(
        "aid.payment_changed",
        payment_id=e.payment_id,
        aid_request_id=e.aid_request_id,
        territory=e.territory,
        aid_type=e.aid_type,
    )
    if e.status not in _PAYMENT_STATUSES:
        raise ValueError("aid.payment_changed with an unknown status")
    row: PaymentRow = (
        e.aid_request_id,
        e.territory,
        e.aid_type,
        e.budget_line_id,
        _cents(e.amount_cents, "aid.payment_changed"),
        e.mode,
        e.status,
        _at(e.at, e.HasField("at"), "aid.payment_changed"),
    )
    _keep_least(f.payments, (e.payment_id, e.sequence), row)


def loan_set_up(f: AidFold, e: events_pb2.LoanSetUp) -> None:
    _required("aid.loan_set_up", loan_id=e.loan_id, aid_request_id=e.aid_request_id, territory=e.territory)
    row: LoanRow = (
        e.aid_request_id,
        e.territory,
        e.bank,
        _cents(e.amount_cents, "aid.loan_set_up"),
        e.months,
        e.annual_rate_bp,
        _at(e.at, e.HasField("at"), "aid.loan_set_up"),
    )
    _keep_least(f.loans, e.loan_id, row)


def loan_incident(f: AidFold, e: events_pb2.LoanIncidentRecorded) -> None:
    _required("aid.loan_incident", loan_id=e.loan_id, territory=e.territory)
    if e.kind not in _INCIDENTS:
        raise ValueError("aid.loan_incident with an unknown kind")
    row: IncidentRow = (
        e.aid_request_id,
        e.territory,
        e.kind,
        _cents(e.amount_cents, "aid.loan_incident"),
        _at(e.at, e.HasField("at"), "aid.loan_incident"),
    )
    _keep_least(f.incidents, (e.loan_id, e.sequence), row)


def budget_line_created(f: AidFold, e: events_pb2.BudgetLineCreated) -> None:
    _required("budget_line.created", budget_line_id=e.budget_line_id, territory=e.territory)
    if e.year <= 0:
        raise ValueError("budget_line.created without a year")
    row: BudgetLineRow = (
        e.territory,
        e.year,
        e.label,
        tuple(e.aid_types),
        _cents(e.envelope_cents, "budget_line.created"),
        _at(e.at, e.HasField("at"), "budget_line.created"),
    )
    _keep_least(f.budget_lines, e.budget_line_id, row)
