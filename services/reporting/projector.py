"""Projects domain events into reporting's fact tables (called inside the consumer's
transaction, after the inbox insert: each event applies once)."""

from __future__ import annotations

from datetime import UTC

from entraide.v1 import events_pb2

from kernel.db import Connection
from kernel.events import Event

SCHEMA = "reporting"
CONSUMER = "reporting-projector"


async def project(conn: Connection, event: Event) -> None:
    if event.type == "entraide.dossier.opened":
        await _dossier_opened(conn, event.parse(events_pb2.DossierOpened))
    # Other event types are not projected (yet): acknowledged and skipped.


async def _dossier_opened(conn: Connection, data: events_pb2.DossierOpened) -> None:
    if not data.dossier_id or not data.motifs:
        raise ValueError("dossier.opened without dossier id or motifs")
    await conn.execute(
        f"""INSERT INTO {SCHEMA}.dossier_facts
                (dossier_id, territory, site, motifs, arrival_channel, urgent, opened_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7)
            ON CONFLICT (dossier_id) DO NOTHING""",
        data.dossier_id,
        data.territory,
        data.site,
        list(data.motifs),
        data.arrival_channel,
        data.urgent,
        data.opened_at.ToDatetime(tzinfo=UTC),
    )
