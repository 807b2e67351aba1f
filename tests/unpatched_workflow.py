"""A DossierWorkflow changed WITHOUT workflow.patched(): a timer before the first
activity. The replay test uses it to prove that recorded histories catch such a change."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.contracts import DossierSpec
    from workflows.dossier import DossierWorkflow


@workflow.defn(name="DossierWorkflow")
class UnpatchedDossierWorkflow(DossierWorkflow):
    @workflow.run
    async def run(self, spec: DossierSpec) -> str:
        await workflow.sleep(timedelta(seconds=1))  # a new command, not guarded
        return await super().run(spec)
