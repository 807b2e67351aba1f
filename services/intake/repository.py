"""SQL for intake's own tables."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from kernel.db import Connection
from workflows.contracts import DossierSpec

SCHEMA = "intake"


async def insert_dossier(conn: Connection, spec: DossierSpec, opened_at: datetime) -> bool:
    status = await conn.execute(
        f"""INSERT INTO {SCHEMA}.dossiers
                (dossier_id, territory, site, motifs, arrival_channel, urgent, stage, opened_at, updated_at)
            VALUES ($1, $2, $3, $4, $5, $6, 'reception', $7, $7)
            ON CONFLICT (dossier_id) DO NOTHING""",
        spec.dossier_id,
        spec.territory,
        spec.site,
        spec.motifs,
        spec.arrival_channel,
        spec.urgent,
        opened_at,
    )
    return status.endswith(" 1")


async def get_dossier(conn: Connection, dossier_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT * FROM {SCHEMA}.dossiers WHERE dossier_id = $1", dossier_id)
