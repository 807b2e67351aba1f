"""The dossier's and referral's workflow rules with stand-in activities of the same
names: Temporal's time-skipping test server, no PostgreSQL and no service. What is
written is what the stand-ins record; the real activities are tested elsewhere."""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from domain.vocabulary import ReferralStatus, Stage, StepKind
from kernel.temporal import domain_error_from
from workflows import search_attributes
from workflows.contracts import (
    DOSSIER_TASK_QUEUE,
    INTAKE_TASK_QUEUE,
    REFERRAL_TASK_QUEUE,
    ActInput,
    ActivityName,
    AgentInput,
    CloseInput,
    CompleteEcouteInput,
    ConsentCheck,
    DossierSpec,
    FollowUpInput,
    InterviewInput,
    OrientInput,
    PersonShare,
    RecordOpened,
    RecordReferralStatus,
    ReferralReminder,
    ReopenInput,
    Transition,
    dossier_workflow_id,
)
from workflows.dossier import DossierWorkflow
from workflows.referral import ReferralWorkflow


@dataclass
class StandIns:
    """Activities named as the real ones; they record instead of writing."""

    transitions: list[Transition] = field(default_factory=list)
    statuses: list[RecordReferralStatus] = field(default_factory=list)
    consents: list[ConsentCheck] = field(default_factory=list)

    @activity.defn(name=ActivityName.RECORD_DOSSIER_OPENED)
    async def record_dossier_opened(self, command: RecordOpened) -> str:
        return datetime.now(UTC).isoformat()

    @activity.defn(name=ActivityName.RECORD_TRANSITION)
    async def record_transition(self, t: Transition) -> None:
        if all(seen.step != t.step for seen in self.transitions if seen.dossier_id == t.dossier_id):
            self.transitions.append(t)

    @activity.defn(name=ActivityName.CHECK_REFERRAL_CONSENT)
    async def check_referral_consent(self, check: ConsentCheck) -> PersonShare:
        self.consents.append(check)
        return PersonShare(first_name="Prénom")

    @activity.defn(name=ActivityName.RECORD_REFERRAL_STATUS)
    async def record_status(self, command: RecordReferralStatus) -> None:
        self.statuses.append(command)

    @activity.defn(name=ActivityName.RECORD_REFERRAL_REMINDER)
    async def record_reminder(self, command: ReferralReminder) -> None:
        return None

    def kinds(self, dossier_id: str) -> list[tuple[str, str]]:
        return [(t.kind, t.to_stage) for t in self.transitions if t.dossier_id == dossier_id]


@dataclass
class World:
    env: WorkflowEnvironment
    acts: StandIns

    async def open(self, *, urgent: bool = False) -> WorkflowHandle[DossierWorkflow, str]:
        dossier_id = str(uuid.uuid4())
        spec = DossierSpec(dossier_id, "55029", "site", ["logement"], "spontanee", urgent)
        handle = await self.env.client.start_workflow(
            DossierWorkflow.run, spec, id=dossier_workflow_id(dossier_id), task_queue=DOSSIER_TASK_QUEUE
        )
        await handle.execute_update(DossierWorkflow.open)
        return handle


@pytest.fixture
async def world(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[World]:
    # The time-skipping server cannot register custom search attributes.
    monkeypatch.setattr(search_attributes, "upsert", lambda *_: None)
    server = Path(sys.executable).parent / "temporal-test-server"
    env = await WorkflowEnvironment.start_time_skipping(test_server_existing_path=str(server))
    acts = StandIns()
    async with env:
        runner = UnsandboxedWorkflowRunner()  # so that the seam above is seen
        async with (
            Worker(
                env.client,
                task_queue=DOSSIER_TASK_QUEUE,
                workflows=[DossierWorkflow, ReferralWorkflow],
                workflow_runner=runner,
            ),
            Worker(
                env.client,
                task_queue=INTAKE_TASK_QUEUE,
                activities=[acts.record_dossier_opened, acts.record_transition, acts.check_referral_consent],
            ),
            Worker(
                env.client,
                task_queue=REFERRAL_TASK_QUEUE,
                activities=[acts.record_status, acts.record_reminder],
            ),
        ):
            yield World(env, acts)


async def refused(handle: WorkflowHandle[DossierWorkflow, str], update: Any, command: Any) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as failure:
        await handle.execute_update(update, command)
    error = domain_error_from(failure.value)
    assert error is not None and error.kind == "FailedPrecondition"
    return str(error.reason)


async def test_the_lifecycle_writes_one_step_per_action_in_order(world: World) -> None:
    handle = await world.open()
    d = handle.id.removeprefix("dossier-")
    await handle.execute_update(DossierWorkflow.record_interview, InterviewInput("a1", "notes"))
    await handle.execute_update(DossierWorkflow.complete_ecoute, CompleteEcouteInput("a1", "orientation"))
    await handle.execute_update(DossierWorkflow.start_suivi, AgentInput("a1"))
    await handle.execute_update(DossierWorkflow.record_follow_up, FollowUpInput("a1"))
    await handle.execute_update(DossierWorkflow.close, CloseInput("a1", "autre"))
    await handle.execute_update(DossierWorkflow.reopen, ReopenInput("a1", "retour"))
    assert world.acts.kinds(d) == [
        (StepKind.INTERVIEW, Stage.ECOUTE),
        (StepKind.ECOUTE_COMPLETED, Stage.ORIENTATION),
        (StepKind.STAGE_CHANGED, Stage.SUIVI),
        (StepKind.FOLLOW_UP, Stage.SUIVI),
        (StepKind.CLOSED, Stage.CLOTURE),
        (StepKind.REOPENED, Stage.ECOUTE),
    ]
    assert world.acts.transitions[-1].cycle == 1


async def test_a_refused_step_writes_nothing_and_says_why(world: World) -> None:
    handle = await world.open()
    d = handle.id.removeprefix("dossier-")
    assert (
        await refused(handle, DossierWorkflow.complete_ecoute, CompleteEcouteInput("a1", "suivi"))
        == "WRONG_STAGE"
    )
    assert await refused(handle, DossierWorkflow.reopen, ReopenInput("a1")) == "DOSSIER_NOT_CLOSED"
    await handle.execute_update(DossierWorkflow.close, CloseInput("a1", "autre"))
    assert await refused(handle, DossierWorkflow.record_interview, InterviewInput("a1")) == "DOSSIER_CLOSED"
    assert world.acts.kinds(d) == [(StepKind.CLOSED, Stage.CLOTURE)]


async def test_a_repeated_request_is_answered_with_its_first_step_and_applied_once(world: World) -> None:
    handle = await world.open()
    d = handle.id.removeprefix("dossier-")
    first = await handle.execute_update(
        DossierWorkflow.record_interview, InterviewInput("a1", request_key="k1")
    )
    again = await handle.execute_update(
        DossierWorkflow.record_interview, InterviewInput("a1", request_key="k1")
    )
    assert again.step == first.step
    assert world.acts.kinds(d) == [(StepKind.INTERVIEW, Stage.ECOUTE)]


async def test_an_urgent_dossier_not_listened_to_is_escalated_on_its_timer(world: World) -> None:
    handle = await world.open(urgent=True)
    d = handle.id.removeprefix("dossier-")
    await world.env.sleep(timedelta(hours=25))
    assert world.acts.kinds(d) == [(StepKind.ESCALATED, Stage.RECEPTION)]


async def test_a_referral_runs_its_own_workflow_and_its_statuses_reach_the_timeline(world: World) -> None:
    handle = await world.open()
    d = handle.id.removeprefix("dossier-")
    await handle.execute_update(DossierWorkflow.record_interview, InterviewInput("a1"))
    await handle.execute_update(DossierWorkflow.complete_ecoute, CompleteEcouteInput("a1", "orientation"))
    assert (
        await refused(handle, DossierWorkflow.orient, OrientInput("a1", "r1", "p1", "CAF", "emploi", "", []))
        == "MOTIF_NOT_IN_DOSSIER"
    )
    referral_id = str(uuid.uuid4())
    result = await handle.execute_update(
        DossierWorkflow.orient, OrientInput("a1", referral_id, "p1", "CAF", "logement", "", ["motif"])
    )
    assert result.status == ReferralStatus.REQUESTED and len(world.acts.consents) == 1
    referral = world.env.client.get_workflow_handle_for(ReferralWorkflow.run, f"referral-{referral_id}")
    with pytest.raises(WorkflowUpdateFailedError):
        await referral.execute_update(ReferralWorkflow.act, ActInput("accept", "partner-1"))
    await referral.execute_update(ReferralWorkflow.act, ActInput("reject", "partner-1", reason="no_capacity"))
    assert [s.status for s in world.acts.statuses] == [ReferralStatus.REQUESTED, ReferralStatus.REJECTED]

    async def referral_steps() -> list[str | None]:
        await handle.query(DossierWorkflow.view)
        return [
            t.referral_status for t in world.acts.transitions if t.dossier_id == d and t.kind == "referral"
        ]

    for _ in range(50):
        if await referral_steps() == ["requested", "rejected"]:
            break
        await world.env.sleep(timedelta(milliseconds=100))
    assert await referral_steps() == ["requested", "rejected"]
