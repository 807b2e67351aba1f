"""AppointmentWorkflow: one durable workflow per appointment.

At booking it queues the confirmation; then it waits for the next of its deadlines,
computed from its state: the reminder (`reminder_s` before the start, in Paris
wall-clock time), an optional second reminder, and the no-show check (`no_show_grace_s`
after the end). People change it through updates sent by the planning RPCs once their
row is written: reschedule (a new version: the timers follow it, a « moved » message is
queued, reminders belong to the new version), cancel (a cancellation message unless the
person asked, then the end), attendance (no no-show proposal, then the end). Every
message is written by one intake activity into the persons' outbox, keyed by
(appointment, kind, version): a retried activity queues nothing more.

Deterministic: times come from workflow.now(), no I/O here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from domain.notices import reminder_at
    from domain.planning import ATTENDANCE, MessageKind
    from kernel.errors import FailedPrecondition, InvalidArgument
    from kernel.temporal import application_error
    from workflows.contracts import (
        ACTIVITY_QUEUE,
        APPOINTMENT_ATTENDANCE_UPDATE,
        APPOINTMENT_CANCEL_UPDATE,
        APPOINTMENT_RESCHEDULE_UPDATE,
        ActivityName,
        AppointmentChange,
        AppointmentInput,
        AppointmentSchedule,
        Deadline,
        ProposeNoShow,
        QueueMessage,
        WorkflowName,
    )

ACTIVITY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=30),
    non_retryable_error_types=["InvalidArgument", "NotFound", "FailedPrecondition"],
)
ACTIVITY_TIMEOUT = timedelta(seconds=30)
# The no-show check's deadline kind (the reminders' are their MessageKind).
NO_SHOW_CHECK = "no_show_check"


class Outcome:
    """What run() returns: how the appointment's workflow ended."""

    WALK_IN = "walk_in"
    CANCELLED = "cancelled"
    ATTENDANCE = "attendance"
    NO_SHOW_PROPOSED = "no_show_proposed"


@dataclass
class _Due:
    kind: str
    at: datetime
    version: int


def _instant(iso: str) -> datetime:
    return datetime.fromisoformat(iso)


@workflow.defn(name=WorkflowName.APPOINTMENT)
class AppointmentWorkflow:
    @workflow.init
    def __init__(self, spec: AppointmentInput) -> None:
        self.spec = spec
        self.schedule = spec.schedule
        self.timers = spec.timers
        # Deadlines handled (fired, or already past when scheduled): "<version>:<kind>".
        self.handled: set[str] = set()
        self.status = ""  # the attendance recorded, if any
        self.cancelled = False
        self.by_person = False
        # A reschedule whose « moved » message is still to queue.
        self.moved_pending = False
        self.changed = False

    # ---- main loop -------------------------------------------------------------
    @workflow.run
    async def run(self, spec: AppointmentInput) -> str:
        if spec.walk_in:
            return Outcome.WALK_IN
        self._skip_past()
        await self._queue(MessageKind.CONFIRMATION, self.schedule.version)
        while True:
            self.changed = False
            if self.cancelled:
                if not self.by_person:
                    await self._queue(MessageKind.CANCELLATION, self.schedule.version)
                return await self._end(Outcome.CANCELLED)
            if self.moved_pending:
                self.moved_pending = False
                await self._queue(MessageKind.MOVED, self.schedule.version)
                continue  # an update may have come during the activity
            due = self._next()
            if due is None:
                return await self._end(Outcome.ATTENDANCE)
            try:
                await workflow.wait_condition(lambda: self.changed, timeout=self._until(due.at))
                continue
            except TimeoutError:
                pass
            if self._next() != due:
                continue  # an update came just as the timer fired
            self.handled.add(f"{due.version}:{due.kind}")
            if due.kind == NO_SHOW_CHECK:
                await workflow.execute_activity(
                    ActivityName.PROPOSE_NO_SHOW,
                    ProposeNoShow(self.spec.appointment_id, self.spec.territory, due.version),
                    task_queue=ACTIVITY_QUEUE[ActivityName.PROPOSE_NO_SHOW],
                    start_to_close_timeout=ACTIVITY_TIMEOUT,
                    retry_policy=ACTIVITY_RETRY,
                )
                return await self._end(Outcome.NO_SHOW_PROPOSED)
            await self._queue(MessageKind(due.kind), due.version)

    async def _end(self, outcome: str) -> str:
        await workflow.wait_condition(workflow.all_handlers_finished)
        return outcome

    async def _queue(self, kind: MessageKind, version: int) -> None:
        await workflow.execute_activity(
            ActivityName.QUEUE_PERSON_MESSAGE,
            QueueMessage(self.spec.appointment_id, self.spec.territory, kind.value, version),
            task_queue=ACTIVITY_QUEUE[ActivityName.QUEUE_PERSON_MESSAGE],
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=ACTIVITY_RETRY,
        )

    # ---- deadlines -------------------------------------------------------------
    def _all_due(self) -> list[_Due]:
        """Every deadline of the current version not handled yet."""
        if self.cancelled or self.status:
            return []
        s, t = self.schedule, self.timers
        starts = _instant(s.starts_at)
        found: list[_Due] = []
        if t.reminder_s > 0:
            found.append(_Due(MessageKind.REMINDER, reminder_at(starts, t.reminder_s), s.version))
        if t.second_reminder_s > 0:
            found.append(
                _Due(MessageKind.SECOND_REMINDER, reminder_at(starts, t.second_reminder_s), s.version)
            )
        found.append(
            _Due(NO_SHOW_CHECK, _instant(s.ends_at) + timedelta(seconds=t.no_show_grace_s), s.version)
        )
        return [d for d in found if f"{d.version}:{d.kind}" not in self.handled]

    def _next(self) -> _Due | None:
        pending = self._all_due()
        return min(pending, key=lambda d: d.at) if pending else None

    def _skip_past(self) -> None:
        """Reminders whose moment has passed when the appointment is (re)scheduled are
        not sent late (an appointment booked for tomorrow gets its confirmation only)."""
        now = workflow.now()
        for due in self._all_due():
            if due.kind != NO_SHOW_CHECK and due.at <= now:
                self.handled.add(f"{due.version}:{due.kind}")

    def _until(self, at: datetime) -> timedelta:
        return max(at - workflow.now(), timedelta(milliseconds=1))

    @workflow.query
    def deadlines(self) -> list[Deadline]:
        return [Deadline(d.kind, d.at.isoformat()) for d in sorted(self._all_due(), key=lambda d: d.at)]

    # ---- updates (sent by the planning RPCs after their row is written) -----------
    @workflow.update(name=APPOINTMENT_RESCHEDULE_UPDATE)
    def reschedule(self, change: AppointmentChange) -> None:
        assert change.schedule is not None  # the validator refused otherwise
        if change.schedule.version <= self.schedule.version:
            return  # this version (or a later one) is already known: a repeat
        self.schedule = AppointmentSchedule(
            change.schedule.starts_at, change.schedule.ends_at, change.schedule.version
        )
        self.moved_pending = True
        self._skip_past()
        self.changed = True

    @reschedule.validator
    def validate_reschedule(self, change: AppointmentChange) -> None:
        if change.schedule is None:
            raise application_error(
                InvalidArgument(
                    "reschedule needs the new schedule",
                    fr="Le déplacement du rendez-vous ne précise pas le nouvel horaire.",
                    field="schedule",
                )
            )
        if self.cancelled:
            raise application_error(
                FailedPrecondition(
                    "the appointment is cancelled",
                    fr="Ce rendez-vous est annulé : il ne peut plus être déplacé.",
                    reason="APPOINTMENT_CANCELLED",
                )
            )
        if self.status and change.schedule.version > self.schedule.version:
            raise application_error(
                FailedPrecondition(
                    "the appointment's attendance is recorded",
                    fr="La présence à ce rendez-vous est déjà enregistrée : il ne peut plus être déplacé.",
                    reason="APPOINTMENT_ATTENDED",
                )
            )

    @workflow.update(name=APPOINTMENT_CANCEL_UPDATE)
    def cancel(self, change: AppointmentChange) -> None:
        if self.cancelled:
            return  # a repeat
        self.cancelled = True
        self.by_person = change.by_person
        self.changed = True

    @workflow.update(name=APPOINTMENT_ATTENDANCE_UPDATE)
    def attendance(self, change: AppointmentChange) -> None:
        self.status = change.status
        self.changed = True

    @attendance.validator
    def validate_attendance(self, change: AppointmentChange) -> None:
        if change.status not in ATTENDANCE:
            raise application_error(
                InvalidArgument(
                    f"status is one of {', '.join(ATTENDANCE)}",
                    fr="La présence enregistrée doit être : arrivé, reçu, absent ou absent excusé.",
                    field="status",
                )
            )
