"""SQL of the collective actions (migration 014). Row-level security by territory
applies to every table: callers see their communes' rows only. Every change of a
programme runs with its programme row locked (`programme(..., for_update=True)`), so
two concurrent enrolments cannot both take the last place."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime

import asyncpg

from domain.collective import EnrolmentStatus
from kernel.db import Connection
from services.intake.schema import SCHEMA

_ENROLMENT = f"""e.*, coalesce(p.first_name || ' ' || p.last_name, '') AS person_label
    FROM {SCHEMA}.enrolments e LEFT JOIN {SCHEMA}.persons p ON p.person_id = e.person_id"""


def _id(value: str) -> uuid.UUID:
    return uuid.UUID(value)


async def insert(conn: Connection, table: str, values: dict[str, object], key: str) -> bool:
    """False when the row (its id derived from the request) is already there."""
    columns = list(values)
    casts = ["::jsonb" if c == "facilitators" else "" for c in columns]
    status = await conn.execute(
        f"""INSERT INTO {SCHEMA}.{table} ({", ".join(columns)})
            VALUES ({", ".join(f"${n}{cast}" for n, cast in enumerate(casts, start=1))})
            ON CONFLICT ({key}) DO NOTHING""",
        *[json.dumps(v) if c == "facilitators" else v for c, v in values.items()],
    )
    return bool(status.endswith(" 1"))


async def update(conn: Connection, table: str, key: str, key_value: str, values: dict[str, object]) -> None:
    sets = ", ".join(f"{column} = ${n}" for n, column in enumerate(values, start=2))
    await conn.execute(
        f"UPDATE {SCHEMA}.{table} SET {sets} WHERE {key} = $1", _id(key_value), *values.values()
    )


def facilitators_of(row: asyncpg.Record) -> list[dict[str, str]]:
    raw = row["facilitators"]
    value = json.loads(raw) if isinstance(raw, str) else raw
    return list(value or [])


# ---- programmes -----------------------------------------------------------------------
async def programme_territory(conn: Connection, programme_id: str) -> str | None:
    """Whatever the caller's communes (for a clear PERMISSION_DENIED)."""
    territory: str | None = await conn.fetchval(f"SELECT {SCHEMA}.programme_territory($1)", _id(programme_id))
    return territory


async def programme(conn: Connection, programme_id: str, for_update: bool = False) -> asyncpg.Record | None:
    lock = " FOR UPDATE" if for_update else ""
    return await conn.fetchrow(
        f"SELECT * FROM {SCHEMA}.programmes WHERE programme_id = $1{lock}", _id(programme_id)
    )


async def programmes(
    conn: Connection, territories: Sequence[str], include_closed: bool
) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            f"""SELECT * FROM {SCHEMA}.programmes
                WHERE territory = ANY($1::text[]) AND ($2 OR status = 'open')
                ORDER BY first_day DESC, name, programme_id""",
            list(territories),
            include_closed,
        )
    )


async def next_seq(conn: Connection, programme_id: str) -> int:
    value: int = await conn.fetchval(
        f"SELECT coalesce(max(seq), 0) + 1 FROM {SCHEMA}.programme_changes WHERE programme_id = $1",
        _id(programme_id),
    )
    return value


async def change_done(conn: Connection, request_key: str | None) -> bool:
    if request_key is None:
        return False
    found = await conn.fetchval(
        f"SELECT 1 FROM {SCHEMA}.programme_changes WHERE request_key = $1", request_key
    )
    return found is not None


async def insert_change(
    conn: Connection,
    programme_id: str,
    territory: str,
    change: str,
    actor: str,
    at: datetime,
    request_key: str | None,
) -> int:
    """The change's number in the programme (its events' ids derive from it)."""
    seq = await next_seq(conn, programme_id)
    await conn.execute(
        f"""INSERT INTO {SCHEMA}.programme_changes
                (programme_id, seq, territory, change, actor, at, request_key)
            VALUES ($1, $2, $3, $4, $5, $6, $7)""",
        _id(programme_id),
        seq,
        territory,
        change,
        actor,
        at,
        request_key,
    )
    return seq


# ---- sessions -------------------------------------------------------------------------
async def session(conn: Connection, session_id: str, for_update: bool = False) -> asyncpg.Record | None:
    lock = " FOR UPDATE" if for_update else ""
    return await conn.fetchrow(
        f"SELECT * FROM {SCHEMA}.group_sessions WHERE session_id = $1{lock}", _id(session_id)
    )


async def sessions(conn: Connection, programme_id: str) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            f"""SELECT * FROM {SCHEMA}.group_sessions WHERE programme_id = $1
                ORDER BY day, starts_at, session_id""",
            _id(programme_id),
        )
    )


async def sheet(conn: Connection, session_id: str) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            f"""SELECT a.enrolment_id, a.presence, e.dossier_id, e.arrival,
                       coalesce(p.first_name || ' ' || p.last_name, '') AS person_label
                  FROM {SCHEMA}.session_attendance a
                  JOIN {SCHEMA}.enrolments e ON e.enrolment_id = a.enrolment_id
                  LEFT JOIN {SCHEMA}.persons p ON p.person_id = e.person_id
                 WHERE a.session_id = $1
                 ORDER BY e.arrival""",
            _id(session_id),
        )
    )


async def replace_sheet(
    conn: Connection,
    session_id: str,
    territory: str,
    lines: dict[str, str],
    actor: str,
    at: datetime,
) -> None:
    await conn.execute(f"DELETE FROM {SCHEMA}.session_attendance WHERE session_id = $1", _id(session_id))
    await conn.executemany(
        f"""INSERT INTO {SCHEMA}.session_attendance
                (session_id, enrolment_id, territory, presence, recorded_by, recorded_at)
            VALUES ($1, $2, $3, $4, $5, $6)""",
        [(_id(session_id), _id(e), territory, p, actor, at) for e, p in lines.items()],
    )


# ---- enrolments -----------------------------------------------------------------------
async def enrolment(conn: Connection, enrolment_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {_ENROLMENT} WHERE e.enrolment_id = $1", _id(enrolment_id))


async def enrolment_programme(conn: Connection, enrolment_id: str) -> str | None:
    """The enrolment's programme, if the caller sees the enrolment."""
    value = await conn.fetchval(
        f"SELECT programme_id FROM {SCHEMA}.enrolments WHERE enrolment_id = $1", _id(enrolment_id)
    )
    return str(value) if value is not None else None


async def enrolments(conn: Connection, programme_id: str) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            f"SELECT {_ENROLMENT} WHERE e.programme_id = $1 ORDER BY e.arrival", _id(programme_id)
        )
    )


async def count_enrolled(conn: Connection, programme_id: str) -> int:
    value: int = await conn.fetchval(
        f"SELECT count(*) FROM {SCHEMA}.enrolments WHERE programme_id = $1 AND status = $2",
        _id(programme_id),
        EnrolmentStatus.ENROLLED.value,
    )
    return value


async def on_list(conn: Connection, programme_id: str, person_id: str) -> asyncpg.Record | None:
    """The person's enrolment still on the programme's list (enrolled or waiting)."""
    return await conn.fetchrow(
        f"""SELECT * FROM {SCHEMA}.enrolments
            WHERE programme_id = $1 AND person_id = $2 AND status IN ('enrolled', 'waiting')""",
        _id(programme_id),
        _id(person_id),
    )


async def first_waiting(conn: Connection, programme_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"""SELECT * FROM {SCHEMA}.enrolments WHERE programme_id = $1 AND status = 'waiting'
            ORDER BY arrival LIMIT 1""",
        _id(programme_id),
    )


async def next_arrival(conn: Connection, programme_id: str) -> int:
    value: int = await conn.fetchval(
        f"""UPDATE {SCHEMA}.programmes SET last_order = last_order + 1 WHERE programme_id = $1
            RETURNING last_order""",
        _id(programme_id),
    )
    return value


async def dossier(conn: Connection, dossier_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT dossier_id, person_id, territory, stage FROM {SCHEMA}.dossiers WHERE dossier_id = $1",
        _id(dossier_id),
    )


# ---- goals ----------------------------------------------------------------------------
async def goal(conn: Connection, goal_id: str, for_update: bool = False) -> asyncpg.Record | None:
    lock = " FOR UPDATE" if for_update else ""
    return await conn.fetchrow(f"SELECT * FROM {SCHEMA}.goals WHERE goal_id = $1{lock}", _id(goal_id))


async def goals(conn: Connection, *, enrolment_id: str = "", programme_id: str = "") -> list[asyncpg.Record]:
    column, value = ("enrolment_id", enrolment_id) if enrolment_id else ("programme_id", programme_id)
    return list(
        await conn.fetch(
            f"SELECT * FROM {SCHEMA}.goals WHERE {column} = $1 ORDER BY created_at, goal_id", _id(value)
        )
    )


async def notes(conn: Connection, goal_ids: Sequence[uuid.UUID]) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            f"SELECT * FROM {SCHEMA}.goal_notes WHERE goal_id = ANY($1::uuid[]) ORDER BY goal_id, seq",
            list(goal_ids),
        )
    )


async def insert_note(
    conn: Connection, goal_id: str, territory: str, day: object, body: str, author: str, at: datetime
) -> None:
    seq: int = await conn.fetchval(
        f"SELECT coalesce(max(seq), 0) + 1 FROM {SCHEMA}.goal_notes WHERE goal_id = $1", _id(goal_id)
    )
    await conn.execute(
        f"""INSERT INTO {SCHEMA}.goal_notes (goal_id, seq, territory, day, text, author, at)
            VALUES ($1, $2, $3, $4, $5, $6, $7)""",
        _id(goal_id),
        seq,
        territory,
        day,
        body,
        author,
        at,
    )


# ---- the participants' dossier timelines ----------------------------------------------
async def put_timeline_entry(
    conn: Connection,
    dossier_id: str,
    entry_key: str,
    programme_id: str,
    kind: str,
    actor: str,
    at: datetime,
    summary: str,
) -> None:
    """The entry (its dossier's territory and current stage), rewritten by a correction."""
    await conn.execute(
        f"""INSERT INTO {SCHEMA}.collective_timeline
                (dossier_id, entry_key, territory, programme_id, kind, stage, actor, at, summary)
            SELECT d.dossier_id, $2, d.territory, $3, $4, d.stage, $5, $6, $7
              FROM {SCHEMA}.dossiers d WHERE d.dossier_id = $1
            ON CONFLICT (dossier_id, entry_key)
            DO UPDATE SET actor = EXCLUDED.actor, at = EXCLUDED.at, summary = EXCLUDED.summary""",
        _id(dossier_id),
        entry_key,
        _id(programme_id),
        kind,
        actor,
        at,
        summary,
    )


async def delete_timeline_entry(conn: Connection, dossier_id: str, entry_key: str) -> None:
    await conn.execute(
        f"DELETE FROM {SCHEMA}.collective_timeline WHERE dossier_id = $1 AND entry_key = $2",
        _id(dossier_id),
        entry_key,
    )


async def timeline_entries(conn: Connection, dossier_id: str) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            f"SELECT * FROM {SCHEMA}.collective_timeline WHERE dossier_id = $1 ORDER BY at, entry_key",
            _id(dossier_id),
        )
    )
