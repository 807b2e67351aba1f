"""Rebuilds reporting's projections from the events stream, then swaps them in.

    python -m services.reporting.rebuild [--batch 2000]

1. Shadow tables (`reporting_rebuild` schema, same definition as the live ones) are
   filled from stream sequence 1 by a temporary consumer, through the same projection
   functions as the live projector (`projection.apply.project_batch`, other `Tables`),
   with their own inbox: every event applied once. The bilan's pre-aggregates
   (opened/closed/duration/return cells) and the partners' names are shadowed and
   swapped with the facts, as are the appointments' facts, day cells and hosts' names, the collective
   actions' and signals' facts, and the aid facts (requests, decisions, payments, loans,
   budget lines).
2. Cut-over: the rebuild takes the projection lock exclusively. The live projector
   takes it shared in each of its transactions, so it pauses between two batches
   (nothing half-applied). The rebuild reads the stream's last sequence L, applies
   the shadow up to L, then in one transaction moves the live tables out and the
   shadow tables (facts and inbox) in, and releases the lock.
3. The live durable consumer carries on where it was: every event up to L is in the
   swapped-in inbox (skipped as a duplicate if redelivered), every event after L is
   applied by the live consumer. Nothing is lost or doubled.
Events the projection refuses (malformed: dead-lettered by the live consumer) are
skipped and counted, as the live consumer skips them after its retries.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from dataclasses import dataclass

import asyncpg
import nats
import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from kernel import messaging
from kernel.consumer import PullAhead
from kernel.db import APP_ROLE, Connection
from kernel.events import Event
from kernel.logs import configure_logging, get_logger
from kernel.settings import Settings
from services.reporting.projection.apply import FoldedBatch, prepare_batch, project_batch
from services.reporting.projection.tables import CONSUMER, PROJECTION_LOCK, SCHEMA, Tables

log = get_logger("reporting.rebuild")
SHADOW = f"{SCHEMA}_rebuild"
RETIRED = f"{SCHEMA}_retired"
# Facts, person aliases, partner names, the bilan's pre-aggregates (filled by the same
# projection functions) and inbox.
TABLES = (
    "dossier_facts",
    "referral_facts",
    "person_aliases",
    "partner_names",
    "opened_cells",
    "closed_cells",
    "duration_cells",
    "return_cells",
    "opened_month_cells",  # migration 010 (projection/cell_tables.py)
    "closed_month_cells",
    "return_month_cells",
    "duration_span_cells",
    "appointment_facts",
    "appointment_cells",
    "appointment_hosts",
    "group_session_facts",
    "enrolment_facts",
    "goal_facts",
    "signal_facts",
    "aid_request_facts",
    "aid_decision_facts",
    "aid_withdrawal_facts",
    "aid_payment_facts",
    "loan_facts",
    "loan_incident_facts",
    "budget_line_facts",
    "inbox",
)


@dataclass
class RebuildResult:
    events: int = 0
    applied: int = 0
    skipped: int = 0
    last_sequence: int = 0
    seconds: float = 0.0
    next_analyze: int = 20_000  # applied events after which the shadow tables are analyzed

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


async def _create_shadow(conn: Connection) -> None:
    await conn.execute(f"DROP SCHEMA IF EXISTS {SHADOW} CASCADE; CREATE SCHEMA {SHADOW}")
    for table in TABLES:
        await conn.execute(f"CREATE TABLE {SHADOW}.{table} (LIKE {SCHEMA}.{table} INCLUDING ALL)")
    await conn.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {SHADOW} TO {APP_ROLE}")


@dataclass
class _Batch:
    """A fetched batch, decoded and folded as soon as it arrived (while the previous
    one was in the database)."""

    count: int  # messages fetched
    last_sequence: int
    events: list[Event]  # the well-formed ones
    malformed: int
    prepared: FoldedBatch | None  # None: the fold refused an event (redone event by event)


async def _prepare(messages: list[Msg]) -> _Batch:
    events, malformed = [], 0
    for message in messages:
        try:
            events.append(Event.from_headers(message.headers or {}, message.data))
        except ValueError:
            malformed += 1
    # A consumer without acks gets the stream in order: its first and last are the ends.
    last = max(m.metadata.sequence.stream for m in (messages[0], messages[-1])) if messages else 0
    try:
        prepared: FoldedBatch | None = await prepare_batch(events, Tables(SHADOW))
    except ValueError:
        prepared = None
    return _Batch(len(messages), last, events, malformed, prepared)


async def _apply(conn: Connection, batch: _Batch, tables: Tables, result: RebuildResult) -> None:
    """One transaction per batch; a batch with a refused event is redone event by event."""
    if not batch.events:
        return
    try:
        if batch.prepared is None:
            raise ValueError("an event of the batch is refused")
        async with conn.transaction():
            await _insert_and_project(conn, batch.events, tables, batch.prepared)
        result.applied += len(batch.events)
        return
    except (ValueError, asyncpg.DataError):
        pass
    for event in batch.events:
        try:
            async with conn.transaction():
                await _insert_and_project(conn, [event], tables)
            result.applied += 1
        except (ValueError, asyncpg.DataError) as exc:
            result.skipped += 1
            log.warning("event skipped", extra={"event_type": event.type, "error_type": type(exc).__name__})


async def _insert_and_project(
    conn: Connection, events: list[Event], tables: Tables, prepared: FoldedBatch | None = None
) -> None:
    fresh = await conn.fetch(
        f"""INSERT INTO {tables.inbox} (consumer, event_id) SELECT $1, id FROM unnest($2::uuid[]) AS id
            ON CONFLICT DO NOTHING RETURNING event_id""",
        CONSUMER,
        [e.id for e in events],
    )
    new_ids = {row["event_id"] for row in fresh}
    new = events if len(new_ids) == len(events) else [e for e in events if e.id in new_ids]
    if prepared is not None:
        await prepared.apply(conn, new)
    else:
        await project_batch(conn, new, tables)


async def _analyze(conn: Connection) -> None:
    """Fresh planner statistics for the shadow tables: they grow from empty faster than
    autovacuum analyzes them, and with a size estimate of a few pages the relink and cell
    statements scan whole tables instead of their indexes (slower with every batch)."""
    for table in TABLES:
        await conn.execute(f"ANALYZE {SHADOW}.{table}")


async def _last_sequence(js: JetStreamContext, stream: str) -> int:
    info = await js.stream_info(stream)
    return int(info.state.last_seq)


async def _read_until(
    puller: PullAhead[_Batch], conn: Connection, target: int, batch: int, result: RebuildResult
) -> None:
    tables = Tables(SHADOW)
    while result.last_sequence < target:
        try:
            pulled = await puller.fetch(batch)
        except (TimeoutError, nats.errors.TimeoutError):
            continue
        result.events += pulled.count
        result.skipped += pulled.malformed
        result.last_sequence = max(result.last_sequence, pulled.last_sequence)
        # Pulled ahead only while the target is not reached: the rebuild's consumer has
        # no acks, so a batch left pending at the end of a phase would never come back.
        if result.last_sequence < target:
            puller.pull_ahead(batch)
        await _apply(conn, pulled, tables, result)
        if result.applied >= result.next_analyze:
            await _analyze(conn)
            result.next_analyze = 2 * result.applied


async def _swap(conn: Connection) -> None:
    async with conn.transaction():
        # Other consumers' inbox rows in this schema (if any) follow the swap.
        await conn.execute(
            f"""INSERT INTO {SHADOW}.inbox SELECT * FROM {SCHEMA}.inbox WHERE consumer <> $1
                ON CONFLICT DO NOTHING""",
            CONSUMER,
        )
        await conn.execute(f"DROP SCHEMA IF EXISTS {RETIRED} CASCADE; CREATE SCHEMA {RETIRED}")
        for table in TABLES:
            await conn.execute(f"ALTER TABLE {SCHEMA}.{table} SET SCHEMA {RETIRED}")
            await conn.execute(f"ALTER TABLE {SHADOW}.{table} SET SCHEMA {SCHEMA}")


async def rebuild(settings: Settings, *, batch: int = 2000) -> RebuildResult:
    result = RebuildResult()
    started = time.perf_counter()
    conn = await asyncpg.connect(settings.migration_database_url)  # DDL: as the schema owner
    nc = await messaging.connect(settings.nats_url, "reporting-rebuild")
    name = f"reporting-rebuild-{uuid.uuid4().hex[:8]}"
    js = nc.jetstream()
    try:
        await _create_shadow(conn)
        await js.add_consumer(
            settings.events_stream,
            ConsumerConfig(
                durable_name=name,
                ack_policy=AckPolicy.NONE,
                deliver_policy=DeliverPolicy.ALL,
                filter_subject=f"{settings.subject_root}.>",
                inactive_threshold=300.0,
                max_waiting=1,
            ),
        )
        subscription = await js.pull_subscribe_bind(durable=name, stream=settings.events_stream)
        puller = PullAhead(subscription, _prepare)
        await _read_until(puller, conn, await _last_sequence(js, settings.events_stream), batch, result)
        log.info("shadow caught up, cutting over", extra={"stream_seq": result.last_sequence})
        await conn.execute("SELECT pg_advisory_lock($1)", PROJECTION_LOCK)  # pauses the live projector
        try:
            await _read_until(puller, conn, await _last_sequence(js, settings.events_stream), batch, result)
            await _swap(conn)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", PROJECTION_LOCK)
        await conn.execute(f"DROP SCHEMA IF EXISTS {RETIRED} CASCADE; DROP SCHEMA IF EXISTS {SHADOW} CASCADE")
        await subscription.unsubscribe()
    finally:
        try:
            await js.delete_consumer(settings.events_stream, name)
        except nats.errors.Error:
            pass
        await nc.close()
        await conn.close()
    result.seconds = time.perf_counter() - started
    log.info(
        "projections rebuilt",
        extra={
            "events": result.events,
            "applied": result.applied,
            "skipped": result.skipped,
            "stream_seq": result.last_sequence,
            "seconds": round(result.seconds, 2),
        },
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description="Rebuild reporting's projections from the events stream.")
    parser.add_argument("--batch", type=int, default=2000, help="events per fetch and transaction")
    args = parser.parse_args()
    settings = Settings.from_env()
    configure_logging("reporting-rebuild", settings.log_level)
    result = asyncio.run(rebuild(settings, batch=args.batch))
    print(
        f"{result.events} events read ({result.applied} applied, {result.skipped} skipped) "
        f"up to sequence {result.last_sequence} in {result.seconds:.1f} s ({result.events_per_s:.0f}/s)"
    )


if __name__ == "__main__":
    main()
