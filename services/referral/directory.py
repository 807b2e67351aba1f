"""The partner directory's SQL."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import asyncpg

from kernel.db import Connection

SCHEMA = "referral"


async def upsert_partners(conn: Connection, partners: Iterable[Mapping[str, Any]]) -> int:
    count = 0
    for p in partners:
        await conn.execute(
            f"""INSERT INTO {SCHEMA}.partners (partner_id, name, kind, motifs, territories)
                VALUES ($1, $2, $3, $4, $5)
                ON CONFLICT (partner_id) DO UPDATE SET name = EXCLUDED.name, kind = EXCLUDED.kind,
                    motifs = EXCLUDED.motifs, territories = EXCLUDED.territories, updated_at = now()""",
            p["partner_id"],
            p["name"],
            p["kind"],
            list(p["motifs"]),
            list(p["territories"]),
        )
        count += 1
    return count


async def list_partners(conn: Connection, motif: str | None, territory: str | None) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"""SELECT * FROM {SCHEMA}.partners
             WHERE ($1::text IS NULL OR $1 = ANY(motifs))
               AND ($2::text IS NULL OR $2 = ANY(territories))
             ORDER BY name""",
        motif,
        territory,
    )
