"""BareDossierWorkflow: DossierWorkflow's shape without its work, the bench's baseline.

Same updates (names and argument/result types from workflows.contracts), same
workflow.patched marker, one activity per step with the same payload, retry policy and
timeout, the same lock / wait_condition-on-a-step-counter loop, the same timers (suivi
reminder, reopen limit after closure) and the same search attribute upserts. Its
activities return at once (no I/O), so the difference with DossierWorkflow is only the
real work: validation, the PostgreSQL transaction, the timeline and the outbox.

Kept in its own module, free of side effects at import, because the Temporal sandbox
re-imports a workflow's module for every run.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from temporalio import activity, workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from workflows import search_attributes as sa
    from workflows.contracts import (
        AgentInput,
        CloseInput,
        CompleteEcouteInput,
        DossierSpec,
        FollowUpInput,
        InterviewInput,
        OpenedDossier,
        RecordOpened,
        StepResult,
        Transition,
    )

BARE_WORKFLOW_TASK_QUEUE = "bench-bare-dossiers"
BARE_ACTIVITY_TASK_QUEUE = "bench-bare-activities"
# Same values as workflows.dossier, so the server schedules the activities identically.
ACTIVITY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=30),
    non_retryable_error_types=["InvalidArgument", "NotFound", "FailedPrecondition"],
)
ACTIVITY_TIMEOUT = timedelta(seconds=30)
# DossierWorkflow records this marker on every new run: the baseline records it too.
PATCH_LIFECYCLE = "lifecycle-v2"


@activity.defn(name="bench.bare_opened")
async def bare_opened(command: RecordOpened) -> str:
    """Stands for intake.record_dossier_opened: returns the opening time, writes nothing."""
    return datetime.now(UTC).isoformat()


@activity.defn(name="bench.bare_transition")
async def bare_transition(t: Transition) -> None:
    """Stands for intake.record_transition: takes the same payload, writes nothing."""


@workflow.defn(name="BareDossierWorkflow")
class BareDossierWorkflow:
    @workflow.init
    def __init__(self, spec: DossierSpec) -> None:
        self.spec = spec
        self.stage = "reception"
        self.step = 0
        self.opened_at: str | None = None
        self.lock = asyncio.Lock()

    @workflow.run
    async def run(self, spec: DossierSpec) -> str:
        self.opened_at = await workflow.execute_activity(
            "bench.bare_opened",
            RecordOpened(spec=spec, workflow_id=workflow.info().workflow_id),
            result_type=str,
            task_queue=BARE_ACTIVITY_TASK_QUEUE,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=ACTIVITY_RETRY,
        )
        sa.upsert(sa.STAGE.value_set(self.stage))
        workflow.patched(PATCH_LIFECYCLE)
        while True:
            seen = self.step
            try:
                # DossierWorkflow waits with a timer while a deadline is pending: the suivi
                # reminder, then after closure the reopen limit. Same timers here, started
                # and cancelled alike.
                await workflow.wait_condition(
                    lambda seen=seen: self.step != seen,  # type: ignore[misc]
                    timeout=self._timeout(),
                )
            except TimeoutError:
                if self.stage == "cloture":
                    break
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.stage

    def _timeout(self) -> timedelta | None:
        # Like DossierWorkflow, the baseline stays open after closure until its reopen
        # limit: ending at closure would cost the server more per dossier (closing the
        # run, its visibility record and retention) than the real workflow pays.
        if self.stage == "suivi":
            return timedelta(seconds=self.spec.timers.suivi_reminder_s)
        if self.stage == "cloture":
            return timedelta(seconds=self.spec.timers.reopen_delay_s)
        return None

    async def _step(self, kind: str, actor: str, to_stage: str | None = None, **fields: object) -> StepResult:
        step = self.step + 1
        transition = Transition(
            workflow_id=workflow.info().workflow_id,
            dossier_id=self.spec.dossier_id,
            territory=self.spec.territory,
            step=step,
            kind=kind,
            at=workflow.now().isoformat(),
            actor=actor,
            from_stage=self.stage,
            to_stage=to_stage or self.stage,
            cycle=0,
            **fields,  # type: ignore[arg-type]
        )
        await workflow.execute_activity(
            "bench.bare_transition",
            transition,
            task_queue=BARE_ACTIVITY_TASK_QUEUE,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=ACTIVITY_RETRY,
        )
        self.step = step
        if to_stage and to_stage != self.stage:
            self.stage = to_stage
            sa.upsert(sa.STAGE.value_set(to_stage))
        return StepResult(self.spec.dossier_id, self.stage, self.step)

    @workflow.update
    async def open(self) -> OpenedDossier:
        await workflow.wait_condition(lambda: self.opened_at is not None)
        assert self.opened_at is not None
        return OpenedDossier(self.spec.dossier_id, self.stage, self.opened_at, created=True)

    @workflow.update
    async def record_interview(self, command: InterviewInput) -> StepResult:
        async with self.lock:
            to_stage = "ecoute" if self.stage == "reception" else self.stage
            return await self._step(
                "interview", command.agent, to_stage, notes=command.notes, visibility=command.visibility
            )

    @workflow.update
    async def complete_ecoute(self, command: CompleteEcouteInput) -> StepResult:
        async with self.lock:
            return await self._step(
                "ecoute_completed",
                command.agent,
                command.next_stage,
                motifs=command.motifs or self.spec.motifs,
            )

    @workflow.update
    async def start_suivi(self, command: AgentInput) -> StepResult:
        async with self.lock:
            return await self._step("stage_changed", command.agent, "suivi")

    @workflow.update
    async def record_follow_up(self, command: FollowUpInput) -> StepResult:
        async with self.lock:
            return await self._step(
                "follow_up", command.agent, notes=command.notes, visibility=command.visibility
            )

    @workflow.update
    async def close(self, command: CloseInput) -> StepResult:
        async with self.lock:
            result = await self._step(
                "closed", command.agent, "cloture", outcome=command.outcome, notes=command.notes
            )
            sa.upsert(sa.OVERDUE.value_set(False))
            return result
