"""Retention (docs/domain.md rules 3 and 4): the activities that anonymise dossiers whose last
contact is older than the retention period and purge the old access log, the
RetentionWorkflow run by the real workflow worker, and the daily Temporal Schedule
that intake creates at start-up."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import asyncpg
import pytest
from entraide.v1 import intake_pb2, intake_pb2_grpc
from temporalio.client import Client, ScheduleActionStartWorkflow, ScheduleOverlapPolicy
from temporalio.exceptions import ApplicationError

from kernel import reference
from kernel import temporal as temporal_kernel
from kernel.db import create_pool
from kernel.settings import Settings
from services.intake.retention import RetentionActivities, ensure_schedule, retention_input
from tests.conftest import AppStack
from tests.helpers import eventually
from workflows.contracts import DOSSIER_TASK_QUEUE
from workflows.retention import RETENTION_SCHEDULE_ID, RetentionInput, RetentionWorkflow

if TYPE_CHECKING:
    from entraide.v1.intake_pb2_grpc import IntakeServiceAsyncStub as Stub

TERRITORY = "55029"
LONG_AGO = timedelta(days=800)


@pytest.fixture
async def intake(app_stack: AppStack) -> AsyncIterator[Stub]:
    async with app_stack.channel("intake") as channel:
        yield intake_pb2_grpc.IntakeServiceStub(channel)


@pytest.fixture
async def app_pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    """The services' pool: runs as entraide_app, under row-level security."""
    created = await create_pool(settings.database_url, max_size=3)
    try:
        yield created
    finally:
        await created.close()


@pytest.fixture
def activities(app_pool: asyncpg.Pool, settings: Settings) -> RetentionActivities:
    return RetentionActivities(app_pool, reference.load(settings.env), batch_size=2)


@pytest.fixture
async def temporal(settings: Settings) -> Client:
    return await temporal_kernel.connect(settings)


async def person(intake: Stub, last_name: str) -> str:
    reply = await intake.CreatePerson(
        intake_pb2.CreatePersonRequest(
            request_id=uuid.uuid4().hex,
            territory=TERRITORY,
            first_name="Jeanne",
            last_name=last_name,
            phone="06" + uuid.uuid4().int.__str__()[:8],
        ),
        timeout=10,
    )
    return str(reply.person.person_id)


async def dossier(intake: Stub, person_id: str, notes: str) -> str:
    opened = await intake.OpenDossier(
        intake_pb2.OpenDossierRequest(
            request_id=uuid.uuid4().hex,
            territory=TERRITORY,
            motifs=["difficultes_financieres"],
            arrival_channel="telephone",
            person_id=person_id,
        ),
        timeout=15,
    )
    dossier_id = str(opened.dossier.dossier_id)
    await intake.RecordInterview(
        intake_pb2.RecordInterviewRequest(dossier_id=dossier_id, notes=notes, visibility="author"), timeout=15
    )
    return dossier_id


async def backdate(pool: asyncpg.Pool, dossier_id: str, age: timedelta = LONG_AGO) -> None:
    """As if the last contact was `age` ago (superuser: bypasses row-level security)."""
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE intake.dossiers SET last_activity_at = now() - $2::interval WHERE dossier_id = $1",
            uuid.UUID(dossier_id),
            age,
        )


async def state(pool: asyncpg.Pool, dossier_id: str) -> dict[str, Any]:
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            """SELECT d.anonymised_at AS dossier_at, d.motifs, d.arrival_channel, d.territory,
                      p.first_name, p.last_name, p.phone, p.anonymised_at AS person_at,
                      array(SELECT body FROM intake.notes n WHERE n.dossier_id = d.dossier_id) AS bodies
                 FROM intake.dossiers d JOIN intake.persons p ON p.person_id = d.person_id
                WHERE d.dossier_id = $1""",
            uuid.UUID(dossier_id),
        )
    assert row is not None
    return dict(row)


async def facts(pool: asyncpg.Pool, dossier_id: str) -> dict[str, Any] | None:
    async with pool.acquire() as conn:
        row = await conn.fetchrow("SELECT * FROM reporting.dossier_facts WHERE dossier_id = $1", dossier_id)
    return dict(row) if row is not None else None


# ---------------------------------------------------------------- anonymisation of inactive dossiers


async def test_inactive_dossiers_are_anonymised_and_their_persons_once_nothing_recent_is_left(
    intake: Stub, pool: asyncpg.Pool, activities: RetentionActivities
) -> None:
    alone = await person(intake, "Ancien" + uuid.uuid4().hex[:6])
    old = await dossier(intake, alone, "vieille note")
    busy = await person(intake, "Actif" + uuid.uuid4().hex[:6])
    busy_old = await dossier(intake, busy, "ancienne difficulté")
    busy_recent = await dossier(intake, busy, "difficulté du moment")
    for dossier_id in (old, busy_old):
        await backdate(pool, dossier_id)
    opened_facts = await eventually(
        lambda: facts(pool, old), lambda f: f is not None and f["stage"] == "ecoute"
    )

    # More than one batch (batch_size=2 in this fixture): every old dossier is reached.
    anonymised = await activities.anonymise_inactive(730)
    assert anonymised >= 2

    gone = await state(pool, old)
    assert gone["dossier_at"] is not None and gone["bodies"] == [""]
    assert (gone["first_name"], gone["last_name"], gone["phone"]) == ("ANONYME", "ANONYME", None)
    assert gone["person_at"] is not None
    assert (gone["motifs"], gone["arrival_channel"], gone["territory"]) == (
        ["difficultes_financieres"],
        "telephone",
        TERRITORY,
    )
    assert await facts(pool, old) == opened_facts  # the bilan does not move

    # The old dossier of a person who still has a recent one: free text erased, identity kept.
    erased = await state(pool, busy_old)
    assert erased["dossier_at"] is not None and erased["bodies"] == [""]
    assert erased["first_name"] == "Jeanne" and erased["person_at"] is None
    kept = await state(pool, busy_recent)
    assert kept["dossier_at"] is None and kept["bodies"] == ["difficulté du moment"]

    # Nothing is left to do: a second run changes nothing.
    assert await activities.anonymise_inactive(730) == 0

    # Once the recent dossier is old too, the person goes.
    await backdate(pool, busy_recent)
    assert await activities.anonymise_inactive(730) == 1
    final = await state(pool, busy_recent)
    assert final["bodies"] == [""] and final["first_name"] == "ANONYME" and final["person_at"] is not None
    async with pool.acquire() as conn:
        events = await conn.fetch(
            """SELECT ce_subject FROM intake.outbox
                WHERE ce_type = 'entraide.person.anonymised' AND ce_subject = ANY($1::text[])""",
            [alone, busy],
        )
    assert sorted(e["ce_subject"] for e in events) == sorted([alone, busy])


async def test_a_person_without_dossier_is_anonymised_after_the_retention_period(
    intake: Stub, pool: asyncpg.Pool, activities: RetentionActivities
) -> None:
    idle, fresh = await person(intake, "Oublie" + uuid.uuid4().hex[:6]), await person(intake, "Neuf")
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE intake.persons SET updated_at = now() - interval '800 days' WHERE person_id = $1",
            uuid.UUID(idle),
        )
    await activities.anonymise_inactive(730)
    async with pool.acquire() as conn:
        rows = {
            str(r["person_id"]): r
            for r in await conn.fetch(
                "SELECT * FROM intake.persons WHERE person_id = ANY($1::uuid[])",
                [uuid.UUID(idle), uuid.UUID(fresh)],
            )
        }
    assert rows[idle]["last_name"] == "ANONYME" and rows[idle]["phone"] is None
    assert rows[fresh]["last_name"] == "Neuf" and rows[fresh]["anonymised_at"] is None


async def test_a_recent_dossier_is_not_touched(
    intake: Stub, pool: asyncpg.Pool, activities: RetentionActivities
) -> None:
    someone = await person(intake, "Recent" + uuid.uuid4().hex[:6])
    recent = await dossier(intake, someone, "note récente")
    await backdate(pool, recent, timedelta(days=700))
    await activities.anonymise_inactive(730)
    kept = await state(pool, recent)
    assert kept["dossier_at"] is None and kept["bodies"] == ["note récente"] and kept["person_at"] is None


async def test_anonymise_inactive_refuses_a_meaningless_period(activities: RetentionActivities) -> None:
    with pytest.raises(ApplicationError) as error:
        await activities.anonymise_inactive(0)
    assert error.value.type == "InvalidArgument" and error.value.non_retryable


# ---------------------------------------------------------------- access log purge


async def insert_log(pool: asyncpg.Pool, marker: str, age: timedelta) -> None:
    """An access-log row of `age` ago (INSERT with an explicit time: the log is
    append-only, UPDATE is refused)."""
    async with pool.acquire() as conn:
        await conn.execute(
            """INSERT INTO audit.access_log
                   (at, service, actor, role, action, method, resource_type, resource_id, purpose)
               VALUES (now() - $2::interval, 'intake', 'agent-test', 'responsable', 'read',
                       '/entraide.v1.IntakeService/GetPerson', 'person', $1, 'test')""",
            marker,
            age,
        )


async def logged(pool: asyncpg.Pool, marker: str) -> int:
    async with pool.acquire() as conn:
        return int(
            await conn.fetchval("SELECT count(*) FROM audit.access_log WHERE resource_id = $1", marker)
        )


async def test_old_access_log_entries_are_purged_and_recent_ones_stay(
    pool: asyncpg.Pool, activities: RetentionActivities
) -> None:
    old, recent = f"old-{uuid.uuid4()}", f"recent-{uuid.uuid4()}"
    await insert_log(pool, old, timedelta(days=400))
    await insert_log(pool, recent, timedelta(days=300))
    removed = await activities.purge_access_log(365)
    assert removed >= 1
    assert (await logged(pool, old), await logged(pool, recent)) == (0, 1)


async def test_the_access_log_is_kept_at_least_six_months(
    pool: asyncpg.Pool, activities: RetentionActivities
) -> None:
    marker = f"young-{uuid.uuid4()}"
    await insert_log(pool, marker, timedelta(days=100))
    with pytest.raises(ApplicationError) as error:
        await activities.purge_access_log(90)
    assert error.value.type == "InvalidArgument" and "6 months" in str(error.value)
    async with pool.acquire() as conn:
        with pytest.raises(asyncpg.RaiseError, match="at least 6 months"):
            await conn.fetchval("SELECT audit.purge(interval '5 months')")
        # Append-only: a row cannot be aged or removed by hand.
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(
                "UPDATE audit.access_log SET at = at - interval '1 year' WHERE resource_id = $1", marker
            )
    assert await logged(pool, marker) == 1


# ---------------------------------------------------------------- workflow and schedule


async def test_retention_workflow_runs_both_activities(
    intake: Stub, pool: asyncpg.Pool, temporal: Client
) -> None:
    someone = await person(intake, "Workflow" + uuid.uuid4().hex[:6])
    old = await dossier(intake, someone, "note à effacer")
    await backdate(pool, old)
    marker = f"wf-old-{uuid.uuid4()}"
    await insert_log(pool, marker, timedelta(days=500))

    # Run by the real workflow worker (task queue "dossiers"), activities on "intake".
    result = await temporal.execute_workflow(
        RetentionWorkflow.run,
        RetentionInput(retention_days=730, access_log_retention_days=365),
        id=f"retention-test-{uuid.uuid4()}",
        task_queue=DOSSIER_TASK_QUEUE,
        execution_timeout=timedelta(minutes=2),
    )
    assert result.dossiers_anonymised >= 1 and result.access_log_purged >= 1
    gone = await state(pool, old)
    assert gone["bodies"] == [""] and gone["first_name"] == "ANONYME"
    assert await logged(pool, marker) == 0


async def test_the_daily_schedule_exists_and_is_kept_up_to_date(temporal: Client, settings: Settings) -> None:
    handle = temporal.get_schedule_handle(RETENTION_SCHEDULE_ID)
    description = await handle.describe()
    action = description.schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    assert (action.workflow, action.task_queue) == ("RetentionWorkflow", DOSSIER_TASK_QUEUE)
    assert description.schedule.policy.overlap == ScheduleOverlapPolicy.SKIP
    upcoming = description.info.next_action_times
    assert upcoming and all((t.hour, t.minute) == (3, 0) for t in upcoming)
    assert upcoming[0] - datetime.now(UTC) <= timedelta(days=1)

    # Intake's start-up hook again, with another configuration: the schedule is updated,
    # and an operator's pause survives.
    await handle.pause(note="maintenance")
    try:
        env = {**settings.env, "ENTRAIDE_RETENTION_SCHEDULE_CRON": "30 4 * * *"}
        await ensure_schedule(temporal, env)
        # The scheduler applies updates asynchronously: describe may lag for a moment.
        await eventually(
            handle.describe,
            lambda d: (
                d.schedule.state.paused
                and all((t.hour, t.minute) == (4, 30) for t in d.info.next_action_times)
            ),
        )
    finally:
        await ensure_schedule(temporal, settings.env)

    async def unpaused() -> Any:
        # Cleanup for the next tests; retried because a concurrent ensure_schedule (an
        # intake process starting) may write the paused state back after an unpause.
        description = await handle.describe()
        if description.schedule.state.paused:
            await handle.unpause()
        return description

    await eventually(
        unpaused,
        lambda d: (
            not d.schedule.state.paused
            and all((t.hour, t.minute) == (3, 0) for t in d.info.next_action_times)
        ),
    )


def test_retention_configuration() -> None:
    assert retention_input({}) == RetentionInput(730, 365)
    assert retention_input(
        {"ENTRAIDE_RETENTION_DAYS": "365", "ENTRAIDE_ACCESS_LOG_RETENTION_DAYS": "200"}
    ) == RetentionInput(365, 200)
    with pytest.raises(ValueError, match="at least 180 days"):
        retention_input({"ENTRAIDE_ACCESS_LOG_RETENTION_DAYS": "90"})
    with pytest.raises(ValueError, match="whole number"):
        retention_input({"ENTRAIDE_RETENTION_DAYS": "two years"})
