"""AidRequestWorkflow: one durable workflow per aid request (docs/aides.md).

Started by CreateAidRequest once the request's row is committed (workflow_calls.start),
told of every committed change by an AidProgress signal (its status, when, and the
request's version). For the step the request waits for (domain.aides.step_of: its
instruction, its commission's decision, its payment) it arms that step's deadline,
`<step>_s` after the change that put it there; a newer progress re-times it (an older
or repeated one is ignored). When a deadline passes with no newer progress, one intake
activity (AID_DEADLINE_PASSED) is run once for that (step, version): it writes the
agent's task and the timeline's entry only if the request is still at that version.
A status with no step (refused, withdrawn, closed) ends the workflow.

The rows are the truth: this workflow holds only the deadlines, never a name or an
amount. A step's duration of 0 or less means no deadline for that step.

Deterministic: times come from workflow.now(), no I/O here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from domain.aides import AidRequestStatus, AidStep, step_of
    from workflows.contracts import (
        ACTIVITY_QUEUE,
        AID_REQUEST_CHANGED_SIGNAL,
        ActivityName,
        AidDeadline,
        AidProgress,
        AidRequestInput,
        Deadline,
        WorkflowName,
    )

ACTIVITY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(minutes=5),
    non_retryable_error_types=["InvalidArgument", "NotFound", "FailedPrecondition"],
)
ACTIVITY_TIMEOUT = timedelta(seconds=30)


@dataclass(frozen=True)
class Due:
    """The deadline armed for the request as of `version`."""

    step: AidStep
    at: datetime
    version: int


def step_seconds(spec: AidRequestInput, step: AidStep) -> int:
    """The deployment's duration of a step (AidSettings, carried by the input)."""
    return {
        AidStep.INSTRUCTION: spec.instruction_s,
        AidStep.COMMISSION: spec.commission_s,
        AidStep.PAYMENT: spec.payment_s,
    }[step]


def deadline_of(spec: AidRequestInput, status: str, changed_at: str, version: int) -> Due | None:
    """The deadline of the step a request in `status` waits for, counted from the change
    that put it there; None when it waits for nothing (a final status) or when that
    step has no deadline in this deployment."""
    step = step_of(AidRequestStatus(status))
    if step is None:
        return None
    seconds = step_seconds(spec, step)
    if seconds <= 0:
        return None
    return Due(step, datetime.fromisoformat(changed_at) + timedelta(seconds=seconds), version)


def is_final(status: str) -> bool:
    return step_of(AidRequestStatus(status)) is None


@workflow.defn(name=WorkflowName.AID_REQUEST)
class AidRequestWorkflow:
    @workflow.init
    def __init__(self, spec: AidRequestInput) -> None:
        self.spec = spec
        # The latest progress known (the input's, then the newest signal's).
        self.status = spec.status
        self.changed_at = spec.changed_at
        self.version = spec.version
        # Deadlines whose activity ran: "<version>:<step>".
        self.fired: set[str] = set()
        # The version the loop is waiting on.
        self.seen = spec.version

    @workflow.run
    async def run(self, spec: AidRequestInput) -> str:
        while not is_final(self.status):
            version = self.seen = self.version
            due = self._pending()
            if due is None:
                # Passed already (or no deadline for this step): wait for the next change.
                await workflow.wait_condition(self._moved)
                continue
            left = due.at - workflow.now()
            if left > timedelta(0):
                try:
                    await workflow.wait_condition(self._moved, timeout=left)
                    continue
                except TimeoutError:
                    pass
            if self.version != version:
                continue  # a change came just as the timer fired
            self.fired.add(_key(due))
            await workflow.execute_activity(
                ActivityName.AID_DEADLINE_PASSED,
                AidDeadline(
                    aid_request_id=spec.aid_request_id,
                    dossier_id=spec.dossier_id,
                    territory=spec.territory,
                    step=due.step.value,
                    version=due.version,
                ),
                task_queue=ACTIVITY_QUEUE[ActivityName.AID_DEADLINE_PASSED],
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=ACTIVITY_RETRY,
            )
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.status

    def _moved(self) -> bool:
        return self.version != self.seen

    def _pending(self) -> Due | None:
        due = deadline_of(self.spec, self.status, self.changed_at, self.version)
        return None if due is None or _key(due) in self.fired else due

    @workflow.signal(name=AID_REQUEST_CHANGED_SIGNAL)
    def on_changed(self, progress: AidProgress) -> None:
        if progress.version <= self.version:
            return  # a repeat, or older than what is known
        if progress.status not in _STATUSES:
            workflow.logger.warning("aid progress with an unknown status ignored")
            return
        self.status = progress.status
        self.changed_at = progress.changed_at
        self.version = progress.version

    @workflow.query
    def deadlines(self) -> list[Deadline]:
        """The deadline still armed, if any (kind: the step)."""
        due = self._pending()
        return [] if due is None else [Deadline(due.step.value, due.at.isoformat())]

    @workflow.query
    def progress(self) -> AidProgress:
        return AidProgress(self.status, self.changed_at, self.version)


_STATUSES = frozenset(s.value for s in AidRequestStatus)


def _key(due: Due) -> str:
    return f"{due.version}:{due.step.value}"
