"""DossierWorkflow's timers under Temporal's time-skipping test server, with intake's
real activities writing to PostgreSQL: escalation, reminder, closure proposal, reopen
limit and continue-as-new, without waiting days."""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WithStartWorkflowOperation, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from kernel import migrations, reference
from kernel.codec import data_converter
from kernel.db import Pool
from services.intake.activities import IntakeActivities
from tests.paths import REPO
from workflows import search_attributes
from workflows.contracts import (
    DOSSIER_TASK_QUEUE,
    INTAKE_TASK_QUEUE,
    AgentInput,
    CloseInput,
    CompleteEcouteInput,
    DossierSpec,
    DossierView,
    FollowUpInput,
    InterviewInput,
    LifecycleTimers,
    ReopenInput,
    dossier_workflow_id,
)
from workflows.dossier import DossierWorkflow

INTAKE_MIGRATIONS = REPO / "services" / "intake" / "migrations"
HOUR = 3600.0
DAY = 24 * HOUR
TIMERS = LifecycleTimers(
    urgent_ecoute_s=24 * HOUR, suivi_reminder_s=30 * DAY, closure_proposal_s=15 * DAY, reopen_delay_s=90 * DAY
)


@dataclass
class TimeWorld:
    env: WorkflowEnvironment
    pool: Pool

    @property
    def client(self) -> Client:
        return self.env.client

    async def open(
        self, urgent: bool = False, timers: LifecycleTimers = TIMERS
    ) -> WorkflowHandle[DossierWorkflow, str]:
        dossier_id = str(uuid.uuid4())
        spec = DossierSpec(dossier_id, "55029", "", ["logement"], "telephone", urgent, timers=timers)
        start = WithStartWorkflowOperation(
            DossierWorkflow.run,
            spec,
            id=dossier_workflow_id(dossier_id),
            task_queue=DOSSIER_TASK_QUEUE,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
        await self.client.execute_update_with_start_workflow(
            DossierWorkflow.open, start_workflow_operation=start
        )
        return await start.workflow_handle()

    async def timeline(self, handle: WorkflowHandle[DossierWorkflow, str], column: str = "kind") -> list[str]:
        """One column of the dossier's timeline rows (kind, actor), in step order."""
        dossier_id = handle.id.removeprefix("dossier-")
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                f"SELECT {column} FROM intake.dossier_timeline WHERE dossier_id = $1 ORDER BY step",
                dossier_id,
            )
        return [r[column] for r in rows]

    async def actors(self, handle: WorkflowHandle[DossierWorkflow, str]) -> list[str]:
        return await self.timeline(handle, "actor")

    async def events(self, handle: WorkflowHandle[DossierWorkflow, str]) -> list[str]:
        dossier_id = handle.id.removeprefix("dossier-")
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT ce_type FROM intake.outbox WHERE ce_subject = $1 ORDER BY seq", dossier_id
            )
        return [r["ce_type"].removeprefix("entraide.dossier.") for r in rows]


@pytest.fixture
def search_attribute_updates(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, object]]:
    """The Java time-skipping server cannot register custom search attributes (its
    OperatorService is unimplemented), so upserts are recorded here instead; the real
    attributes are checked against the dev server in the end-to-end tests."""
    recorded: list[tuple[str, object]] = []

    def record(*updates: Any) -> None:
        recorded.extend((u.key.name, u.value) for u in updates)

    monkeypatch.setattr(search_attributes, "upsert", record)
    return recorded


@pytest.fixture
async def world(
    pool: Pool, test_env: dict[str, str], search_attribute_updates: list[tuple[str, object]]
) -> AsyncIterator[TimeWorld]:
    async with pool.acquire() as conn:
        await migrations.migrate_service(conn, "intake", INTAKE_MIGRATIONS)
    server = Path(sys.executable).parent / "temporal-test-server"
    # Encrypted payloads, as in production: the client and both workers use this converter.
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(server), data_converter=data_converter(test_env)
    )
    activities = IntakeActivities(pool, reference.load({}))
    async with env:
        async with (
            # Unsandboxed so the recording seam above is seen (the sandbox re-imports
            # modules); the sandboxed path runs in the end-to-end and replay tests.
            Worker(
                env.client,
                task_queue=DOSSIER_TASK_QUEUE,
                workflows=[DossierWorkflow],
                workflow_runner=UnsandboxedWorkflowRunner(),
            ),
            Worker(
                env.client,
                task_queue=INTAKE_TASK_QUEUE,
                activities=[activities.record_dossier_opened, activities.record_transition],
            ),
        ):
            yield TimeWorld(env, pool)


async def view(handle: WorkflowHandle[DossierWorkflow, str]) -> DossierView:
    return await handle.query(DossierWorkflow.view)


async def test_urgent_dossier_not_listened_to_within_24h_is_escalated(
    world: TimeWorld, search_attribute_updates: list[tuple[str, object]]
) -> None:
    handle = await world.open(urgent=True)
    assert [d.kind for d in (await view(handle)).deadlines] == ["urgent_ecoute"]
    await world.env.sleep(timedelta(hours=23))
    assert not (await view(handle)).state.escalated
    await world.env.sleep(timedelta(hours=2))
    state = (await view(handle)).state
    assert state.escalated and state.stage == "reception"
    assert await world.timeline(handle) == ["opened", "escalated"]
    assert (await world.actors(handle))[1] == "entraide-system"  # a timer's step names the platform
    assert await world.events(handle) == ["opened", "escalated"]
    assert ("Overdue", True) in search_attribute_updates
    # Listening still possible after the escalation; the deadline is gone.
    await handle.execute_update(
        DossierWorkflow.record_interview, InterviewInput("agent-1", "premier entretien")
    )
    assert (await view(handle)).deadlines == []


async def test_urgent_dossier_listened_to_in_time_is_not_escalated(world: TimeWorld) -> None:
    handle = await world.open(urgent=True)
    await world.env.sleep(timedelta(hours=20))
    await handle.execute_update(DossierWorkflow.record_interview, InterviewInput("agent-1"))
    await world.env.sleep(timedelta(days=3))
    assert not (await view(handle)).state.escalated
    assert "escalated" not in await world.timeline(handle)


async def test_suivi_without_activity_gets_a_reminder_then_a_closure_proposal(world: TimeWorld) -> None:
    handle = await world.open()
    await handle.execute_update(DossierWorkflow.record_interview, InterviewInput("agent-1"))
    await handle.execute_update(DossierWorkflow.complete_ecoute, CompleteEcouteInput("agent-1", "suivi"))
    await world.env.sleep(timedelta(days=20))
    await handle.execute_update(DossierWorkflow.record_follow_up, FollowUpInput("agent-1", "appel"))
    await world.env.sleep(timedelta(days=20))  # 20 days since the follow-up: no reminder yet
    assert "reminder" not in await world.timeline(handle)
    await world.env.sleep(timedelta(days=11))
    assert (await world.timeline(handle))[-1] == "reminder"
    assert [d.kind for d in (await view(handle)).deadlines] == ["closure_proposal"]
    await world.env.sleep(timedelta(days=16))
    assert (await world.timeline(handle))[-2:] == ["reminder", "closure_proposed"]
    assert (await view(handle)).deadlines == []
    assert (await world.events(handle))[-2:] == ["reminder", "closure_proposed"]
    # Activity after the proposal restarts the clock.
    await handle.execute_update(DossierWorkflow.record_follow_up, FollowUpInput("agent-1"))
    assert [d.kind for d in (await view(handle)).deadlines] == ["suivi_reminder"]


async def test_closed_dossier_can_be_reopened_within_the_delay_only(world: TimeWorld) -> None:
    handle = await world.open()
    await handle.execute_update(DossierWorkflow.close, CloseInput("agent-1", "ecoute_conseil"))
    await world.env.sleep(timedelta(days=30))
    await handle.execute_update(DossierWorkflow.reopen, ReopenInput("agent-1", "nouvelle difficulté"))
    state = (await view(handle)).state
    assert (state.stage, state.cycle) == ("ecoute", 1)
    await handle.execute_update(DossierWorkflow.close, CloseInput("agent-1", "regle"))
    await world.env.sleep(timedelta(days=91))
    assert await handle.result() == "cloture"  # the workflow ended at the reopen limit
    with pytest.raises(Exception) as refused:
        await handle.execute_update(DossierWorkflow.reopen, ReopenInput("agent-1"))
    assert not isinstance(refused.value, AssertionError)
    assert await world.timeline(handle) == ["opened", "closed", "reopened", "closed"]


async def test_invalid_transition_is_refused_by_the_validator_and_writes_nothing(world: TimeWorld) -> None:
    handle = await world.open()
    before = await world.timeline(handle)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(DossierWorkflow.start_suivi, AgentInput("agent-1"))
    assert "not 'orientation'" in str(refused.value.cause)
    assert await world.timeline(handle) == before


async def test_long_dossier_continues_as_new_without_losing_anything(world: TimeWorld) -> None:
    timers = LifecycleTimers(max_steps_per_run=3)
    handle = await world.open(timers=timers)
    first_run = (await handle.describe()).run_id
    await handle.execute_update(DossierWorkflow.record_interview, InterviewInput("agent-1"))
    await handle.execute_update(
        DossierWorkflow.complete_ecoute, CompleteEcouteInput("agent-1", "orientation")
    )
    for _ in range(6):
        await handle.execute_update(DossierWorkflow.record_follow_up, FollowUpInput("agent-1"))
    latest = world.client.get_workflow_handle(handle.id)
    state = (await latest.query(DossierWorkflow.view)).state
    assert (await latest.describe()).run_id != first_run
    assert (state.stage, state.step, state.interviews) == ("orientation", 8, 1)
    assert await world.timeline(handle) == ["opened", "interview", "ecoute_completed", *["follow_up"] * 6]
