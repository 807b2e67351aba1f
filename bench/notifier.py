"""Referral status changes/s delivered to NATS by the partner notifier, against a bare
JetStream publish loop, in the same run.

    python -m bench.notifier --changes 10000 [--in-flight 256] [--rounds 3] [--json]

entraide: N `referral.status_changed` events are written to a scratch outbox (untimed);
then, timed, the kernel relay publishes them to the events stream, the notifier's
consumer turns each into a `partner_deliveries` row in its inbox transaction, and the
delivery loop publishes each to the partner stream and marks it delivered after the
PubAck. The clock stops when the N rows are delivered. The three parts run together in
this process, as in the referral service; then, once, each part alone (the stage figures).
bare: N messages of the same size and headers (with Nats-Msg-Id) to a stream of the same
configuration, pipelined as JetStream takes them: `js.publish_async` with at most
`--in-flight` PubAcks outstanding (nats-py's pending semaphore), every PubAck checked.
Both sides' process CPU per change is printed: when both are CPU-bound, their ratio
bounds the throughput ratio.

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
import resource
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import asyncpg
from entraide.v1 import events_pb2
from google.protobuf.timestamp_pb2 import Timestamp
from nats.js import JetStreamContext

from devstack.servers import ensure_servers, free_ports, stop_servers
from domain.events import EventType
from kernel import messaging, migrations, outbox
from kernel.consumer import Consumer
from kernel.events import Event, new_event
from kernel.outbox import OutboxRelay
from kernel.settings import SINGLE_SERVER, StreamLayout
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
    # Process CPU per change over the timed parts (both sides run in this process): when
    # both are CPU-bound the ratio cannot exceed bare_cpu_us / entraide_cpu_us.
    entraide_cpu_us: float
    bare_cpu_us: float
    # Each stage alone (the others stopped), changes/s, from one more pass of N.
    relay_per_s: float  # outbox → events stream PubAck
    consumer_per_s: float  # events stream → partner_deliveries rows
    delivery_per_s: float  # partner_deliveries → partner stream PubAck, rows marked
    in_flight: int  # the bare loop's bound on outstanding PubAcks
    rounds: int
    load: float  # 1-minute load average at the end (a shared machine)


@dataclass(frozen=True)
class Timed:
    wall_s: float
    cpu_s: float


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


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


class Scratch:
    """A scratch referral schema (kernel tables and the notifier's), events and partner
    streams, N status changes in its outbox; all removed at the end."""

    def __init__(
        self, pool: asyncpg.Pool, nats_url: str, tag: str, streams: StreamLayout = SINGLE_SERVER
    ) -> None:
        self.pool = pool
        self.nats_url = nats_url
        self.streams = streams
        self.schema = f"bench_pn_{tag}"
        self.config = notifier.NotifierConfig(
            schema=self.schema,
            events_stream=f"BENCH_EV_{tag.upper()}",
            subject_root=f"benchev{tag}",
            partner_stream=f"BENCH_PARTNERS_{tag.upper()}",
            partner_subject_root=f"benchpartners{tag}",
            idle_poll_s=0.2,
            streams=streams,
        )

    async def __aenter__(self) -> Scratch:
        schema = self.schema
        async with self.pool.acquire() as conn:
            await migrations.apply(
                conn,
                migrations.load(f"{schema}:kernel", migrations.KERNEL_SQL, schema)
                + migrations.load(schema, MIGRATIONS, schema),
            )
            await conn.execute(
                f"""CREATE TABLE IF NOT EXISTS {schema}.partner_channels (partner_id text PRIMARY KEY,
                    nats bool NOT NULL DEFAULT true, webhook_url text, webhook_secret_ref text)"""
            )
        self.nc = await messaging.connect(self.nats_url, f"bench-notifier-{schema}")
        self.js = self.nc.jetstream()
        await messaging.ensure_events_stream(
            self.js, self.config.events_stream, self.config.subject_root, self.streams
        )
        await notifier.ensure_partner_stream(self.js, self.config)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for stream in (self.config.events_stream, self.config.partner_stream):
            try:
                await self.js.delete_stream(stream)
            except Exception:
                pass
        await self.nc.close()
        async with self.pool.acquire() as conn:
            await conn.execute(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE")
            await conn.execute(
                "DELETE FROM public.schema_migrations WHERE component LIKE $1", f"{self.schema}%"
            )

    async def write_changes(self, n: int) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            for i in range(n):
                await outbox.write(conn, self.schema, status_event(i))

    def relay(self, js: JetStreamContext | None = None) -> OutboxRelay:
        return OutboxRelay(self.pool, self.schema, js or self.js, self.config.subject_root)

    def consumer(self, js: JetStreamContext | None = None) -> Consumer:
        return Consumer(self.pool, js or self.js, notifier.consumer_spec(self.config))

    def delivery_loop(self, js: JetStreamContext | None = None) -> notifier.DeliveryLoop:
        return notifier.DeliveryLoop(self.pool, js or self.js, self.config)

    async def messages(self, stream: str) -> int:
        return int((await self.js.stream_info(stream)).state.messages)

    async def rows(self, status: str | None = None) -> int:
        where = "" if status is None else f"WHERE status = '{status}'"
        async with self.pool.acquire() as conn:
            return int(await conn.fetchval(f"SELECT count(*) FROM {self.schema}.partner_deliveries {where}"))


async def _until(done: Callable[[], Awaitable[bool]], tasks: Sequence[asyncio.Task[None]]) -> None:
    """Polls `done` every 5 ms; a part that crashed raises."""
    while not await done():
        for task in tasks:
            if task.done():
                task.result()
        await asyncio.sleep(0.005)


async def _stopped(stop: asyncio.Event, tasks: Sequence[asyncio.Task[None]]) -> None:
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)


async def measure_entraide(pool: asyncpg.Pool, nats_url: str, tag: str, n: int) -> Timed:
    """The whole path, its three parts running together as in the referral service."""
    async with Scratch(pool, nats_url, tag) as scratch:
        await scratch.write_changes(n)
        stop = asyncio.Event()
        started, cpu = time.perf_counter(), _cpu_s()
        tasks = [
            asyncio.create_task(scratch.relay().run(stop)),
            asyncio.create_task(scratch.consumer().run(stop)),
            asyncio.create_task(scratch.delivery_loop().run(stop)),
        ]
        try:

            async def delivered() -> bool:
                # The partner stream first (a cheap request), then the rows marked.
                return await scratch.messages(scratch.config.partner_stream) >= n and (
                    await scratch.rows("delivered") >= n
                )

            await _until(delivered, tasks)
            timed = Timed(time.perf_counter() - started, _cpu_s() - cpu)
        finally:
            await _stopped(stop, tasks)
        found = await scratch.messages(scratch.config.partner_stream)
        assert found == n, f"{found} partner messages, expected {n}"
        return timed


async def measure_stages(pool: asyncpg.Pool, nats_url: str, tag: str, n: int) -> tuple[float, float, float]:
    """Each part alone, one after the other (each started when the previous is done and
    stopped): seconds for the relay, the consumer, the delivery loop."""
    async with Scratch(pool, nats_url, tag) as scratch:
        await scratch.write_changes(n)
        config = scratch.config
        parts = (
            (scratch.relay().run, lambda: _at_least(scratch.messages(config.events_stream), n)),
            (scratch.consumer().run, lambda: _at_least(scratch.rows(), n)),
            (scratch.delivery_loop().run, lambda: _at_least(scratch.rows("delivered"), n)),
        )
        took: list[float] = []
        for run, done in parts:
            stop = asyncio.Event()
            started = time.perf_counter()
            task = asyncio.create_task(run(stop))
            try:
                await _until(done, [task])
                took.append(time.perf_counter() - started)
            finally:
                await _stopped(stop, [task])
        return took[0], took[1], took[2]


async def _at_least(count: Awaitable[int], n: int) -> bool:
    return await count >= n


# The bare loop's bound on outstanding PubAcks (a sliding window; the delivery loop
# publishes batches of NotifierConfig.batch_size and waits for each batch's acks).
IN_FLIGHT = 256


async def measure_bare(nats_url: str, tag: str, n: int, in_flight: int = IN_FLIGHT) -> Timed:
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
        started, cpu = time.perf_counter(), _cpu_s()
        acks = []
        for _ in range(n):
            headers = {"Nats-Msg-Id": str(uuid.uuid4()), **partner_messages.ce_headers(message)}
            # Waits while `in_flight` PubAcks are outstanding.
            acks.append(await js.publish_async(subject, body, headers=headers))
        await asyncio.wait_for(js.publish_async_completed(), timeout=30.0)
        timed = Timed(time.perf_counter() - started, _cpu_s() - cpu)
        failed = [ack for ack in acks if ack.exception() is not None]
        assert not failed, f"{len(failed)} of {n} publishes failed: {failed[0].exception()!r}"
        info = await js.stream_info(config.partner_stream)
        assert info.state.messages == n, f"{info.state.messages} bare messages, expected {n}"
        return timed
    finally:
        try:
            await js.delete_stream(config.partner_stream)
        finally:
            await nc.close()


async def bench(
    database_url: str, nats_url: str, n: int, in_flight: int = IN_FLIGHT, rounds: int = 3
) -> Report:
    """R rounds of N each, alternating which side goes first (a change of load on the
    shared machine hits both alike); the rates are over the summed times. Then one pass
    of the stages alone."""
    tag = uuid.uuid4().hex[:8]
    pool = await asyncpg.create_pool(database_url, min_size=2, max_size=10)
    assert pool is not None
    bare = entraide = Timed(0.0, 0.0)
    try:
        await measure_bare(nats_url, tag + "w", min(n, 200), in_flight)  # warm-up (connection, server caches)
        for r in range(rounds):
            for side in ("bare", "entraide") if r % 2 == 0 else ("entraide", "bare"):
                round_tag = f"{tag}{r}"
                if side == "bare":
                    took = await measure_bare(nats_url, round_tag, n, in_flight)
                    bare = Timed(bare.wall_s + took.wall_s, bare.cpu_s + took.cpu_s)
                else:
                    took = await measure_entraide(pool, nats_url, round_tag, n)
                    entraide = Timed(entraide.wall_s + took.wall_s, entraide.cpu_s + took.cpu_s)
                print(
                    f"round {r + 1} {side}: {n / took.wall_s:.0f}/s  load={os.getloadavg()[0]:.2f}",
                    file=sys.stderr,
                )
        relay_s, consumer_s, delivery_s = await measure_stages(pool, nats_url, tag + "s", n)
    finally:
        await pool.close()
    total = n * rounds
    return Report(
        changes=n,
        entraide_s=round(entraide.wall_s, 3),
        entraide_per_s=round(total / entraide.wall_s, 1),
        bare_s=round(bare.wall_s, 3),
        bare_per_s=round(total / bare.wall_s, 1),
        ratio=round(bare.wall_s / entraide.wall_s, 3),
        entraide_cpu_us=round(entraide.cpu_s / total * 1e6, 1),
        bare_cpu_us=round(bare.cpu_s / total * 1e6, 1),
        relay_per_s=round(n / relay_s, 1),
        consumer_per_s=round(n / consumer_s, 1),
        delivery_per_s=round(n / delivery_s, 1),
        in_flight=in_flight,
        rounds=rounds,
        load=round(os.getloadavg()[0], 2),
    )


def render(report: Report) -> str:
    def stage(name: str, per_s: float) -> str:
        return f"  {name:<46}{per_s:>9.1f}/s  ratio to bare {per_s / report.bare_per_s:.3f}"

    return "\n".join(
        [
            f"status changes: {report.changes} × {report.rounds} rounds  load={report.load}",
            f"entraide notifier (outbox → relay → consumer → PARTNERS PubAck): "
            f"{report.entraide_per_s:>9.1f}/s  ({report.entraide_s:.2f} s, "
            f"{report.entraide_cpu_us:.0f} µs CPU a change)",
            f"bare js.publish_async, ≤ {report.in_flight} PubAcks in flight:       "
            f"{report.bare_per_s:>9.1f}/s  ({report.bare_s:.2f} s, "
            f"{report.bare_cpu_us:.0f} µs CPU a message)",
            f"ratio entraide/bare: {report.ratio:.3f}  "
            f"(its bound when both sides are CPU-bound: {report.bare_cpu_us / report.entraide_cpu_us:.3f})",
            "each stage alone, one pass of N:",
            stage("relay: outbox → events stream PubAck", report.relay_per_s),
            stage("consumer: events → partner_deliveries rows", report.consumer_per_s),
            stage("delivery: rows → partner stream PubAck", report.delivery_per_s),
        ]
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.notifier", description=__doc__.split("\n\n")[0])
    parser.add_argument("--changes", type=int, default=10000, help="status changes (N)")
    parser.add_argument(
        "--in-flight", type=int, default=IN_FLIGHT, help="bare loop: PubAcks outstanding at most"
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds of N each, alternating the order")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    servers = Path(tempfile.mkdtemp(prefix="entraide-bench-notifier-"))
    print("starting or finding PostgreSQL and NATS…", file=sys.stderr)
    endpoints = ensure_servers(servers, free_ports(), os.environ, components=("postgres", "nats"))
    try:
        report = asyncio.run(
            bench(endpoints.database_url, endpoints.nats_url, args.changes, args.in_flight, args.rounds)
        )
    finally:
        stop_servers(servers)
    print(json.dumps(asdict(report)) if args.json else render(report))


if __name__ == "__main__":
    main()
