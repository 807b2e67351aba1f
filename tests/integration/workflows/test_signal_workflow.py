"""SignalWorkflow's escalation timer on Temporal's time-skipping server, with a
stand-in activity that records what it was asked and when (the server's skipped
time): an unqualified signal escalates after the deployment's 7 days, a qualified one
never does, nor one qualified after its escalation."""

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

from domain.signals import DEFAULT_ESCALATION_DAYS
from kernel.codec import data_converter
from workflows.contracts import (
    DOSSIER_TASK_QUEUE,
    INTAKE_TASK_QUEUE,
    SIGNAL_QUALIFIED_SIGNAL,
    ActivityName,
    EscalateSignal,
    SignalInput,
    signal_workflow_id,
)
from workflows.signal import Outcome, SignalWorkflow

DAY = 86400.0


@dataclass
class World:
    env: WorkflowEnvironment
    escalated: list[tuple[str, datetime]] = field(default_factory=list)

    async def submit(
        self, escalation_s: float = DEFAULT_ESCALATION_DAYS * DAY
    ) -> WorkflowHandle[SignalWorkflow, str]:
        signal_id = str(uuid.uuid4())
        now = await self.env.get_current_time()
        return await self.env.client.start_workflow(
            SignalWorkflow.run,
            SignalInput(signal_id, "55041", now.astimezone(UTC).isoformat(), escalation_s),
            id=signal_workflow_id(signal_id),
            task_queue=DOSSIER_TASK_QUEUE,
        )


@pytest.fixture
async def world(test_env: dict[str, str]) -> AsyncIterator[World]:
    server = Path(sys.executable).parent / "temporal-test-server"
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(server), data_converter=data_converter(test_env)
    )
    world = World(env)

    @activity.defn(name=ActivityName.ESCALATE_SIGNAL)
    async def escalate(command: EscalateSignal) -> str:
        scheduled = activity.info().current_attempt_scheduled_time
        assert scheduled is not None
        world.escalated.append((command.signal_id, scheduled))
        return "escalated"

    async with env:
        async with (
            # Sandboxed, as the workflows worker runs it.
            Worker(env.client, task_queue=DOSSIER_TASK_QUEUE, workflows=[SignalWorkflow]),
            Worker(env.client, task_queue=INTAKE_TASK_QUEUE, activities=[escalate]),
        ):
            yield world


async def test_an_unqualified_signal_escalates_after_seven_days(world: World) -> None:
    started = await world.env.get_current_time()
    handle = await world.submit()
    assert await handle.result() == Outcome.ESCALATED
    ((signal_id, at),) = world.escalated
    assert signal_workflow_id(signal_id) == handle.id
    assert at - started >= timedelta(days=DEFAULT_ESCALATION_DAYS)


async def test_a_signal_qualified_in_time_never_escalates(world: World) -> None:
    handle = await world.submit()
    await world.env.sleep(timedelta(days=2))
    await handle.signal(SIGNAL_QUALIFIED_SIGNAL)
    assert await handle.result() == Outcome.QUALIFIED
    await world.env.sleep(timedelta(days=10))
    assert world.escalated == []


async def test_the_delay_is_the_deployments(world: World) -> None:
    started = await world.env.get_current_time()
    handle = await world.submit(escalation_s=2 * DAY)
    assert await handle.result() == Outcome.ESCALATED
    ((_, at),) = world.escalated
    assert timedelta(days=2) <= at - started < timedelta(days=DEFAULT_ESCALATION_DAYS)
