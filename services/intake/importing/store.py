"""SQL of the import: a batch of rows per statement (arrays unnested), every insert
keyed by the ids `plan` derives, ON CONFLICT DO NOTHING: a row already imported is
found, never written twice. Runs under the caller's scope (row-level security: the
caller's communes)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVar

import asyncpg

from kernel import outbox
from kernel.db import Connection
from kernel.events import Event
from services.intake.schema import SCHEMA
from workflows.contracts import LifecycleTimers

T = TypeVar("T")


def _uuids(ids: Sequence[str]) -> list[uuid.UUID]:
    return [uuid.UUID(i) for i in ids]


async def existing_dossiers(conn: Connection, dossier_ids: Sequence[str]) -> dict[str, datetime]:
    """Dossiers already there → when they were opened."""
    rows = await conn.fetch(
        f"SELECT dossier_id, opened_at FROM {SCHEMA}.dossiers WHERE dossier_id = ANY($1::uuid[])",
        _uuids(dossier_ids),
    )
    return {str(r["dossier_id"]): r["opened_at"] for r in rows}


async def existing_persons(conn: Connection, person_ids: Sequence[str]) -> dict[str, str]:
    """Imported persons already there → the person to use now (the one they were merged into)."""
    rows = await conn.fetch(
        f"""SELECT person_id, coalesce(merged_into, person_id) AS current
              FROM {SCHEMA}.persons WHERE person_id = ANY($1::uuid[])""",
        _uuids(person_ids),
    )
    return {str(r["person_id"]): str(r["current"]) for r in rows}


@dataclass(frozen=True)
class Known:
    person_id: str
    same_person: bool  # same name and birth date (else: the same phone only)


async def known_persons(
    conn: Connection,
    people: Sequence[tuple[str, date | None, str | None]],
    excluded: Sequence[str],
) -> dict[int, Known]:
    """For each (name key, birth date, phone), a person of the caller's communes already
    known: the same name and birth date (the oldest such person), else the same phone;
    never a merged or anonymised one, nor one of `excluded` (this file's own). Keyed by
    the index in `people`."""
    if not people:
        return {}
    rows = await conn.fetch(
        f"""SELECT q.i, m.person_id, m.same_person
              FROM unnest($1::text[], $2::date[], $3::text[]) WITH ORDINALITY
                   AS q(name_key, birth_date, phone, i)
             CROSS JOIN LATERAL (
                   SELECT p.person_id,
                          (p.name_key = q.name_key AND p.birth_date = q.birth_date) AS same_person
                     FROM {SCHEMA}.persons p
                    WHERE p.merged_into IS NULL AND p.anonymised_at IS NULL
                      AND p.person_id <> ALL($4::uuid[])
                      AND ((q.birth_date IS NOT NULL
                            AND p.name_key = q.name_key AND p.birth_date = q.birth_date)
                           OR (q.phone IS NOT NULL AND p.phone = q.phone))
                    ORDER BY same_person DESC, p.created_at, p.person_id
                    LIMIT 1) m""",
        [p[0] for p in people],
        [p[1] for p in people],
        [p[2] for p in people],
        _uuids(excluded),
    )
    return {int(r["i"]) - 1: Known(str(r["person_id"]), bool(r["same_person"])) for r in rows}


async def existing_households(conn: Connection, household_ids: Sequence[str]) -> set[str]:
    rows = await conn.fetch(
        f"SELECT household_id FROM {SCHEMA}.households WHERE household_id = ANY($1::uuid[])",
        _uuids(household_ids),
    )
    return {str(r["household_id"]) for r in rows}


@dataclass(frozen=True)
class NewPersonRow:
    person_id: str
    territory: str
    request_id: str
    first_name: str
    last_name: str
    name_key: str
    birth_date: date | None
    phone: str | None
    email: str | None
    address_commune: str | None
    address_line: str | None


async def insert_persons(conn: Connection, people: Sequence[NewPersonRow], now: datetime) -> set[str]:
    """The ids actually inserted (another import running the same file may win a row)."""
    if not people:
        return set()
    rows = await conn.fetch(
        f"""INSERT INTO {SCHEMA}.persons
                (person_id, territory, request_id, first_name, last_name, name_key, birth_date,
                 phone, email, address_commune, address_line, created_at, updated_at)
            SELECT p.*, $12::timestamptz, $12::timestamptz
              FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                          $7::date[], $8::text[], $9::text[], $10::text[], $11::text[]) AS p
            ON CONFLICT DO NOTHING
            RETURNING person_id""",
        *_columns(
            people,
            lambda p: (
                uuid.UUID(p.person_id),
                p.territory,
                p.request_id,
                p.first_name,
                p.last_name,
                p.name_key,
                p.birth_date,
                p.phone,
                p.email,
                p.address_commune,
                p.address_line,
            ),
        ),
        now,
    )
    return {str(r["person_id"]) for r in rows}


async def insert_households(
    conn: Connection, households: Sequence[tuple[str, str]], members: Sequence[tuple[str, str]], now: datetime
) -> int:
    """(household id, territory) and (household id, person id): the households created."""
    created = 0
    if households:
        rows = await conn.fetch(
            f"""INSERT INTO {SCHEMA}.households (household_id, territory, created_at)
                SELECT h.*, $3::timestamptz FROM unnest($1::uuid[], $2::text[]) AS h
                ON CONFLICT DO NOTHING RETURNING household_id""",
            [uuid.UUID(h) for h, _ in households],
            [t for _, t in households],
            now,
        )
        created = len(rows)
    if members:
        await conn.execute(
            f"""INSERT INTO {SCHEMA}.household_members (household_id, person_id)
                SELECT * FROM unnest($1::uuid[], $2::uuid[]) ON CONFLICT DO NOTHING""",
            [uuid.UUID(h) for h, _ in members],
            [uuid.UUID(p) for _, p in members],
        )
    return created


@dataclass(frozen=True)
class DossierRow:
    dossier_id: str
    territory: str
    site: str
    motifs: list[str]
    arrival_channel: str
    urgent: bool
    stage: str
    opened_at: datetime
    updated_at: datetime
    person_id: str | None
    household_id: str | None
    assigned_agent: str
    last_activity_at: datetime
    outcome: str
    last_step: int
    workflow_pending: bool


async def insert_dossiers(
    conn: Connection, dossiers: Sequence[DossierRow], timers: LifecycleTimers, import_id: str
) -> set[str]:
    """The dossier rows as their last step leaves them; the ids actually inserted."""
    if not dossiers:
        return set()
    rows = await conn.fetch(
        f"""INSERT INTO {SCHEMA}.dossiers
                (dossier_id, territory, site, motifs, arrival_channel, urgent, stage, opened_at, updated_at,
                 person_id, household_id, assigned_agent, last_activity_at, touched_at, outcome, last_step,
                 urgent_ecoute_s, suivi_reminder_s, closure_proposal_s, import_id, workflow_pending)
            SELECT d.dossier_id, d.territory, d.site, string_to_array(d.motifs, ','), d.arrival_channel,
                   d.urgent, d.stage, d.opened_at, d.updated_at, d.person_id, d.household_id,
                   d.assigned_agent, d.last_activity_at, d.last_activity_at, d.outcome, d.last_step,
                   $17, $18, $19, $20, d.workflow_pending
              FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::boolean[],
                          $7::text[], $8::timestamptz[], $9::timestamptz[], $10::uuid[], $11::uuid[],
                          $12::text[], $13::timestamptz[], $14::text[], $15::int[], $16::boolean[])
                   AS d(dossier_id, territory, site, motifs, arrival_channel, urgent, stage, opened_at,
                        updated_at, person_id, household_id, assigned_agent, last_activity_at, outcome,
                        last_step, workflow_pending)
            ON CONFLICT (dossier_id) DO NOTHING
            RETURNING dossier_id""",
        *_columns(
            dossiers,
            lambda d: (
                uuid.UUID(d.dossier_id),
                d.territory,
                d.site,
                ",".join(d.motifs),  # motif codes hold no comma (reference data codes)
                d.arrival_channel,
                d.urgent,
                d.stage,
                d.opened_at,
                d.updated_at,
                uuid.UUID(d.person_id) if d.person_id else None,
                uuid.UUID(d.household_id) if d.household_id else None,
                d.assigned_agent,
                d.last_activity_at,
                d.outcome,
                d.last_step,
                d.workflow_pending,
            ),
        ),
        timers.urgent_ecoute_s,
        timers.suivi_reminder_s,
        timers.closure_proposal_s,
        uuid.UUID(import_id),
    )
    return {str(r["dossier_id"]) for r in rows}


async def pending_workflows(conn: Connection, dossier_ids: Sequence[str]) -> int:
    """How many of these dossiers still wait for their workflow."""
    value = await conn.fetchval(
        f"SELECT count(*) FROM {SCHEMA}.dossiers WHERE dossier_id = ANY($1::uuid[]) AND workflow_pending",
        _uuids(dossier_ids),
    )
    return int(value or 0)


async def waiting_for_workflow(
    conn: Connection, territories: Sequence[str], after: str, limit: int
) -> list[asyncpg.Record]:
    """Imported dossiers of these communes waiting for their workflow, after `after`."""
    return await conn.fetch(
        f"""SELECT * FROM {SCHEMA}.dossiers
             WHERE workflow_pending AND territory = ANY($1::text[]) AND dossier_id > $2
             ORDER BY dossier_id LIMIT $3""",
        list(territories),
        uuid.UUID(after) if after else uuid.UUID(int=0),
        limit,
    )


async def timelines(conn: Connection, dossier_ids: Sequence[str]) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"""SELECT dossier_id, step, kind, stage, at, actor FROM {SCHEMA}.dossier_timeline
             WHERE dossier_id = ANY($1::uuid[]) ORDER BY dossier_id, step""",
        _uuids(dossier_ids),
    )


async def workflows_started(conn: Connection, dossier_ids: Sequence[str]) -> None:
    await conn.execute(
        f"UPDATE {SCHEMA}.dossiers SET workflow_pending = false WHERE dossier_id = ANY($1::uuid[])",
        _uuids(dossier_ids),
    )


@dataclass(frozen=True)
class TimelineRow:
    dossier_id: str
    step: int
    territory: str
    kind: str
    stage: str
    actor: str
    at: datetime
    summary: str


async def insert_timeline(conn: Connection, entries: Sequence[TimelineRow]) -> None:
    if not entries:
        return
    await conn.execute(
        f"""INSERT INTO {SCHEMA}.dossier_timeline
                (dossier_id, step, territory, kind, stage, cycle, actor, at, summary)
            SELECT t.dossier_id, t.step, t.territory, t.kind, t.stage, 0, t.actor, t.at, t.summary
              FROM unnest($1::uuid[], $2::int[], $3::text[], $4::text[], $5::text[], $6::text[],
                          $7::timestamptz[], $8::text[])
                   AS t(dossier_id, step, territory, kind, stage, actor, at, summary)
            ON CONFLICT (dossier_id, step) DO NOTHING""",
        *_columns(
            entries,
            lambda t: (
                uuid.UUID(t.dossier_id),
                t.step,
                t.territory,
                t.kind,
                t.stage,
                t.actor,
                t.at,
                t.summary,
            ),
        ),
    )


async def write_events(conn: Connection, events: Sequence[Event]) -> None:
    """The events into intake's outbox (published by its relay after the commit)."""
    if not events:
        return
    await conn.execute(
        f"""INSERT INTO {SCHEMA}.outbox ({", ".join(outbox.COLUMNS)})
            SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::timestamptz[],
                                 $6::text[], $7::bytea[])
            ON CONFLICT (event_id) DO NOTHING""",
        *_columns(events, outbox.values),
    )
    await outbox.wake(conn, SCHEMA)


async def start_import(
    conn: Connection,
    import_id: str,
    territories: Sequence[str],
    by: str,
    filename: str,
    format_: str,
    sha256: bytes,
    now: datetime,
) -> None:
    await conn.execute(
        f"""INSERT INTO {SCHEMA}.imports
                (import_id, territories, imported_by, filename, format, file_sha256, started_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7)""",
        uuid.UUID(import_id),
        sorted(set(territories)),
        by,
        filename,
        format_,
        sha256,
        now,
    )


async def finish_import(
    conn: Connection,
    import_id: str,
    *,
    rows: int,
    rejected: int,
    dossiers_created: int,
    already_imported: int,
    persons_created: int,
    households_created: int,
    now: datetime,
) -> None:
    await conn.execute(
        f"""UPDATE {SCHEMA}.imports
               SET finished_at = $2, rows = $3, rejected = $4, dossiers_created = $5, already_imported = $6,
                   persons_created = $7, households_created = $8
             WHERE import_id = $1""",
        uuid.UUID(import_id),
        now,
        rows,
        rejected,
        dossiers_created,
        already_imported,
        persons_created,
        households_created,
    )


def _columns(items: Sequence[T], row: Callable[[T], tuple[Any, ...]]) -> list[list[Any]]:
    """Column arrays of `items` (each turned into a tuple by `row`), for unnest."""
    return [list(column) for column in zip(*(row(item) for item in items), strict=True)]
