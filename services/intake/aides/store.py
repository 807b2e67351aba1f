"""SQL of the aid requests, commissions, budget lines and payments. Row-level
security (migration 017) scopes every read to the caller's communes."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import asyncpg

from kernel.db import Connection
from services.intake.schema import SCHEMA


def _id(value: str) -> uuid.UUID:
    return uuid.UUID(value)


async def insert(conn: Connection, table: str, values: dict[str, object], key: str) -> bool:
    """Inserts the row unless its key (or request key) is there: False on a repeat."""
    columns = ", ".join(values)
    marks = ", ".join(f"${i}" for i in range(1, len(values) + 1))
    done = await conn.fetchval(
        f"INSERT INTO {SCHEMA}.{table} ({columns}) VALUES ({marks}) ON CONFLICT DO NOTHING RETURNING {key}",
        *values.values(),
    )
    return done is not None


async def update(
    conn: Connection, table: str, key: str, key_value: object, values: dict[str, object]
) -> None:
    sets = ", ".join(f"{column} = ${i}" for i, column in enumerate(values, start=2))
    await conn.execute(f"UPDATE {SCHEMA}.{table} SET {sets} WHERE {key} = $1", key_value, *values.values())


async def territory_of(conn: Connection, function: str, row_id: str) -> str | None:
    """Existence and commune only, whoever asks (dossier_territory, aid_request_territory)."""
    value = await conn.fetchval(f"SELECT {SCHEMA}.{function}($1)", _id(row_id))
    return str(value) if value is not None else None


async def dossier(conn: Connection, dossier_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"""SELECT d.dossier_id, d.person_id, d.territory, d.stage, p.first_name, p.last_name
              FROM {SCHEMA}.dossiers d LEFT JOIN {SCHEMA}.persons p ON p.person_id = d.person_id
             WHERE d.dossier_id = $1""",
        _id(dossier_id),
    )


_REQUEST = f"""r.*, p.first_name, p.last_name
    FROM {SCHEMA}.aid_requests r LEFT JOIN {SCHEMA}.persons p ON p.person_id = r.person_id"""


async def aid_request(
    conn: Connection, aid_request_id: str, for_update: bool = False
) -> asyncpg.Record | None:
    if for_update:
        return await conn.fetchrow(
            f"SELECT * FROM {SCHEMA}.aid_requests WHERE aid_request_id = $1 FOR UPDATE", _id(aid_request_id)
        )
    return await conn.fetchrow(f"SELECT {_REQUEST} WHERE r.aid_request_id = $1", _id(aid_request_id))


async def aid_requests(
    conn: Connection,
    *,
    dossier_id: str = "",
    territories: Sequence[str] = (),
    statuses: Sequence[str] = (),
    limit: int = 100,
) -> list[asyncpg.Record]:
    if dossier_id:
        return list(
            await conn.fetch(
                f"SELECT {_REQUEST} WHERE r.dossier_id = $1 ORDER BY r.created_at", _id(dossier_id)
            )
        )
    return list(
        await conn.fetch(
            f"""SELECT {_REQUEST} WHERE r.territory = ANY($1::text[])
                  AND (cardinality($2::text[]) = 0 OR r.status = ANY($2::text[]))
                ORDER BY r.created_at DESC, r.aid_request_id LIMIT $3""",
            list(territories),
            list(statuses),
            limit,
        )
    )


async def change_done(conn: Connection, request_key: str) -> bool:
    if not request_key:
        return False
    return bool(
        await conn.fetchval(f"SELECT 1 FROM {SCHEMA}.aid_request_changes WHERE request_key = $1", request_key)
    )


async def insert_change(
    conn: Connection,
    aid_request_id: str,
    version: int,
    territory: str,
    change: str,
    actor: str,
    at: datetime,
    request_key: str,
) -> None:
    await conn.execute(
        f"""INSERT INTO {SCHEMA}.aid_request_changes
                (aid_request_id, version, territory, change, actor, at, request_key)
            VALUES ($1, $2, $3, $4, $5, $6, $7)""",
        _id(aid_request_id),
        version,
        territory,
        change,
        actor,
        at,
        request_key or None,
    )


async def put_timeline(
    conn: Connection,
    dossier_id: object,
    entry_key: str,
    aid_request_id: str,
    territory: str,
    kind: str,
    actor: str,
    at: datetime,
    summary: str,
) -> None:
    await conn.execute(
        f"""INSERT INTO {SCHEMA}.aid_timeline
                (dossier_id, entry_key, aid_request_id, territory, kind, stage, actor, at, summary)
            SELECT $1, $2, $3, $4, $5, d.stage, $6, $7, $8 FROM {SCHEMA}.dossiers d WHERE d.dossier_id = $1
            ON CONFLICT (dossier_id, entry_key) DO NOTHING""",
        dossier_id,
        entry_key,
        _id(aid_request_id),
        territory,
        kind,
        actor,
        at,
        summary,
    )


async def timeline_entries(conn: Connection, dossier_id: str) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            f"SELECT * FROM {SCHEMA}.aid_timeline WHERE dossier_id = $1 ORDER BY at, entry_key",
            _id(dossier_id),
        )
    )


async def household_granted(
    conn: Connection, person_id: object, aid_type: str, year: int, excluding: str
) -> int:
    """What the person's household (the person and the members of their households)
    was granted of this aid type in the decision's year (Paris), other requests."""
    value = await conn.fetchval(
        f"""WITH household AS (
                SELECT $1::uuid AS person_id
                UNION SELECT m2.person_id FROM {SCHEMA}.household_members m1
                        JOIN {SCHEMA}.household_members m2 ON m2.household_id = m1.household_id
                       WHERE m1.person_id = $1)
            SELECT coalesce(sum(r.amount_granted_cents), 0) FROM {SCHEMA}.aid_requests r
             WHERE r.person_id IN (SELECT person_id FROM household) AND r.aid_type = $2
               AND r.decision = 'granted' AND r.aid_request_id <> $4
               AND extract(year FROM r.decided_at AT TIME ZONE 'Europe/Paris') = $3""",
        person_id,
        aid_type,
        year,
        _id(excluding),
    )
    return int(value)


async def payments_of(conn: Connection, aid_request_ids: Sequence[object]) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            f"""SELECT * FROM {SCHEMA}.payments WHERE aid_request_id = ANY($1::uuid[])
                 ORDER BY created_at, payment_id""",
            list(aid_request_ids),
        )
    )


async def commission(conn: Connection, commission_id: str, for_update: bool = False) -> asyncpg.Record | None:
    lock = " FOR UPDATE" if for_update else ""
    return await conn.fetchrow(
        f"SELECT * FROM {SCHEMA}.commissions WHERE commission_id = $1{lock}", _id(commission_id)
    )


async def agenda(conn: Connection, commission_ids: Sequence[object]) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            f"""SELECT {_REQUEST} WHERE r.commission_id = ANY($1::uuid[])
                 ORDER BY r.updated_at, r.aid_request_id""",
            list(commission_ids),
        )
    )


async def line_for(conn: Connection, territory: str, year: int, aid_type: str) -> str | None:
    value = await conn.fetchval(
        f"""SELECT budget_line_id FROM {SCHEMA}.budget_line_types
             WHERE territory = $1 AND year = $2 AND aid_type = $3""",
        territory,
        year,
        aid_type,
    )
    return str(value) if value is not None else None


async def budget_line(
    conn: Connection, budget_line_id: str, for_update: bool = False
) -> asyncpg.Record | None:
    lock = " FOR UPDATE" if for_update else ""
    return await conn.fetchrow(
        f"SELECT * FROM {SCHEMA}.budget_lines WHERE budget_line_id = $1{lock}", _id(budget_line_id)
    )
