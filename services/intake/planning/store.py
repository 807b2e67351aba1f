"""SQL of the planning: permanences and their exceptions, appointments and their
changes, contact preferences, the persons' outbox (read only here: the sender writes).

Row-level security by territory applies to every table (migration 011): callers see
their communes' rows only. Writers that must not race take an advisory lock first
(`lock`), held to the end of their transaction."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime

import asyncpg

from domain.permanences import Change, Permanence, PermanenceRule
from domain.planning import AppointmentStatus, ExceptionKind, Recurrence
from kernel.db import Connection
from services.intake.schema import SCHEMA

_PERMANENCE_COLUMNS = """permanence_id, territory, site, room, host_kind, host_id, host_label, host_category,
    recurrence, weekday, starts_at, ends_at, first_day, last_day, slot_minutes, created_by, created_at"""
_APPOINTMENT_COLUMNS = """a.appointment_id, a.territory, a.site, a.room, a.permanence_id, a.host_kind,
    a.host_id, a.host_label, a.host_category, a.person_id, a.dossier_id, a.motif, a.starts_at, a.ends_at,
    a.status, a.version, a.walk_in, a.no_show_proposed_at, a.booked_by, a.booked_at, a.updated_at"""


async def lock(conn: Connection, key: str) -> None:
    """Serialises the writers of one key (a room, a host) until the transaction ends: two
    concurrent creates in a room, or two bookings of a host, cannot both pass their check."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"{SCHEMA}.planning/{key}")


def room_key(site: str, room: str) -> str:
    return f"room/{site}/{room}"


def host_key(kind: str, host_id: str) -> str:
    return f"host/{kind}/{host_id}"


# ---- permanences ---------------------------------------------------------------------
def permanence_of(row: asyncpg.Record, changes: Sequence[asyncpg.Record]) -> Permanence:
    rule = PermanenceRule(
        weekday=row["weekday"],
        recurrence=Recurrence(row["recurrence"]),
        first_day=row["first_day"],
        last_day=row["last_day"],
        starts_at=row["starts_at"],
        ends_at=row["ends_at"],
    )
    return Permanence(rule, tuple(change_of(c) for c in changes), str(row["permanence_id"]))


def change_of(row: asyncpg.Record) -> Change:
    return Change(
        ExceptionKind(row["kind"]), row["day"], row["until"], row["starts_at"], row["ends_at"], row["reason"]
    )


async def _changes_of(conn: Connection, ids: list[uuid.UUID]) -> dict[str, list[asyncpg.Record]]:
    found: dict[str, list[asyncpg.Record]] = defaultdict(list)
    if not ids:
        return found
    rows = await conn.fetch(
        f"""SELECT permanence_id, kind, day, until, starts_at, ends_at, reason
            FROM {SCHEMA}.permanence_exceptions WHERE permanence_id = ANY($1::uuid[])
            ORDER BY day, kind""",
        ids,
    )
    for row in rows:
        found[str(row["permanence_id"])].append(row)
    return found


async def permanences_where(
    conn: Connection, where: str, *args: object
) -> list[tuple[asyncpg.Record, list[asyncpg.Record]]]:
    rows = await conn.fetch(
        f"SELECT {_PERMANENCE_COLUMNS} FROM {SCHEMA}.permanences WHERE {where}"
        " ORDER BY site, room, weekday, starts_at, permanence_id",
        *args,
    )
    changes = await _changes_of(conn, [r["permanence_id"] for r in rows])
    return [(r, changes.get(str(r["permanence_id"]), [])) for r in rows]


async def room_permanences(
    conn: Connection, site: str, room: str
) -> list[tuple[asyncpg.Record, list[asyncpg.Record]]]:
    return await permanences_where(conn, "site = $1 AND room = $2", site, room)


async def get_permanence(
    conn: Connection, permanence_id: str
) -> tuple[asyncpg.Record, list[asyncpg.Record]] | None:
    found = await permanences_where(conn, "permanence_id = $1", uuid.UUID(permanence_id))
    return found[0] if found else None


async def permanence_territory(conn: Connection, permanence_id: str) -> str | None:
    value = await conn.fetchval(f"SELECT {SCHEMA}.permanence_territory($1)", uuid.UUID(permanence_id))
    return str(value) if value is not None else None


async def list_permanences(
    conn: Connection, territories: list[str], site: str, room: str, host_id: str
) -> list[tuple[asyncpg.Record, list[asyncpg.Record]]]:
    return await permanences_where(
        conn,
        """territory = ANY($1::text[]) AND ($2::text = '' OR site = $2::text)
           AND ($3::text = '' OR room = $3::text) AND ($4::text = '' OR host_id = $4::text)""",
        territories,
        site,
        room,
        host_id,
    )


async def insert_permanence(
    conn: Connection,
    permanence_id: str,
    territory: str,
    site: str,
    room: str,
    host: tuple[str, str, str, str],
    rule: PermanenceRule,
    slot_minutes: int,
    actor: str,
    at: datetime,
) -> None:
    kind, host_id, label, category = host
    await conn.execute(
        f"""INSERT INTO {SCHEMA}.permanences
                (permanence_id, territory, site, room, host_kind, host_id, host_label, host_category,
                 recurrence, weekday, starts_at, ends_at, first_day, last_day, slot_minutes,
                 created_by, created_at, request_key)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
            ON CONFLICT DO NOTHING""",
        uuid.UUID(permanence_id),
        territory,
        site,
        room,
        kind,
        host_id,
        label,
        category,
        rule.recurrence.value,
        rule.weekday,
        rule.starts_at,
        rule.ends_at,
        rule.first_day,
        rule.last_day,
        slot_minutes,
        actor,
        at,
        permanence_id,
    )


async def insert_change(
    conn: Connection, permanence_id: str, territory: str, change: Change, actor: str, at: datetime
) -> bool:
    """False when the permanence already has an exception of this kind on this day."""
    status = await conn.execute(
        f"""INSERT INTO {SCHEMA}.permanence_exceptions
                (permanence_id, territory, kind, day, until, starts_at, ends_at, reason,
                 created_by, created_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
            ON CONFLICT DO NOTHING""",
        uuid.UUID(permanence_id),
        territory,
        change.kind.value,
        change.day,
        change.until,
        change.starts_at,
        change.ends_at,
        change.reason,
        actor,
        at,
    )
    return bool(status.endswith(" 1"))


async def end_permanence(conn: Connection, permanence_id: str, last_day: date) -> None:
    await conn.execute(
        f"UPDATE {SCHEMA}.permanences SET last_day = $2 WHERE permanence_id = $1",
        uuid.UUID(permanence_id),
        last_day,
    )


# ---- appointments --------------------------------------------------------------------
async def appointment_territory(conn: Connection, appointment_id: str) -> str | None:
    value = await conn.fetchval(f"SELECT {SCHEMA}.appointment_territory($1)", uuid.UUID(appointment_id))
    return str(value) if value is not None else None


def _with_person(where: str, order: str = "a.starts_at") -> str:
    return f"""SELECT {_APPOINTMENT_COLUMNS}, p.first_name, p.last_name
               FROM {SCHEMA}.appointments a JOIN {SCHEMA}.persons p ON p.person_id = a.person_id
               WHERE {where} ORDER BY {order}, a.appointment_id"""


async def get_appointment(
    conn: Connection, appointment_id: str, for_update: bool = False
) -> asyncpg.Record | None:
    if for_update:
        await conn.execute(
            f"SELECT 1 FROM {SCHEMA}.appointments WHERE appointment_id = $1 FOR UPDATE",
            uuid.UUID(appointment_id),
        )
    return await conn.fetchrow(_with_person("a.appointment_id = $1"), uuid.UUID(appointment_id))


async def site_day_appointments(
    conn: Connection, site: str, start: datetime, end: datetime
) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            _with_person("a.site = $1 AND a.starts_at >= $2 AND a.starts_at < $3"), site, start, end
        )
    )


async def person_appointments(conn: Connection, person_id: str) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(_with_person("a.person_id = $1", order="a.starts_at DESC"), uuid.UUID(person_id))
    )


async def taken_intervals(
    conn: Connection, permanence_id: str, start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """The intervals of the permanence's appointments (not cancelled) meeting [start, end)."""
    rows = await conn.fetch(
        f"""SELECT starts_at, ends_at FROM {SCHEMA}.appointments
            WHERE permanence_id = $1 AND status <> $4 AND starts_at < $3 AND ends_at > $2""",
        uuid.UUID(permanence_id),
        start,
        end,
        AppointmentStatus.CANCELLED.value,
    )
    return [(r["starts_at"], r["ends_at"]) for r in rows]


async def booked_in(
    conn: Connection, permanence_ids: list[uuid.UUID], start: datetime, end: datetime
) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            f"""SELECT permanence_id, starts_at FROM {SCHEMA}.appointments
                WHERE permanence_id = ANY($1::uuid[]) AND status <> $4
                  AND starts_at >= $2 AND starts_at < $3""",
            permanence_ids,
            start,
            end,
            AppointmentStatus.CANCELLED.value,
        )
    )


async def overlapping(
    conn: Connection,
    *,
    permanence_id: str | None,
    agent_id: str | None,
    starts_at: datetime,
    ends_at: datetime,
    other_than: str,
) -> bool:
    """Whether an appointment (not cancelled, not `other_than`) of the permanence, or of
    the agent (at a permanence it holds or not), overlaps [starts_at, ends_at)."""
    value = await conn.fetchval(
        f"""SELECT EXISTS (
                SELECT 1 FROM {SCHEMA}.appointments
                WHERE status <> $6 AND starts_at < $4 AND ends_at > $3 AND appointment_id <> $5
                  AND (($1::uuid IS NOT NULL AND permanence_id = $1::uuid)
                       OR ($2::text IS NOT NULL AND host_kind = 'agent' AND host_id = $2::text)))""",
        uuid.UUID(permanence_id) if permanence_id else None,
        agent_id,
        starts_at,
        ends_at,
        uuid.UUID(other_than),
        AppointmentStatus.CANCELLED.value,
    )
    return bool(value)


async def insert_appointment(conn: Connection, values: dict[str, object]) -> bool:
    """False when the appointment (its id derived from the request) is already there."""
    columns = list(values)
    status = await conn.execute(
        f"""INSERT INTO {SCHEMA}.appointments ({", ".join(columns)})
            VALUES ({", ".join(f"${n}" for n in range(1, len(columns) + 1))})
            ON CONFLICT (appointment_id) DO NOTHING""",
        *values.values(),
    )
    return bool(status.endswith(" 1"))


async def update_appointment(conn: Connection, appointment_id: str, values: dict[str, object]) -> None:
    sets = ", ".join(f"{column} = ${n}" for n, column in enumerate(values, start=2))
    await conn.execute(
        f"UPDATE {SCHEMA}.appointments SET {sets} WHERE appointment_id = $1",
        uuid.UUID(appointment_id),
        *values.values(),
    )


async def change_by_request(conn: Connection, request_key: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT * FROM {SCHEMA}.appointment_changes WHERE request_key = $1", request_key
    )


async def insert_change_row(
    conn: Connection,
    appointment_id: str,
    territory: str,
    change: str,
    status: str,
    starts_at: datetime,
    ends_at: datetime,
    actor: str,
    at: datetime,
    request_key: str | None,
) -> int:
    """Appends to the appointment's history (the caller holds the appointment's row
    lock); returns the change's sequence number."""
    seq = await conn.fetchval(
        f"""INSERT INTO {SCHEMA}.appointment_changes
                (appointment_id, territory, seq, change, status, starts_at, ends_at, actor, at, request_key)
            SELECT $1, $2, coalesce(max(seq), 0) + 1, $3, $4, $5, $6, $7, $8, $9
            FROM {SCHEMA}.appointment_changes WHERE appointment_id = $1
            RETURNING seq""",
        uuid.UUID(appointment_id),
        territory,
        change,
        status,
        starts_at,
        ends_at,
        actor,
        at,
        request_key,
    )
    return int(seq)


# ---- persons, dossiers, contact preferences, messages -------------------------------
async def person_contact(conn: Connection, person_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"""SELECT person_id, territory, phone, email, merged_into FROM {SCHEMA}.persons
            WHERE person_id = $1""",
        uuid.UUID(person_id),
    )


async def dossier_person(conn: Connection, dossier_id: str) -> tuple[bool, str]:
    """(the dossier exists for the caller, its person id or "")."""
    row = await conn.fetchrow(
        f"SELECT person_id FROM {SCHEMA}.dossiers WHERE dossier_id = $1", uuid.UUID(dossier_id)
    )
    if row is None:
        return False, ""
    return True, str(row["person_id"] or "")


async def get_contact_preferences(conn: Connection, person_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT * FROM {SCHEMA}.contact_preferences WHERE person_id = $1", uuid.UUID(person_id)
    )


async def set_contact_preferences(
    conn: Connection,
    person_id: str,
    territory: str,
    consent: bool,
    channel: str,
    opted_out: bool,
    actor: str,
    at: datetime,
) -> asyncpg.Record:
    row = await conn.fetchrow(
        f"""INSERT INTO {SCHEMA}.contact_preferences
                (person_id, territory, consent, channel, opted_out, updated_by, updated_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7)
            ON CONFLICT (person_id) DO UPDATE SET consent = EXCLUDED.consent, channel = EXCLUDED.channel,
                opted_out = EXCLUDED.opted_out, updated_by = EXCLUDED.updated_by,
                updated_at = EXCLUDED.updated_at
            RETURNING *""",
        uuid.UUID(person_id),
        territory,
        consent,
        channel,
        opted_out,
        actor,
        at,
    )
    assert row is not None
    return row


async def person_messages(
    conn: Connection, territories: list[str], site: str, appointment_id: str | None, status: str, limit: int
) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            f"""SELECT m.message_id, m.appointment_id, m.kind, m.channel, m.recipient, m.status, m.attempts,
                       m.receipt, m.created_at, m.sent_at, m.body, a.site
                FROM {SCHEMA}.person_messages m
                JOIN {SCHEMA}.appointments a ON a.appointment_id = m.appointment_id
                WHERE m.territory = ANY($1::text[]) AND ($2::text = '' OR a.site = $2::text)
                  AND ($3::uuid IS NULL OR m.appointment_id = $3::uuid)
                  AND ($4::text = '' OR m.status = $4::text)
                ORDER BY m.created_at DESC, m.message_id
                LIMIT $5""",
            territories,
            site,
            uuid.UUID(appointment_id) if appointment_id else None,
            status,
            limit,
        )
    )
