"""SQL of the signals. Row-level security (migration 015): a caller sees its communes'
signals; a signaller (signaleur, elu) only those it submitted; the attempts are the
CIAS's."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import asyncpg

from domain.signals import SignalStatus
from kernel.db import Connection
from services.intake.schema import SCHEMA
from services.intake.signals.validation import NewSignal


async def signal_territory(conn: Connection, signal_id: str) -> str | None:
    """Existence and commune only, whoever asks (for a clear PERMISSION_DENIED)."""
    value = await conn.fetchval(f"SELECT {SCHEMA}.signal_territory($1)", uuid.UUID(signal_id))
    return str(value) if value is not None else None


async def insert(
    conn: Connection,
    signal_id: str,
    new: NewSignal,
    submitted_by: str,
    kind: str,
    label: str,
    at: datetime,
) -> tuple[asyncpg.Record, bool]:
    """The signal's row; on a retried request, the row it wrote with False."""
    row = await conn.fetchrow(
        f"""INSERT INTO {SCHEMA}.signals
                (signal_id, territory, submitted_by, signaller_kind, signaller_label, first_name, last_name,
                 phone, email, address_line, description, consent_to_contact, submitted_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
            ON CONFLICT (signal_id) DO NOTHING
            RETURNING *""",
        uuid.UUID(signal_id),
        new.territory,
        submitted_by,
        kind,
        label,
        new.first_name,
        new.last_name,
        new.phone,
        new.email,
        new.address_line,
        new.description,
        new.consent_to_contact,
        at,
    )
    if row is not None:
        return row, True
    existing = await get(conn, signal_id)
    assert existing is not None, "the conflicting row is the caller's own (its id derives from the caller)"
    return existing, False


def same_request(row: asyncpg.Record, new: NewSignal) -> bool:
    return (
        row["territory"],
        row["first_name"],
        row["last_name"],
        row["phone"],
        row["email"],
        row["address_line"],
        row["description"],
        row["consent_to_contact"],
    ) == (
        new.territory,
        new.first_name,
        new.last_name,
        new.phone,
        new.email,
        new.address_line,
        new.description,
        new.consent_to_contact,
    )


async def get(conn: Connection, signal_id: str, for_update: bool = False) -> asyncpg.Record | None:
    lock = " FOR UPDATE" if for_update else ""
    return await conn.fetchrow(
        f"SELECT * FROM {SCHEMA}.signals WHERE signal_id = $1{lock}", uuid.UUID(signal_id)
    )


async def mine(conn: Connection, subject: str, limit: int = 500) -> list[asyncpg.Record]:
    """The caller's own signals, newest first (row-level security agrees)."""
    return await conn.fetch(
        f"""SELECT signal_id, territory, status, contact_attempts, submitted_at FROM {SCHEMA}.signals
             WHERE submitted_by = $1 ORDER BY submitted_at DESC, signal_id LIMIT $2""",
        subject,
        limit,
    )


async def queue(
    conn: Connection, territories: Sequence[str], include_closed: bool, limit: int = 500
) -> list[asyncpg.Record]:
    """The CIAS's queue: unqualified first (escalated ones first among them), oldest first."""
    return await conn.fetch(
        f"""SELECT * FROM {SCHEMA}.signals
             WHERE territory = ANY($1::text[]) AND ($2 OR status = $3)
             ORDER BY (status = $3) DESC, (escalated_at IS NOT NULL) DESC, submitted_at, signal_id
             LIMIT $4""",
        list(territories),
        include_closed,
        SignalStatus.RECEIVED.value,
        limit,
    )


async def add_attempt(
    conn: Connection, attempt_id: str, signal_id: str, territory: str, agent: str, at: datetime
) -> bool:
    """One attempt per request: False when this request's attempt is already counted."""
    added = await conn.fetchval(
        f"""INSERT INTO {SCHEMA}.signal_attempts (attempt_id, signal_id, territory, agent, at)
            VALUES ($1, $2, $3, $4, $5) ON CONFLICT (attempt_id) DO NOTHING RETURNING true""",
        uuid.UUID(attempt_id),
        uuid.UUID(signal_id),
        territory,
        agent,
        at,
    )
    if added:
        await conn.execute(
            f"UPDATE {SCHEMA}.signals SET contact_attempts = contact_attempts + 1 WHERE signal_id = $1",
            uuid.UUID(signal_id),
        )
    return bool(added)


async def qualify(
    conn: Connection,
    signal_id: str,
    status: SignalStatus,
    agent: str,
    at: datetime,
    request_key: str,
    dossier_id: str,
    person_id: str,
) -> asyncpg.Record:
    row = await conn.fetchrow(
        f"""UPDATE {SCHEMA}.signals
               SET status = $2, qualified_by = $3, qualified_at = $4, request_key = $5,
                   dossier_id = $6, person_id = $7
             WHERE signal_id = $1 AND status = 'received'
         RETURNING *""",
        uuid.UUID(signal_id),
        status.value,
        agent,
        at,
        request_key or None,
        uuid.UUID(dossier_id) if dossier_id else None,
        uuid.UUID(person_id) if person_id else None,
    )
    assert row is not None, "the caller locked the row and saw it received"
    return row


async def escalate(conn: Connection, signal_id: str) -> asyncpg.Record | None:
    """Marks an unqualified signal escalated, once; None when qualified or already done."""
    return await conn.fetchrow(
        f"""UPDATE {SCHEMA}.signals SET escalated_at = now()
             WHERE signal_id = $1 AND status = 'received' AND escalated_at IS NULL
         RETURNING signal_id, territory, escalated_at""",
        uuid.UUID(signal_id),
    )


# Identity, contact and description: what erasure removes (codes, dates and statuses stay).
_ERASE = (
    "first_name = NULL, last_name = NULL, phone = NULL, email = NULL, address_line = NULL,"
    " description = '', anonymised_at = $2"
)


async def of_persons(conn: Connection, person_ids: Sequence[uuid.UUID]) -> list[asyncpg.Record]:
    """The signals that led to these persons (for their export)."""
    return list(
        await conn.fetch(
            f"""SELECT * FROM {SCHEMA}.signals WHERE person_id = ANY($1::uuid[])
                 ORDER BY submitted_at, signal_id""",
            list(person_ids),
        )
    )


async def erase_of_persons(conn: Connection, person_ids: Sequence[uuid.UUID], at: datetime) -> int:
    """Erases the signals that led to these persons; returns how many were erased now."""
    status = await conn.execute(
        f"""UPDATE {SCHEMA}.signals SET {_ERASE}
             WHERE person_id = ANY($1::uuid[]) AND anonymised_at IS NULL""",
        list(person_ids),
        at,
    )
    return int(status.rsplit(" ", 1)[-1])


async def erase_older_than(conn: Connection, cutoff: datetime, limit: int, at: datetime) -> int:
    """One retention batch: erases up to `limit` signals last changed (submitted, or
    qualified) before `cutoff`; returns how many."""
    status = await conn.execute(
        f"""UPDATE {SCHEMA}.signals SET {_ERASE}
             WHERE signal_id IN (
                 SELECT signal_id FROM {SCHEMA}.signals
                  WHERE anonymised_at IS NULL AND coalesce(qualified_at, submitted_at) < $1
                  ORDER BY coalesce(qualified_at, submitted_at), signal_id
                  LIMIT $3
                  FOR UPDATE SKIP LOCKED)""",
        cutoff,
        at,
        limit,
    )
    return int(status.rsplit(" ", 1)[-1])
