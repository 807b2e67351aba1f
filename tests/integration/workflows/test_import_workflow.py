"""ImportWorkflow and the dossiers it starts, on Temporal's time-skipping server with
stand-in activities: it pages until an empty page, resuming at its page after a failed
attempt; a dossier started from an imported state continues from it (its next step
follows the imported ones, an old suivi is reminded at once)."""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio import activity
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from domain.vocabulary import Stage, StepKind
from services.intake.importing import plan, starts
from tests.imported import imported_row, stored
from workflows import search_attributes
from workflows.contracts import (
    DOSSIER_TASK_QUEUE,
    INTAKE_TASK_QUEUE,
    ActivityName,
    ImportStarts,
    LifecycleTimers,
    StartedPage,
    StartPage,
    Transition,
    WorkflowName,
    dossier_workflow_id,
)
from workflows.dossier import DossierWorkflow
from workflows.imports import PAGE, ImportWorkflow


@dataclass
class StandIns:
    waiting: list[str]
    pages: list[StartPage] = field(default_factory=list)
    transitions: list[Transition] = field(default_factory=list)
    failed_once: bool = False

    @activity.defn(name=ActivityName.START_IMPORTED_DOSSIERS)
    async def start_imported_dossiers(self, page: StartPage) -> StartedPage:
        self.pages.append(page)
        if len(self.pages) == 2 and not self.failed_once:
            self.failed_once = True
            raise RuntimeError("PostgreSQL went away")  # retried: the same page again
        chosen = [d for d in self.waiting if d > page.after][: page.limit]
        return StartedPage(started=len(chosen), last=chosen[-1] if chosen else "")

    @activity.defn(name=ActivityName.RECORD_TRANSITION)
    async def record_transition(self, t: Transition) -> None:
        self.transitions.append(t)


@dataclass
class World:
    env: WorkflowEnvironment
    acts: StandIns


@pytest.fixture
async def world(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[World]:
    monkeypatch.setattr(search_attributes, "upsert", lambda *_: None)
    server = Path(sys.executable).parent / "temporal-test-server"
    env = await WorkflowEnvironment.start_time_skipping(test_server_existing_path=str(server))
    acts = StandIns(waiting=sorted(str(uuid.uuid4()) for _ in range(2 * PAGE + 17)))
    async with env:
        async with (
            Worker(
                env.client,
                task_queue=DOSSIER_TASK_QUEUE,
                workflows=[ImportWorkflow, DossierWorkflow],
                workflow_runner=UnsandboxedWorkflowRunner(),
            ),
            Worker(
                env.client,
                task_queue=INTAKE_TASK_QUEUE,
                activities=[acts.start_imported_dossiers, acts.record_transition],
            ),
        ):
            yield World(env, acts)


async def test_the_import_workflow_pages_to_the_end_and_resumes_at_its_page(world: World) -> None:
    started = await world.env.client.execute_workflow(
        WorkflowName.IMPORT,
        ImportStarts(import_id="i", territories=["55029"]),
        id=f"import-{uuid.uuid4()}",
        task_queue=DOSSIER_TASK_QUEUE,
        result_type=int,
    )
    assert started == 2 * PAGE + 17
    afters = [p.after for p in world.acts.pages]
    # Page 2 failed once and was asked again from the same place; an empty page ends it.
    assert afters[1] == afters[2] and len(afters) == 5
    assert afters[-1] == world.acts.waiting[-1]


async def test_a_dossier_started_from_its_imported_state_continues_from_it(world: World) -> None:
    p = plan.plan(imported_row(closed_at=None, outcome=None), "resp")
    dossier, steps = stored(p)
    spec = starts.spec_of(dossier, steps, LifecycleTimers())  # type: ignore[arg-type]
    handle = await world.env.client.start_workflow(
        DossierWorkflow.run, spec, id=dossier_workflow_id(p.dossier_id), task_queue=DOSSIER_TASK_QUEUE
    )
    # Its suivi has been without activity since 2024: reminded at once, as step 3.
    await world.env.sleep(timedelta(seconds=1))
    [reminder] = [t for t in world.acts.transitions if t.dossier_id == p.dossier_id]
    assert (reminder.step, reminder.kind, reminder.from_stage) == (3, StepKind.REMINDER, Stage.SUIVI)
    view = await handle.query(DossierWorkflow.view)
    assert view.state.stage == Stage.SUIVI and view.state.step == 3
    assert datetime.fromisoformat(reminder.at) > datetime(2026, 1, 1, tzinfo=UTC)
