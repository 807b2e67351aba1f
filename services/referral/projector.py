"""The referral service's read model of dossiers (territory and motifs, codes only), fed
by intake's events: SuggestPartners and CreateReferral never read intake's tables."""

from __future__ import annotations

from datetime import UTC

from entraide.v1 import events_pb2

from kernel.db import Connection
from kernel.events import Event
from services.referral.schema import SCHEMA

CONSUMER = "referral-dossiers"


async def project(conn: Connection, event: Event) -> None:
    if event.type == "entraide.dossier.opened":
        opened = event.parse(events_pb2.DossierOpened)
        await conn.execute(
            f"""INSERT INTO {SCHEMA}.dossiers (dossier_id, territory, motifs, updated_at)
                VALUES ($1, $2, $3, $4) ON CONFLICT (dossier_id) DO NOTHING""",
            opened.dossier_id,
            opened.territory,
            list(opened.motifs),
            opened.opened_at.ToDatetime(tzinfo=UTC),
        )
    elif event.type == "entraide.dossier.ecoute_completed":
        completed = event.parse(events_pb2.EcouteCompleted)
        if not completed.motifs:
            return
        at = completed.at.ToDatetime(tzinfo=UTC)
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
            at,
        )
