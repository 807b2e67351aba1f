"""The expected aid figures (Bilan.aides) of generated years: what a bilan must report,
counted by brute force from the generated records (requests, decisions, payments with
their dated changes, loans, incidents, budget lines, merges), never from the events nor
from reporting's projection.

The definitions are the bilan's (services/reporting/aides.py says them in words):
requests opened in [start, end) in the territories, with the amounts asked; households =
their distinct persons once merges are followed; decisions taken in the period by
decision (granted with their amounts, postponed, refused; urgent = outside commission);
requests withdrawn in the period; payments marked paid in the period; the same by aid
type (the reference data's order), by commune (most requests first, then code) and by
Paris month (in time order), a row for each code counted; refusal reasons with the previous
period of equal length; loans set up and incidents recorded in the period; each budget
line of the territories whose Paris year overlaps the period, as of the period's end.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from entraide.v1 import reporting_pb2

from devstack.synthetic.aides import AidYear, GeneratedPayment
from domain.aides import Decision, DecisionChannel, PaymentStatus
from domain.labels_fr import MONTHS_FR
from domain.planning import PARIS
from kernel.reference import ReferenceData


def _in(at: datetime, start: datetime, end: datetime) -> bool:
    return start <= at < end


def _month(at: datetime) -> str:
    return at.astimezone(PARIS).strftime("%Y-%m")


def month_label(code: str) -> str:
    year, month = code.split("-")
    return f"{MONTHS_FR[int(month) - 1]} {year}"


def _resolve(merges: Mapping[str, str], person: str) -> str:
    seen = 0
    while person in merges and seen < 64:
        person, seen = merges[person], seen + 1
    return person


def _status_as_of(payment: GeneratedPayment, end: datetime) -> str | None:
    before = [status for at, status in payment.changes if at < end]
    return before[-1] if before else None


def _paid_at(payment: GeneratedPayment) -> datetime | None:
    paid = [at for at, status in payment.changes if status == PaymentStatus.PAID]
    return paid[-1] if paid else None


def figures(
    years: Iterable[AidYear],
    territories: Iterable[str],
    start: datetime,
    end: datetime,
    reference: ReferenceData,
) -> reporting_pb2.AidFigures:
    ys, ts = list(years), set(territories)
    before = start - (end - start)
    merges = {merged: kept for y in ys for merged, kept in y.merges}
    rows: dict[str, dict[str, reporting_pb2.AidBreakdown]] = {"type": {}, "commune": {}, "month": {}}

    def breakdowns(aid_type: str, territory: str, at: datetime) -> list[reporting_pb2.AidBreakdown]:
        out = []
        for dim, code in (("type", aid_type), ("commune", territory), ("month", _month(at))):
            if code not in rows[dim]:
                rows[dim][code] = reporting_pb2.AidBreakdown(code=code)
            out.append(rows[dim][code])
        return out

    out = reporting_pb2.AidFigures()
    persons: set[str] = set()
    for y in ys:
        for r in y.requests:
            if r.territory in ts and _in(r.requested_at, start, end):
                out.requests += 1
                out.asked_cents += r.asked_cents
                persons.add(_resolve(merges, r.person_id))
                for b in breakdowns(r.aid_type, r.territory, r.requested_at):
                    b.requests += 1
                    b.asked_cents += r.asked_cents
    out.households = len(persons)
    refusals: dict[str, int] = {}
    previous_refusals: dict[str, int] = {}
    for y in ys:
        for d in y.decisions:
            if d.territory not in ts:
                continue
            if d.decision == Decision.REFUSED and _in(d.at, before, start):
                previous_refusals[d.refusal_reason] = previous_refusals.get(d.refusal_reason, 0) + 1
            if not _in(d.at, start, end):
                continue
            if d.channel == DecisionChannel.URGENT:
                out.urgent += 1
            if d.decision == Decision.GRANTED:
                out.granted += 1
                out.granted_cents += d.granted_cents
            elif d.decision == Decision.POSTPONED:
                out.postponed += 1
            else:
                out.refused += 1
                refusals[d.refusal_reason] = refusals.get(d.refusal_reason, 0) + 1
            for b in breakdowns(d.aid_type, d.territory, d.at):
                if d.decision == Decision.GRANTED:
                    b.granted += 1
                    b.granted_cents += d.granted_cents
                elif d.decision == Decision.POSTPONED:
                    b.postponed += 1
                else:
                    b.refused += 1
        for p in y.payments:
            paid_at = _paid_at(p)
            if p.territory in ts and paid_at is not None and _in(paid_at, start, end):
                out.paid_cents += p.amount_cents
                for b in breakdowns(p.aid_type, p.territory, paid_at):
                    b.paid_cents += p.amount_cents
        out.withdrawn += sum(1 for w in y.withdrawals if w.territory in ts and _in(w.at, start, end))
        loans = [loan for loan in y.loans if loan.territory in ts and _in(loan.at, start, end)]
        out.loans += len(loans)
        out.loan_cents += sum(loan.amount_cents for loan in loans)
        out.loan_incidents += sum(1 for i in y.incidents if i.territory in ts and _in(i.at, start, end))
    type_rank = {code: n for n, code in enumerate(reference.aid_types)}
    for code in sorted(rows["type"], key=lambda c: (type_rank.get(c, len(type_rank)), c)):
        b = rows["type"][code]
        b.label = reference.aid_types[code].label if code in reference.aid_types else code
        out.by_type.append(b)
    for code in sorted(rows["commune"], key=lambda c: (-rows["commune"][c].requests, c)):
        b = rows["commune"][code]
        b.label = reference.territories.get(code, code)
        out.by_commune.append(b)
    for code in sorted(rows["month"]):
        b = rows["month"][code]
        b.label = month_label(code)
        out.by_month.append(b)
    codes = sorted(
        set(refusals) | set(previous_refusals),
        key=lambda c: (-refusals.get(c, 0), -previous_refusals.get(c, 0), c),
    )
    for code in codes:
        out.refusal_reasons.append(
            reporting_pb2.Share(
                code=code,
                label=reference.aid_refusal_reasons.get(code, code),
                count=refusals.get(code, 0),
                percent=round(100.0 * refusals.get(code, 0) / out.refused, 1) if out.refused else 0.0,
                previous_count=previous_refusals.get(code, 0),
            )
        )
    lines = []
    for y in ys:
        for line in y.lines:
            year_start = datetime(line.year, 1, 1, tzinfo=PARIS).astimezone(UTC)
            year_end = datetime(line.year + 1, 1, 1, tzinfo=PARIS).astimezone(UTC)
            if line.territory not in ts or not (year_start < end and year_end > start):
                continue
            granted = sum(
                d.granted_cents
                for z in ys
                for d in z.decisions
                if d.budget_line_id == line.budget_line_id and d.decision == Decision.GRANTED and d.at < end
            )
            payments = [p for z in ys for p in z.payments if p.budget_line_id == line.budget_line_id]
            cancelled = sum(
                p.amount_cents for p in payments if _status_as_of(p, end) == PaymentStatus.CANCELLED
            )
            paid = sum(p.amount_cents for p in payments if _status_as_of(p, end) == PaymentStatus.PAID)
            committed = granted - cancelled
            lines.append(
                reporting_pb2.BudgetLineFigures(
                    budget_line_id=line.budget_line_id,
                    territory=line.territory,
                    year=line.year,
                    label=line.label,
                    envelope_cents=line.envelope_cents,
                    committed_cents=committed,
                    paid_cents=paid,
                    remaining_cents=line.envelope_cents - committed,
                )
            )
    lines.sort(key=lambda x: (x.year, x.territory, x.label, x.budget_line_id))
    out.budget_lines.extend(lines)
    return out
