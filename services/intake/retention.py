"""Retention (docs/domain.md rule 3, and rule 4 for the access log): intake's activities run
by RetentionWorkflow, and the Temporal Schedule that starts it every day.

- `intake.anonymise_inactive(cutoff_days)`: dossiers of every territory whose last
  contact (`last_activity_at`) is older than `cutoff_days`, whatever their stage, not
  yet anonymised: their notes' bodies are erased (codes kept, so the bilan does not
  move), then their persons are anonymised when they have no other dossier still
  kept (see services/intake/rights.py). Persons with no dossier at all, unchanged
  since the cutoff, are anonymised too, and signals last changed before it lose their
  identity and description. Works in batches, one transaction each.
- `intake.purge_access_log(retention_days)`: audit.purge (which refuses to keep less
  than 6 months).

Configuration: ENTRAIDE_RETENTION_DAYS (730), ENTRAIDE_ACCESS_LOG_RETENTION_DAYS (365),
ENTRAIDE_RETENTION_SCHEDULE_CRON ("0 3 * * *", UTC).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import asyncpg
from temporalio import activity
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from kernel import reference
from kernel.db import Connection, Pool, system_scope
from kernel.errors import InvalidArgument
from kernel.logs import get_logger
from kernel.reference import ReferenceData
from kernel.runtime import ServiceContext
from kernel.temporal import application_error
from services.intake import rights
from services.intake.schema import SCHEMA
from services.intake.signals import store as signal_store
from workflows.contracts import DOSSIER_TASK_QUEUE, ActivityName
from workflows.retention import (
    DEFAULT_ACCESS_LOG_RETENTION_DAYS,
    DEFAULT_RETENTION_DAYS,
    RETENTION_SCHEDULE_ID,
    RETENTION_WORKFLOW_ID,
    RetentionInput,
    RetentionWorkflow,
)

log = get_logger("retention")
BATCH_SIZE = 200
DEFAULT_CRON = "0 3 * * *"
# The CNIL's floor for access logs (audit.purge refuses less): 6 months.
MIN_ACCESS_LOG_RETENTION_DAYS = 180


# ---------------------------------------------------------------- configuration


def _days(env: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number of days") from None
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum} days")
    return value


def retention_input(env: Mapping[str, str]) -> RetentionInput:
    """The deployment's retention durations; a bad value stops the service at start-up."""
    return RetentionInput(
        retention_days=_days(env, "ENTRAIDE_RETENTION_DAYS", DEFAULT_RETENTION_DAYS, 1),
        access_log_retention_days=_days(
            env,
            "ENTRAIDE_ACCESS_LOG_RETENTION_DAYS",
            DEFAULT_ACCESS_LOG_RETENTION_DAYS,
            MIN_ACCESS_LOG_RETENTION_DAYS,
        ),
    )


def retention_schedule(env: Mapping[str, str]) -> Schedule:
    cron = env.get("ENTRAIDE_RETENTION_SCHEDULE_CRON") or DEFAULT_CRON
    return Schedule(
        action=ScheduleActionStartWorkflow(
            RetentionWorkflow.run,
            retention_input(env),
            id=RETENTION_WORKFLOW_ID,
            task_queue=DOSSIER_TASK_QUEUE,
            execution_timeout=timedelta(hours=12),
        ),
        spec=ScheduleSpec(cron_expressions=[cron]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=timedelta(days=1)),
    )


async def ensure_schedule(client: Client, env: Mapping[str, str]) -> None:
    """Creates the schedule, or brings an existing one up to this configuration (an
    operator's pause is kept). Idempotent; safe with several intake processes."""
    schedule = retention_schedule(env)
    try:
        await client.create_schedule(RETENTION_SCHEDULE_ID, schedule)
        log.info("retention schedule created")
        return
    except ScheduleAlreadyRunningError:
        pass

    def update(current: ScheduleUpdateInput) -> ScheduleUpdate:
        return ScheduleUpdate(
            schedule=dataclasses.replace(schedule, state=current.description.schedule.state)
        )

    await client.get_schedule_handle(RETENTION_SCHEDULE_ID).update(update)
    log.info("retention schedule updated")


async def ensure_retention_schedule(ctx: ServiceContext) -> None:
    """ServiceSpec.on_start hook of intake."""
    await ensure_schedule(ctx.temporal, ctx.settings.env)


# ---------------------------------------------------------------- repository


async def anonymise_inactive_batch(conn: Connection, cutoff: datetime, limit: int, at: datetime) -> int:
    """One batch: erases the free text of up to `limit` dossiers inactive since before
    `cutoff`, then anonymises their persons left with no kept dossier. Returns the
    number of dossiers. Runs inside the caller's transaction, on a connection that sees
    every territory and every note."""
    rows = await conn.fetch(
        f"""SELECT dossier_id, person_id FROM {SCHEMA}.dossiers
             WHERE anonymised_at IS NULL
               AND (last_activity_at < $1 OR (last_activity_at IS NULL AND updated_at < $1))
             ORDER BY last_activity_at NULLS FIRST, dossier_id
             LIMIT $2
             FOR UPDATE SKIP LOCKED""",
        cutoff,
        limit,
    )
    if not rows:
        return 0
    await rights.erase_dossiers(conn, [row["dossier_id"] for row in rows], at)
    person_ids = sorted({row["person_id"] for row in rows if row["person_id"] is not None})
    # Persons with another dossier still kept (recent, or due in a later batch) stay.
    done = await conn.fetch(
        f"""SELECT p.person_id FROM {SCHEMA}.persons p
             WHERE p.person_id = ANY($1::uuid[])
               AND NOT EXISTS (SELECT 1 FROM {SCHEMA}.dossiers d
                                WHERE d.person_id = p.person_id AND d.anonymised_at IS NULL)
             ORDER BY p.person_id""",
        person_ids,
    )
    for person in done:
        await rights.anonymise_person(conn, str(person["person_id"]), at=at)
    return len(rows)


async def erase_old_signals_batch(conn: Connection, cutoff: datetime, limit: int, at: datetime) -> int:
    """Signals last changed before `cutoff` (whatever followed: a dossier opened from
    one is kept by its own rule) lose their identity and description."""
    return await signal_store.erase_older_than(conn, cutoff, limit, at)


async def anonymise_idle_persons_batch(conn: Connection, cutoff: datetime, limit: int, at: datetime) -> int:
    """Persons with no dossier, unchanged since before `cutoff` (their last contact),
    not merged, not anonymised; returns how many were anonymised."""
    rows = await conn.fetch(
        f"""SELECT p.person_id FROM {SCHEMA}.persons p
             WHERE p.anonymised_at IS NULL AND p.merged_into IS NULL AND p.updated_at < $1
               AND NOT EXISTS (SELECT 1 FROM {SCHEMA}.dossiers d WHERE d.person_id = p.person_id)
             ORDER BY p.updated_at, p.person_id
             LIMIT $2
             FOR UPDATE SKIP LOCKED""",
        cutoff,
        limit,
    )
    for row in rows:
        await rights.anonymise_person(conn, str(row["person_id"]), at=at)
    return len(rows)


# ---------------------------------------------------------------- activities


def _heartbeat(*details: object) -> None:
    if activity.in_activity():
        activity.heartbeat(*details)


class RetentionActivities:
    def __init__(self, pool: Pool, reference_data: ReferenceData, batch_size: int = BATCH_SIZE) -> None:
        self.pool = pool
        self.territories = sorted(reference_data.territories)
        self.batch_size = batch_size

    @activity.defn(name=ActivityName.ANONYMISE_INACTIVE)
    async def anonymise_inactive(self, cutoff_days: int) -> int:
        """Returns the number of dossiers anonymised (persons with no dossier are only
        counted in the log)."""
        if cutoff_days < 1:
            raise application_error(
                InvalidArgument(
                    "cutoff_days is at least 1 day",
                    fr="Le délai avant anonymisation est d'au moins 1 jour.",
                    reason="OUT_OF_RANGE",
                    field="cutoff_days",
                )
            )
        now = datetime.now(UTC)
        cutoff = now - timedelta(days=cutoff_days)
        dossiers = persons = 0
        while True:
            async with system_scope(self.pool, self.territories, all_notes=True) as conn:
                async with conn.transaction():
                    done = await anonymise_inactive_batch(conn, cutoff, self.batch_size, now)
            dossiers += done
            _heartbeat(dossiers)
            if done < self.batch_size:
                break
        while True:
            async with system_scope(self.pool, self.territories, all_notes=True) as conn:
                async with conn.transaction():
                    done = await anonymise_idle_persons_batch(conn, cutoff, self.batch_size, now)
            persons += done
            _heartbeat(dossiers, persons)
            if done < self.batch_size:
                break
        signals = 0
        while True:
            async with system_scope(self.pool, self.territories) as conn:
                async with conn.transaction():
                    done = await erase_old_signals_batch(conn, cutoff, self.batch_size, now)
            signals += done
            _heartbeat(dossiers, persons, signals)
            if done < self.batch_size:
                break
        log.info("retention: inactive dossiers anonymised", extra={"count": dossiers})
        log.info("retention: old signals erased", extra={"count": signals})
        log.info("retention: persons with no dossier anonymised", extra={"count": persons})
        return dossiers

    @activity.defn(name=ActivityName.PURGE_ACCESS_LOG)
    async def purge_access_log(self, retention_days: int) -> int:
        """Deletes access-log entries older than `retention_days`; returns how many."""
        if retention_days < 1:
            raise application_error(
                InvalidArgument(
                    "retention_days is at least 1 day",
                    fr="La durée de conservation du journal des accès est d'au moins 1 jour.",
                    reason="OUT_OF_RANGE",
                    field="retention_days",
                )
            )
        async with self.pool.acquire() as conn:
            try:
                removed = await conn.fetchval("SELECT audit.purge(make_interval(days => $1))", retention_days)
            except asyncpg.RaiseError:
                raise application_error(
                    InvalidArgument(
                        f"access log entries are kept at least 6 months; {retention_days} days is too short",
                        fr="Le journal des accès se conserve au moins 6 mois :"
                        f" {retention_days} jours, c'est trop court.",
                        reason="RETENTION_TOO_SHORT",
                        field="retention_days",
                    )
                ) from None
        log.info("retention: access log purged", extra={"count": int(removed)})
        return int(removed)


def activities(ctx: ServiceContext) -> list[object]:
    """Intake's retention activities, for ServiceSpec.activities."""
    retention = RetentionActivities(ctx.pool, reference.load(ctx.settings.env))
    return [retention.anonymise_inactive, retention.purge_access_log]
