"""SQL for intake's dossier tables."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from kernel.db import Connection
from workflows.contracts import DossierSpec, Transition

SCHEMA = "intake"
# Kinds of step that count as activity on the dossier (suivi inactivity clock).
ACTIVITY_KINDS = frozenset({"interview", "ecoute_completed", "stage_changed", "follow_up", "reopened"})


async def insert_dossier(conn: Connection, spec: DossierSpec, opened_at: datetime) -> bool:
    status = await conn.execute(
        f"""INSERT INTO {SCHEMA}.dossiers
                (dossier_id, territory, site, motifs, arrival_channel, urgent, stage, opened_at, updated_at,
                 person_id, household_id, assigned_agent, last_activity_at)
            VALUES ($1, $2, $3, $4, $5, $6, 'reception', $7, $7, $8, $9, $10, $7)
            ON CONFLICT (dossier_id) DO NOTHING""",
        spec.dossier_id,
        spec.territory,
        spec.site,
        spec.motifs,
        spec.arrival_channel,
        spec.urgent,
        opened_at,
        spec.person_id or None,
        spec.household_id or None,
        spec.assigned_agent,
    )
    return status.endswith(" 1")


async def dossier_territory(conn: Connection, dossier_id: str) -> str | None:
    """Whatever the caller's territories (for a clear PERMISSION_DENIED)."""
    territory: str | None = await conn.fetchval(f"SELECT {SCHEMA}.dossier_territory($1)", dossier_id)
    return territory


async def get_dossier(conn: Connection, dossier_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT * FROM {SCHEMA}.dossiers WHERE dossier_id = $1", dossier_id)


async def list_dossiers(
    conn: Connection, territory: str, stage: str | None, limit: int, before: tuple[datetime, str] | None
) -> list[asyncpg.Record]:
    """Newest first, keyset-paginated on (opened_at, dossier_id)."""
    return await conn.fetch(
        f"""SELECT * FROM {SCHEMA}.dossiers
             WHERE territory = $1 AND ($2::text IS NULL OR stage = $2)
               AND ($3::timestamptz IS NULL OR (opened_at, dossier_id) < ($3, $4::uuid))
             ORDER BY opened_at DESC, dossier_id DESC
             LIMIT $5""",
        territory,
        stage,
        before[0] if before else None,
        before[1] if before else None,
        limit,
    )


async def insert_timeline(
    conn: Connection,
    dossier_id: str,
    step: int,
    territory: str,
    kind: str,
    stage: str,
    cycle: int,
    actor: str,
    at: datetime,
    summary: str,
) -> bool:
    status = await conn.execute(
        f"""INSERT INTO {SCHEMA}.dossier_timeline
                (dossier_id, step, territory, kind, stage, cycle, actor, at, summary)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
            ON CONFLICT (dossier_id, step) DO NOTHING""",
        dossier_id,
        step,
        territory,
        kind,
        stage,
        cycle,
        actor,
        at,
        summary,
    )
    return status.endswith(" 1")


async def apply_transition(conn: Connection, t: Transition, at: datetime) -> None:
    await conn.execute(
        f"""UPDATE {SCHEMA}.dossiers
               SET stage = $2, cycle = $3, last_step = $4, updated_at = $5,
                   motifs = COALESCE($6, motifs),
                   assigned_agent = COALESCE($7, assigned_agent),
                   outcome = CASE WHEN $2 = 'cloture' THEN COALESCE($8, outcome) ELSE '' END,
                   last_activity_at = CASE WHEN $9 THEN $5 ELSE last_activity_at END
             WHERE dossier_id = $1""",
        t.dossier_id,
        t.to_stage,
        t.cycle,
        t.step,
        at,
        t.motifs,
        t.assigned_agent,
        t.outcome,
        t.kind in ACTIVITY_KINDS,
    )


async def insert_note(
    conn: Connection, note_id: uuid.UUID, t: Transition, kind: str, at: datetime, visibility: str
) -> None:
    await conn.execute(
        f"""INSERT INTO {SCHEMA}.notes
                (note_id, dossier_id, step, territory, kind, author, visibility, body, at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
            ON CONFLICT (note_id) DO NOTHING""",
        note_id,
        t.dossier_id,
        t.step,
        t.territory,
        kind,
        t.actor,
        visibility,
        t.notes,
        at,
    )


async def timeline_of(conn: Connection, dossier_id: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"SELECT * FROM {SCHEMA}.dossier_timeline WHERE dossier_id = $1 ORDER BY step", dossier_id
    )


async def notes_visible_to(conn: Connection, dossier_id: str, reader: str) -> list[asyncpg.Record]:
    """Team notes, and author-only notes when the reader is their author."""
    return await conn.fetch(
        f"""SELECT * FROM {SCHEMA}.notes
             WHERE dossier_id = $1 AND (visibility = 'team' OR author = $2)
             ORDER BY step""",
        dossier_id,
        reader,
    )
