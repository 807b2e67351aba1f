"""Temporal client connection and the mapping of workflow failures to domain errors."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Mapping
from datetime import timedelta
from typing import Any, TypeVar

from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
    WorkflowUpdateStage,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from kernel.codec import data_converter
from kernel.errors import ERRORS_BY_KIND, DomainError, FailedPrecondition, Unavailable
from kernel.settings import Settings


async def connect(settings: Settings) -> Client:
    """The client of every service and worker; its payloads are encrypted (kernel.codec)."""
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(settings.env),
    )


def application_error(error: DomainError) -> ApplicationError:
    """A domain error raised in workflow or activity code (never retried)."""
    return ApplicationError(error.message, error.details(), type=error.kind, non_retryable=True)


def domain_error_from(exc: BaseException) -> DomainError | None:
    """The domain error behind a failed update or activity, if there is one."""
    current: BaseException | None = exc
    while current is not None:
        if isinstance(current, ApplicationError) and current.type in ERRORS_BY_KIND:
            details = current.details[0] if current.details else None
            return ERRORS_BY_KIND[current.type].from_details(
                current.message, details if isinstance(details, Mapping) else None
            )
        current = current.__cause__
    if isinstance(exc, WorkflowUpdateFailedError):
        return FailedPrecondition(
            str(exc.cause) if exc.cause else "the dossier refused this step",
            fr="Le dossier a refusé cette étape.",
            reason="STEP_REFUSED",
        )
    return None


# A worker accepts (validates) an update within this, or none is running: the caller is
# told at once instead of waiting its whole deadline. The update stays admitted; a
# retry with the same request id (hence the same update id) attaches to it.
ACCEPT_WITHIN = timedelta(seconds=2)
T = TypeVar("T")


def no_worker() -> Unavailable:
    return Unavailable(
        "no workflow worker accepted the step in time; retry with the same request_id",
        fr=(
            "Le moteur de traitement des dossiers ne répond pas pour l'instant : "
            "réessayez dans un instant (la même demande ne sera jamais appliquée deux fois)."
        ),
        reason="WORKER_UNAVAILABLE",
    )


def worker_busy() -> Unavailable:
    """Workers were seen at work all along, but none took this step before the call's
    deadline: the engine is overloaded, not down."""
    return Unavailable(
        "workflow workers are busy and did not accept the step before the deadline; "
        "retry with the same request_id",
        fr=(
            "Le moteur de traitement des dossiers est très chargé et n'a pas encore pris en compte "
            "la demande : réessayez dans un instant (la même demande ne sera jamais appliquée deux fois)."
        ),
        reason="WORKER_BUSY",
    )


async def accepted_within(wait: Awaitable[T], limit: timedelta = ACCEPT_WITHIN) -> T:
    """The wait for a worker to accept an update, cut at `limit` in all: the SDK polls
    again when the server answers before acceptance, so its per-call rpc_timeout alone
    can add up to several times the limit."""
    try:
        return await asyncio.wait_for(wait, timeout=limit.total_seconds())
    except TimeoutError:
        raise no_worker() from None


async def run_update(
    handle: WorkflowHandle[Any, Any],
    update: Any,
    arg: Any,
    *,
    update_id: str | None,
    timeout: timedelta,
    result_type: type | None = None,
) -> Any:
    """Sends an update and returns its result; UNAVAILABLE when no worker accepts it
    within ACCEPT_WITHIN (no worker polls the queue, or it is restarting)."""
    started = time.monotonic()
    try:
        pending = await accepted_within(
            handle.start_update(
                update,
                arg,
                id=update_id,
                wait_for_stage=WorkflowUpdateStage.ACCEPTED,
                result_type=result_type,
                rpc_timeout=min(ACCEPT_WITHIN, timeout),
            ),
            min(ACCEPT_WITHIN, timeout),
        )
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        raise no_worker() from None
    except RPCError as exc:
        if exc.status == RPCStatusCode.DEADLINE_EXCEEDED:
            raise no_worker() from None  # the same wait, reported by the server side
        raise
    left = timeout - timedelta(seconds=time.monotonic() - started)
    return await pending.result(rpc_timeout=max(left, timedelta(seconds=1)))


async def settle_start(operation: WithStartWorkflowOperation[Any, Any]) -> None:
    """Retrieves a failed update-with-start's start outcome: the SDK sets the failure on
    the operation's handle future too, which asyncio otherwise reports as "Future
    exception was never retrieved"."""
    with contextlib.suppress(BaseException):
        await asyncio.wait_for(operation.workflow_handle(), timeout=0.01)
