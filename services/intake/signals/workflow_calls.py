"""The signal's workflow as the signal RPCs reach it: started once its row is
committed (SubmitSignal, again on a retry: USE_EXISTING), told once it is qualified
(QualifySignal, again on a retry). The row is the truth: the workflow only holds the
escalation timer, and its activity escalates a signal still unqualified only."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from kernel.logs import get_logger
from workflows.contracts import (
    DOSSIER_TASK_QUEUE,
    SIGNAL_QUALIFIED_SIGNAL,
    SignalInput,
    WorkflowName,
    signal_workflow_id,
)

log = get_logger("signals")


async def start(temporal: Client, row: asyncpg.Record, escalation_s: float, timeout: timedelta) -> None:
    signal_id = str(row["signal_id"])
    try:
        await temporal.start_workflow(
            WorkflowName.SIGNAL,
            SignalInput(
                signal_id=signal_id,
                territory=row["territory"],
                submitted_at=row["submitted_at"].isoformat(),
                escalation_s=escalation_s,
            ),
            id=signal_workflow_id(signal_id),
            task_queue=DOSSIER_TASK_QUEUE,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            rpc_timeout=timeout,
        )
    except WorkflowAlreadyStartedError:
        pass  # it ran and ended: nothing left to start


async def qualified(temporal: Client, signal_id: str, timeout: timedelta) -> None:
    """Stops the timer; a workflow already ended (escalated) has none left."""
    handle = temporal.get_workflow_handle(signal_workflow_id(signal_id))
    try:
        await handle.signal(SIGNAL_QUALIFIED_SIGNAL, rpc_timeout=timeout)
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
        log.info("signal workflow already ended", extra={"workflow_id": signal_workflow_id(signal_id)})
