"""The signal workflow's activity on intake's task queue: ESCALATE_SIGNAL marks a
signal still unqualified after the deployment's delay (the queue shows it first,
flagged) and writes SignalEscalated, in one transaction, once: a retried activity, or
one for a signal qualified meanwhile, changes nothing. Returns a reason code."""

from __future__ import annotations

from datetime import UTC, datetime

from entraide.v1 import events_pb2
from temporalio import activity

from domain.events import EventType
from kernel import outbox
from kernel.db import Pool, system_scope
from kernel.events import new_event, step_event_id
from kernel.timestamps import to_timestamp
from services.intake.schema import SCHEMA
from services.intake.signals import store
from workflows.contracts import ActivityName, EscalateSignal, signal_workflow_id

SOURCE = "entraide/intake"


class SignalActivities:
    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    @activity.defn(name=ActivityName.ESCALATE_SIGNAL)
    async def escalate_signal(self, command: EscalateSignal) -> str:
        async with system_scope(self.pool, [command.territory]) as conn:
            async with conn.transaction():
                row = await store.escalate(conn, command.signal_id)
                if row is None:
                    return "not_escalated"  # qualified meanwhile, or escalated already
                at = row["escalated_at"] or datetime.now(UTC)
                payload = events_pb2.SignalEscalated(
                    signal_id=command.signal_id, territory=command.territory, at=to_timestamp(at)
                )
                event = new_event(
                    EventType.SIGNAL_ESCALATED,
                    SOURCE,
                    command.signal_id,
                    payload,
                    event_id=step_event_id(signal_workflow_id(command.signal_id), EventType.SIGNAL_ESCALATED),
                    time=at,
                )
                await outbox.write(conn, SCHEMA, event)
        return "escalated"
