"""What an appointment asks of an agent, in the inbox of its dossier (ListTasks):
- `appointment_no_show`: it ended with nothing recorded (the workflow's PROPOSE_NO_SHOW
  set no_show_proposed_at), open until an attendance or a cancellation is recorded;
- `message_failed`: a message to the person was given up (`failed`: a permanent
  refusal or the last attempt), open while the appointment is still booked and not
  over, unless a later message of it was sent since.
Only appointments with a dossier are shown (the inbox lists dossiers). Rows have the
columns of repository.open_tasks' rows, `step_kind` holding the task's kind, so that
one conversion (grpc_api.task_message) serves both.
"""

from __future__ import annotations

import asyncpg

from domain.planning import AppointmentStatus, MessageStatus
from domain.vocabulary import Stage, TaskKind
from kernel.db import Connection
from services.intake.schema import SCHEMA


async def appointment_tasks(
    conn: Connection, territories: list[str], assigned_agent: str | None, limit: int
) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            f"""SELECT * FROM (
                    SELECT a.dossier_id, 0 AS step, a.no_show_proposed_at AS at, $4::text AS step_kind,
                           NULL::uuid AS referral_id, NULL::text AS referral_status,
                           NULL::text AS partner_name,
                           d.territory, d.stage, d.urgent, d.assigned_agent
                      FROM {SCHEMA}.appointments a
                      JOIN {SCHEMA}.dossiers d ON d.dossier_id = a.dossier_id
                     WHERE a.territory = ANY($1::text[]) AND a.no_show_proposed_at IS NOT NULL
                       AND a.status = $6
                    UNION ALL
                    -- A failed row's next_attempt_at is the time it failed (sender._failed).
                    SELECT a.dossier_id, 0, m.next_attempt_at, $5::text,
                           NULL::uuid, NULL::text, NULL::text,
                           d.territory, d.stage, d.urgent, d.assigned_agent
                      FROM {SCHEMA}.person_messages m
                      JOIN {SCHEMA}.appointments a ON a.appointment_id = m.appointment_id
                      JOIN {SCHEMA}.dossiers d ON d.dossier_id = a.dossier_id
                     WHERE m.territory = ANY($1::text[]) AND m.status = $7
                       AND a.status = $6 AND a.ends_at > now()
                       AND NOT EXISTS (
                           SELECT 1 FROM {SCHEMA}.person_messages s
                            WHERE s.appointment_id = m.appointment_id AND s.status = $8
                              AND s.sent_at > m.next_attempt_at)
                ) t
             WHERE t.territory = ANY($1::text[]) AND t.stage <> $9
               AND ($2::text IS NULL OR t.assigned_agent = $2)
             ORDER BY t.at DESC, t.dossier_id DESC
             LIMIT $3""",
            territories,
            assigned_agent,
            limit,
            TaskKind.APPOINTMENT_NO_SHOW.value,
            TaskKind.MESSAGE_FAILED.value,
            AppointmentStatus.BOOKED.value,
            MessageStatus.FAILED.value,
            MessageStatus.SENT.value,
            Stage.CLOTURE.value,
        )
    )
