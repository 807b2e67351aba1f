"""The referral service's read model of dossiers (territory and motifs, codes only), fed
by intake's events: SuggestPartners and CreateReferral never read intake's tables."""

from __future__ import annotations

from datetime import UTC

from entraide.v1 import events_pb2

from domain.events import EventType
from kernel.db import Connection
from kernel.events import Event
from services.referral.schema import SCHEMA

CONSUMER = "referral-dossiers"
# The dossier events this read model keeps something of; the others are skipped.
PROJECTED = frozenset({EventType.DOSSIER_OPENED, EventType.ECOUTE_COMPLETED})


async def project(conn: Connection, event: Event) -> None:
    if event.type not in PROJECTED:
        return
    match event.payload():
        case events_pb2.DossierOpened() as opened:
            await _opened(conn, opened)
        case events_pb2.EcouteCompleted() as completed:
            await _ecoute_completed(conn, completed)


async def _opened(conn: Connection, opened: events_pb2.DossierOpened) -> None:
    await conn.execute(
        f"""INSERT INTO {SCHEMA}.dossiers (dossier_id, territory, motifs, updated_at)
            VALUES ($1, $2, $3, $4) ON CONFLICT (dossier_id) DO NOTHING""",
        opened.dossier_id,
        opened.territory,
        list(opened.motifs),
        opened.opened_at.ToDatetime(tzinfo=UTC),
    )


async def _ecoute_completed(conn: Connection, completed: events_pb2.EcouteCompleted) -> None:
    if not completed.motifs:
        return
    # Latest wins; an ecoute_completed before its opened creates the row (opened then skips).
    await conn.execute(
        f"""INSERT INTO {SCHEMA}.dossiers (dossier_id, territory, motifs, updated_at)
            VALUES ($1, $2, $3, $4)
            ON CONFLICT (dossier_id) DO UPDATE
                SET motifs = EXCLUDED.motifs, updated_at = EXCLUDED.updated_at
             WHERE {SCHEMA}.dossiers.updated_at <= EXCLUDED.updated_at""",
        completed.dossier_id,
        completed.territory,
        list(completed.motifs),
        completed.at.ToDatetime(tzinfo=UTC),
    )
