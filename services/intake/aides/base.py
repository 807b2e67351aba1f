"""What every AidService handler shares: its dependencies, the lookups that answer
NOT_FOUND / PERMISSION_DENIED in French, and a request's change written with its
history row, its timeline row and its event in the caller's transaction, then told to
the request's workflow. Each group of methods is a mixin of its own module
(requests_api, commissions_api, decisions_api, budget_api), composed in servicer.py."""

from __future__ import annotations

from datetime import datetime

import asyncpg
from google.protobuf.message import Message
from temporalio.client import Client

from domain.aides import AidRequestStatus
from domain.events import EventType
from domain.labels_fr import AID_STATUS_LABELS
from kernel import outbox
from kernel.db import Connection, ScopedPool
from kernel.errors import FailedPrecondition, NotFound, PermissionDenied
from kernel.events import new_event, step_event_id
from kernel.grpc_server import Context, remaining
from kernel.reference import ReferenceData
from services.intake.aides import store, workflow_calls
from services.intake.aides.settings import AidSettings
from services.intake.schema import SCHEMA
from workflows.contracts import AidProgress, aid_request_workflow_id

SOURCE = "entraide/intake"


def not_yours(what_fr: str, field: str) -> PermissionDenied:
    return PermissionDenied(
        f"{field}: of a commune that is not one of yours",
        fr=f"{what_fr.capitalize()} relève d'une commune qui ne fait pas partie des vôtres.",
        reason="TERRITORY_NOT_ASSIGNED",
        field=field,
    )


def not_found(what_fr: str, field: str) -> NotFound:
    return NotFound(
        f"{field}: not found", fr=f"{what_fr.capitalize()} est introuvable.", reason="NOT_FOUND", field=field
    )


async def emit(
    conn: Connection, event_type: EventType, subject: str, key: str, payload: Message, at: datetime
) -> None:
    """An event whose id derives from its aggregate and `key` (a retried change writes
    nothing twice)."""
    event = new_event(
        event_type, SOURCE, subject, payload, event_id=step_event_id(key, str(event_type)), time=at
    )
    await outbox.write(conn, SCHEMA, event)


def wrong_status(status: str, what_fr: str) -> FailedPrecondition:
    label = AID_STATUS_LABELS.get(AidRequestStatus(status), status)
    return FailedPrecondition(
        f"the request is {status}: {what_fr} is not possible",
        fr=f"La demande est « {label} » : impossible de {what_fr}.",
        reason="WRONG_STATUS",
        field="aid_request_id",
    )


class AidBase:
    pool: ScopedPool
    temporal: Client
    reference: ReferenceData
    settings: AidSettings

    async def request_row(
        self, conn: Connection, aid_request_id: str, for_update: bool = False
    ) -> asyncpg.Record:
        row = await store.aid_request(conn, aid_request_id, for_update)
        if row is None:
            if await store.territory_of(conn, "aid_request_territory", aid_request_id) is not None:
                raise not_yours("cette demande d'aide", "aid_request_id")
            raise not_found("cette demande d'aide", "aid_request_id")
        return row

    async def changed(
        self,
        conn: Connection,
        row: asyncpg.Record,
        *,
        values: dict[str, object],
        change: str,
        actor: str,
        at: datetime,
        request_key: str,
        summary: str,
        event: tuple[EventType, Message] | None = None,
    ) -> int:
        """Writes the change (version + 1), its history, timeline row and event; returns
        the new version. `values` must hold the new `status` when it changes."""
        version = int(row["version"]) + 1
        aid_request_id = str(row["aid_request_id"])
        await store.update(
            conn,
            "aid_requests",
            "aid_request_id",
            row["aid_request_id"],
            {**values, "version": version, "updated_at": at},
        )
        await store.insert_change(
            conn, aid_request_id, version, row["territory"], change, actor, at, request_key
        )
        await store.put_timeline(
            conn,
            row["dossier_id"],
            f"{aid_request_id}:{version}",
            aid_request_id,
            row["territory"],
            f"aid_{change}",
            actor,
            at,
            summary,
        )
        if event is not None:
            event_type, payload = event
            await emit(
                conn,
                event_type,
                aid_request_id,
                f"{aid_request_workflow_id(aid_request_id)}/{version}",
                payload,
                at,
            )
        return version

    async def tell_current(self, aid_request_id: str, context: Context) -> None:
        """Tells the workflow where the request stands now: after a change, and again
        on a retry of it (the first call may have failed before telling; the workflow
        ignores a version it knows)."""
        async with self.pool.acquire() as conn:
            row = await store.aid_request(conn, aid_request_id)
        if row is not None:
            await self.tell(aid_request_id, row["status"], row["updated_at"], row["version"], context)

    async def tell(
        self, aid_request_id: str, status: str, at: datetime, version: int, context: Context
    ) -> None:
        await workflow_calls.changed(
            self.temporal, aid_request_id, AidProgress(status, at.isoformat(), version), remaining(context)
        )
