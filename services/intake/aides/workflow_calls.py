"""The aid request's workflow as the aid RPCs reach it: started once the request's row
is committed (CreateAidRequest, again on a retry: USE_EXISTING), told of each committed
change (its status and version). The rows are the truth: the workflow only holds the
deadlines, and its activity makes a task only if the request is still where it was."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from kernel.logs import get_logger
from workflows.contracts import (
    AID_REQUEST_CHANGED_SIGNAL,
    DOSSIER_TASK_QUEUE,
    AidProgress,
    AidRequestInput,
    WorkflowName,
    aid_request_workflow_id,
)

log = get_logger("aides")


async def start(temporal: Client, spec: AidRequestInput, timeout: timedelta) -> None:
    try:
        await temporal.start_workflow(
            WorkflowName.AID_REQUEST,
            spec,
            id=aid_request_workflow_id(spec.aid_request_id),
            task_queue=DOSSIER_TASK_QUEUE,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            rpc_timeout=timeout,
        )
    except WorkflowAlreadyStartedError:
        pass  # it ran and ended: nothing left to start


async def changed(temporal: Client, aid_request_id: str, progress: AidProgress, timeout: timedelta) -> None:
    """Re-times the deadlines; a workflow already ended (a final status) has none left."""
    handle = temporal.get_workflow_handle(aid_request_workflow_id(aid_request_id))
    try:
        await handle.signal(AID_REQUEST_CHANGED_SIGNAL, progress, rpc_timeout=timeout)
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
        log.info(
            "aid request workflow already ended",
            extra={"workflow_id": aid_request_workflow_id(aid_request_id)},
        )
