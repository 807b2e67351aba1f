"""The appointment's workflow as the planning RPCs reach it: started once its row is
committed (BookAppointment), then told of each change (Move, Cancel, RecordAttendance)
by an update whose id derives from the request. The rows are the truth: the workflow
only holds the timers (confirmation, reminders, no-show proposal)."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from kernel.errors import FailedPrecondition
from kernel.logs import get_logger
from kernel.temporal import domain_error_from, run_update
from workflows.contracts import (
    DOSSIER_TASK_QUEUE,
    AppointmentChange,
    AppointmentInput,
    AppointmentSchedule,
    AppointmentTimers,
    WorkflowName,
    appointment_workflow_id,
)

log = get_logger("planning")


def schedule_of(row: asyncpg.Record) -> AppointmentSchedule:
    return AppointmentSchedule(row["starts_at"].isoformat(), row["ends_at"].isoformat(), row["version"])


async def start(temporal: Client, row: asyncpg.Record, timers: AppointmentTimers, timeout: timedelta) -> None:
    """Starts the appointment's workflow; one already running (a retried booking) is
    kept (USE_EXISTING), one already ended is left ended."""
    appointment_id = str(row["appointment_id"])
    try:
        await temporal.start_workflow(
            WorkflowName.APPOINTMENT,
            AppointmentInput(
                appointment_id=appointment_id,
                territory=row["territory"],
                schedule=schedule_of(row),
                timers=timers,
                walk_in=row["walk_in"],
            ),
            id=appointment_workflow_id(appointment_id),
            task_queue=DOSSIER_TASK_QUEUE,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            rpc_timeout=timeout,
        )
    except WorkflowAlreadyStartedError:
        pass  # it ran and ended: nothing left to start


async def update(
    temporal: Client,
    appointment_id: str,
    name: str,
    change: AppointmentChange,
    update_id: str,
    timeout: timedelta,
) -> None:
    """Sends one update; a workflow that has already ended (the appointment is past, or
    was a walk-in) has no timer left to change: that is done, not an error."""
    handle = temporal.get_workflow_handle(appointment_workflow_id(appointment_id))
    try:
        await run_update(handle, name, change, update_id=update_id, timeout=timeout)
    except WorkflowUpdateFailedError as exc:
        raise domain_error_from(exc) or FailedPrecondition(
            "the appointment's workflow refused this change",
            fr="Le suivi du rendez-vous a refusé ce changement.",
            reason="CHANGE_REFUSED",
        ) from None
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
        log.info(
            "appointment workflow already ended",
            extra={"workflow_id": appointment_workflow_id(appointment_id)},
        )
