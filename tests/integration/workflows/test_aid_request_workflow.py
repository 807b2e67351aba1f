"""AidRequestWorkflow's deadlines on Temporal's time-skipping server, with a stand-in
AID_DEADLINE_PASSED that records what it was asked and when (the server's skipped
time): each step's deadline runs it once, at the deployment's delay after the change
that put the request at that step; a progress re-times it; an older or repeated
progress changes nothing; a final status ends the workflow."""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio import activity
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from domain.aides import (
    DEFAULT_COMMISSION_DAYS,
    DEFAULT_INSTRUCTION_DAYS,
    DEFAULT_PAYMENT_DAYS,
    AidRequestStatus,
    AidStep,
)
from kernel.codec import data_converter
from services.intake.aides.settings import AidSettings
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

DAY = timedelta(days=1)
SETTINGS = AidSettings()


@dataclass
class Call:
    step: str
    version: int
    at: datetime  # the server's (skipped) time the activity was scheduled at


@dataclass
class World:
    env: WorkflowEnvironment
    calls: list[Call] = field(default_factory=list)

    async def now(self) -> datetime:
        return await self.env.get_current_time()

    async def submit(self, settings: AidSettings = SETTINGS) -> WorkflowHandle[AidRequestWorkflow, str]:
        aid_request_id = str(uuid.uuid4())
        spec = AidRequestInput(
            aid_request_id=aid_request_id,
            dossier_id=str(uuid.uuid4()),
            territory="55029",
            status=AidRequestStatus.SUBMITTED.value,
            changed_at=_iso(await self.now()),
            instruction_s=settings.instruction_s,
            commission_s=settings.commission_s,
            payment_s=settings.payment_s,
            version=1,
        )
        return await self.env.client.start_workflow(
            AidRequestWorkflow.run,
            spec,
            id=aid_request_workflow_id(aid_request_id),
            task_queue=DOSSIER_TASK_QUEUE,
        )

    async def progress(
        self,
        handle: WorkflowHandle[AidRequestWorkflow, str],
        status: AidRequestStatus,
        version: int,
        changed_at: datetime | None = None,
    ) -> datetime:
        at = changed_at or await self.now()
        await handle.signal(AID_REQUEST_CHANGED_SIGNAL, AidProgress(status.value, _iso(at), version))
        return at

    async def sleep(self, delta: timedelta) -> None:
        await self.env.sleep(delta)

    def steps(self) -> list[tuple[str, int]]:
        return [(c.step, c.version) for c in self.calls]


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat()


def _close(a: datetime, b: datetime) -> bool:
    return abs(a - b) < timedelta(seconds=5)


@pytest.fixture
async def world(test_env: dict[str, str]) -> AsyncIterator[World]:
    server = Path(sys.executable).parent / "temporal-test-server"
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(server), data_converter=data_converter(test_env)
    )
    world = World(env)

    @activity.defn(name=ActivityName.AID_DEADLINE_PASSED)
    async def deadline_passed(command: AidDeadline) -> str:
        scheduled = activity.info().current_attempt_scheduled_time
        assert scheduled is not None
        assert activity.info().workflow_id == aid_request_workflow_id(command.aid_request_id)
        world.calls.append(Call(command.step, command.version, scheduled))
        return "task"

    async with env:
        async with (
            # Sandboxed, as the workflows worker runs it.
            Worker(env.client, task_queue=DOSSIER_TASK_QUEUE, workflows=[AidRequestWorkflow]),
            Worker(env.client, task_queue=INTAKE_TASK_QUEUE, activities=[deadline_passed]),
        ):
            yield world


async def test_each_deadline_makes_one_task_then_a_final_status_ends(world: World) -> None:
    submitted = await world.now()
    handle = await world.submit()
    (deadline,) = await handle.query(AidRequestWorkflow.deadlines)
    assert deadline.kind == AidStep.INSTRUCTION
    assert _close(datetime.fromisoformat(deadline.due_at), submitted + DEFAULT_INSTRUCTION_DAYS * DAY)

    # Instruction: late after 15 days, once, however long it then stays.
    await world.sleep((DEFAULT_INSTRUCTION_DAYS - 1) * DAY)
    assert world.calls == []
    await world.sleep(40 * DAY)
    assert world.steps() == [(AidStep.INSTRUCTION, 1)]
    assert _close(world.calls[0].at, submitted + DEFAULT_INSTRUCTION_DAYS * DAY)
    assert await handle.query(AidRequestWorkflow.deadlines) == []

    # Complete: the commission's decision is due 45 days after the instruction.
    instructed = await world.progress(handle, AidRequestStatus.COMPLETE, 2)
    await world.sleep(DEFAULT_COMMISSION_DAYS * DAY + 10 * DAY)
    assert world.steps() == [(AidStep.INSTRUCTION, 1), (AidStep.COMMISSION, 2)]
    assert _close(world.calls[1].at, instructed + DEFAULT_COMMISSION_DAYS * DAY)

    # Granted: the payment is due 15 days after the decision.
    decided = await world.progress(handle, AidRequestStatus.GRANTED, 3)
    await world.sleep(DEFAULT_PAYMENT_DAYS * DAY + 30 * DAY)
    assert world.steps()[2:] == [(AidStep.PAYMENT, 3)]
    assert _close(world.calls[2].at, decided + DEFAULT_PAYMENT_DAYS * DAY)

    await world.progress(handle, AidRequestStatus.CLOSED, 4)
    assert await handle.result() == AidRequestStatus.CLOSED
    assert len(world.calls) == 3


async def test_a_progress_re_times_the_deadline(world: World) -> None:
    handle = await world.submit()
    await world.sleep(10 * DAY)
    # Found incomplete on day 10: still the instruction, due 15 days after that.
    incomplete = await world.progress(handle, AidRequestStatus.INCOMPLETE, 2)
    await world.sleep(10 * DAY)  # day 20: the first deadline (day 15) passed unnoticed
    assert world.calls == []
    (deadline,) = await handle.query(AidRequestWorkflow.deadlines)
    assert _close(datetime.fromisoformat(deadline.due_at), incomplete + DEFAULT_INSTRUCTION_DAYS * DAY)
    await world.sleep(10 * DAY)
    assert world.steps() == [(AidStep.INSTRUCTION, 2)]
    assert _close(world.calls[0].at, incomplete + DEFAULT_INSTRUCTION_DAYS * DAY)

    # Completed, scheduled, postponed: each re-times the commission's deadline.
    await world.progress(handle, AidRequestStatus.COMPLETE, 3)
    await world.sleep(30 * DAY)
    await world.progress(handle, AidRequestStatus.SCHEDULED, 4)
    await world.sleep(30 * DAY)
    postponed = await world.progress(handle, AidRequestStatus.POSTPONED, 5)
    await world.sleep(DEFAULT_COMMISSION_DAYS * DAY + DAY)
    assert world.steps() == [(AidStep.INSTRUCTION, 2), (AidStep.COMMISSION, 5)]
    assert _close(world.calls[1].at, postponed + DEFAULT_COMMISSION_DAYS * DAY)

    await world.progress(handle, AidRequestStatus.REFUSED, 6)
    assert await handle.result() == AidRequestStatus.REFUSED


async def test_older_and_repeated_progress_is_ignored(world: World) -> None:
    handle = await world.submit()
    await world.sleep(2 * DAY)
    completed = await world.progress(handle, AidRequestStatus.COMPLETE, 3)
    # Delivered late: version 2 (incomplete), then version 3 again, then a version 1.
    await world.progress(handle, AidRequestStatus.INCOMPLETE, 2)
    await world.sleep(DAY)
    await world.progress(handle, AidRequestStatus.COMPLETE, 3)
    await world.progress(handle, AidRequestStatus.WITHDRAWN, 1)
    progress = await handle.query(AidRequestWorkflow.progress)
    assert (progress.status, progress.version) == (AidRequestStatus.COMPLETE, 3)
    await world.sleep(DEFAULT_COMMISSION_DAYS * DAY + DAY)
    assert world.steps() == [(AidStep.COMMISSION, 3)]
    assert _close(world.calls[0].at, completed + DEFAULT_COMMISSION_DAYS * DAY)
    await world.progress(handle, AidRequestStatus.WITHDRAWN, 4)
    assert await handle.result() == AidRequestStatus.WITHDRAWN


async def test_a_final_status_in_time_makes_no_task(world: World) -> None:
    handle = await world.submit()
    await world.sleep(3 * DAY)
    await world.progress(handle, AidRequestStatus.WITHDRAWN, 2)
    assert await handle.result() == AidRequestStatus.WITHDRAWN
    await world.sleep(60 * DAY)
    assert world.calls == []


async def test_a_change_already_past_its_deadline_makes_the_task_at_once(world: World) -> None:
    """The RPC's signal can come late (Temporal down for a while): the deadline counts
    from the change's time, not the signal's."""
    handle = await world.submit()
    await world.sleep(DAY)
    long_ago = await world.now() - (DEFAULT_PAYMENT_DAYS + 5) * DAY
    await world.progress(handle, AidRequestStatus.GRANTED, 2, changed_at=long_ago)
    await world.sleep(timedelta(minutes=1))
    assert world.steps() == [(AidStep.PAYMENT, 2)]
    await world.sleep(30 * DAY)
    assert len(world.calls) == 1


async def test_the_delays_are_the_deployments(world: World) -> None:
    settings = AidSettings(instruction_s=3600, commission_s=7200, payment_s=0)
    submitted = await world.now()
    handle = await world.submit(settings)
    await world.sleep(timedelta(hours=2))
    assert world.steps() == [(AidStep.INSTRUCTION, 1)]
    assert _close(world.calls[0].at, submitted + timedelta(hours=1))
    # A step of 0 seconds has no deadline: granted and never paid makes no task.
    await world.progress(handle, AidRequestStatus.GRANTED, 2)
    await world.sleep(365 * DAY)
    assert len(world.calls) == 1
    await world.progress(handle, AidRequestStatus.CLOSED, 3)
    assert await handle.result() == AidRequestStatus.CLOSED
