"""The vocabulary and the pure rules of the CCAS's own aid ("aides facultatives") and of
the personal micro-credit it backs: aid types, requests and their instruction, the
commission's decisions, payments, budget lines, loans and their repayment schedule,
supporting documents. Money is integer cents (domain.money).

Pure: codes and arithmetic only (French labels in domain.labels_fr); docs/aides.md says
the rules in words.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

# Deadlines of a request's workflow, in days (the deployment may shorten them:
# ENTRAIDE_AID_INSTRUCTION_DAYS, ENTRAIDE_AID_COMMISSION_DAYS, ENTRAIDE_AID_PAYMENT_DAYS).
DEFAULT_INSTRUCTION_DAYS = 15
DEFAULT_COMMISSION_DAYS = 45
DEFAULT_PAYMENT_DAYS = 15
# Supporting documents: the size limit and how long they are kept after the decision
# (ENTRAIDE_DOCUMENT_MAX_BYTES, ENTRAIDE_AID_DOCUMENT_RETENTION_DAYS).
# Under the gRPC servers' 4 MiB message limit (the request carries the bytes).
DEFAULT_DOCUMENT_MAX_BYTES = 3 * 1024 * 1024
DEFAULT_AID_DOCUMENT_RETENTION_DAYS = 183
MAX_REASON = 1000
MAX_LOAN_MONTHS = 84
# Days of a month in the reste à vivre (per person and per day).
DAYS_PER_MONTH = 30


class AidNature(StrEnum):
    """How the aid reaches the household."""

    CASH = "cash"
    VOUCHER = "voucher"
    PREPAID_CARD = "prepaid_card"
    # Paid straight to the landlord, the energy supplier...
    THIRD_PARTY = "third_party"
    # A personal micro-credit from a partner bank, backed by the CCAS.
    LOAN = "loan"


class EligibilityScale(StrEnum):
    QUOTIENT_FAMILIAL = "quotient_familial"
    RESTE_A_VIVRE = "reste_a_vivre"
    NONE = "none"


class AidRequestStatus(StrEnum):
    # Opened; the social worker's instruction is due.
    SUBMITTED = "submitted"
    # Instructed, documents missing (listed on the request).
    INCOMPLETE = "incomplete"
    # Instructed, ready for a commission.
    COMPLETE = "complete"
    # On a commission's agenda.
    SCHEDULED = "scheduled"
    GRANTED = "granted"
    # Decided "ajourné": back to complete, to be put on a later agenda.
    POSTPONED = "postponed"
    REFUSED = "refused"
    WITHDRAWN = "withdrawn"
    # Granted and every payment paid or cancelled (a loan: repaid or closed).
    CLOSED = "closed"


DECIDED = frozenset({AidRequestStatus.GRANTED, AidRequestStatus.REFUSED, AidRequestStatus.CLOSED})
FINAL = frozenset({AidRequestStatus.REFUSED, AidRequestStatus.WITHDRAWN, AidRequestStatus.CLOSED})


class Decision(StrEnum):
    GRANTED = "granted"
    POSTPONED = "postponed"
    REFUSED = "refused"


class DecisionChannel(StrEnum):
    COMMISSION = "commission"
    # Outside commission, by a responsable: flagged, reported to the next commission.
    URGENT = "urgent"


class CommissionStatus(StrEnum):
    PLANNED = "planned"
    HELD = "held"


class PaymentMode(StrEnum):
    TRANSFER = "transfer"
    CHEQUE = "cheque"
    VOUCHER = "voucher"
    PREPAID_CARD = "prepaid_card"
    CASH = "cash"


class PayeeKind(StrEnum):
    PERSON = "person"
    THIRD_PARTY = "third_party"


class PaymentStatus(StrEnum):
    TO_PAY = "to_pay"
    PAID = "paid"
    CANCELLED = "cancelled"


class LoanStatus(StrEnum):
    REPAYING = "repaying"
    REPAID = "repaid"
    # Stopped before its end (a default handed to the guarantee fund, a renegotiation).
    CLOSED = "closed"


class LoanIncidentKind(StrEnum):
    LATE = "late"
    UNPAID = "unpaid"
    EARLY_REPAYMENT = "early_repayment"
    RESCHEDULED = "rescheduled"


class DocumentOwner(StrEnum):
    PERSON = "person"
    DOSSIER = "dossier"
    AID_REQUEST = "aid_request"


class DocumentFormat(StrEnum):
    """What the bytes are (checked on their content, never on a name or a declared type)."""

    PDF = "application/pdf"
    JPEG = "image/jpeg"
    PNG = "image/png"


def sniff(head: bytes) -> DocumentFormat | None:
    """The format of a document from its first bytes; None when not an accepted one."""
    if head.startswith(b"%PDF-"):
        return DocumentFormat.PDF
    if head.startswith(b"\xff\xd8\xff"):
        return DocumentFormat.JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return DocumentFormat.PNG
    return None


# ---------------------------------------------------------------- eligibility


def reste_a_vivre(resources_cents: int, charges_cents: int, persons: int) -> int:
    """What the household has left per person and per day, in cents (rounded down):
    (monthly resources - monthly fixed charges) / persons / 30. Negative when the
    charges exceed the resources."""
    if persons < 1:
        raise ValueError("a household has at least one person")
    return (resources_cents - charges_cents) // (persons * DAYS_PER_MONTH)


def family_half_parts(adults: int, children: int) -> int:
    """The CAF's shares, in halves: 2 parts for the household (one adult or a couple),
    half a part per dependent child, a whole part for the third."""
    if adults < 1 or children < 0:
        raise ValueError("a household has at least one adult")
    halves = 4
    for n in range(1, children + 1):
        halves += 2 if n == 3 else 1
    return halves


def quotient_familial(resources_cents: int, adults: int, children: int) -> int:
    """Monthly resources per share, in cents (rounded down)."""
    return resources_cents * 2 // family_half_parts(adults, children)


def eligible(scale: EligibilityScale, value_cents: int | None, threshold_cents: int | None) -> bool | None:
    """Whether the household is under the aid type's threshold; None when the type uses
    no scale or no threshold (the commission judges)."""
    if scale is EligibilityScale.NONE or value_cents is None or threshold_cents is None:
        return None
    return value_cents <= threshold_cents


# ---------------------------------------------------------------- budget


def remaining(envelope_cents: int, committed_cents: int) -> int:
    return envelope_cents - committed_cents


def may_commit(envelope_cents: int, committed_cents: int, amount_cents: int) -> bool:
    return committed_cents + amount_cents <= envelope_cents


# ---------------------------------------------------------------- loans


@dataclass(frozen=True)
class Instalment:
    number: int
    due: date
    # payment = principal + interest, all in cents.
    payment_cents: int
    principal_cents: int
    interest_cents: int
    remaining_cents: int


def add_months(day: date, months: int) -> date:
    """The same day `months` later, the month's last day when it has fewer."""
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _cents(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def loan_schedule(
    principal_cents: int, annual_rate_bp: int, months: int, first_due: date
) -> list[Instalment]:
    """Constant monthly instalments (annuity), interest on the remaining capital at the
    annual rate / 12 (basis points: 450 = 4.50 %), rounded to the cent; the last
    instalment takes the rounding so that the principal repaid is exactly the loan."""
    if principal_cents <= 0 or not 1 <= months <= MAX_LOAN_MONTHS or annual_rate_bp < 0:
        raise ValueError("a loan has a positive amount, 1 to 84 months and a rate >= 0")
    rate = Decimal(annual_rate_bp) / Decimal(120000)
    if rate == 0:
        payment = _cents(Decimal(principal_cents) / months)
    else:
        payment = _cents(Decimal(principal_cents) * rate / (1 - (1 + rate) ** -months))
    schedule = []
    left = principal_cents
    for n in range(1, months + 1):
        interest = _cents(Decimal(left) * rate)
        principal = left if n == months else min(payment - interest, left)
        left -= principal
        schedule.append(
            Instalment(
                number=n,
                due=add_months(first_due, n - 1),
                payment_cents=principal + interest,
                principal_cents=principal,
                interest_cents=interest,
                remaining_cents=left,
            )
        )
    return schedule


# ---------------------------------------------------------------- deadlines


class AidStep(StrEnum):
    """The step a request waits for; each has its deadline in the request's workflow."""

    INSTRUCTION = "instruction"
    COMMISSION = "commission"
    PAYMENT = "payment"


def step_of(status: AidRequestStatus) -> AidStep | None:
    """What a request in this status waits for (None: nothing, its workflow ends)."""
    if status in (AidRequestStatus.SUBMITTED, AidRequestStatus.INCOMPLETE):
        return AidStep.INSTRUCTION
    if status in (AidRequestStatus.COMPLETE, AidRequestStatus.SCHEDULED, AidRequestStatus.POSTPONED):
        return AidStep.COMMISSION
    if status is AidRequestStatus.GRANTED:
        return AidStep.PAYMENT
    return None
