"""ImportWorkflow: after ImportDossiers has written a file's dossiers, starts the
DossierWorkflow of each one still open, page by page, in the background (a file may
hold thousands: more than one call should wait for). Durable: a crash resumes at the
page it was at; a dossier whose start was already done is left as it is. No I/O here:
the intake activity `start_imported_dossiers` reads and starts; import-safe for the
sandbox."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from workflows.contracts import (
        ACTIVITY_QUEUE,
        ActivityName,
        ImportStarts,
        StartedPage,
        StartPage,
        WorkflowName,
    )

PAGE = 100
ACTIVITY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=30),
    non_retryable_error_types=["InvalidArgument"],
)


@workflow.defn(name=WorkflowName.IMPORT)
class ImportWorkflow:
    @workflow.run
    async def run(self, params: ImportStarts) -> int:
        started, after = 0, ""
        while True:
            page: StartedPage = await workflow.execute_activity(
                ActivityName.START_IMPORTED_DOSSIERS,
                StartPage(territories=params.territories, after=after, limit=PAGE),
                task_queue=ACTIVITY_QUEUE[ActivityName.START_IMPORTED_DOSSIERS],
                start_to_close_timeout=timedelta(minutes=5),
                retry_policy=ACTIVITY_RETRY,
                result_type=StartedPage,
            )
            started += page.started
            if not page.last:
                return started
            after = page.last
