"""Records AppointmentWorkflow histories for the replay tests (tests/histories/).

Run when the workflow changes in a way worth pinning:
`python -m tests.record_appointment_histories`. The workflows run on Temporal's
time-skipping server (days pass at once) with stand-in activities (their results are in
the history; replay does not run them). Committed histories are never re-recorded: they
stand for appointments already running in production.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio import activity
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from domain.planning import AppointmentStatus
from kernel.codec import data_converter
from tests.paths import HISTORIES
from tests.record_histories import HISTORY_PAYLOAD_KEYS
from workflows.appointment import AppointmentWorkflow
from workflows.contracts import (
    DOSSIER_TASK_QUEUE,
    INTAKE_TASK_QUEUE,
    ActivityName,
    AppointmentChange,
    AppointmentInput,
    AppointmentSchedule,
    AppointmentTimers,
    ProposeNoShow,
    QueueMessage,
    appointment_workflow_id,
)

Handle = WorkflowHandle[AppointmentWorkflow, str]


@activity.defn(name=ActivityName.QUEUE_PERSON_MESSAGE)
async def queue(command: QueueMessage) -> str:
    return "queued"


@activity.defn(name=ActivityName.PROPOSE_NO_SHOW)
async def propose(command: ProposeNoShow) -> bool:
    return True


def _schedule(starts: datetime, version: int) -> AppointmentSchedule:
    return AppointmentSchedule(starts.isoformat(), (starts + timedelta(minutes=30)).isoformat(), version)


async def _start(env: WorkflowEnvironment, days: float) -> tuple[Handle, datetime]:
    now = await env.get_current_time()
    starts = (now + timedelta(days=days)).replace(microsecond=0)
    appointment_id = str(uuid.uuid4())
    timers = AppointmentTimers(reminder_s=48 * 3600.0, second_reminder_s=2 * 3600.0, no_show_grace_s=1800.0)
    handle = await env.client.start_workflow(
        AppointmentWorkflow.run,
        AppointmentInput(appointment_id, "55029", _schedule(starts, 1), timers),
        id=appointment_workflow_id(appointment_id),
        task_queue=DOSSIER_TASK_QUEUE,
    )
    return handle, starts


async def moved_reminded_no_show(env: WorkflowEnvironment) -> Handle:
    """Booked, moved (v2), both reminders of v2, no attendance: no-show proposed."""
    handle, starts = await _start(env, 10)
    await env.sleep(timedelta(days=2))
    await handle.execute_update(
        AppointmentWorkflow.reschedule, AppointmentChange(schedule=_schedule(starts + timedelta(days=3), 2))
    )
    await handle.result()
    return handle


async def reminded_attended(env: WorkflowEnvironment) -> Handle:
    handle, starts = await _start(env, 5)
    await env.sleep(starts - await env.get_current_time() + timedelta(minutes=5))
    await handle.execute_update(
        AppointmentWorkflow.attendance, AppointmentChange(status=AppointmentStatus.ARRIVED)
    )
    await handle.result()
    return handle


async def cancelled(env: WorkflowEnvironment) -> Handle:
    handle, _ = await _start(env, 6)
    await env.sleep(timedelta(days=1))
    await handle.execute_update(AppointmentWorkflow.cancel, AppointmentChange())
    await handle.result()
    return handle


SCENARIOS: dict[str, Callable[[WorkflowEnvironment], Awaitable[Handle]]] = {
    "appointment_v1_moved_reminded_no_show": moved_reminded_no_show,
    "appointment_v1_reminded_attended": reminded_attended,
    "appointment_v1_cancelled": cancelled,
}


async def record() -> None:
    server = Path(sys.executable).parent / "temporal-test-server"
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(server),
        data_converter=data_converter({"ENTRAIDE_PAYLOAD_KEYS": HISTORY_PAYLOAD_KEYS}),
    )
    async with env:
        client: Client = env.client
        async with (
            Worker(client, task_queue=DOSSIER_TASK_QUEUE, workflows=[AppointmentWorkflow]),
            Worker(client, task_queue=INTAKE_TASK_QUEUE, activities=[queue, propose]),
        ):
            for name, scenario in SCENARIOS.items():
                path = HISTORIES / f"{name}.json"
                if path.exists():
                    print(f"kept {path.name} (recorded histories are never rewritten)")
                    continue
                handle = await scenario(env)
                history = await handle.fetch_history()
                path.write_text(history.to_json())
                print(f"recorded {path.name}: {len(history.events)} events at {datetime.now(UTC):%Y-%m-%d}")


if __name__ == "__main__":
    asyncio.run(record())
