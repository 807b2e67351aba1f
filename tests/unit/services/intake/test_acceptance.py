"""OpenDossier's wait for acceptance: UNAVAILABLE after a slice without evidence of a
worker, longer while other openings get accepted or Temporal sees a worker polling, the
wait cancelled when given up."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from temporalio.api.enums.v1 import PendingWorkflowTaskState
from temporalio.api.taskqueue.v1 import PollerInfo
from temporalio.api.workflow.v1 import PendingWorkflowTaskInfo
from temporalio.api.workflowservice.v1 import DescribeTaskQueueResponse, DescribeWorkflowExecutionResponse

from kernel.errors import Unavailable
from services.intake.acceptance import AcceptanceWatch
from workflows.contracts import DOSSIER_TASK_QUEUE


async def test_an_accepted_update_is_answered_and_counted() -> None:
    watch = AcceptanceWatch()

    async def accepted() -> str:
        return "handle"

    assert await watch.within(accepted(), timedelta(seconds=30)) == "handle"
    assert watch.accepted == 1


async def test_no_acceptance_in_a_slice_is_no_worker_and_the_wait_is_cancelled() -> None:
    watch = AcceptanceWatch(timedelta(milliseconds=20))
    never = asyncio.get_running_loop().create_future()

    async def waiting() -> None:
        await never

    with pytest.raises(Unavailable) as refused:
        await watch.within(waiting(), timedelta(seconds=30))
    assert refused.value.reason == "WORKER_UNAVAILABLE"
    assert watch.accepted == 0
    assert never.cancelled()


async def test_the_wait_goes_on_while_other_openings_are_accepted() -> None:
    # The slow wait outlives two slices; each slice sees others accepted (~every 50 ms).
    watch = AcceptanceWatch(timedelta(milliseconds=500))
    others_done = asyncio.Event()

    async def slow() -> str:
        await others_done.wait()
        return "late"

    async def other() -> None:
        await asyncio.sleep(0.05)

    async def others() -> None:
        for _ in range(25):
            await watch.within(other(), timedelta(seconds=30))
        others_done.set()

    late, _ = await asyncio.gather(watch.within(slow(), timedelta(seconds=30)), others())
    assert late == "late"
    assert watch.accepted == 26


class FakeTemporal:
    """Answers DescribeTaskQueue with one poller last seen `ago` before now."""

    namespace = "default"

    def __init__(self, ago: timedelta, task_started: bool = False) -> None:
        self.ago = ago
        self.task_started = task_started
        self.asked = 0
        self.workflow_service = self
        self.third_question = asyncio.Event()

    async def describe_workflow_execution(
        self, request: Any, timeout: timedelta
    ) -> DescribeWorkflowExecutionResponse:
        self.asked += 1
        if self.asked == 3:
            self.third_question.set()
        assert request.execution.workflow_id == "dossier-1"
        state = (
            PendingWorkflowTaskState.PENDING_WORKFLOW_TASK_STATE_STARTED
            if self.task_started
            else PendingWorkflowTaskState.PENDING_WORKFLOW_TASK_STATE_SCHEDULED
        )
        return DescribeWorkflowExecutionResponse(pending_workflow_task=PendingWorkflowTaskInfo(state=state))

    async def describe_task_queue(self, request: Any, timeout: timedelta) -> DescribeTaskQueueResponse:
        self.asked += 1
        if self.asked == 3:
            self.third_question.set()
        assert request.task_queue.name == DOSSIER_TASK_QUEUE
        seen = Timestamp()
        seen.FromDatetime(datetime.now(UTC) - self.ago)
        return DescribeTaskQueueResponse(pollers=[PollerInfo(last_access_time=seen, identity="worker")])


async def test_a_worker_seen_polling_keeps_the_wait_going_without_other_openings() -> None:
    watch = AcceptanceWatch(timedelta(milliseconds=20))
    temporal = FakeTemporal(ago=timedelta(0))

    async def slow() -> str:  # accepted once three slices have passed without any other
        await temporal.third_question.wait()
        return "late"

    late = await watch.within(slow(), timedelta(seconds=30), temporal)  # type: ignore[arg-type]
    assert late == "late" and temporal.asked == 3


async def test_a_poller_not_seen_within_the_slice_is_no_worker() -> None:
    watch = AcceptanceWatch(timedelta(milliseconds=20))
    temporal = FakeTemporal(ago=timedelta(seconds=30))  # a worker stopped half a minute ago
    never = asyncio.get_running_loop().create_future()

    async def waiting() -> None:
        await never

    with pytest.raises(Unavailable):
        await watch.within(waiting(), timedelta(seconds=30), temporal)  # type: ignore[arg-type]
    assert temporal.asked == 1


async def test_a_worker_running_the_dossiers_task_keeps_the_wait_going() -> None:
    watch = AcceptanceWatch(timedelta(milliseconds=20))
    temporal = FakeTemporal(ago=timedelta(seconds=30), task_started=True)  # no recent poll

    async def slow() -> str:
        await temporal.third_question.wait()
        return "late"

    late = await watch.within(slow(), timedelta(seconds=30), temporal, "dossier-1")  # type: ignore[arg-type]
    assert late == "late" and temporal.asked == 3


async def test_a_task_only_scheduled_and_no_recent_poll_is_no_worker() -> None:
    watch = AcceptanceWatch(timedelta(milliseconds=20))
    temporal = FakeTemporal(ago=timedelta(seconds=30))
    never = asyncio.get_running_loop().create_future()

    async def waiting() -> None:
        await never

    with pytest.raises(Unavailable):
        await watch.within(waiting(), timedelta(seconds=30), temporal, "dossier-1")  # type: ignore[arg-type]
    assert temporal.asked == 2  # the workflow's task, then the queue's pollers


async def test_the_deadline_after_slices_with_a_live_worker_is_busy_not_no_worker() -> None:
    watch = AcceptanceWatch(timedelta(milliseconds=20))
    temporal = FakeTemporal(ago=timedelta(0))  # a worker polls all along
    never = asyncio.get_running_loop().create_future()

    async def waiting() -> None:
        await never

    with pytest.raises(Unavailable) as refused:
        await watch.within(waiting(), timedelta(milliseconds=100), temporal)  # type: ignore[arg-type]
    assert refused.value.reason == "WORKER_BUSY"
    assert "très chargé" in refused.value.fr
    assert never.cancelled()


async def test_a_deadline_within_the_first_slice_is_no_worker() -> None:
    watch = AcceptanceWatch(timedelta(seconds=1))
    never = asyncio.get_running_loop().create_future()

    async def waiting() -> None:
        await never

    with pytest.raises(Unavailable) as refused:
        await watch.within(waiting(), timedelta(milliseconds=30))
    assert refused.value.reason == "WORKER_UNAVAILABLE"
