"""Runs the workflow worker (task queue `dossiers`): workflows only, no I/O (dossiers,
referrals, retention, imports, appointments, signals, aid requests)."""

from __future__ import annotations

import asyncio

from temporalio.worker import Worker

from kernel import memtrace, metrics
from kernel import temporal as temporal_kernel
from kernel.runtime import run_until_signal
from kernel.settings import Settings
from workflows.aid_request import AidRequestWorkflow
from workflows.appointment import AppointmentWorkflow
from workflows.contracts import DOSSIER_TASK_QUEUE
from workflows.dossier import DossierWorkflow
from workflows.imports import ImportWorkflow
from workflows.referral import ReferralWorkflow
from workflows.retention import RetentionWorkflow
from workflows.signal import SignalWorkflow

WORKFLOWS = [
    DossierWorkflow,
    RetentionWorkflow,
    ReferralWorkflow,
    ImportWorkflow,
    AppointmentWorkflow,
    SignalWorkflow,
    AidRequestWorkflow,
]


async def run_worker(settings: Settings, stop: asyncio.Event) -> None:
    memtrace.install(settings.env)
    client = await temporal_kernel.connect(settings)
    # A bounded sticky cache: every cached run keeps its own sandboxed copy of its workflow
    # module, and dossiers stay open for months between steps (SDK default: 1000 runs).
    # An evicted run is replayed from its history at its next task.
    worker = Worker(
        client,
        task_queue=DOSSIER_TASK_QUEUE,
        workflows=WORKFLOWS,
        max_cached_workflows=settings.workflow_cache_size,
    )
    exporter = metrics.serve("workflows", settings.env)
    try:
        async with worker:
            await stop.wait()
    finally:
        exporter.stop()


def main() -> None:
    run_until_signal("workflows", run_worker)


if __name__ == "__main__":
    main()
