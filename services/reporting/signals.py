"""The bilan's signals figures ("aller vers"), from the signal facts (migration 008).

Definitions (a period is [start, end); the caller's territories filter the signals by
the commune they concern):
- received: signals submitted in the period; of those, qualified (any status but
  received, at the time of the report), dossiers opened (contacted: a dossier was opened
  from the signal) and escalated (not qualified in time, whatever followed);
- by commune, by signaller kind (domain.signals.SignallerKind), by status (the latest
  qualification, received while none): counts of the signals received, with their
  percentage of the received and the previous period's count.
The previous period is the one of equal length just before.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from domain.signals import SignalStatus
from kernel.db import Connection
from services.reporting.projection.tables import Tables
from services.reporting.shares import Share, shares

# (commune, signaller kind, status, escalated) → signals received
Grouped = dict[tuple[str, str, str, bool], int]


@dataclass(frozen=True)
class SignalFigures:
    received: int = 0
    qualified: int = 0
    dossiers_opened: int = 0
    escalated: int = 0
    previous_received: int = 0
    by_commune: list[Share] = field(default_factory=list)
    by_signaller: list[Share] = field(default_factory=list)
    by_status: list[Share] = field(default_factory=list)


async def grouped(
    conn: Connection, tables: Tables, territories: list[str], start: datetime, end: datetime
) -> Grouped:
    rows = await conn.fetch(
        f"""SELECT territory, COALESCE(signaller_kind, '') AS kind, COALESCE(status, $4) AS status,
                   escalated_at IS NOT NULL AS escalated, count(*) AS n
              FROM {tables.signals}
             WHERE territory = ANY($1::text[]) AND submitted_at >= $2 AND submitted_at < $3
             GROUP BY 1, 2, 3, 4""",
        territories,
        start,
        end,
        SignalStatus.RECEIVED,
    )
    return {(r["territory"], r["kind"], r["status"], r["escalated"]): int(r["n"]) for r in rows}


def _by(g: Grouped, index: int) -> Counter[str]:
    out: Counter[str] = Counter()
    for key, n in g.items():
        out[str(key[index])] += n
    return out


def figures(now: Grouped, before: Grouped) -> SignalFigures:
    received = sum(now.values())
    by_status = _by(now, 2)
    return SignalFigures(
        received=received,
        qualified=received - by_status.get(SignalStatus.RECEIVED, 0),
        dossiers_opened=by_status.get(SignalStatus.CONTACTED, 0),
        escalated=sum(n for key, n in now.items() if key[3]),
        previous_received=sum(before.values()),
        by_commune=shares(_by(now, 0), _by(before, 0), received),
        by_signaller=shares(_by(now, 1), _by(before, 1), received),
        by_status=shares(by_status, _by(before, 2), received),
    )
