"""The collective actions' and signals' projection (migration 008): a batch's deltas
(collective_fold.py) merged into their fact rows by one upsert each, every column
merging as the fold does: a latest group replaced by the greatest (sequence, at,
value...) tuple (texts in the "C" collation, as Python compares them), first times the
least, the repeated territory / programme / signaller kind the least non-null. No
pre-aggregate: rows are few and the bilan reads them, so no cell moves and no lock.
"""

from __future__ import annotations

from kernel.db import Connection
from services.reporting.projection.collective_fold import (
    CollectiveFold,
    EnrolmentDelta,
    GoalDelta,
    SignalDelta,
)
from services.reporting.projection.tables import LIVE, Tables


def _least(column: str) -> str:
    return f'{column} = LEAST(f.{column} COLLATE "C", EXCLUDED.{column} COLLATE "C")'


def _latest(columns: tuple[str, ...], key: str) -> str:
    """Replaces `columns` when the incoming `key` tuple is greater (or none was known)."""
    first = columns[0]
    greater = f"{key.format('EXCLUDED')} > {key.format('f')}"
    newer = f"EXCLUDED.{first} IS NOT NULL AND (f.{first} IS NULL OR {greater})"
    return ",\n    ".join(f"{c} = CASE WHEN {newer} THEN EXCLUDED.{c} ELSE f.{c} END" for c in columns)


_SESSION_COLUMNS = (
    "sequence",
    "held_at",
    "programme_id",
    "territory",
    "capacity",
    "expected",
    "present",
    "absent",
    "excused",
)
_SESSION_KEY = (
    '({0}.sequence, {0}.held_at, {0}.programme_id COLLATE "C", {0}.territory COLLATE "C", '
    "{0}.capacity, {0}.expected, {0}.present, {0}.absent, {0}.excused)"
)
_SESSION_UPSERT = f"""
INSERT INTO {{table}} AS f (session_id, {", ".join(_SESSION_COLUMNS)})
VALUES ($1::text, $2::int, $3::timestamptz, $4::text, $5::text, $6::int, $7::int, $8::int, $9::int, $10::int)
ON CONFLICT (session_id) DO UPDATE SET
    {", ".join(f"{c} = EXCLUDED.{c}" for c in _SESSION_COLUMNS)}
 WHERE {_SESSION_KEY.format("EXCLUDED")} > {_SESSION_KEY.format("f")}
"""

_STATUS_KEY = '({0}.status_seq, {0}.status_at, {0}.status COLLATE "C")'
_OUTCOME_KEY = '({0}.outcome_seq, {0}.outcome_at, {0}.outcome COLLATE "C")'
_ENROLMENT_UPSERT = f"""
INSERT INTO {{table}} AS f
    (enrolment_id, programme_id, territory, person_id, enrolled_at, status, status_seq, status_at,
     waited, ever_enrolled, outcome, outcome_seq, outcome_at)
VALUES ($1::text, NULLIF($2::text, ''), NULLIF($3::text, ''), NULLIF($4::text, ''), $5::timestamptz,
        $6::text, $7::int, $8::timestamptz, $9::bool, $10::bool, $11::text, $12::int, $13::timestamptz)
ON CONFLICT (enrolment_id) DO UPDATE SET
    {_least("programme_id")},
    {_least("territory")},
    {_least("person_id")},
    enrolled_at = LEAST(f.enrolled_at, EXCLUDED.enrolled_at),
    {_latest(("status", "status_seq", "status_at"), _STATUS_KEY)},
    waited = f.waited OR EXCLUDED.waited,
    ever_enrolled = f.ever_enrolled OR EXCLUDED.ever_enrolled,
    {_latest(("outcome", "outcome_seq", "outcome_at"), _OUTCOME_KEY)}
"""

_GOAL_UPSERT = f"""
INSERT INTO {{table}} AS f
    (goal_id, programme_id, enrolment_id, territory, set_at, status, status_seq, status_at)
VALUES ($1::text, NULLIF($2::text, ''), NULLIF($3::text, ''), NULLIF($4::text, ''), $5::timestamptz,
        $6::text, $7::int, $8::timestamptz)
ON CONFLICT (goal_id) DO UPDATE SET
    {_least("programme_id")},
    {_least("enrolment_id")},
    {_least("territory")},
    set_at = LEAST(f.set_at, EXCLUDED.set_at),
    {_latest(("status", "status_seq", "status_at"), _STATUS_KEY)}
"""

_QUALIFICATION_KEY = '({0}.status_at, {0}.status COLLATE "C", {0}.dossier_id COLLATE "C")'
_SIGNAL_UPSERT = f"""
INSERT INTO {{table}} AS f
    (signal_id, territory, signaller_kind, submitted_at, status, status_at, dossier_id, escalated_at)
VALUES ($1::text, NULLIF($2::text, ''), NULLIF($3::text, ''), $4::timestamptz, $5::text, $6::timestamptz,
        $7::text, $8::timestamptz)
ON CONFLICT (signal_id) DO UPDATE SET
    {_least("territory")},
    {_least("signaller_kind")},
    submitted_at = LEAST(f.submitted_at, EXCLUDED.submitted_at),
    {_latest(("status", "status_at", "dossier_id"), _QUALIFICATION_KEY)},
    escalated_at = LEAST(f.escalated_at, EXCLUDED.escalated_at)
"""


def _enrolment_row(e: EnrolmentDelta) -> tuple[object, ...]:
    status, outcome = e.status, e.outcome
    return (
        e.enrolment_id,
        e.programme_id,
        e.territory,
        e.person_id,
        e.enrolled_at,
        status[2] if status else None,
        status[0] if status else None,
        status[1] if status else None,
        e.waited,
        e.ever_enrolled,
        outcome[2] if outcome else None,
        outcome[0] if outcome else None,
        outcome[1] if outcome else None,
    )


def _goal_row(g: GoalDelta) -> tuple[object, ...]:
    status = g.status
    return (
        g.goal_id,
        g.programme_id,
        g.enrolment_id,
        g.territory,
        g.set_at,
        status[2] if status else None,
        status[0] if status else None,
        status[1] if status else None,
    )


def _signal_row(s: SignalDelta) -> tuple[object, ...]:
    q = s.qualification
    return (
        s.signal_id,
        s.territory,
        s.signaller_kind,
        s.submitted_at,
        q[1] if q else None,
        q[0] if q else None,
        q[2] if q else None,
        s.escalated_at,
    )


async def apply_collective(conn: Connection, folded: CollectiveFold, tables: Tables = LIVE) -> None:
    """Upserts the batch's rows in key order (concurrent batches lock rows alike)."""
    if folded.sessions:
        await conn.executemany(
            _SESSION_UPSERT.format(table=tables.group_sessions),
            [(k, *folded.sessions[k]) for k in sorted(folded.sessions)],
        )
    if folded.enrolments:
        await conn.executemany(
            _ENROLMENT_UPSERT.format(table=tables.enrolments),
            [_enrolment_row(folded.enrolments[k]) for k in sorted(folded.enrolments)],
        )
    if folded.goals:
        await conn.executemany(
            _GOAL_UPSERT.format(table=tables.goals),
            [_goal_row(folded.goals[k]) for k in sorted(folded.goals)],
        )
    if folded.signals:
        await conn.executemany(
            _SIGNAL_UPSERT.format(table=tables.signals),
            [_signal_row(folded.signals[k]) for k in sorted(folded.signals)],
        )
