"""Referral status changes/s delivered to NATS by the partner notifier, against a bare
JetStream publish loop, in the same run.

    python -m bench.notifier --changes 2000 [--in-flight 256] [--rounds 3] [--json]

entraide: N `referral.status_changed` events are written to a scratch outbox (untimed);
then, timed, the kernel relay publishes them to the events stream, the notifier's
consumer turns each into a `partner_deliveries` row in its inbox transaction, and the
delivery loop publishes each to the partner stream and marks it delivered after the
PubAck. The clock stops when the N rows are delivered.
bare: N messages of the same size and headers (with Nats-Msg-Id) to a stream of the same
configuration, pipelined as JetStream takes them: `js.publish_async` with at most
`--in-flight` PubAcks outstanding (nats-py's pending semaphore), every PubAck checked.

PostgreSQL and NATS come from DATABASE_URL / NATS_URL when set and reachable, else
private servers are started for the run; the bench works in its own schema and
streams, removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import asyncpg
from entraide.v1 import events_pb2
from google.protobuf.timestamp_pb2 import Timestamp

from devstack.servers import ensure_servers, free_ports, stop_servers
from domain.events import EventType
from kernel import messaging, migrations, outbox
from kernel.consumer import Consumer
from kernel.events import Event, new_event
from kernel.outbox import OutboxRelay
from services.referral import notifier, partner_messages

MIGRATIONS = Path(notifier.__file__).parent / "migrations"
PARTNERS = ("caf-meuse", "cpam-meuse", "cresus-grand-est", "france-victimes-55")


@dataclass(frozen=True)
class Report:
    changes: int
    entraide_s: float
    entraide_per_s: float
    bare_s: float
    bare_per_s: float
    ratio: float  # entraide / bare
    in_flight: int  # the bare loop's bound on outstanding PubAcks
    rounds: int
    load: float  # 1-minute load average at the end (a shared machine)


def status_event(i: int) -> Event:
    referral = str(uuid.uuid4())
    at = Timestamp()
    at.GetCurrentTime()
    data = events_pb2.ReferralStatusChanged(
        referral_id=referral,
        dossier_id=str(uuid.uuid4()),
        partner_id=PARTNERS[i % len(PARTNERS)],
        territory="55029",
        motif="logement",
        status="requested",
        at=at,
        actor="agent-bench",
        sequence=1,
    )
    return new_event(EventType.REFERRAL_STATUS_CHANGED, "entraide/referral", referral, data)


async def measure_entraide(pool: asyncpg.Pool, nats_url: str, tag: str, n: int) -> float:
    schema = f"bench_pn_{tag}"
    config = notifier.NotifierConfig(
        schema=schema,
        events_stream=f"BENCH_EV_{tag.upper()}",
        subject_root=f"benchev{tag}",
        partner_stream=f"BENCH_PARTNERS_{tag.upper()}",
        partner_subject_root=f"benchpartners{tag}",
        idle_poll_s=0.2,
    )
    async with pool.acquire() as conn:
        await migrations.apply(
            conn,
            migrations.load(f"{schema}:kernel", migrations.KERNEL_SQL, schema)
            + migrations.load(schema, MIGRATIONS, schema),
        )
        await conn.execute(
            f"""CREATE TABLE IF NOT EXISTS {schema}.partner_channels (partner_id text PRIMARY KEY,
                nats bool NOT NULL DEFAULT true, webhook_url text, webhook_secret_ref text)"""
        )
    nc = await messaging.connect(nats_url, f"bench-notifier-{tag}")
    js = nc.jetstream()
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []
    try:
        await messaging.ensure_events_stream(js, config.events_stream, config.subject_root)
        await notifier.ensure_partner_stream(js, config)
        async with pool.acquire() as conn, conn.transaction():
            for i in range(n):
                await outbox.write(conn, schema, status_event(i))
        started = time.perf_counter()
        tasks = [
            asyncio.create_task(OutboxRelay(pool, schema, js, config.subject_root).run(stop)),
            asyncio.create_task(Consumer(pool, js, notifier.consumer_spec(config)).run(stop)),
            asyncio.create_task(notifier.DeliveryLoop(pool, js, config).run(stop)),
        ]
        while True:
            async with pool.acquire() as conn:
                done = await conn.fetchval(
                    f"SELECT count(*) FROM {schema}.partner_deliveries WHERE status = 'delivered'"
                )
            if done >= n:
                break
            for task in tasks:
                if task.done():
                    task.result()  # a crashed part: raise
            await asyncio.sleep(0.01)
        elapsed = time.perf_counter() - started
        info = await js.stream_info(config.partner_stream)
        assert info.state.messages == n, f"{info.state.messages} partner messages, expected {n}"
        return elapsed
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        for stream in (config.events_stream, config.partner_stream):
            try:
                await js.delete_stream(stream)
            except Exception:
                pass
        await nc.close()
        async with pool.acquire() as conn:
            await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            await conn.execute("DELETE FROM public.schema_migrations WHERE component LIKE $1", f"{schema}%")


# The bare loop's bound on outstanding PubAcks (a sliding window; the delivery loop
# publishes batches of NotifierConfig.batch_size and waits for each batch's acks).
IN_FLIGHT = 256


async def measure_bare(nats_url: str, tag: str, n: int, in_flight: int = IN_FLIGHT) -> float:
    config = notifier.NotifierConfig(
        schema="unused",
        events_stream="unused",
        subject_root="unused",
        partner_stream=f"BENCH_BARE_{tag.upper()}",
        partner_subject_root=f"benchbare{tag}",
    )
    nc = await messaging.connect(nats_url, f"bench-bare-{tag}")
    js = nc.jetstream(publish_async_max_pending=in_flight)
    try:
        await notifier.ensure_partner_stream(js, config)
        # Same size and headers as the notifier's partner messages.
        sample_event = status_event(0)
        message = partner_messages.build(
            sample_event, sample_event.parse(events_pb2.ReferralStatusChanged), config.source
        )
        body = partner_messages.encode(message)
        subject = f"{config.partner_subject_root}.caf-meuse.referrals.requested"
        started = time.perf_counter()
        acks = []
        for _ in range(n):
            headers = {"Nats-Msg-Id": str(uuid.uuid4()), **partner_messages.ce_headers(message)}
            # Waits while `in_flight` PubAcks are outstanding.
            acks.append(await js.publish_async(subject, body, headers=headers))
        await asyncio.wait_for(js.publish_async_completed(), timeout=30.0)
        elapsed = time.perf_counter() - started
        failed = [ack for ack in acks if ack.exception() is not None]
        assert not failed, f"{len(failed)} of {n} publishes failed: {failed[0].exception()!r}"
        info = await js.stream_info(config.partner_stream)
        assert info.state.messages == n, f"{info.state.messages} bare messages, expected {n}"
        return elapsed
    finally:
        try:
            await js.delete_stream(config.partner_stream)
        finally:
            await nc.close()


async def bench(
    database_url: str, nats_url: str, n: int, in_flight: int = IN_FLIGHT, rounds: int = 3
) -> Report:
    """R rounds of N each, alternating which side goes first (a change of load on the
    shared machine hits both alike); the rates are over the summed times."""
    tag = uuid.uuid4().hex[:8]
    pool = await asyncpg.create_pool(database_url, min_size=2, max_size=10)
    assert pool is not None
    bare_s = entraide_s = 0.0
    try:
        await measure_bare(nats_url, tag + "w", min(n, 200), in_flight)  # warm-up (connection, server caches)
        for r in range(rounds):
            for side in ("bare", "entraide") if r % 2 == 0 else ("entraide", "bare"):
                round_tag = f"{tag}{r}"
                if side == "bare":
                    took = await measure_bare(nats_url, round_tag, n, in_flight)
                    bare_s += took
                else:
                    took = await measure_entraide(pool, nats_url, round_tag, n)
                    entraide_s += took
                print(
                    f"round {r + 1} {side}: {n / took:.0f}/s  load={os.getloadavg()[0]:.2f}", file=sys.stderr
                )
    finally:
        await pool.close()
    total = n * rounds
    return Report(
        changes=n,
        entraide_s=round(entraide_s, 3),
        entraide_per_s=round(total / entraide_s, 1),
        bare_s=round(bare_s, 3),
        bare_per_s=round(total / bare_s, 1),
        ratio=round(bare_s / entraide_s, 3),
        in_flight=in_flight,
        rounds=rounds,
        load=round(os.getloadavg()[0], 2),
    )


def render(report: Report) -> str:
    return "\n".join(
        [
            f"status changes: {report.changes} × {report.rounds} rounds  load={report.load}",
            f"entraide notifier (outbox → relay → consumer → PARTNERS PubAck): "
            f"{report.entraide_per_s:>9.1f}/s  ({report.entraide_s:.2f} s)",
            f"bare js.publish_async, ≤ {report.in_flight} PubAcks in flight:       "
            f"{report.bare_per_s:>9.1f}/s  ({report.bare_s:.2f} s)",
            f"ratio entraide/bare: {report.ratio:.3f}",
        ]
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.notifier", description=__doc__.split("\n\n")[0])
    parser.add_argument("--changes", type=int, default=2000, help="status changes (N)")
    parser.add_argument(
        "--in-flight", type=int, default=IN_FLIGHT, help="bare loop: PubAcks outstanding at most"
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds of N each, alternating the order")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    servers = Path(tempfile.mkdtemp(prefix="entraide-bench-notifier-"))
    print("starting or finding PostgreSQL and NATS…", file=sys.stderr)
    endpoints = ensure_servers(servers, free_ports(), os.environ)
    try:
        report = asyncio.run(
            bench(endpoints.database_url, endpoints.nats_url, args.changes, args.in_flight, args.rounds)
        )
    finally:
        stop_servers(servers)
    print(json.dumps(asdict(report)) if args.json else render(report))


if __name__ == "__main__":
    main()
