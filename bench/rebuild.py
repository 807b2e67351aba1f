"""Time to rebuild reporting's projections from N events, beside a bare baseline.

    python -m bench.rebuild [--events 1000000] [--batch 2000] [--json]

Events: synthetic CIAS years (devstack.synthetic.generator.generate_year, 2,000 dossiers by 1,700 people each,
distinct seeds) published, a year at a time, into a scratch stream (unique name and
subject root). PostgreSQL and NATS: DATABASE_URL / NATS_URL when set and answering,
else private servers in a temporary directory (devstack.servers.ensure_servers), with
a scratch database (reporting's migrations), dropped at the end.
Baseline: a pull consumer (no acks, as the rebuild's) fetching `--batch` messages at a
time from sequence 1, COPY of (event id, type, data) into a table: the floor of any
stream → PostgreSQL replay. Rebuild: `services.reporting.rebuild.rebuild` (shadow
tables, inbox, fold + upserts + bilan cells per batch, cut-over and swap), timed end to end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
import nats
import nats.errors
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from bench.projector import MIGRATIONS
from devstack.scratch import create_database, drop_database
from devstack.servers import ensure_servers, free_ports, stop_servers
from devstack.synthetic.generator import generate_year
from devstack.synthetic.publish import publish
from kernel import migrations
from kernel.messaging import ensure_events_stream
from kernel.settings import Settings
from services.reporting.rebuild import rebuild


async def publish_events(js: JetStreamContext, root: str, count: int) -> int:
    """Publishes synthetic years until `count` events, one year in memory at a time."""
    published, seed = 0, 0
    while published < count:
        year = generate_year(1000 + seed, year=2000 + seed % 50, dossiers=2000, people=1700)
        chunk = year[: count - published]
        await publish(js, root, chunk)
        published += len(chunk)
        seed += 1
        print(f"  published {published}/{count}", file=sys.stderr, end="\r")
    print(file=sys.stderr)
    return published


async def baseline(js: JetStreamContext, url: str, stream: str, root: str, total: int, batch: int) -> float:
    name = f"bench-rebuild-baseline-{uuid.uuid4().hex[:6]}"
    await js.add_consumer(
        stream,
        ConsumerConfig(
            durable_name=name,
            ack_policy=AckPolicy.NONE,
            deliver_policy=DeliverPolicy.ALL,
            filter_subject=f"{root}.>",
            inactive_threshold=300.0,
        ),
    )
    sub = await js.pull_subscribe_bind(durable=name, stream=stream)
    conn = await asyncpg.connect(url)
    await conn.execute("CREATE TABLE public.raw_events (event_id uuid, ce_type text, data bytea)")
    done = 0
    started = time.perf_counter()
    while done < total:
        try:
            messages = await sub.fetch(batch, timeout=1.0)
        except (TimeoutError, nats.errors.TimeoutError):
            continue
        rows = [(uuid.UUID(m.headers["ce-id"]), m.headers["ce-type"], m.data) for m in messages if m.headers]
        await conn.copy_records_to_table("raw_events", records=rows, schema_name="public")
        done += len(messages)
    elapsed = time.perf_counter() - started
    await conn.close()
    await sub.unsubscribe()
    await js.delete_consumer(stream, name)
    return elapsed


async def run(database_url: str, nats_url: str, count: int, batch: int) -> dict[str, float | int]:
    name, url = await create_database(database_url, "bench_rebuild")
    tag = uuid.uuid4().hex[:8]
    stream, root = f"BENCH_REBUILD_{tag.upper()}", f"benchrebuild{tag}"
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    try:
        conn = await asyncpg.connect(url)
        await migrations.migrate_service(conn, "reporting", MIGRATIONS)
        await conn.close()
        await ensure_events_stream(js, stream, root)
        print(f"generating and publishing {count} events…", file=sys.stderr)
        t0 = time.perf_counter()
        events = await publish_events(js, root, count)
        publish_s = time.perf_counter() - t0
        print("baseline (fetch + COPY)…", file=sys.stderr)
        base_s = await baseline(js, url, stream, root, events, batch)
        print(f"baseline: {events / base_s:.0f} events/s; rebuild…", file=sys.stderr)
        env = dict(os.environ)
        env.update(
            DATABASE_URL=url,
            ENTRAIDE_MIGRATION_DATABASE_URL=url,
            NATS_URL=nats_url,
            ENTRAIDE_EVENTS_STREAM=stream,
            ENTRAIDE_SUBJECT_ROOT=root,
            ENTRAIDE_LOG_LEVEL="WARNING",
        )
        result = await rebuild(Settings.from_env(env), batch=batch)
        conn = await asyncpg.connect(url)
        facts = int(await conn.fetchval("SELECT count(*) FROM reporting.dossier_facts"))
        await conn.close()
        await js.delete_stream(stream)
    finally:
        await nc.close()
        await drop_database(database_url, name)
    return {
        "events": events,
        "rebuild_events": result.events,
        "skipped": result.skipped,
        "dossier_facts": facts,
        "publish_s": round(publish_s, 1),
        "baseline_s": round(base_s, 1),
        "baseline_events_per_s": round(events / base_s),
        "rebuild_s": round(result.seconds, 1),
        "rebuild_events_per_s": round(result.events_per_s),
        "ratio": round(base_s / result.seconds, 3),
        "load": round(os.getloadavg()[0], 2),  # 1-minute load average: a shared machine
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=2000, help="events per fetch and transaction")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if os.environ.get("DATABASE_URL") and os.environ.get("NATS_URL"):
        result = asyncio.run(run(os.environ["DATABASE_URL"], os.environ["NATS_URL"], args.events, args.batch))
    else:
        servers = Path(tempfile.mkdtemp(prefix="entraide-bench-rebuild-"))
        print("starting private PostgreSQL and NATS…", file=sys.stderr)
        endpoints = ensure_servers(servers, free_ports(), os.environ)
        try:
            result = asyncio.run(run(endpoints.database_url, endpoints.nats_url, args.events, args.batch))
        finally:
            stop_servers(servers)
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"rebuild from {result['events']} events: {result['rebuild_s']} s "
            f"({result['rebuild_events_per_s']} events/s, {result['dossier_facts']} dossiers); "
            f"baseline fetch + COPY {result['baseline_s']} s ({result['baseline_events_per_s']} events/s); "
            f"ratio {result['ratio']}, load {result['load']}"
        )


if __name__ == "__main__":
    main()
