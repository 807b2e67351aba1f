"""The bilan's figures of the CCAS's own aid ("aides facultatives", micro-credit, budget
lines), from the aid facts (migration 009). Money is integer cents, summed exactly.

Definitions (a period is [start, end); the caller's territories filter every row by the
commune of its request, or of its budget line):
- requests: requests opened in the period (their `requested_at`), with the amounts asked;
  households: the distinct persons of those requests, merges followed (person.merged, as
  the people received are), a request without a person counting as one;
- granted / postponed / refused: decisions taken in the period (a request postponed then
  granted later counts once in each period of its decisions), with the amounts granted;
  urgent: those decided outside commission; withdrawn: requests withdrawn in the period;
- paid: payments marked paid in the period (their amount, once per payment);
- by aid type, commune and Paris month ("YYYY-MM"): the same, each figure on its own date
  (requests by opening, decisions by decision, payments by payment); by type in the
  deployment's order of the aid types (unknown codes after, by code), by commune the most
  requested first (then the code), by month in time order; a row for each code counted;
- refusal reasons: refused decisions of the period by reason, their share of the refused,
  with the previous period of equal length;
- loans set up in the period (count, amount), loan incidents recorded in the period;
- budget lines of the territories whose year (Paris) overlaps the period, as they stood
  at the period's end: committed = granted on the line before the end minus payments
  cancelled by then; paid = payments paid by then (each payment as of its latest change
  before the end); remaining = envelope - committed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from domain.aides import Decision, DecisionChannel, PaymentStatus
from kernel.db import Connection
from services.reporting.projection.tables import Tables
from services.reporting.shares import Share, shares

PARIS_MONTH = "to_char({0} AT TIME ZONE 'Europe/Paris', 'YYYY-MM')"


@dataclass
class Breakdown:
    code: str
    requests: int = 0
    granted: int = 0
    postponed: int = 0
    refused: int = 0
    asked_cents: int = 0
    granted_cents: int = 0
    paid_cents: int = 0


@dataclass(frozen=True)
class BudgetLine:
    budget_line_id: str
    territory: str
    year: int
    label: str
    envelope_cents: int
    committed_cents: int
    paid_cents: int

    @property
    def remaining_cents(self) -> int:
        return self.envelope_cents - self.committed_cents


@dataclass(frozen=True)
class AidFigures:
    requests: int = 0
    granted: int = 0
    postponed: int = 0
    refused: int = 0
    withdrawn: int = 0
    urgent: int = 0
    asked_cents: int = 0
    granted_cents: int = 0
    paid_cents: int = 0
    households: int = 0
    by_type: list[Breakdown] = field(default_factory=list)
    by_commune: list[Breakdown] = field(default_factory=list)
    by_month: list[Breakdown] = field(default_factory=list)
    refusal_reasons: list[Share] = field(default_factory=list)
    budget_lines: list[BudgetLine] = field(default_factory=list)
    loans: int = 0
    loan_cents: int = 0
    loan_incidents: int = 0


_REQUESTS_SQL = f"""
SELECT aid_type, territory, {PARIS_MONTH.format("requested_at")} AS month, count(*) AS n,
       COALESCE(sum(amount_asked_cents), 0)::bigint AS asked
  FROM {{requests}}
 WHERE territory = ANY($1::text[]) AND requested_at >= $2 AND requested_at < $3
 GROUP BY 1, 2, 3
"""
_DECISIONS_SQL = f"""
SELECT aid_type, territory, {PARIS_MONTH.format("decided_at")} AS month, decision, channel,
       refusal_reason, count(*) AS n, COALESCE(sum(amount_granted_cents), 0)::bigint AS granted
  FROM {{decisions}}
 WHERE territory = ANY($1::text[]) AND decided_at >= $2 AND decided_at < $3
 GROUP BY 1, 2, 3, 4, 5, 6
"""
# A payment's paid change (the latest, should there be several), dated in the period.
_PAID_SQL = f"""
WITH paid AS (
    SELECT DISTINCT ON (payment_id) aid_type, territory, amount_cents, changed_at
      FROM {{payments}}
     WHERE territory = ANY($1::text[]) AND status = $4
     ORDER BY payment_id, sequence DESC, changed_at DESC)
SELECT aid_type, territory, {PARIS_MONTH.format("changed_at")} AS month,
       COALESCE(sum(amount_cents), 0)::bigint AS paid
  FROM paid WHERE changed_at >= $2 AND changed_at < $3
 GROUP BY 1, 2, 3
"""
# Distinct persons after merges (person_aliases chains, as people.resolve follows them).
_HOUSEHOLDS_SQL = """
WITH RECURSIVE r AS (
    SELECT aid_request_id, person_id FROM {requests}
     WHERE territory = ANY($1::text[]) AND requested_at >= $2 AND requested_at < $3),
chain (start, id, depth) AS (
    SELECT DISTINCT person_id, person_id, 0 FROM r WHERE person_id IS NOT NULL
    UNION ALL
    SELECT c.start, a.keep_id, c.depth + 1 FROM chain c JOIN {aliases} a ON a.merged_id = c.id
     WHERE c.depth < 64),
resolved AS (SELECT DISTINCT ON (start) start, id FROM chain ORDER BY start, depth DESC)
SELECT (SELECT count(DISTINCT id) FROM resolved) + (SELECT count(*) FROM r WHERE person_id IS NULL)
"""
_OTHERS_SQL = """
SELECT (SELECT count(*) FROM {withdrawals}
         WHERE territory = ANY($1::text[]) AND withdrawn_at >= $2 AND withdrawn_at < $3) AS withdrawn,
       (SELECT count(*) FROM {loans}
         WHERE territory = ANY($1::text[]) AND set_up_at >= $2 AND set_up_at < $3) AS loans,
       (SELECT COALESCE(sum(amount_cents), 0)::bigint FROM {loans}
         WHERE territory = ANY($1::text[]) AND set_up_at >= $2 AND set_up_at < $3) AS loan_cents,
       (SELECT count(*) FROM {incidents}
         WHERE territory = ANY($1::text[]) AND at >= $2 AND at < $3) AS incidents
"""
_REFUSALS_SQL = """
SELECT refusal_reason, count(*) AS n FROM {decisions}
 WHERE territory = ANY($1::text[]) AND decided_at >= $2 AND decided_at < $3 AND decision = $4
 GROUP BY 1
"""
# Lines whose Paris year overlaps [start, end), as of the end.
_LINES_SQL = """
WITH l AS (
    SELECT * FROM {lines}
     WHERE territory = ANY($1::text[])
       AND make_timestamptz(year, 1, 1, 0, 0, 0, 'Europe/Paris') < $3
       AND make_timestamptz(year + 1, 1, 1, 0, 0, 0, 'Europe/Paris') > $2),
g AS (
    SELECT budget_line_id, sum(amount_granted_cents) AS granted FROM {decisions}
     WHERE budget_line_id IN (SELECT budget_line_id FROM l) AND decision = $4 AND decided_at < $3
     GROUP BY 1),
p AS (
    SELECT DISTINCT ON (payment_id) budget_line_id, amount_cents, status FROM {payments}
     WHERE budget_line_id IN (SELECT budget_line_id FROM l) AND changed_at < $3
     ORDER BY payment_id, sequence DESC, changed_at DESC, status COLLATE "C" DESC),
s AS (
    SELECT budget_line_id,
           sum(amount_cents) FILTER (WHERE status = $5) AS paid,
           sum(amount_cents) FILTER (WHERE status = $6) AS cancelled
      FROM p GROUP BY 1)
SELECT l.budget_line_id, l.territory, l.year, l.label, l.envelope_cents,
       (COALESCE(g.granted, 0) - COALESCE(s.cancelled, 0))::bigint AS committed,
       COALESCE(s.paid, 0)::bigint AS paid
  FROM l LEFT JOIN g USING (budget_line_id) LEFT JOIN s USING (budget_line_id)
 ORDER BY l.year, l.territory COLLATE "C", l.label COLLATE "C", l.budget_line_id COLLATE "C"
"""


def _add(table: dict[str, Breakdown], code: str) -> Breakdown:
    b = table.get(code)
    if b is None:
        b = table[code] = Breakdown(code)
    return b


def ordered_types(items: Iterable[Breakdown], type_order: Iterable[str]) -> list[Breakdown]:
    """In the deployment's order of the aid types, unknown codes after (by code)."""
    rank = {code: n for n, code in enumerate(type_order)}
    return sorted(items, key=lambda b: (rank.get(b.code, len(rank)), b.code))


def _ordered_communes(table: Mapping[str, Breakdown]) -> list[Breakdown]:
    return [table[c] for c in sorted(table, key=lambda c: (-table[c].requests, c))]


async def compute(
    conn: Connection,
    tables: Tables,
    territories: list[str],
    start: datetime,
    end: datetime,
) -> AidFigures:
    """The period's aid figures (and the previous period's refusals, for their shares)."""
    period = (territories, start, end)
    by: dict[str, dict[str, Breakdown]] = {"type": {}, "commune": {}, "month": {}}

    def rows_of(aid_type: str, territory: str, month: str) -> list[Breakdown]:
        return [_add(by["type"], aid_type), _add(by["commune"], territory), _add(by["month"], month)]

    requests = asked = granted = postponed = refused = urgent = granted_cents = paid_cents = 0
    for row in await conn.fetch(_REQUESTS_SQL.format(requests=tables.aid_requests), *period):
        n, cents = int(row["n"]), int(row["asked"])
        requests, asked = requests + n, asked + cents
        for b in rows_of(row["aid_type"], row["territory"], row["month"]):
            b.requests += n
            b.asked_cents += cents
    refusals: dict[str, int] = {}
    for row in await conn.fetch(_DECISIONS_SQL.format(decisions=tables.aid_decisions), *period):
        n, cents, decision = int(row["n"]), int(row["granted"]), row["decision"]
        if row["channel"] == DecisionChannel.URGENT:
            urgent += n
        for b in rows_of(row["aid_type"], row["territory"], row["month"]):
            if decision == Decision.GRANTED:
                b.granted += n
                b.granted_cents += cents
            elif decision == Decision.POSTPONED:
                b.postponed += n
            elif decision == Decision.REFUSED:
                b.refused += n
        if decision == Decision.GRANTED:
            granted, granted_cents = granted + n, granted_cents + cents
        elif decision == Decision.POSTPONED:
            postponed += n
        elif decision == Decision.REFUSED:
            refused += n
            refusals[row["refusal_reason"]] = refusals.get(row["refusal_reason"], 0) + n
    for row in await conn.fetch(_PAID_SQL.format(payments=tables.aid_payments), *period, PaymentStatus.PAID):
        cents = int(row["paid"])
        paid_cents += cents
        for b in rows_of(row["aid_type"], row["territory"], row["month"]):
            b.paid_cents += cents
    households = await conn.fetchval(
        _HOUSEHOLDS_SQL.format(requests=tables.aid_requests, aliases=tables.person_aliases), *period
    )
    others = await conn.fetchrow(
        _OTHERS_SQL.format(
            withdrawals=tables.aid_withdrawals, loans=tables.loans, incidents=tables.loan_incidents
        ),
        *period,
    )
    assert others is not None
    previous = await conn.fetch(
        _REFUSALS_SQL.format(decisions=tables.aid_decisions),
        territories,
        start - (end - start),
        start,
        Decision.REFUSED,
    )
    lines = await conn.fetch(
        _LINES_SQL.format(
            lines=tables.budget_lines, decisions=tables.aid_decisions, payments=tables.aid_payments
        ),
        *period,
        Decision.GRANTED,
        PaymentStatus.PAID,
        PaymentStatus.CANCELLED,
    )
    return AidFigures(
        requests=requests,
        granted=granted,
        postponed=postponed,
        refused=refused,
        withdrawn=int(others["withdrawn"]),
        urgent=urgent,
        asked_cents=asked,
        granted_cents=granted_cents,
        paid_cents=paid_cents,
        households=int(households),
        by_type=[by["type"][c] for c in sorted(by["type"])],  # see ordered_types
        by_commune=_ordered_communes(by["commune"]),
        by_month=[by["month"][m] for m in sorted(by["month"])],
        refusal_reasons=shares(refusals, {r["refusal_reason"]: int(r["n"]) for r in previous}, refused),
        budget_lines=[
            BudgetLine(
                r["budget_line_id"],
                r["territory"],
                int(r["year"]),
                r["label"],
                int(r["envelope_cents"]),
                int(r["committed"]),
                int(r["paid"]),
            )
            for r in lines
        ],
        loans=int(others["loans"]),
        loan_cents=int(others["loan_cents"]),
        loan_incidents=int(others["incidents"]),
    )
