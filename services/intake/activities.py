"""Intake's activities, run on the `intake` task queue. Idempotent: keyed by the
workflow id and step, so a retry after a commit changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime

from entraide.v1 import events_pb2
from google.protobuf.timestamp_pb2 import Timestamp
from temporalio import activity

from kernel import outbox
from kernel.db import Pool
from kernel.events import new_event, step_event_id
from services.intake import repository
from workflows.contracts import RecordOpened

SOURCE = "entraide/intake"


class IntakeActivities:
    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    @activity.defn(name="intake.record_dossier_opened")
    async def record_dossier_opened(self, command: RecordOpened) -> str:
        spec = command.spec
        async with self.pool.acquire() as conn, conn.transaction():
            existing = await repository.get_dossier(conn, spec.dossier_id)
            if existing is not None:
                opened_at: datetime = existing["opened_at"]
                return opened_at.isoformat()
            opened_at = datetime.now(UTC)
            await repository.insert_dossier(conn, spec, opened_at)
            stamp = Timestamp()
            stamp.FromDatetime(opened_at)
            payload = events_pb2.DossierOpened(
                dossier_id=spec.dossier_id,
                territory=spec.territory,
                site=spec.site,
                motifs=spec.motifs,
                arrival_channel=spec.arrival_channel,
                urgent=spec.urgent,
                opened_at=stamp,
            )
            await outbox.write(
                conn,
                repository.SCHEMA,
                new_event(
                    "entraide.dossier.opened",
                    SOURCE,
                    spec.dossier_id,
                    payload,
                    event_id=step_event_id(command.workflow_id, "opened"),
                    time=opened_at,
                ),
            )
            return opened_at.isoformat()
