"""What a late aid request asks of an agent, in the inbox of its dossier (ListTasks):
the rows AID_DEADLINE_PASSED wrote (aid_tasks), each shown only while its request is
still at the version whose deadline passed — any change of the request (instructed,
scheduled, decided, paid, withdrawn...) takes its task away; and, as every task, only
on dossiers not closed. Kinds: aid_instruction_late, aid_decision_late,
aid_payment_late (domain.vocabulary.TaskKind). Rows have the columns of
repository.open_tasks' rows (`step_kind` holding the task's kind, `step` 0: no step of
the dossier) plus `aid_request_id`; task_message converts them.
"""

from __future__ import annotations

import asyncpg
from entraide.v1 import intake_pb2

from domain.aides import AidStep
from domain.vocabulary import Stage, TaskKind
from kernel.db import Connection
from kernel.timestamps import to_timestamp
from services.intake.schema import SCHEMA

TASK_KIND_OF_AID_STEP: dict[AidStep, TaskKind] = {
    AidStep.INSTRUCTION: TaskKind.AID_INSTRUCTION_LATE,
    AidStep.COMMISSION: TaskKind.AID_DECISION_LATE,
    AidStep.PAYMENT: TaskKind.AID_PAYMENT_LATE,
}
AID_TASK_KINDS = frozenset(TASK_KIND_OF_AID_STEP.values())


async def aid_tasks(
    conn: Connection, territories: list[str], assigned_agent: str | None, limit: int
) -> list[asyncpg.Record]:
    """The open aid tasks of the communes' dossiers (of the agent's, if given), newest first."""
    return list(
        await conn.fetch(
            f"""SELECT t.dossier_id, 0 AS step, t.at,
                       CASE t.step WHEN $4 THEN $5 WHEN $6 THEN $7 WHEN $8 THEN $9 END AS step_kind,
                       NULL::uuid AS referral_id, NULL::text AS referral_status,
                       NULL::text AS partner_name,
                       d.territory, d.stage, d.urgent, d.assigned_agent, t.aid_request_id
                  FROM {SCHEMA}.aid_tasks t
                  JOIN {SCHEMA}.aid_requests r
                    ON r.aid_request_id = t.aid_request_id AND r.version = t.version
                  JOIN {SCHEMA}.dossiers d ON d.dossier_id = t.dossier_id
                 WHERE t.territory = ANY($1::text[]) AND d.territory = ANY($1::text[])
                   AND d.stage <> $10
                   AND ($2::text IS NULL OR d.assigned_agent = $2)
                 ORDER BY t.at DESC, t.dossier_id DESC
                 LIMIT $3""",
            territories,
            assigned_agent,
            limit,
            AidStep.INSTRUCTION.value,
            TaskKind.AID_INSTRUCTION_LATE.value,
            AidStep.COMMISSION.value,
            TaskKind.AID_DECISION_LATE.value,
            AidStep.PAYMENT.value,
            TaskKind.AID_PAYMENT_LATE.value,
            Stage.CLOTURE.value,
        )
    )


def is_aid_task(row: asyncpg.Record) -> bool:
    return row["step_kind"] in AID_TASK_KINDS


def task_message(row: asyncpg.Record) -> intake_pb2.Task:
    return intake_pb2.Task(
        dossier_id=str(row["dossier_id"]),
        kind=TaskKind(row["step_kind"]).value,
        at=to_timestamp(row["at"]),
        territory=row["territory"],
        stage=row["stage"],
        urgent=row["urgent"],
        assigned_agent=row["assigned_agent"],
        step=0,
        aid_request_id=str(row["aid_request_id"]),
    )
