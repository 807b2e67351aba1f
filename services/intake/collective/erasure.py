"""A participant's personal data in the collective actions, for the person's rights
(services/intake/rights.py): the records its export gathers, and the erasure of its free
text. Erasing keeps the codes (attendance, goal statuses, outcomes) so the bilan does not
move, and removes the goals' titles, their progress notes and the titles quoted in the
participant's dossier timeline. Functions run inside the caller's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from kernel.db import Connection
from services.intake.collective.rules import GOAL_ENTRY_PREFIX, erased_goal_summary
from services.intake.schema import SCHEMA


@dataclass(frozen=True)
class Participation:
    """A person's enrolments (with the programme's name), attendance, goals and notes."""

    enrolments: list[asyncpg.Record]
    attendance: list[asyncpg.Record]
    goals: list[asyncpg.Record]
    notes: list[asyncpg.Record]


async def participation(conn: Connection, person_ids: Sequence[uuid.UUID]) -> Participation:
    enrolments = await conn.fetch(
        f"""SELECT e.*, p.name AS programme_name FROM {SCHEMA}.enrolments e
              JOIN {SCHEMA}.programmes p ON p.programme_id = e.programme_id
             WHERE e.person_id = ANY($1::uuid[])
             ORDER BY e.enrolled_at, e.enrolment_id""",
        list(person_ids),
    )
    enrolment_ids = [row["enrolment_id"] for row in enrolments]
    attendance = await conn.fetch(
        f"""SELECT a.enrolment_id, a.presence, a.recorded_at, s.day, s.starts_at
              FROM {SCHEMA}.session_attendance a
              JOIN {SCHEMA}.group_sessions s ON s.session_id = a.session_id
             WHERE a.enrolment_id = ANY($1::uuid[])
             ORDER BY a.enrolment_id, s.day, s.starts_at""",
        enrolment_ids,
    )
    goals = await conn.fetch(
        f"""SELECT * FROM {SCHEMA}.goals WHERE enrolment_id = ANY($1::uuid[])
             ORDER BY enrolment_id, created_at, goal_id""",
        enrolment_ids,
    )
    notes = await conn.fetch(
        f"SELECT * FROM {SCHEMA}.goal_notes WHERE goal_id = ANY($1::uuid[]) ORDER BY goal_id, seq",
        [row["goal_id"] for row in goals],
    )
    return Participation(list(enrolments), list(attendance), list(goals), list(notes))


async def erase_dossiers(conn: Connection, dossier_ids: Sequence[uuid.UUID], at: datetime) -> int:
    """Erases the goals (titles and notes) of the enrolments of these dossiers and the
    titles in their timeline entries; returns the number of goals and notes erased now
    (0 when there was nothing left to erase)."""
    if not dossier_ids:
        return 0
    ids = list(dossier_ids)
    goals = await conn.fetch(
        f"""UPDATE {SCHEMA}.goals g SET title = '', erased_at = $2, updated_at = $2
              FROM {SCHEMA}.enrolments e
             WHERE e.enrolment_id = g.enrolment_id AND e.dossier_id = ANY($1::uuid[])
               AND g.erased_at IS NULL
         RETURNING g.goal_id""",
        ids,
        at,
    )
    notes = await conn.fetch(
        f"""UPDATE {SCHEMA}.goal_notes n SET text = '', erased_at = $2
              FROM {SCHEMA}.goals g JOIN {SCHEMA}.enrolments e ON e.enrolment_id = g.enrolment_id
             WHERE n.goal_id = g.goal_id AND e.dossier_id = ANY($1::uuid[]) AND n.erased_at IS NULL
         RETURNING n.goal_id""",
        ids,
        at,
    )
    entries = await conn.fetch(
        f"""SELECT dossier_id, entry_key, summary FROM {SCHEMA}.collective_timeline
             WHERE dossier_id = ANY($1::uuid[]) AND starts_with(entry_key, $2)""",
        ids,
        GOAL_ENTRY_PREFIX,
    )
    for entry in entries:
        summary = erased_goal_summary(entry["summary"])
        if summary != entry["summary"]:
            await conn.execute(
                f"""UPDATE {SCHEMA}.collective_timeline SET summary = $3
                     WHERE dossier_id = $1 AND entry_key = $2""",
                entry["dossier_id"],
                entry["entry_key"],
                summary,
            )
    return len(goals) + len(notes)
