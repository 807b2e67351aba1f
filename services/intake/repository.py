"""SQL for intake's dossier tables."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from domain.vocabulary import TASK_KIND_OF_REFERRAL_STATUS, TASK_KIND_OF_STEP, ReferralStatus, StepKind
from kernel.db import Connection
from services.intake.schema import SCHEMA
from workflows.contracts import DossierSpec, LifecycleTimers, Transition

# Kinds of step that count as activity on the dossier (suivi inactivity clock).
ACTIVITY_KINDS: frozenset[str] = frozenset(
    {
        StepKind.INTERVIEW,
        StepKind.ECOUTE_COMPLETED,
        StepKind.STAGE_CHANGED,
        StepKind.FOLLOW_UP,
        StepKind.REOPENED,
    }
)
# Steps by which an agent acts on a dossier: what the workflow asked of them (a task) is
# answered. The activity kinds, a closure, and a new referral (see `touches`).
ACTING_KINDS = ACTIVITY_KINDS | {StepKind.CLOSED}


def touches(t: Transition) -> bool:
    """The steps after which DossierWorkflow._touch runs (its inactivity clock restarts,
    its reminder and closure proposal are cleared): the activity kinds, and a new
    referral, whose first step is its "requested" status (the orient update touches the
    dossier just before it)."""
    return t.kind in ACTIVITY_KINDS or (
        t.kind == StepKind.REFERRAL and t.referral_status == ReferralStatus.REQUESTED
    )


async def insert_dossier(conn: Connection, spec: DossierSpec, opened_at: datetime) -> bool:
    status = await conn.execute(
        f"""INSERT INTO {SCHEMA}.dossiers
                (dossier_id, territory, site, motifs, arrival_channel, urgent, stage, opened_at, updated_at,
                 person_id, household_id, assigned_agent, last_activity_at, touched_at,
                 urgent_ecoute_s, suivi_reminder_s, closure_proposal_s)
            VALUES ($1, $2, $3, $4, $5, $6, 'reception', $7, $7, $8, $9, $10, $7, $7, $11, $12, $13)
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
        spec.timers.urgent_ecoute_s,
        spec.timers.suivi_reminder_s,
        spec.timers.closure_proposal_s,
    )
    return status.endswith(" 1")


async def dossier_territory(conn: Connection, dossier_id: str) -> str | None:
    """Whatever the caller's territories (for a clear PERMISSION_DENIED)."""
    territory: str | None = await conn.fetchval(f"SELECT {SCHEMA}.dossier_territory($1)", dossier_id)
    return territory


async def get_dossier(conn: Connection, dossier_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT * FROM {SCHEMA}.dossiers WHERE dossier_id = $1", dossier_id)


# The deadline DossierWorkflow._deadlines would act on next (urgent écoute, suivi
# reminder, closure proposal; the reopen limit is not an agent's), from the projected
# flags and the dossier's own durations ($1-$3: the service's, for dossiers opened before
# they were recorded); `overdue` at $4 (waiting for an agent: escalated and not listened
# to, reminded, or a deadline passed) and the attention rank of ListDossiers.
_VIEW = f"""
    SELECT d.*, k.next_due_kind, due.next_due_at, a.overdue,
           -- The free text an "ancien-…" site code stands for (migration 012).
           CASE WHEN d.site LIKE 'ancien-%' THEN
                (SELECT l.label FROM {SCHEMA}.legacy_sites l
                  WHERE l.territory = d.territory AND l.code = d.site)
           END AS legacy_site_label,
           CASE WHEN d.urgent AND d.escalated AND d.stage = 'reception' THEN 0
                WHEN a.overdue THEN 1
                WHEN due.next_due_at IS NOT NULL THEN 2
                ELSE 3 END AS attention_rank
      FROM {SCHEMA}.dossiers d
     CROSS JOIN LATERAL (
           SELECT CASE WHEN d.urgent AND d.stage = 'reception' AND NOT d.escalated THEN 'urgent_ecoute'
                       WHEN d.stage = 'suivi' AND d.reminded_at IS NULL THEN 'suivi_reminder'
                       WHEN d.stage = 'suivi' AND NOT d.closure_proposed THEN 'closure_proposal'
                       ELSE '' END AS next_due_kind) k
     CROSS JOIN LATERAL (
           SELECT CASE k.next_due_kind
                  WHEN 'urgent_ecoute'
                       THEN d.opened_at + make_interval(secs => coalesce(d.urgent_ecoute_s, $1))
                  WHEN 'suivi_reminder'
                       THEN coalesce(d.touched_at, d.last_activity_at, d.opened_at)
                            + make_interval(secs => coalesce(d.suivi_reminder_s, $2))
                  WHEN 'closure_proposal'
                       THEN d.reminded_at + make_interval(secs => coalesce(d.closure_proposal_s, $3))
                  END AS next_due_at) due
     CROSS JOIN LATERAL (
           SELECT d.stage <> 'cloture'
                  AND ((d.escalated AND d.stage = 'reception') OR d.reminded_at IS NOT NULL
                       OR coalesce(due.next_due_at <= $4, false)) AS overdue) a"""


def _view_params(timers: LifecycleTimers, now: datetime) -> list[Any]:
    return [timers.urgent_ecoute_s, timers.suivi_reminder_s, timers.closure_proposal_s, now]


async def get_dossier_view(
    conn: Connection, dossier_id: str, timers: LifecycleTimers, now: datetime
) -> asyncpg.Record | None:
    """The dossier with its next deadline and attention flags (see _VIEW)."""
    return await conn.fetchrow(
        f"SELECT * FROM ({_VIEW}) v WHERE dossier_id = $5", *_view_params(timers, now), uuid.UUID(dossier_id)
    )


@dataclass(frozen=True)
class DossierQuery:
    """ListDossiers' filters, order and page (validated by the handler)."""

    territories: list[str]
    limit: int
    stage: str | None = None
    assigned_agent: str | None = None
    motif: str | None = None
    person_id: str | None = None
    active_only: bool = False
    attention_first: bool = False
    # The last row of the previous page: (opened_at, dossier_id) newest first, or
    # (attention_rank, next_due_at, opened_at, dossier_id) by attention.
    after: tuple[Any, ...] | None = None


async def list_dossiers(
    conn: Connection, query: DossierQuery, timers: LifecycleTimers, now: datetime
) -> list[asyncpg.Record]:
    """Newest first, keyset-paginated on (opened_at, dossier_id); or by attention,
    keyset-paginated on (attention_rank, next deadline or never, opened_at, dossier_id),
    `now` fixed by the first page."""
    params: list[Any] = _view_params(timers, now)

    def arg(value: Any) -> str:
        params.append(value)
        return f"${len(params)}"

    where = [f"territory = ANY({arg(query.territories)}::text[])"]
    if query.stage is not None:
        where.append(f"stage = {arg(query.stage)}")
    if query.active_only:
        where.append("stage <> 'cloture'")
    if query.assigned_agent is not None:
        where.append(f"assigned_agent = {arg(query.assigned_agent)}")
    if query.motif is not None:
        where.append(f"{arg(query.motif)} = ANY(motifs)")
    if query.person_id is not None:
        where.append(f"person_id = {arg(uuid.UUID(query.person_id))}")
    if query.attention_first:
        order = "attention_rank, coalesce(next_due_at, 'infinity'), opened_at DESC, dossier_id DESC"
        if query.after is not None:
            rank, due, opened_at, dossier_id = query.after
            r, d = arg(rank), f"coalesce({arg(due)}::timestamptz, 'infinity')"
            o, i = arg(opened_at), arg(uuid.UUID(dossier_id))
            where.append(
                f"""(attention_rank > {r} OR (attention_rank = {r}
                     AND (coalesce(next_due_at, 'infinity') > {d}
                          OR (coalesce(next_due_at, 'infinity') = {d}
                              AND (opened_at, dossier_id) < ({o}, {i})))))"""
            )
    else:
        order = "opened_at DESC, dossier_id DESC"
        if query.after is not None:
            opened_at, dossier_id = query.after
            where.append(f"(opened_at, dossier_id) < ({arg(opened_at)}, {arg(uuid.UUID(dossier_id))})")
    return await conn.fetch(
        f"SELECT * FROM ({_VIEW}) v WHERE {' AND '.join(where)} ORDER BY {order} LIMIT {arg(query.limit)}",
        *params,
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
    *,
    referral_id: str | None = None,
    referral_status: str | None = None,
    partner_name: str | None = None,
) -> bool:
    status = await conn.execute(
        f"""INSERT INTO {SCHEMA}.dossier_timeline
                (dossier_id, step, territory, kind, stage, cycle, actor, at, summary,
                 referral_id, referral_status, partner_name)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
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
        uuid.UUID(referral_id) if referral_id else None,
        referral_status,
        partner_name or None,
    )
    return status.endswith(" 1")


async def apply_transition(conn: Connection, t: Transition, at: datetime) -> None:
    """The step on the dossier row, the attention flags as DossierWorkflow keeps them:
    escalated by an escalation until a reopening; reminded and closure proposed by their
    step until the workflow's next touch (`touches`), which also moves `touched_at`; a
    reminder or a proposal carries the workflow's own last activity time."""
    await conn.execute(
        f"""UPDATE {SCHEMA}.dossiers
               SET stage = $2, cycle = $3, last_step = $4, updated_at = $5,
                   motifs = COALESCE($6, motifs),
                   assigned_agent = COALESCE($7, assigned_agent),
                   outcome = CASE WHEN $2 = 'cloture' THEN COALESCE($8, outcome) ELSE '' END,
                   last_activity_at = CASE WHEN $9 THEN $5 ELSE last_activity_at END,
                   escalated = CASE $11 WHEN 'escalated' THEN true WHEN 'reopened' THEN false
                                        ELSE escalated END,
                   reminded_at = CASE WHEN $11 = 'reminder' THEN $5 WHEN $10 THEN NULL ELSE reminded_at END,
                   closure_proposed = CASE WHEN $11 = 'closure_proposed' THEN true WHEN $10 THEN false
                                           ELSE closure_proposed END,
                   touched_at = CASE WHEN $10 THEN $5 ELSE COALESCE($12, touched_at) END
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
        touches(t),
        t.kind,
        datetime.fromisoformat(t.last_activity_at) if t.last_activity_at else None,
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


async def open_tasks(
    conn: Connection, territories: list[str], assigned_agent: str | None, limit: int
) -> list[asyncpg.Record]:
    """The steps that ask something of an agent (domain.vocabulary.TASK_KIND_OF_STEP and
    TASK_KIND_OF_REFERRAL_STATUS) with no acting step after them on their dossier
    (ACTING_KINDS, a new referral), on dossiers not closed; newest first."""
    return await conn.fetch(
        f"""SELECT t.dossier_id, t.step, t.at, t.kind AS step_kind, t.referral_id, t.referral_status,
                   t.partner_name, d.territory, d.stage, d.urgent, d.assigned_agent
              FROM {SCHEMA}.dossier_timeline t
              JOIN {SCHEMA}.dossiers d ON d.dossier_id = t.dossier_id
             WHERE t.territory = ANY($1::text[]) AND d.territory = ANY($1::text[])
               AND d.stage <> 'cloture'
               AND ($2::text IS NULL OR d.assigned_agent = $2)
               AND (t.kind = ANY($3::text[]) OR (t.kind = 'referral' AND t.referral_status = ANY($4::text[])))
               AND NOT EXISTS (
                   SELECT 1 FROM {SCHEMA}.dossier_timeline a
                    WHERE a.dossier_id = t.dossier_id AND a.step > t.step
                      AND (a.kind = ANY($5::text[])
                           OR (a.kind = 'referral' AND a.referral_status = 'requested')))
             ORDER BY t.at DESC, t.dossier_id DESC, t.step DESC
             LIMIT $6""",
        territories,
        assigned_agent,
        list(TASK_KIND_OF_STEP),
        list(TASK_KIND_OF_REFERRAL_STATUS),
        sorted(ACTING_KINDS),
        limit,
    )
