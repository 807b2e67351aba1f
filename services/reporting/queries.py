"""Read queries over the fact tables."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from kernel.db import Connection
from services.reporting.projection.tables import LIVE


@dataclass(frozen=True)
class Period:
    territories: list[str]
    start: datetime | None
    end: datetime | None


async def motif_counts(conn: Connection, period: Period) -> tuple[int, list[tuple[str, int]]]:
    where = """territory = ANY($1::text[]) AND opened_at IS NOT NULL
               AND ($2::timestamptz IS NULL OR opened_at >= $2)
               AND ($3::timestamptz IS NULL OR opened_at < $3)"""
    args = (period.territories, period.start, period.end)
    total = await conn.fetchval(f"SELECT count(*) FROM {LIVE.dossiers} WHERE {where}", *args)
    rows = await conn.fetch(
        f"""SELECT motif, count(*) AS n FROM {LIVE.dossiers}, unnest(motifs) AS motif
             WHERE {where} GROUP BY motif ORDER BY n DESC, motif""",
        *args,
    )
    return int(total), [(row["motif"], int(row["n"])) for row in rows]
