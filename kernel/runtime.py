"""Service process runtime: the one place where a service's parts are wired and run.

A service declares what it has (schema and migrations, gRPC bindings, activities
on its task queue, event consumers); `run_service` connects to PostgreSQL, NATS and
Temporal, migrates, starts everything, and stops it all gracefully on SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from temporalio.client import Client
from temporalio.worker import Worker

from kernel import db, messaging, metrics, migrations, tls
from kernel import temporal as temporal_kernel
from kernel.access import AccessPolicy, Rule
from kernel.auth import TokenVerifier
from kernel.consumer import Consumer, ConsumerSpec
from kernel.db import Pool
from kernel.grpc_server import GrpcServer, ServiceBinding
from kernel.idempotency import RequestReplies
from kernel.logs import configure_logging, get_logger
from kernel.outbox import OutboxRelay
from kernel.settings import Settings

log = get_logger("runtime")


@dataclass
class ServiceContext:
    settings: Settings
    pool: Pool
    nats: NATS
    js: JetStreamContext
    temporal: Client


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    schema: str
    migrations_dir: Path
    bindings: Callable[[ServiceContext], Sequence[ServiceBinding]]
    activities: Callable[[ServiceContext], Sequence[Callable[..., Any]]] = lambda _: ()
    consumers: Callable[[ServiceContext], Sequence[ConsumerSpec]] = lambda _: ()
    # Other long-running loops (e.g. the partner delivery loop); each gets the stop event.
    loops: Callable[[ServiceContext], Sequence[Callable[[asyncio.Event], Coroutine[Any, Any, None]]]] = (
        lambda _: ()
    )
    on_start: Callable[[ServiceContext], Awaitable[None]] | None = None
    # Who may call each RPC (method name → rule); a method without a rule is refused.
    access_rules: Mapping[str, Rule] = field(default_factory=dict)

    # The task queue its activities are served on (workflows.contracts' constant).
    task_queue: str = ""


async def run_service(
    spec: ServiceSpec, settings: Settings, stop: asyncio.Event, ready: asyncio.Event | None = None
) -> None:
    credentials = tls.server_credentials(settings.env)  # half-configured TLS fails before anything starts
    verifier = TokenVerifier.from_env(settings.env)  # so does a missing token key
    await migrate(spec, settings)
    pool = await db.create_pool(settings.database_url, role=settings.db_role)
    nc = await messaging.connect(settings.nats_url, spec.name)
    tasks: list[asyncio.Task[None]] = []
    server: GrpcServer | None = None
    worker: Worker | None = None
    exporter = metrics.serve(spec.name, settings.env)
    try:
        js = nc.jetstream()
        await messaging.ensure_events_stream(
            js, settings.events_stream, settings.subject_root, settings.streams
        )
        client = await temporal_kernel.connect(settings)
        ctx = ServiceContext(settings, pool, nc, js, client)
        if spec.on_start is not None:
            await spec.on_start(ctx)
        activities = list(spec.activities(ctx))
        if activities:
            if not spec.task_queue:
                raise ValueError(f"service {spec.name} serves activities but names no task queue")
            worker = Worker(client, task_queue=spec.task_queue, activities=activities)
            tasks.append(asyncio.create_task(worker.run()))
        relay = OutboxRelay(
            pool, spec.schema, js, settings.subject_root, on_published=metrics.outbox_published
        )
        tasks.append(asyncio.create_task(relay.run(stop)))
        consumer_specs = list(spec.consumers(ctx))
        for consumer_spec in consumer_specs:
            tasks.append(asyncio.create_task(Consumer(pool, js, consumer_spec).run(stop)))
        refresh = metrics.refresh_loop(
            stop,
            js,
            [(c.stream, c.durable) for c in consumer_specs],
            pool,
            [spec.schema],
            metrics.refresh_interval(settings.env),
        )
        tasks.append(asyncio.create_task(refresh))
        for loop in spec.loops(ctx):
            tasks.append(asyncio.create_task(loop(stop)))
        address = f"{settings.grpc_host}:{settings.grpc_port(spec.name)}"
        policy = AccessPolicy(spec.name, spec.access_rules, verifier, pool)
        replies = RequestReplies(db.ScopedPool(pool), spec.schema)
        server = GrpcServer(spec.bindings(ctx), address, tls=credentials, policy=policy, replies=replies)
        await server.start()
        if ready is not None:
            ready.set()
        await _wait_stop_or_crash(stop, tasks)
    finally:
        stop.set()
        if server is not None:
            await server.stop()
        if worker is not None:
            await worker.shutdown()
        await _finish(tasks, grace_s=5.0)
        exporter.stop()
        await nc.close()
        try:
            await asyncio.wait_for(pool.close(), timeout=5.0)
        except TimeoutError:
            pool.terminate()


async def migrate(spec: ServiceSpec, settings: Settings) -> None:
    """As the schema owner (the services then run as the application role): the
    access log's schema, the kernel's messaging tables, then the service's own."""
    conn = await asyncpg.connect(settings.migration_database_url)
    try:
        await migrations.apply(conn, migrations.load("audit", migrations.AUDIT_SQL, "audit"))
        await migrations.migrate_service(conn, spec.schema, spec.migrations_dir)
    finally:
        await conn.close()


async def _wait_stop_or_crash(stop: asyncio.Event, tasks: list[asyncio.Task[None]]) -> None:
    """Returns on stop; re-raises if a background part dies (the process must not
    keep answering health checks with a dead relay or consumer)."""
    stopper = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([stopper, *tasks], return_when=asyncio.FIRST_COMPLETED)
    stopper.cancel()
    for task in done:
        if task is not stopper and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]


async def _finish(tasks: list[asyncio.Task[None]], grace_s: float) -> None:
    """Lets background loops see `stop` and end cleanly; cancels what does not."""
    if not tasks:
        return
    _, pending = await asyncio.wait(tasks, timeout=grace_s)
    for task in pending:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def run_until_signal(name: str, body: Callable[[Settings, asyncio.Event], Awaitable[None]]) -> None:
    """Process entry point: JSON logs, SIGTERM/SIGINT → graceful stop."""
    settings = Settings.from_env()
    configure_logging(name, settings.log_level)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await body(settings, stop)

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())


def main_for(spec: ServiceSpec) -> None:
    run_until_signal(spec.name, lambda settings, stop: run_service(spec, settings, stop))
