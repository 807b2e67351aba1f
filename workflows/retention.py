"""RetentionWorkflow: the daily retention run (docs/domain.md rules 3 and 4), started by the
Temporal Schedule `entraide-retention` (created at intake's start-up).

Intake activities, on the `intake` task queue: anonymise the dossiers (and then their
persons) whose last contact is older than the retention period, purge the access-log
entries older than theirs, and delete the supporting documents past their date. No I/O
here; import-safe for the sandbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from workflows.contracts import ACTIVITY_QUEUE, ActivityName, WorkflowName

RETENTION_SCHEDULE_ID = "entraide-retention"
# The schedule appends the scheduled time to this id for each run.
RETENTION_WORKFLOW_ID = "entraide-retention"
DEFAULT_RETENTION_DAYS = 730
DEFAULT_ACCESS_LOG_RETENTION_DAYS = 365

ACTIVITY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5),
    maximum_interval=timedelta(minutes=5),
    maximum_attempts=10,
    non_retryable_error_types=["InvalidArgument", "FailedPrecondition"],
)


@dataclass
class RetentionInput:
    """Durations in days (ENTRAIDE_RETENTION_DAYS, ENTRAIDE_ACCESS_LOG_RETENTION_DAYS)."""

    retention_days: int = DEFAULT_RETENTION_DAYS
    access_log_retention_days: int = DEFAULT_ACCESS_LOG_RETENTION_DAYS


@dataclass
class RetentionResult:
    dossiers_anonymised: int
    access_log_purged: int
    documents_deleted: int = 0


@workflow.defn(name=WorkflowName.RETENTION)
class RetentionWorkflow:
    @workflow.run
    async def run(self, params: RetentionInput) -> RetentionResult:
        dossiers: int = await workflow.execute_activity(
            ActivityName.ANONYMISE_INACTIVE,
            params.retention_days,
            task_queue=ACTIVITY_QUEUE[ActivityName.ANONYMISE_INACTIVE],
            start_to_close_timeout=timedelta(hours=2),
            heartbeat_timeout=timedelta(minutes=2),
            retry_policy=ACTIVITY_RETRY,
            result_type=int,
        )
        purged: int = await workflow.execute_activity(
            ActivityName.PURGE_ACCESS_LOG,
            params.access_log_retention_days,
            task_queue=ACTIVITY_QUEUE[ActivityName.PURGE_ACCESS_LOG],
            start_to_close_timeout=timedelta(minutes=30),
            retry_policy=ACTIVITY_RETRY,
            result_type=int,
        )
        documents = 0
        # Supporting documents past their date (added after runs were recorded: patched).
        if workflow.patched("purge-documents"):
            documents = await workflow.execute_activity(
                ActivityName.PURGE_DOCUMENTS,
                task_queue=ACTIVITY_QUEUE[ActivityName.PURGE_DOCUMENTS],
                start_to_close_timeout=timedelta(minutes=30),
                heartbeat_timeout=timedelta(minutes=2),
                retry_policy=ACTIVITY_RETRY,
                result_type=int,
            )
        return RetentionResult(
            dossiers_anonymised=dossiers, access_log_purged=purged, documents_deleted=documents
        )
