"""SQL of the documents' rows, and their deletion. Deleting a document erases its sealed
data key in the row at once (crypto-shredding: the bytes, wherever a copy lies, can no
longer be opened), inside the caller's transaction; the store's file is removed after
commit by `purge_files` (the retention run does it for every deleted row)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime, timedelta

from domain.aides import DEFAULT_AID_DOCUMENT_RETENTION_DAYS
from domain.planning import PARIS
from kernel.db import Connection
from services.intake.documents.storage import DocumentStore
from services.intake.schema import SCHEMA

_SHRED = "deleted_at = $2, wrapped_key = '\\x'::bytea"


async def set_delete_after_for_aid(
    conn: Connection,
    aid_request_id: str,
    decided_at: datetime,
    days: int = DEFAULT_AID_DOCUMENT_RETENTION_DAYS,
) -> None:
    """An aid request's documents are kept `days` after its decision."""
    until = decided_at.astimezone(PARIS).date() + timedelta(days=days)
    await conn.execute(
        f"""UPDATE {SCHEMA}.documents SET delete_after = $2
             WHERE owner_kind = 'aid_request' AND owner_id = $1 AND deleted_at IS NULL""",
        uuid.UUID(aid_request_id),
        until,
    )


async def shred_owned(
    conn: Connection,
    at: datetime,
    *,
    persons: Sequence[uuid.UUID] = (),
    dossiers: Sequence[uuid.UUID] = (),
) -> int:
    """Deletes the documents of these persons, of these dossiers and of the aid requests
    of those dossiers (the person's anonymisation); returns how many."""
    status = await conn.execute(
        f"""UPDATE {SCHEMA}.documents SET {_SHRED}
             WHERE deleted_at IS NULL AND (
                   (owner_kind = 'person' AND owner_id = ANY($1::uuid[]))
                OR (owner_kind = 'dossier' AND owner_id = ANY($3::uuid[]))
                OR (owner_kind = 'aid_request' AND owner_id IN (
                        SELECT aid_request_id FROM {SCHEMA}.aid_requests
                         WHERE dossier_id = ANY($3::uuid[]))))""",
        list(persons),
        at,
        list(dossiers),
    )
    return int(status.rsplit(" ", 1)[-1])


async def shred_due(conn: Connection, today: date, at: datetime, limit: int) -> int:
    """Documents past their `delete_after`: deleted (a retention batch)."""
    status = await conn.execute(
        f"""UPDATE {SCHEMA}.documents SET deleted_at = $2, wrapped_key = '\\x'::bytea
             WHERE document_id IN (SELECT document_id FROM {SCHEMA}.documents
                                    WHERE deleted_at IS NULL AND delete_after <= $1
                                    ORDER BY delete_after, document_id LIMIT $3 FOR UPDATE SKIP LOCKED)""",
        today,
        at,
        limit,
    )
    return int(status.rsplit(" ", 1)[-1])


async def purge_files(conn: Connection, store: DocumentStore, at: datetime, limit: int) -> int:
    """Removes the store's files of deleted documents not purged yet; returns how many."""
    rows = await conn.fetch(
        f"""SELECT document_id, storage_key FROM {SCHEMA}.documents
             WHERE deleted_at IS NOT NULL AND purged_at IS NULL
             ORDER BY deleted_at, document_id LIMIT $1 FOR UPDATE SKIP LOCKED""",
        limit,
    )
    for row in rows:
        await store.delete(row["storage_key"])
        await conn.execute(
            f"UPDATE {SCHEMA}.documents SET purged_at = $2 WHERE document_id = $1", row["document_id"], at
        )
    return len(rows)
