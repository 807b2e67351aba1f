"""Records AidRequestWorkflow histories for the replay tests (tests/histories/).

Run when the workflow changes in a way worth pinning:
`python -m tests.record_aid_request_histories`. The workflows run on Temporal's
time-skipping server (days pass at once) with a stand-in AID_DEADLINE_PASSED (its result
is in the history; replay does not run it). Committed histories are never re-recorded:
they stand for aid requests already running in production.
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

from domain.aides import AidRequestStatus
from kernel.codec import data_converter
from services.intake.aides.settings import AidSettings
from tests.paths import HISTORIES
from tests.record_histories import HISTORY_PAYLOAD_KEYS
from workflows.aid_request import AidRequestWorkflow
from workflows.contracts import (
    AID_REQUEST_CHANGED_SIGNAL,
    DOSSIER_TASK_QUEUE,
    INTAKE_TASK_QUEUE,
    ActivityName,
    AidDeadline,
    AidProgress,
    AidRequestInput,
    aid_request_workflow_id,
)

Handle = WorkflowHandle[AidRequestWorkflow, str]
SETTINGS = AidSettings()
DAY = timedelta(days=1)


@activity.defn(name=ActivityName.AID_DEADLINE_PASSED)
async def deadline_passed(command: AidDeadline) -> str:
    return "task"


async def _start(env: WorkflowEnvironment) -> Handle:
    aid_request_id = str(uuid.uuid4())
    now = await env.get_current_time()
    return await env.client.start_workflow(
        AidRequestWorkflow.run,
        AidRequestInput(
            aid_request_id=aid_request_id,
            dossier_id=str(uuid.uuid4()),
            territory="55029",
            status=AidRequestStatus.SUBMITTED.value,
            changed_at=now.astimezone(UTC).isoformat(),
            instruction_s=SETTINGS.instruction_s,
            commission_s=SETTINGS.commission_s,
            payment_s=SETTINGS.payment_s,
            version=1,
        ),
        id=aid_request_workflow_id(aid_request_id),
        task_queue=DOSSIER_TASK_QUEUE,
    )


async def _progress(env: WorkflowEnvironment, handle: Handle, status: AidRequestStatus, version: int) -> None:
    now = await env.get_current_time()
    progress = AidProgress(status.value, now.astimezone(UTC).isoformat(), version)
    await handle.signal(AID_REQUEST_CHANGED_SIGNAL, progress)


async def late_at_every_step_then_closed(env: WorkflowEnvironment) -> Handle:
    """Late to instruct, found incomplete (re-timed), complete, late for the commission,
    postponed, granted, late to pay, closed; a repeated progress among them."""
    handle = await _start(env)
    await env.sleep(20 * DAY)
    await _progress(env, handle, AidRequestStatus.INCOMPLETE, 2)
    await env.sleep(20 * DAY)
    await _progress(env, handle, AidRequestStatus.COMPLETE, 3)
    await _progress(env, handle, AidRequestStatus.COMPLETE, 3)
    await env.sleep(50 * DAY)
    await _progress(env, handle, AidRequestStatus.POSTPONED, 4)
    await env.sleep(10 * DAY)
    await _progress(env, handle, AidRequestStatus.GRANTED, 5)
    await env.sleep(20 * DAY)
    await _progress(env, handle, AidRequestStatus.CLOSED, 6)
    await handle.result()
    return handle


async def refused_in_time(env: WorkflowEnvironment) -> Handle:
    handle = await _start(env)
    await env.sleep(3 * DAY)
    await _progress(env, handle, AidRequestStatus.COMPLETE, 2)
    await env.sleep(10 * DAY)
    await _progress(env, handle, AidRequestStatus.SCHEDULED, 3)
    await env.sleep(10 * DAY)
    await _progress(env, handle, AidRequestStatus.REFUSED, 4)
    await handle.result()
    return handle


async def withdrawn(env: WorkflowEnvironment) -> Handle:
    handle = await _start(env)
    await env.sleep(DAY)
    await _progress(env, handle, AidRequestStatus.WITHDRAWN, 2)
    await handle.result()
    return handle


SCENARIOS: dict[str, Callable[[WorkflowEnvironment], Awaitable[Handle]]] = {
    "aid_request_v1_late_at_every_step_closed": late_at_every_step_then_closed,
    "aid_request_v1_refused_in_time": refused_in_time,
    "aid_request_v1_withdrawn": withdrawn,
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
            Worker(client, task_queue=DOSSIER_TASK_QUEUE, workflows=[AidRequestWorkflow]),
            Worker(client, task_queue=INTAKE_TASK_QUEUE, activities=[deadline_passed]),
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
