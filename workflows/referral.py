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
    from kernel.errors import FailedPrecondition
    from kernel.temporal import application_error
    from workflows.contracts import (
        REFERRAL_ACTIONS,
        REFERRAL_SYSTEM_ACTOR,
        REFERRAL_TASK_QUEUE,
        REFERRAL_TERMINAL,
        RecordReferralStatus,
        ReferralAction,
        ReferralChanged,
        ReferralReminder,
        ReferralResult,
        ReferralSpec,
    )
    from workflows.labels import REFERRAL_STATUS_LABELS

ACTIVITY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=30),
    non_retryable_error_types=["InvalidArgument", "NotFound", "FailedPrecondition"],
)
ACTIVITY_TIMEOUT = timedelta(seconds=30)
STATUS_ACTIONS = {
    "requested": "acknowledge, reject or cancel",
    "received": "accept, reject or cancel",
    "accepted": "start, fail or cancel",
    "in_progress": "complete, fail or cancel",
}
# What a person reads: each action as a French verb (« Impossible d'accepter cette
# orientation »), and the actions possible in each status.
ACTION_VERBS = {
    "acknowledge": "accuser réception de",
    "accept": "accepter",
    "reject": "refuser",
    "start": "commencer l'accompagnement de",
    "complete": "terminer",
    "fail": "déclarer en échec",
    "cancel": "annuler",
}
STATUS_ACTIONS_FR = {
    "requested": "accuser réception, refuser ou annuler",
    "received": "accepter, refuser ou annuler",
    "accepted": "commencer l'accompagnement, déclarer en échec ou annuler",
    "in_progress": "terminer, déclarer en échec ou annuler",
}


def de(infinitive: str) -> str:
    """« de » before a French infinitive, elided before a vowel (« d'accepter »)."""
    return ("d'" if infinitive[:1] in "aeéèêiîoôuy" else "de ") + infinitive


def refuse(message: str, fr: str, reason: str) -> ApplicationError:
    """An invalid action: FAILED_PRECONDITION for the caller, nothing written."""
    return application_error(FailedPrecondition(message, fr=fr, reason=reason))


@workflow.defn(name="ReferralWorkflow")
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
            await self._record("requested", spec.referrer)
        created = workflow.now()
        timers = spec.timers
        if timers.reminder_s < timers.expiry_s and not await self._acknowledged_within(
            created, timers.reminder_s
        ):
            async with self.lock:
                if self.status == "requested":
                    await self._remind()
        if not await self._acknowledged_within(created, timers.expiry_s):
            async with self.lock:
                if self.status == "requested":
                    await self._record("expired", REFERRAL_SYSTEM_ACTOR, reason="partner_unreachable")
        await workflow.wait_condition(lambda: self.status in REFERRAL_TERMINAL)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.status

    async def _acknowledged_within(self, since: datetime, seconds: float) -> bool:
        left = since + timedelta(seconds=seconds) - workflow.now()
        try:
            await workflow.wait_condition(
                lambda: self.status != "requested", timeout=max(left, timedelta(milliseconds=1))
            )
            return True
        except TimeoutError:
            return self.status != "requested"

    # ---- the one way a status is written -------------------------------------------
    async def _record(
        self, status: str, actor: str, *, reason: str = "", outcome: str = "", comment: str = ""
    ) -> None:
        sequence = self.sequence + 1
        await workflow.execute_activity(
            "referral.record_status",
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
            task_queue=REFERRAL_TASK_QUEUE,
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
            "referral.record_reminder",
            ReferralReminder(self.spec.referral_id, self.spec.territory, workflow.now().isoformat()),
            task_queue=REFERRAL_TASK_QUEUE,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=ACTIVITY_RETRY,
        )
        await self._tell_dossier(
            ReferralChanged(
                referral_id=self.spec.referral_id,
                partner_name=self.spec.partner_name,
                status=self.status,
                actor=REFERRAL_SYSTEM_ACTOR,
                sequence=self.sequence,
                kind="reminder",
            )
        )

    async def _tell_dossier(self, change: ReferralChanged) -> None:
        dossier = workflow.get_external_workflow_handle(self.spec.parent_workflow_id)
        try:
            await dossier.signal("referral_changed", change)
        except Exception:
            workflow.logger.warning("dossier workflow not reachable for a referral change")

    # ---- partner's and referrer's actions --------------------------------------------
    @workflow.update
    async def act(self, action: ReferralAction) -> ReferralResult:
        async with self.lock:
            self.validate_act(action)
            await self._record(
                REFERRAL_ACTIONS[action.action][1],
                action.actor,
                reason=action.reason,
                outcome=action.outcome,
                comment=action.comment,
            )
            return ReferralResult(self.spec.referral_id, self.status, self.sequence)

    @act.validator
    def validate_act(self, action: ReferralAction) -> None:
        known = REFERRAL_ACTIONS.get(action.action)
        if known is None:
            raise refuse(
                f"unknown action {action.action[:20]!r}",
                f"Action inconnue sur une orientation : « {action.action[:20]} ».",
                "UNKNOWN_ACTION",
            )
        allowed_from, _ = known
        verb = ACTION_VERBS.get(action.action, action.action)
        if self.status not in allowed_from:
            hint = STATUS_ACTIONS.get(self.status)
            status = REFERRAL_STATUS_LABELS.get(self.status, self.status)
            if not self.status:
                why = "elle est en cours de création : réessayez dans un instant."
            elif hint:
                why = f"elle est {status} (possible maintenant : {STATUS_ACTIONS_FR[self.status]})."
            else:
                why = f"elle est {status} et ne peut plus changer."
            raise refuse(
                f"cannot {action.action} this referral: it is {self.status or 'being created'}"
                + (f" (possible now: {hint})" if hint else " (it is over)"),
                f"Impossible {de(verb)} cette orientation : {why}",
                "WRONG_REFERRAL_STATUS",
            )
        if action.action in ("reject", "fail") and not action.reason:
            raise refuse(
                f"{action.action} needs a reason",
                f"Pour {verb} cette orientation, indiquez un motif.",
                "REASON_REQUIRED",
            )
        if action.action == "complete" and not action.outcome:
            raise refuse(
                "complete needs an outcome",
                "Pour terminer cette orientation, indiquez son issue.",
                "OUTCOME_REQUIRED",
            )

    @workflow.query
    def view(self) -> ReferralResult:
        return ReferralResult(self.spec.referral_id, self.status, self.sequence)
