"""The aid request workflow's activity on intake's task queue: AID_DEADLINE_PASSED.

The deadline of the step the request waited for passed with no newer change known to
the workflow. In one transaction, the request's row locked: if it is still at the
version that armed the deadline (and still at that step), the agent's task
(aid_tasks, keyed by request, step and version) and the dossier's timeline entry are
written; otherwise nothing (the request moved on: its RPC's signal was on its way).
A retried activity finds its task and writes nothing more. Returns a code (Passed).
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from temporalio import activity

from domain.aides import AidRequestStatus, AidStep, step_of
from domain.vocabulary import SYSTEM_ACTOR
from kernel.db import Connection, Pool, system_scope
from services.intake.schema import SCHEMA
from workflows.contracts import ActivityName, AidDeadline

# The timeline entry's kind, and its French summary per step.
TIMELINE_KIND = "aid_deadline_passed"
SUMMARIES: dict[AidStep, str] = {
    AidStep.INSTRUCTION: "Demande d'aide : délai d'instruction dépassé",
    AidStep.COMMISSION: "Demande d'aide : délai de décision dépassé",
    AidStep.PAYMENT: "Aide accordée : délai de paiement dépassé",
}


class Passed(StrEnum):
    TASK = "task"
    ALREADY = "already"  # a retry: the task is there
    MOVED_ON = "moved_on"  # the request changed since the deadline was armed
    UNKNOWN = "unknown"  # no such request (never for a request the RPCs started)


def entry_key(step: AidStep, version: int) -> str:
    """The timeline entry's key, unique per request (one task per step and version)."""
    return f"late:{step.value}:{version}"


class AidActivities:
    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    @activity.defn(name=ActivityName.AID_DEADLINE_PASSED)
    async def aid_deadline_passed(self, command: AidDeadline) -> str:
        step = AidStep(command.step)
        async with system_scope(self.pool, [command.territory]) as conn:
            async with conn.transaction():
                return (await deadline_passed(conn, command, step, datetime.now(UTC))).value


async def deadline_passed(conn: Connection, command: AidDeadline, step: AidStep, at: datetime) -> Passed:
    row = await conn.fetchrow(
        f"""SELECT dossier_id, status, version FROM {SCHEMA}.aid_requests
             WHERE aid_request_id = $1 FOR UPDATE""",
        command.aid_request_id,
    )
    if row is None:
        return Passed.UNKNOWN
    if row["version"] != command.version or step_of(AidRequestStatus(row["status"])) is not step:
        return Passed.MOVED_ON
    inserted = await conn.fetchval(
        f"""INSERT INTO {SCHEMA}.aid_tasks (aid_request_id, step, version, dossier_id, territory, at)
            VALUES ($1, $2, $3, $4, $5, $6)
            ON CONFLICT (aid_request_id, step, version) DO NOTHING
            RETURNING true""",
        command.aid_request_id,
        step.value,
        command.version,
        row["dossier_id"],
        command.territory,
        at,
    )
    if not inserted:
        return Passed.ALREADY
    await _timeline(conn, command, str(row["dossier_id"]), step, at)
    return Passed.TASK


async def _timeline(
    conn: Connection, command: AidDeadline, dossier_id: str, step: AidStep, at: datetime
) -> None:
    """The dossier's entry, with the dossier's stage now (as the other aid entries)."""
    await conn.execute(
        f"""INSERT INTO {SCHEMA}.aid_timeline
                (dossier_id, entry_key, aid_request_id, territory, kind, stage, actor, at, summary)
            SELECT d.dossier_id, $2, $3, $4, $5, d.stage, $6, $7, $8
              FROM {SCHEMA}.dossiers d WHERE d.dossier_id = $1
            ON CONFLICT (dossier_id, entry_key) DO NOTHING""",
        dossier_id,
        f"{command.aid_request_id}:{entry_key(step, command.version)}",
        command.aid_request_id,
        command.territory,
        TIMELINE_KIND,
        SYSTEM_ACTOR,
        at,
        SUMMARIES[step],
    )
