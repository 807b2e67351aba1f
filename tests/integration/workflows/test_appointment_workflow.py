"""AppointmentWorkflow's timers on Temporal's time-skipping server, with stand-in
activities that record what they were asked and when (the server's skipped time):
the reminder at the right Paris wall-clock time across the October and March DST
changes, the no-show proposal after the end, moving (the old version's reminder never
runs, the new one does), cancelling, attendance stopping the no-show."""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from domain.planning import PARIS, AppointmentStatus, MessageKind
from kernel.codec import data_converter
from workflows.appointment import NO_SHOW_CHECK, AppointmentWorkflow, Outcome
from workflows.contracts import (
    DOSSIER_TASK_QUEUE,
    INTAKE_TASK_QUEUE,
    ActivityName,
    AppointmentChange,
    AppointmentInput,
    AppointmentSchedule,
    AppointmentTimers,
    ProposeNoShow,
    QueueMessage,
    appointment_workflow_id,
)

HOUR = 3600.0
TIMERS = AppointmentTimers(reminder_s=48 * HOUR, second_reminder_s=0.0, no_show_grace_s=1800.0)
NO_SHOW = "no_show"


@dataclass
class Call:
    what: str  # a MessageKind, or NO_SHOW
    version: int
    at: datetime  # the server's (skipped) time the activity was scheduled at


@dataclass
class Recorder:
    calls: list[Call] = field(default_factory=list)

    def of(self, what: str) -> list[Call]:
        return [c for c in self.calls if c.what == what]

    def activities(self) -> list[Callable[..., Any]]:
        @activity.defn(name=ActivityName.QUEUE_PERSON_MESSAGE)
        async def queue(command: QueueMessage) -> str:
            self.calls.append(Call(command.kind, command.version, _scheduled()))
            return "queued"

        @activity.defn(name=ActivityName.PROPOSE_NO_SHOW)
        async def propose(command: ProposeNoShow) -> bool:
            self.calls.append(Call(NO_SHOW, command.version, _scheduled()))
            return True

        return [queue, propose]


def _scheduled() -> datetime:
    scheduled = activity.info().current_attempt_scheduled_time
    assert scheduled is not None
    return scheduled


@dataclass
class World:
    env: WorkflowEnvironment
    recorder: Recorder

    async def now(self) -> datetime:
        return await self.env.get_current_time()

    async def book(
        self, starts: datetime, minutes: int = 30, timers: AppointmentTimers = TIMERS, walk_in: bool = False
    ) -> WorkflowHandle[AppointmentWorkflow, str]:
        appointment_id = str(uuid.uuid4())
        spec = AppointmentInput(appointment_id, "55029", _schedule(starts, minutes, 1), timers, walk_in)
        return await self.env.client.start_workflow(
            AppointmentWorkflow.run,
            spec,
            id=appointment_workflow_id(appointment_id),
            task_queue=DOSSIER_TASK_QUEUE,
        )

    async def sleep_until(self, at: datetime) -> None:
        left = at - await self.now()
        if left > timedelta(0):
            await self.env.sleep(left)


def _schedule(starts: datetime, minutes: int, version: int) -> AppointmentSchedule:
    ends = starts + timedelta(minutes=minutes)
    return AppointmentSchedule(starts.astimezone(UTC).isoformat(), ends.astimezone(UTC).isoformat(), version)


def _last_sunday(year: int, month: int) -> date:
    last = date(year + (month == 12), month % 12 + 1, 1) - timedelta(days=1)
    return last - timedelta(days=(last.weekday() + 1) % 7)


def _next_change(month: int, after: datetime) -> date:
    """The next last Sunday of `month` (a DST change in Europe/Paris) at least a week
    after `after` (the test server's clock starts at the real time)."""
    year = after.year
    while datetime.combine(_last_sunday(year, month), time(), PARIS) < after + timedelta(days=7):
        year += 1
    return _last_sunday(year, month)


def _close(a: datetime, b: datetime) -> bool:
    return abs(a - b) < timedelta(seconds=2)


@pytest.fixture
async def world(test_env: dict[str, str]) -> AsyncIterator[World]:
    server = Path(sys.executable).parent / "temporal-test-server"
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(server), data_converter=data_converter(test_env)
    )
    recorder = Recorder()
    async with env:
        async with (
            # Sandboxed, as the workflows worker runs it.
            Worker(env.client, task_queue=DOSSIER_TASK_QUEUE, workflows=[AppointmentWorkflow]),
            Worker(env.client, task_queue=INTAKE_TASK_QUEUE, activities=recorder.activities()),
        ):
            yield World(env, recorder)


@pytest.mark.parametrize(("month", "real_hours"), [(10, 49), (3, 47)], ids=["october", "march"])
async def test_reminder_at_paris_wall_clock_across_the_dst_change_then_no_show_proposed(
    world: World, month: int, real_hours: int
) -> None:
    change = _next_change(month, await world.now())
    # The Monday after the change, 10:00 Paris: reminded on the Saturday before at 10:00
    # Paris, 49 (October) or 47 (March) real hours earlier.
    starts = datetime.combine(change + timedelta(days=1), time(10, 0), PARIS)
    handle = await world.book(starts)
    expected = datetime.combine(change - timedelta(days=1), time(10, 0), PARIS)
    assert expected.astimezone(UTC) == starts.astimezone(UTC) - timedelta(hours=real_hours)
    deadlines = await handle.query(AppointmentWorkflow.deadlines)
    assert [d.kind for d in deadlines] == [MessageKind.REMINDER, NO_SHOW_CHECK]
    assert datetime.fromisoformat(deadlines[0].due_at) == expected

    await world.sleep_until(expected - timedelta(minutes=5))
    assert [c.what for c in world.recorder.calls] == [MessageKind.CONFIRMATION]
    assert await handle.result() == Outcome.NO_SHOW_PROPOSED
    calls = world.recorder.calls
    assert [(c.what, c.version) for c in calls] == [
        (MessageKind.CONFIRMATION, 1),
        (MessageKind.REMINDER, 1),
        (NO_SHOW, 1),
    ]
    reminder = calls[1].at.astimezone(PARIS)
    assert _close(reminder, expected) and (reminder.hour, reminder.minute) == (10, 0)
    assert _close(calls[2].at, starts + timedelta(minutes=30 + 30))


async def test_second_reminder_also_in_paris_wall_clock(world: World) -> None:
    change = _next_change(10, await world.now())
    starts = datetime.combine(change, time(15, 0), PARIS)  # Sunday 15:00, after the 03:00 change
    timers = AppointmentTimers(reminder_s=48 * HOUR, second_reminder_s=20 * HOUR, no_show_grace_s=600.0)
    handle = await world.book(starts, timers=timers)
    assert await handle.result() == Outcome.NO_SHOW_PROPOSED
    first, second = world.recorder.of(MessageKind.REMINDER), world.recorder.of(MessageKind.SECOND_REMINDER)
    assert len(first) == len(second) == 1
    # Friday 15:00 and Saturday 19:00, Paris summer time: before the change.
    assert _close(first[0].at, datetime.combine(change - timedelta(days=2), time(15, 0), PARIS))
    assert _close(second[0].at, datetime.combine(change - timedelta(days=1), time(19, 0), PARIS))


async def test_moving_cancels_the_old_reminder_and_schedules_the_new_one(world: World) -> None:
    now = await world.now()
    starts = (now + timedelta(days=10)).astimezone(PARIS).replace(hour=9, minute=30, second=0, microsecond=0)
    handle = await world.book(starts)
    await world.sleep_until(starts - timedelta(days=3))
    moved = starts + timedelta(days=7, hours=2)
    await handle.execute_update(
        AppointmentWorkflow.reschedule, AppointmentChange(schedule=_schedule(moved, 45, 2))
    )
    # A repeat of the same version changes nothing.
    await handle.execute_update(
        AppointmentWorkflow.reschedule, AppointmentChange(schedule=_schedule(moved, 45, 2))
    )
    await world.sleep_until(starts + timedelta(days=1))
    assert world.recorder.of(MessageKind.REMINDER) == []  # the old version's never ran
    assert await handle.result() == Outcome.NO_SHOW_PROPOSED
    calls = world.recorder.calls
    assert [(c.what, c.version) for c in calls] == [
        (MessageKind.CONFIRMATION, 1),
        (MessageKind.MOVED, 2),
        (MessageKind.REMINDER, 2),
        (NO_SHOW, 2),
    ]
    assert _close(calls[2].at, moved - timedelta(days=2))  # same Paris hour: no change between
    assert _close(calls[3].at, moved + timedelta(minutes=45 + 30))


async def test_moving_into_the_reminder_window_skips_the_reminder(world: World) -> None:
    now = await world.now()
    handle = await world.book(now + timedelta(days=5))
    moved = now + timedelta(hours=20)  # less than 48 h ahead: the « moved » message says it
    await handle.execute_update(
        AppointmentWorkflow.reschedule, AppointmentChange(schedule=_schedule(moved, 30, 2))
    )
    assert await handle.result() == Outcome.NO_SHOW_PROPOSED
    assert [c.what for c in world.recorder.calls] == [MessageKind.CONFIRMATION, MessageKind.MOVED, NO_SHOW]


async def test_cancelling_ends_it_with_a_cancellation_message(world: World) -> None:
    now = await world.now()
    handle = await world.book(now + timedelta(days=6))
    await world.env.sleep(timedelta(days=1))
    await handle.execute_update(AppointmentWorkflow.cancel, AppointmentChange())
    assert await handle.result() == Outcome.CANCELLED
    assert [(c.what, c.version) for c in world.recorder.calls] == [
        (MessageKind.CONFIRMATION, 1),
        (MessageKind.CANCELLATION, 1),
    ]


async def test_cancelled_at_the_persons_request_sends_no_cancellation(world: World) -> None:
    now = await world.now()
    handle = await world.book(now + timedelta(days=6))
    await handle.execute_update(AppointmentWorkflow.cancel, AppointmentChange(by_person=True))
    assert await handle.result() == Outcome.CANCELLED
    assert [c.what for c in world.recorder.calls] == [MessageKind.CONFIRMATION]


async def test_attendance_stops_the_no_show_proposal(world: World) -> None:
    now = await world.now()
    starts = now + timedelta(days=4)
    handle = await world.book(starts)
    await world.sleep_until(starts + timedelta(minutes=5))
    assert world.recorder.of(MessageKind.REMINDER) != []
    await handle.execute_update(
        AppointmentWorkflow.attendance, AppointmentChange(status=AppointmentStatus.ARRIVED)
    )
    assert await handle.result() == Outcome.ATTENDANCE
    assert world.recorder.of(NO_SHOW) == []


async def test_attendance_refuses_an_unknown_status(world: World) -> None:
    handle = await world.book((await world.now()) + timedelta(days=4))
    with pytest.raises(WorkflowUpdateFailedError):
        await handle.execute_update(AppointmentWorkflow.attendance, AppointmentChange(status="parti"))
    await handle.execute_update(AppointmentWorkflow.cancel, AppointmentChange(by_person=True))
    assert await handle.result() == Outcome.CANCELLED


async def test_walk_in_sends_nothing(world: World) -> None:
    handle = await world.book((await world.now()) + timedelta(minutes=1), walk_in=True)
    assert await handle.result() == Outcome.WALK_IN
    assert world.recorder.calls == []
