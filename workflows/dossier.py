"""DossierWorkflow: one durable workflow per dossier.

reception → ecoute → orientation → suivi → cloture. The first step records the
dossier (intake activity, which also writes dossier.opened through the outbox).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from workflows import search_attributes as sa
    from workflows.contracts import (
        INTAKE_TASK_QUEUE,
        DossierSpec,
        DossierState,
        OpenedDossier,
        RecordOpened,
    )

ACTIVITY_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))


@workflow.defn(name="DossierWorkflow")
class DossierWorkflow:
    @workflow.init
    def __init__(self, spec: DossierSpec) -> None:
        self.spec = spec
        self.stage = "reception"
        self.opened_at: str | None = None
        self.open_requests = 0
        self.history: list[dict[str, str]] = []

    @workflow.run
    async def run(self, spec: DossierSpec) -> str:
        self.opened_at = await workflow.execute_activity(
            "intake.record_dossier_opened",
            RecordOpened(spec=spec, workflow_id=workflow.info().workflow_id),
            result_type=str,
            task_queue=INTAKE_TASK_QUEUE,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=ACTIVITY_RETRY,
        )
        self.history.append({"stage": "reception", "at": self.opened_at})
        workflow.upsert_search_attributes([sa.STAGE.value_set(self.stage)])
        await workflow.wait_condition(lambda: self.stage == "cloture")
        return self.stage

    @workflow.update
    async def open(self) -> OpenedDossier:
        """Answered once the dossier is recorded; only the first call says created."""
        self.open_requests += 1
        first = self.open_requests == 1
        await workflow.wait_condition(lambda: self.opened_at is not None)
        assert self.opened_at is not None
        return OpenedDossier(self.spec.dossier_id, self.stage, self.opened_at, created=first)

    @workflow.query
    def state(self) -> DossierState:
        return DossierState(self.spec.dossier_id, self.stage, self.opened_at, list(self.history))
