"""How long OpenDossier waits for a workflow worker to accept the opening update.

No acceptance within ACCEPT_WITHIN means no worker (UNAVAILABLE, WORKER_UNAVAILABLE:
retry with the same request id). But a live worker can take longer than that to get a
new dossier's first workflow task when the Temporal server is the bottleneck: with 50
concurrent OpenDossier calls on the dev server, 97 of 100 were refused while the bare
update-with-start of the same workflow shape succeeded in 7 s (bench.open_dossier). So
the wait goes on, one ACCEPT_WITHIN slice after another, while there is evidence of a
live worker: another opening of this process was accepted during the slice, or else
(asked of Temporal only then) a worker has this dossier's workflow task in hand, or a
worker polled the queue during the slice. None of these, and the answer is still
UNAVAILABLE within about ACCEPT_WITHIN (WORKER_UNAVAILABLE). The call's deadline reached
after slices that all saw a live worker is UNAVAILABLE too, but WORKER_BUSY: the engine
is overloaded, not down (both are retried with the same request id).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import PendingWorkflowTaskState, TaskQueueKind, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest, DescribeWorkflowExecutionRequest
from temporalio.client import Client

from kernel.temporal import ACCEPT_WITHIN, no_worker, worker_busy
from workflows.contracts import DOSSIER_TASK_QUEUE

T = TypeVar("T")
DESCRIBE_TIMEOUT = timedelta(seconds=1)


async def worker_polled_within(client: Client, task_queue: str, within: timedelta) -> bool:
    """Temporal saw a worker poll `task_queue`'s workflow tasks within `within` (a live
    worker under load polls again as soon as it is handed a task)."""
    request = DescribeTaskQueueRequest(
        namespace=client.namespace,
        task_queue=TaskQueue(name=task_queue, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    )
    try:
        described = await client.workflow_service.describe_task_queue(request, timeout=DESCRIBE_TIMEOUT)
    except Exception:  # no answer is no evidence of a worker
        return False
    seen = [
        p.last_access_time.ToDatetime(tzinfo=UTC) for p in described.pollers if p.HasField("last_access_time")
    ]
    return bool(seen) and datetime.now(UTC) - max(seen) <= within


async def task_in_hand(client: Client, workflow_id: str) -> bool:
    """A worker has started the workflow's pending workflow task (it is running it, slowly)."""
    request = DescribeWorkflowExecutionRequest(
        namespace=client.namespace, execution=WorkflowExecution(workflow_id=workflow_id)
    )
    try:
        described = await client.workflow_service.describe_workflow_execution(
            request, timeout=DESCRIBE_TIMEOUT
        )
    except Exception:  # not started yet, or no answer: no evidence
        return False
    return bool(
        described.HasField("pending_workflow_task")
        and described.pending_workflow_task.state
        == PendingWorkflowTaskState.PENDING_WORKFLOW_TASK_STATE_STARTED
    )


class AcceptanceWatch:
    """The acceptances seen by this process: the evidence that workers are polling."""

    def __init__(self, slice_: timedelta = ACCEPT_WITHIN, task_queue: str = DOSSIER_TASK_QUEUE) -> None:
        self.slice = slice_
        self.task_queue = task_queue
        self.accepted = 0

    async def within(
        self, wait: Awaitable[T], deadline: timedelta, client: Client | None = None, workflow_id: str = ""
    ) -> T:
        """`wait`'s result (the update accepted), or UNAVAILABLE after a slice without
        evidence of a live worker (with `client`, Temporal is asked about the workflow's
        task and the queue's pollers before giving up), or at `deadline` (WORKER_BUSY
        when the slices before it saw a live worker)."""
        task = asyncio.ensure_future(wait)
        end = time.monotonic() + deadline.total_seconds()
        worker_at_work = False  # a slice ended with evidence of a live worker
        try:
            while True:
                seen = self.accepted
                left = end - time.monotonic()
                done, _ = await asyncio.wait({task}, timeout=max(0.0, min(self.slice.total_seconds(), left)))
                if done:
                    result = task.result()
                    self.accepted += 1
                    return result
                if time.monotonic() >= end:
                    raise worker_busy() if worker_at_work else no_worker()
                if self.accepted == seen and not await self._worker_seen(client, workflow_id):
                    raise no_worker()
                worker_at_work = True
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task

    async def _worker_seen(self, client: Client | None, workflow_id: str) -> bool:
        if client is None:
            return False
        if workflow_id and await task_in_hand(client, workflow_id):
            return True
        return await worker_polled_within(client, self.task_queue, self.slice)


# One per process: intake's openings all go to the same workflow task queue.
OPENINGS = AcceptanceWatch()
