"""ReferralWorkflow: one per referral (id `referral-<uuid>`), a child of its dossier's
workflow. Closed loop after HL7 Gravity / DORA:

requested → received → accepted | rejected → in_progress → completed | failed;
cancelled by the referrer; expired when not acknowledged in time (reminder before).

Every status is written by one referral activity (row, history, status_changed event
with a per-referral sequence, one transaction) and signalled to the dossier's workflow,
which records it in the dossier's timeline. Invalid actions are refused by the update
validator before anything is written.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from domain import referral as rules
    from domain.dossier import Refusal
    from domain.vocabulary import (
        REFERRAL_REMINDER,
        REFERRAL_TERMINAL,
        SYSTEM_ACTOR,
        ReferralReason,
        ReferralStatus,
    )
    from kernel.errors import FailedPrecondition
    from kernel.temporal import application_error
    from workflows.contracts import (
        ACTIVITY_QUEUE,
        REFERRAL_CHANGED_SIGNAL,
        ActInput,
        ActivityName,
        RecordReferralStatus,
        ReferralChanged,
        ReferralReminder,
        ReferralResult,
        ReferralSpec,
        WorkflowName,
    )

ACTIVITY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=30),
    non_retryable_error_types=["InvalidArgument", "NotFound", "FailedPrecondition"],
)
ACTIVITY_TIMEOUT = timedelta(seconds=30)


def refuse(refusal: Refusal) -> ApplicationError:
    """An invalid action: FAILED_PRECONDITION for the caller, nothing written."""
    return application_error(FailedPrecondition(refusal.message, fr=refusal.fr, reason=refusal.reason))


@workflow.defn(name=WorkflowName.REFERRAL)
class ReferralWorkflow:
    @workflow.init
    def __init__(self, spec: ReferralSpec) -> None:
        self.spec = spec
        self.status = ""
        self.sequence = 0
        self.lock = asyncio.Lock()

    @workflow.run
    async def run(self, spec: ReferralSpec) -> str:
        async with self.lock:
            await self._record(ReferralStatus.REQUESTED, spec.referrer)
        created = workflow.now()
        timers = spec.timers
        if timers.reminder_s < timers.expiry_s and not await self._acknowledged_within(
            created, timers.reminder_s
        ):
            async with self.lock:
                if self.status == ReferralStatus.REQUESTED:
                    await self._remind()
        if not await self._acknowledged_within(created, timers.expiry_s):
            async with self.lock:
                if self.status == ReferralStatus.REQUESTED:
                    await self._record(
                        ReferralStatus.EXPIRED,
                        SYSTEM_ACTOR,
                        reason=ReferralReason.PARTNER_UNREACHABLE,
                    )
        await workflow.wait_condition(lambda: self.status in REFERRAL_TERMINAL)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.status

    async def _acknowledged_within(self, since: datetime, seconds: float) -> bool:
        left = since + timedelta(seconds=seconds) - workflow.now()
        try:
            await workflow.wait_condition(
                lambda: self.status != ReferralStatus.REQUESTED, timeout=max(left, timedelta(milliseconds=1))
            )
            return True
        except TimeoutError:
            return self.status != ReferralStatus.REQUESTED

    # ---- the one way a status is written -------------------------------------------
    async def _record(
        self, status: str, actor: str, *, reason: str = "", outcome: str = "", comment: str = ""
    ) -> None:
        sequence = self.sequence + 1
        await workflow.execute_activity(
            ActivityName.RECORD_REFERRAL_STATUS,
            RecordReferralStatus(
                workflow_id=workflow.info().workflow_id,
                spec=self.spec,
                sequence=sequence,
                status=status,
                previous_status=self.status,
                actor=actor,
                at=workflow.now().isoformat(),
                reason=reason,
                outcome=outcome,
                comment=comment,
            ),
            task_queue=ACTIVITY_QUEUE[ActivityName.RECORD_REFERRAL_STATUS],
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=ACTIVITY_RETRY,
        )
        self.sequence = sequence
        self.status = status
        await self._tell_dossier(
            ReferralChanged(
                referral_id=self.spec.referral_id,
                partner_name=self.spec.partner_name,
                status=status,
                actor=actor,
                sequence=sequence,
                reason=reason,
                outcome=outcome,
            )
        )

    async def _remind(self) -> None:
        await workflow.execute_activity(
            ActivityName.RECORD_REFERRAL_REMINDER,
            ReferralReminder(self.spec.referral_id, self.spec.territory, workflow.now().isoformat()),
            task_queue=ACTIVITY_QUEUE[ActivityName.RECORD_REFERRAL_REMINDER],
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=ACTIVITY_RETRY,
        )
        await self._tell_dossier(
            ReferralChanged(
                referral_id=self.spec.referral_id,
                partner_name=self.spec.partner_name,
                status=self.status,
                actor=SYSTEM_ACTOR,
                sequence=self.sequence,
                kind=REFERRAL_REMINDER,
            )
        )

    async def _tell_dossier(self, change: ReferralChanged) -> None:
        dossier = workflow.get_external_workflow_handle(self.spec.parent_workflow_id)
        try:
            await dossier.signal(REFERRAL_CHANGED_SIGNAL, change)
        except Exception:
            workflow.logger.warning("dossier workflow not reachable for a referral change")

    # ---- partner's and referrer's actions --------------------------------------------
    @workflow.update
    async def act(self, action: ActInput) -> ReferralResult:
        async with self.lock:
            self.validate_act(action)
            await self._record(
                rules.next_status(action.action),
                action.actor,
                reason=action.reason,
                outcome=action.outcome,
                comment=action.comment,
            )
            return ReferralResult(self.spec.referral_id, self.status, self.sequence)

    @act.validator
    def validate_act(self, action: ActInput) -> None:
        refusal = rules.guard(action.action, self.status, reason=action.reason, outcome=action.outcome)
        if refusal is not None:
            raise refuse(refusal)

    @workflow.query
    def view(self) -> ReferralResult:
        return ReferralResult(self.spec.referral_id, self.status, self.sequence)
