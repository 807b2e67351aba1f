"""The bilan's collective actions figures, from the group session, enrolment and goal
facts (migration 008).

Definitions (a period is [start, end); the caller's territories filter every row):
- sessions held: sessions whose attendance sheet was recorded, held in the period (the
  latest sheet); presences and absences (excused included) summed over them; attendance
  rate = presences / (presences + absences), percent, one decimal (0 without any);
- participants: distinct persons (by person id: a person enrolled in programmes of
  several communes counts once) whose enrolment was on the list at some time (enrolled,
  whatever followed: completed or withdrawn; not one only ever on the waiting list), in
  a programme with a session held in the period;
- waiting list: enrolments put on the waiting list when asked for (over capacity), in a
  programme with a session held in the period (whatever followed: a place freed, or the
  list closed with the programme);
- goals reached / given up: goals whose latest status is reached / given up and was set
  in the period; goals set: goals first set in the period;
- outcomes: the latest outcome of each enrolment, recorded in the period, by outcome.
The previous period is the one of equal length just before.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from domain.collective import GoalStatus
from kernel.db import Connection
from services.reporting.projection.tables import Tables
from services.reporting.shares import Share, percent, shares


@dataclass(frozen=True)
class CollectiveCounts:
    sessions: int = 0
    presences: int = 0
    absences: int = 0
    participants: int = 0
    waiting: int = 0
    goals_reached: int = 0
    goals_given_up: int = 0
    goals_set: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class CollectiveFigures:
    sessions_held: int = 0
    participants: int = 0
    attendance_rate: float = 0.0
    presences: int = 0
    absences: int = 0
    goals_reached: int = 0
    goals_given_up: int = 0
    goals_set: int = 0
    by_outcome: list[Share] = field(default_factory=list)
    previous_sessions_held: int = 0
    previous_participants: int = 0
    waiting_list: int = 0


def attendance_rate(presences: int, absences: int) -> float:
    return percent(presences, presences + absences)


_SESSIONS_SQL = """
WITH s AS MATERIALIZED (
    SELECT programme_id, present, absent FROM {sessions}
     WHERE territory = ANY($1::text[]) AND held_at >= $2 AND held_at < $3),
p AS (SELECT DISTINCT programme_id FROM s),
e AS MATERIALIZED (
    SELECT e.person_id, e.waited, e.ever_enrolled FROM {enrolments} e JOIN p USING (programme_id)
     WHERE e.territory = ANY($1::text[]))
SELECT (SELECT count(*) FROM s) AS sessions,
       (SELECT COALESCE(sum(present), 0) FROM s) AS presences,
       (SELECT COALESCE(sum(absent), 0) FROM s) AS absences,
       (SELECT count(DISTINCT person_id) FROM e WHERE ever_enrolled) AS participants,
       (SELECT count(*) FROM e WHERE waited) AS waiting
"""
_GOALS_SQL = """
SELECT count(*) FILTER (WHERE status = $4 AND status_at >= $2 AND status_at < $3) AS reached,
       count(*) FILTER (WHERE status = $5 AND status_at >= $2 AND status_at < $3) AS given_up,
       count(*) FILTER (WHERE set_at >= $2 AND set_at < $3) AS goals_set
  FROM {goals}
 WHERE territory = ANY($1::text[])
   AND ((status_at >= $2 AND status_at < $3) OR (set_at >= $2 AND set_at < $3))
"""
_OUTCOMES_SQL = """
SELECT outcome, count(*) AS n FROM {enrolments}
 WHERE territory = ANY($1::text[]) AND outcome_at >= $2 AND outcome_at < $3
 GROUP BY outcome
"""


async def counts(
    conn: Connection, tables: Tables, territories: list[str], start: datetime, end: datetime
) -> CollectiveCounts:
    period = (territories, start, end)
    s = await conn.fetchrow(
        _SESSIONS_SQL.format(sessions=tables.group_sessions, enrolments=tables.enrolments), *period
    )
    g = await conn.fetchrow(
        _GOALS_SQL.format(goals=tables.goals), *period, GoalStatus.REACHED, GoalStatus.GIVEN_UP
    )
    outcomes = await conn.fetch(_OUTCOMES_SQL.format(enrolments=tables.enrolments), *period)
    assert s is not None and g is not None
    return CollectiveCounts(
        sessions=int(s["sessions"]),
        presences=int(s["presences"]),
        absences=int(s["absences"]),
        participants=int(s["participants"]),
        waiting=int(s["waiting"]),
        goals_reached=int(g["reached"]),
        goals_given_up=int(g["given_up"]),
        goals_set=int(g["goals_set"]),
        outcomes={row["outcome"]: int(row["n"]) for row in outcomes},
    )


def figures(now: CollectiveCounts, before: CollectiveCounts) -> CollectiveFigures:
    return CollectiveFigures(
        sessions_held=now.sessions,
        participants=now.participants,
        attendance_rate=attendance_rate(now.presences, now.absences),
        presences=now.presences,
        absences=now.absences,
        goals_reached=now.goals_reached,
        goals_given_up=now.goals_given_up,
        goals_set=now.goals_set,
        by_outcome=shares(now.outcomes, before.outcomes, sum(now.outcomes.values())),
        previous_sessions_held=before.sessions,
        previous_participants=before.participants,
        waiting_list=now.waiting,
    )
