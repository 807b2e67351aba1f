"""DossierWorkflow: one durable workflow per dossier.

reception → ecoute → orientation → suivi → cloture, driven by people (updates, each
with a validator that refuses an invalid transition before anything is written) and
by timers (urgent écoute escalation, suivi reminder then closure proposal, reopen
limit). Every step is written by one intake activity: the dossier row, its timeline
and its domain events, in one transaction, keyed by the step number.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from domain.dossier import Action, Facts, Refusal, guard, target_stage
    from domain.vocabulary import REFERRAL_REMINDER, DeadlineKind, Stage, StepKind
    from kernel.errors import FailedPrecondition
    from kernel.temporal import application_error
    from workflows import search_attributes as sa
    from workflows.contracts import (
        ACTIVITY_QUEUE,
        CONSENT_WITHDRAWN_SIGNAL,
        REFERRAL_CHANGED_SIGNAL,
        ActivityName,
        AgentInput,
        AssignInput,
        CloseInput,
        CompleteEcouteInput,
        ConsentCheck,
        ConsentWithdrawn,
        Deadline,
        DossierSpec,
        DossierState,
        DossierView,
        FollowUpInput,
        HistoryEntry,
        InterviewInput,
        OpenedDossier,
        OrientInput,
        PersonShare,
        RecordOpened,
        ReferralChanged,
        ReferralResult,
        ReferralSpec,
        ReopenInput,
        StepResult,
        Transition,
        WorkflowName,
        referral_workflow_id,
    )

ACTIVITY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=30),
    non_retryable_error_types=["InvalidArgument", "NotFound", "FailedPrecondition"],
)
ACTIVITY_TIMEOUT = timedelta(seconds=30)
HISTORY_KEPT = 50
# Request keys of human steps remembered (retries come within minutes, not 200 steps).
REQUESTS_KEPT = 200
# workflow.patched ids: each one guards a change recorded histories must still replay.
PATCH_LIFECYCLE = "lifecycle-v2"
# Referrals (orient update, child ReferralWorkflows, their changes in the timeline).
PATCH_REFERRALS = "referrals-v1"


def refuse(refusal: Refusal) -> ApplicationError:
    """An invalid transition: FAILED_PRECONDITION for the caller, nothing written."""
    return application_error(FailedPrecondition(refusal.message, fr=refusal.fr, reason=refusal.reason))


@workflow.defn(name=WorkflowName.DOSSIER)
class DossierWorkflow:
    @workflow.init
    def __init__(self, spec: DossierSpec) -> None:
        self.spec = spec
        self.state = spec.carried or DossierState(
            dossier_id=spec.dossier_id,
            territory=spec.territory,
            motifs=list(spec.motifs),
            urgent=spec.urgent,
            assigned_agent=spec.assigned_agent,
        )
        self.timers = spec.timers
        self.open_requests = 0
        self.steps_this_run = 0
        self.lock = asyncio.Lock()
        self.finished = False

    @property
    def stage(self) -> str:
        return self.state.stage

    # ---- main loop -------------------------------------------------------------
    @workflow.run
    async def run(self, spec: DossierSpec) -> str:
        if spec.carried is None:
            self.state.opened_at = await workflow.execute_activity(
                ActivityName.RECORD_DOSSIER_OPENED,
                RecordOpened(spec=spec, workflow_id=workflow.info().workflow_id),
                result_type=str,
                task_queue=ACTIVITY_QUEUE[ActivityName.RECORD_DOSSIER_OPENED],
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=ACTIVITY_RETRY,
            )
            self.state.last_activity_at = self.state.opened_at
            self.state.history.append(HistoryEntry(0, StepKind.OPENED, Stage.RECEPTION, self.state.opened_at))
            sa.upsert(sa.STAGE.value_set(self.stage))
        if not workflow.patched(PATCH_LIFECYCLE):
            # Histories recorded before timers existed (v1) only waited for closure.
            await workflow.wait_condition(lambda: self.stage == Stage.CLOTURE)
            return self.stage
        return await self._lifecycle()

    async def _lifecycle(self) -> str:
        while True:
            if self.steps_this_run >= self.timers.max_steps_per_run:
                await workflow.wait_condition(
                    lambda: not self.lock.locked() and workflow.all_handlers_finished()
                )
                workflow.continue_as_new(self._continued_spec())
            deadline = self._next_deadline()
            seen = self.state.step
            try:
                await workflow.wait_condition(
                    lambda seen=seen: (
                        self.state.step != seen  # type: ignore[misc]
                        or self.steps_this_run >= self.timers.max_steps_per_run
                    ),
                    timeout=self._until(deadline) if deadline else None,
                )
                continue
            except TimeoutError:
                pass
            assert deadline is not None
            async with self.lock:
                if self._next_deadline() != deadline:
                    continue  # a person acted just as the timer fired
                if deadline.kind == DeadlineKind.REOPEN_LIMIT:
                    self.finished = True
                    await workflow.wait_condition(workflow.all_handlers_finished)
                    return self.stage
                await self._on_deadline(deadline)

    def _continued_spec(self) -> DossierSpec:
        spec = self.spec
        self.state.history = self.state.history[-HISTORY_KEPT:]
        return DossierSpec(
            dossier_id=spec.dossier_id,
            territory=spec.territory,
            site=spec.site,
            motifs=spec.motifs,
            arrival_channel=spec.arrival_channel,
            urgent=spec.urgent,
            person_id=spec.person_id,
            household_id=spec.household_id,
            assigned_agent=spec.assigned_agent,
            timers=spec.timers,
            opened_by=spec.opened_by,
            carried=self.state,
        )

    # ---- deadlines -------------------------------------------------------------
    def _deadlines(self) -> list[Deadline]:
        s, t = self.state, self.timers
        found: list[Deadline] = []
        if s.opened_at is None:
            return found
        if s.urgent and s.stage == Stage.RECEPTION and not s.escalated:
            found.append(Deadline(DeadlineKind.URGENT_ECOUTE, _plus(s.opened_at, t.urgent_ecoute_s)))
        if s.stage == Stage.SUIVI and s.last_activity_at:
            if s.reminded_at is None:
                found.append(
                    Deadline(DeadlineKind.SUIVI_REMINDER, _plus(s.last_activity_at, t.suivi_reminder_s))
                )
            elif not s.closure_proposed:
                found.append(
                    Deadline(DeadlineKind.CLOSURE_PROPOSAL, _plus(s.reminded_at, t.closure_proposal_s))
                )
        if s.stage == Stage.CLOTURE and s.closed_at:
            found.append(Deadline(DeadlineKind.REOPEN_LIMIT, _plus(s.closed_at, t.reopen_delay_s)))
        return found

    def _next_deadline(self) -> Deadline | None:
        pending = self._deadlines()
        return min(pending, key=lambda d: d.due_at) if pending else None

    def _until(self, deadline: Deadline) -> timedelta:
        left = datetime.fromisoformat(deadline.due_at) - workflow.now()
        return max(left, timedelta(milliseconds=1))

    async def _on_deadline(self, deadline: Deadline) -> None:
        s = self.state
        if deadline.kind == DeadlineKind.URGENT_ECOUTE:
            await self._step(StepKind.ESCALATED, due_at=deadline.due_at)
            s.escalated = True
            sa.upsert(sa.OVERDUE.value_set(True))
        elif deadline.kind == DeadlineKind.SUIVI_REMINDER:
            await self._step(StepKind.REMINDER, due_at=deadline.due_at, last_activity_at=s.last_activity_at)
            s.reminded_at = self._now()
            sa.upsert(sa.OVERDUE.value_set(True))
        elif deadline.kind == DeadlineKind.CLOSURE_PROPOSAL:
            await self._step(
                StepKind.CLOSURE_PROPOSED, due_at=deadline.due_at, last_activity_at=s.last_activity_at
            )
            s.closure_proposed = True

    # ---- the one way a step is written ------------------------------------------
    def _now(self) -> str:
        return workflow.now().isoformat()

    async def _step(
        self,
        kind: str,
        *,
        to_stage: str | None = None,
        actor: str = "",
        cycle: int | None = None,
        request_key: str = "",
        **fields: object,
    ) -> None:
        s = self.state
        step = s.step + 1
        at = self._now()
        transition = Transition(
            workflow_id=workflow.info().workflow_id,
            dossier_id=s.dossier_id,
            territory=s.territory,
            step=step,
            kind=kind,
            at=at,
            actor=actor,
            from_stage=s.stage,
            to_stage=to_stage or s.stage,
            cycle=s.cycle if cycle is None else cycle,
            **fields,  # type: ignore[arg-type]
        )
        await workflow.execute_activity(
            ActivityName.RECORD_TRANSITION,
            transition,
            task_queue=ACTIVITY_QUEUE[ActivityName.RECORD_TRANSITION],
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=ACTIVITY_RETRY,
        )
        s.step = step
        if request_key:
            s.requests[request_key] = step
            for old in list(s.requests)[:-REQUESTS_KEPT]:
                del s.requests[old]
        self.steps_this_run += 1
        s.history = [*s.history, HistoryEntry(step, kind, to_stage or s.stage, at, actor)][-HISTORY_KEPT:]
        if to_stage and to_stage != s.stage:
            s.stage = to_stage
            sa.upsert(sa.STAGE.value_set(to_stage))

    def _touch(self) -> None:
        """A person acted: the suivi inactivity clock restarts."""
        self.state.last_activity_at = self._now()
        if self.state.reminded_at is not None or self.state.escalated:
            sa.upsert(sa.OVERDUE.value_set(False))
        self.state.reminded_at = None
        self.state.closure_proposed = False

    def _result(self) -> StepResult:
        return StepResult(self.state.dossier_id, self.stage, self.state.step)

    def _repeat(self, request_key: str) -> StepResult | None:
        """The answer to a step already applied for this request key, if any."""
        step = self.state.requests.get(request_key) if request_key else None
        return None if step is None else StepResult(self.state.dossier_id, self.stage, step)

    def _facts(self) -> Facts:
        s = self.state
        return Facts(s.stage, self.finished, s.assigned_agent, s.motifs)

    def _check(self, action: Action, **args: str) -> None:
        """Refuses the action when the dossier's rules (domain.dossier) do."""
        refusal = guard(action, self._facts(), **args)
        if refusal is not None:
            raise refuse(refusal)

    # ---- updates (human steps) ---------------------------------------------------
    @workflow.update
    async def open(self) -> OpenedDossier:
        """Answered once the dossier is recorded; only the first call says created."""
        self.open_requests += 1
        first = self.open_requests == 1
        await workflow.wait_condition(lambda: self.state.opened_at is not None)
        assert self.state.opened_at is not None
        return OpenedDossier(self.spec.dossier_id, self.stage, self.state.opened_at, created=first)

    @workflow.update
    async def record_interview(self, command: InterviewInput) -> StepResult:
        async with self.lock:
            if (done := self._repeat(command.request_key)) is not None:
                return done
            self.validate_interview(command)
            await self._step(
                StepKind.INTERVIEW,
                request_key=command.request_key,
                to_stage=target_stage(Action.RECORD_INTERVIEW, self.stage),
                actor=command.agent,
                notes=command.notes,
                visibility=command.visibility,
            )
            self.state.interviews += 1
            self._touch()
            return self._result()

    @record_interview.validator
    def validate_interview(self, command: InterviewInput) -> None:
        if command.request_key not in self.state.requests:  # a repeat is answered, not refused
            self._check(Action.RECORD_INTERVIEW)

    @workflow.update
    async def complete_ecoute(self, command: CompleteEcouteInput) -> StepResult:
        async with self.lock:
            if (done := self._repeat(command.request_key)) is not None:
                return done
            self.validate_complete_ecoute(command)
            motifs = command.motifs or self.state.motifs
            await self._step(
                StepKind.ECOUTE_COMPLETED,
                request_key=command.request_key,
                to_stage=command.next_stage,
                actor=command.agent,
                motifs=motifs,
            )
            self.state.motifs = list(motifs)
            self._touch()
            return self._result()

    @complete_ecoute.validator
    def validate_complete_ecoute(self, command: CompleteEcouteInput) -> None:
        if command.request_key not in self.state.requests:
            self._check(Action.COMPLETE_ECOUTE, next_stage=command.next_stage)

    @workflow.update
    async def start_suivi(self, command: AgentInput) -> StepResult:
        async with self.lock:
            if (done := self._repeat(command.request_key)) is not None:
                return done
            self.validate_start_suivi(command)
            await self._step(
                StepKind.STAGE_CHANGED,
                request_key=command.request_key,
                to_stage=target_stage(Action.START_SUIVI, self.stage),
                actor=command.agent,
            )
            self._touch()
            return self._result()

    @start_suivi.validator
    def validate_start_suivi(self, command: AgentInput) -> None:
        if command.request_key not in self.state.requests:
            self._check(Action.START_SUIVI)

    @workflow.update
    async def record_follow_up(self, command: FollowUpInput) -> StepResult:
        async with self.lock:
            if (done := self._repeat(command.request_key)) is not None:
                return done
            self.validate_follow_up(command)
            await self._step(
                StepKind.FOLLOW_UP,
                request_key=command.request_key,
                actor=command.agent,
                notes=command.notes,
                visibility=command.visibility,
            )
            self._touch()
            return self._result()

    @record_follow_up.validator
    def validate_follow_up(self, command: FollowUpInput) -> None:
        if command.request_key not in self.state.requests:
            self._check(Action.RECORD_FOLLOW_UP)

    @workflow.update
    async def assign(self, command: AssignInput) -> StepResult:
        async with self.lock:
            if (done := self._repeat(command.request_key)) is not None:
                return done
            self.validate_assign(command)
            await self._step(
                StepKind.ASSIGNED,
                request_key=command.request_key,
                actor=command.agent,
                assigned_agent=command.assignee,
            )
            self.state.assigned_agent = command.assignee
            return self._result()

    @assign.validator
    def validate_assign(self, command: AssignInput) -> None:
        if command.request_key not in self.state.requests:
            self._check(Action.ASSIGN, assignee=command.assignee)

    @workflow.update
    async def close(self, command: CloseInput) -> StepResult:
        async with self.lock:
            if (done := self._repeat(command.request_key)) is not None:
                return done
            self.validate_close(command)
            await self._step(
                StepKind.CLOSED,
                request_key=command.request_key,
                to_stage=target_stage(Action.CLOSE, self.stage),
                actor=command.agent,
                outcome=command.outcome,
                notes=command.notes,
            )
            self.state.outcome = command.outcome
            self.state.closed_at = self._now()
            sa.upsert(sa.OVERDUE.value_set(False))
            return self._result()

    @close.validator
    def validate_close(self, command: CloseInput) -> None:
        if command.request_key not in self.state.requests:
            self._check(Action.CLOSE)

    @workflow.update
    async def reopen(self, command: ReopenInput) -> StepResult:
        async with self.lock:
            if (done := self._repeat(command.request_key)) is not None:
                return done
            self.validate_reopen(command)
            cycle = self.state.cycle + 1
            await self._step(
                StepKind.REOPENED,
                request_key=command.request_key,
                to_stage=target_stage(Action.REOPEN, self.stage),
                actor=command.agent,
                notes=command.reason,
                cycle=cycle,
            )
            self.state.cycle = cycle
            self.state.outcome = ""
            self.state.closed_at = None
            self.state.escalated = False
            self._touch()
            return self._result()

    @reopen.validator
    def validate_reopen(self, command: ReopenInput) -> None:
        if command.request_key not in self.state.requests:
            self._check(Action.REOPEN)

    # ---- referrals (orientation) ------------------------------------------------------
    @workflow.update
    async def orient(self, command: OrientInput) -> ReferralResult:
        """Checks the consent gate (intake activity), then starts the referral's own
        workflow; answered once the referral is recorded as requested."""
        rid = command.referral_id
        if rid not in self.state.referrals:
            async with self.lock:
                self.validate_orient(command)
                workflow.patched(PATCH_REFERRALS)
                person = await workflow.execute_activity(
                    ActivityName.CHECK_REFERRAL_CONSENT,
                    ConsentCheck(
                        self.state.dossier_id, self.state.territory, command.partner_id, command.data_scope
                    ),
                    result_type=PersonShare,
                    task_queue=ACTIVITY_QUEUE[ActivityName.CHECK_REFERRAL_CONSENT],
                    start_to_close_timeout=ACTIVITY_TIMEOUT,
                    retry_policy=ACTIVITY_RETRY,
                )
                self.state.referrals[rid] = ""
                await workflow.start_child_workflow(
                    WorkflowName.REFERRAL,
                    ReferralSpec(
                        referral_id=rid,
                        dossier_id=self.state.dossier_id,
                        territory=self.state.territory,
                        partner_id=command.partner_id,
                        partner_name=command.partner_name,
                        motif=command.motif,
                        message_for_partner=command.message_for_partner,
                        data_scope=command.data_scope,
                        person=person,
                        referrer=command.agent,
                        parent_workflow_id=workflow.info().workflow_id,
                        timers=command.timers,
                    ),
                    id=referral_workflow_id(rid),
                    task_queue=workflow.info().task_queue,
                    parent_close_policy=ParentClosePolicy.ABANDON,
                )
                self._touch()
        await workflow.wait_condition(lambda: self.state.referrals.get(rid, "") != "")
        return ReferralResult(rid, self.state.referrals[rid], 0)

    @orient.validator
    def validate_orient(self, command: OrientInput) -> None:
        if command.referral_id not in self.state.referrals:  # a retry is answered with its status
            self._check(Action.ORIENT, motif=command.motif)

    @workflow.signal(name=REFERRAL_CHANGED_SIGNAL)
    async def referral_changed(self, change: ReferralChanged) -> None:
        """A referral's workflow reports a change: recorded in the dossier's timeline."""
        async with self.lock:
            await self._step(
                StepKind.REFERRAL,
                actor=change.actor,
                referral_id=change.referral_id,
                partner_name=change.partner_name,
                referral_status=REFERRAL_REMINDER if change.kind == REFERRAL_REMINDER else change.status,
                reason=change.reason or change.outcome or None,
            )
            if change.kind == "status":
                self.state.referrals[change.referral_id] = change.status

    @workflow.signal(name=CONSENT_WITHDRAWN_SIGNAL)
    async def consent_withdrawn(self, withdrawn: ConsentWithdrawn) -> None:
        """The person withdrew a consent: one timeline step per consent, whatever the stage."""
        async with self.lock:
            if withdrawn.consent_id in self.state.withdrawn_consents:
                return
            await self._step(
                StepKind.CONSENT_WITHDRAWN, actor=withdrawn.agent, partner_name=withdrawn.partner_name
            )
            self.state.withdrawn_consents.append(withdrawn.consent_id)

    @workflow.query
    def view(self) -> DossierView:
        return DossierView(self.state, self._deadlines())


def _plus(iso: str, seconds: float) -> str:
    return (datetime.fromisoformat(iso) + timedelta(seconds=seconds)).isoformat()
