"""Reporting projector throughput beside a bare baseline, in the same run.

    python -m bench.projector [--events 100000] [--batch 1000] [--json]

Events: synthetic CIAS years (devstack.synthetic.generator.generate_year) published to a fresh
stream. Baseline: a durable pull consumer fetching batches, COPY of (event id, type,
data) into a table, acks: the floor of any JetStream → PostgreSQL consumer. Projector:
the kernel Consumer with reporting's spec (batch handler: one transaction per batch,
one inbox insert, fold + upserts; shared projection lock). Both read the same events.
PostgreSQL/NATS from DATABASE_URL/NATS_URL (a fresh database, dropped at the end).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import sys
import time
import uuid
from pathlib import Path

import asyncpg
import nats
import nats.errors
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from devstack.scratch import create_database, drop_database
from devstack.synthetic.generator import generate_year
from devstack.synthetic.publish import publish
from kernel import migrations
from kernel import settings as settings_module
from kernel.consumer import Consumer, ConsumerSpec
from kernel.events import Event
from services.reporting.projection.apply import prepare_batch, project, project_batch
from services.reporting.projection.tables import CONSUMER, PROJECTION_LOCK

MIGRATIONS = Path(__file__).resolve().parent.parent / "services" / "reporting" / "migrations"


def make_events(count: int) -> list[Event]:
    events: list[Event] = []
    seed = 0
    while len(events) < count:
        events += generate_year(seed, year=2000 + seed % 50, dossiers=2000, people=1700)
        seed += 1
    return events[:count]


async def baseline(
    js: nats.js.JetStreamContext, pool: asyncpg.Pool, stream: str, root: str, total: int, batch: int
) -> float:
    durable = "bench-baseline"
    await js.add_consumer(
        stream,
        ConsumerConfig(
            durable_name=durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            filter_subject=f"{root}.>",
            max_ack_pending=10_000,
        ),
    )
    sub = await js.pull_subscribe_bind(durable=durable, stream=stream)
    async with pool.acquire() as conn:
        await conn.execute("CREATE TABLE public.raw_events (event_id uuid, ce_type text, data bytea)")
    done = 0
    started = time.perf_counter()
    while done < total:
        try:
            messages = await sub.fetch(batch, timeout=1.0)
        except (TimeoutError, nats.errors.TimeoutError):
            continue
        rows = [(uuid.UUID(m.headers["ce-id"]), m.headers["ce-type"], m.data) for m in messages if m.headers]
        async with pool.acquire() as conn:
            await conn.copy_records_to_table("raw_events", records=rows, schema_name="public")
        for m in messages:
            await m.ack()
        done += len(messages)
    return time.perf_counter() - started


async def projector(
    js: nats.js.JetStreamContext, pool: asyncpg.Pool, stream: str, root: str, batch: int
) -> float:
    spec = ConsumerSpec(
        schema="reporting",
        stream=stream,
        durable=CONSUMER,
        filter_subject=f"{root}.>",
        handler=project,
        batch_handler=project_batch,
        batch_prepare=prepare_batch,
        lock_key=PROJECTION_LOCK,
        batch_size=batch,
    )
    stop = asyncio.Event()
    started = time.perf_counter()
    task = asyncio.create_task(Consumer(pool, js, spec).run(stop))
    while True:
        await asyncio.sleep(0.05)
        try:
            info = await js.consumer_info(stream, CONSUMER)
        except nats.errors.Error:
            continue
        if info.num_pending == 0 and info.num_ack_pending == 0:
            break
    elapsed = time.perf_counter() - started
    stop.set()
    await task
    return elapsed


async def run(count: int, batch: int) -> dict[str, float | int]:
    settings = settings_module.Settings.from_env()
    print(f"generating {count} events…", file=sys.stderr)
    events = make_events(count)
    name, url = await create_database(settings.database_url, "bench_projector")
    nc = await nats.connect(settings.nats_url)
    tag = uuid.uuid4().hex[:8]
    stream, root = f"BENCH_PROJ_{tag.upper()}", f"benchproj{tag}"
    js = nc.jetstream()
    try:
        conn = await asyncpg.connect(url)
        await migrations.migrate_service(conn, "reporting", MIGRATIONS)
        await conn.close()
        pool = await asyncpg.create_pool(url, min_size=2, max_size=4)
        assert pool is not None
        from kernel.messaging import ensure_events_stream

        await ensure_events_stream(js, stream, root)
        print("publishing…", file=sys.stderr)
        await publish(js, root, events)
        published = len(events)
        # The harness's own copy of the stream (100,000 events, ≈ 250,000 objects) is not
        # part of either consumer: kept, every full collection of the garbage collector
        # during the runs would scan it (≈ 0.3 s each; the projector, which allocates
        # more, triggers more of them).
        del events
        gc.collect()
        base_s = await baseline(js, pool, stream, root, published, batch)
        print(f"baseline: {published / base_s:.0f} events/s", file=sys.stderr)
        proj_s = await projector(js, pool, stream, root, batch)
        print(f"projector: {published / proj_s:.0f} events/s", file=sys.stderr)
        async with pool.acquire() as c:
            facts = await c.fetchval("SELECT count(*) FROM reporting.dossier_facts")
        await pool.close()
        await js.delete_stream(stream)
    finally:
        await nc.close()
        await drop_database(settings.database_url, name)
    return {
        "events": published,
        "batch": batch,
        "dossier_facts": int(facts),
        "baseline_events_per_s": round(published / base_s),
        "projector_events_per_s": round(published / proj_s),
        "ratio": round(base_s / proj_s, 3),
        "load": round(os.getloadavg()[0], 2),  # 1-minute load average: a shared machine
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = asyncio.run(run(args.events, args.batch))
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"{result['events']} events: baseline {result['baseline_events_per_s']}/s, projector "
            f"{result['projector_events_per_s']}/s, ratio {result['ratio']} (target ≥ 0.7), "
            f"load {result['load']}"
        )


if __name__ == "__main__":
    main()
