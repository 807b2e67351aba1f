"""SignalWorkflow: one durable workflow per signal ("aller vers", docs/signals.md).

Started by SubmitSignal once the signal's row is committed; waits for the qualified
signal (QualifySignal, after its row is written) or for the deployment's escalation
delay (`escalation_s` after the submission, ENTRAIDE_SIGNAL_ESCALATION_S, 7 days by
default), whichever comes first. Unqualified by then: one intake activity escalates
it (it checks the row: a signal qualified meanwhile is left alone). Then it ends.

Deterministic: times come from workflow.now(), no I/O here.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from workflows.contracts import (
        ACTIVITY_QUEUE,
        SIGNAL_QUALIFIED_SIGNAL,
        ActivityName,
        EscalateSignal,
        SignalInput,
        WorkflowName,
    )

ACTIVITY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(minutes=5),
    non_retryable_error_types=["InvalidArgument", "NotFound", "FailedPrecondition"],
)
ACTIVITY_TIMEOUT = timedelta(seconds=30)


class Outcome:
    """What run() returns: how the signal's workflow ended."""

    QUALIFIED = "qualified"
    ESCALATED = "escalated"


@workflow.defn(name=WorkflowName.SIGNAL)
class SignalWorkflow:
    @workflow.init
    def __init__(self, spec: SignalInput) -> None:
        self.spec = spec
        self.qualified = False

    @workflow.run
    async def run(self, spec: SignalInput) -> str:
        due = datetime.fromisoformat(spec.submitted_at) + timedelta(seconds=spec.escalation_s)
        left = max((due - workflow.now()).total_seconds(), 0.0)
        if not self.qualified and left > 0:
            try:
                await workflow.wait_condition(lambda: self.qualified, timeout=timedelta(seconds=left))
            except TimeoutError:
                pass
        if self.qualified:
            return Outcome.QUALIFIED
        await workflow.execute_activity(
            ActivityName.ESCALATE_SIGNAL,
            EscalateSignal(signal_id=spec.signal_id, territory=spec.territory),
            task_queue=ACTIVITY_QUEUE[ActivityName.ESCALATE_SIGNAL],
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=ACTIVITY_RETRY,
        )
        return Outcome.ESCALATED

    @workflow.signal(name=SIGNAL_QUALIFIED_SIGNAL)
    def on_qualified(self) -> None:
        self.qualified = True

    @workflow.query
    def is_qualified(self) -> bool:
        return self.qualified
