"""Partner notifier on real servers: per-partner NATS permissions (a private nats-server
with the generated auth configuration), signed webhooks retried then delivered once,
misconfigured webhooks reported once and held until fixed (restart with the secret, or a
directory change), and exactly-once delivery to the partner stream across crashes of
relay and notifier."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import asyncpg
import nats
import nats.errors
import pytest
from aiohttp import web
from entraide.v1 import events_pb2
from google.protobuf.timestamp_pb2 import Timestamp
from nats.aio.client import Client as NATS
from nats.js.api import ConsumerConfig

from devstack import partner_nats
from kernel import messaging, migrations, outbox
from kernel.consumer import Consumer
from kernel.events import Event, new_event
from kernel.logs import JsonFormatter
from kernel.outbox import OutboxRelay
from kernel.settings import Settings
from services.referral import notifier, partner_messages, webhooks
from tests.conftest import free_port
from tests.kernel_fixtures import CountingJetStream
from tests.paths import REPO

MIGRATIONS = Path(notifier.__file__).parent / "migrations"
PARTNER_A = "caf-meuse"
PARTNER_B = "cpam-meuse"
FORBIDDEN_KEYS = {"dossier_id", "territory", "actor", "person", "notes", "motifs", "comment"}


# --- helpers ---------------------------------------------------------------------------------


def status_event(
    partner_id: str, status: str, *, referral_id: str | None = None, sequence: int = 1, previous: str = ""
) -> Event:
    referral = referral_id or str(uuid.uuid4())
    at = Timestamp()
    at.GetCurrentTime()
    data = events_pb2.ReferralStatusChanged(
        referral_id=referral,
        dossier_id=str(uuid.uuid4()),
        partner_id=partner_id,
        territory="55029",
        motif="logement",
        status=status,
        previous_status=previous,
        reason="no_capacity" if status == "rejected" else "",
        at=at,
        actor="agent-martin",
        sequence=sequence,
    )
    return new_event("entraide.referral.status_changed", "entraide/referral", referral, data)


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 15) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


@dataclass
class World:
    """A scratch referral schema, events stream and partner stream."""

    schema: str
    pool: asyncpg.Pool
    nc: NATS
    config: notifier.NotifierConfig

    @property
    def js(self) -> Any:
        return self.nc.jetstream()

    async def deliveries(self) -> list[asyncpg.Record]:
        async with self.pool.acquire() as conn:
            return await conn.fetch(f"SELECT * FROM {self.schema}.partner_deliveries ORDER BY seq")

    async def set_channel(self, partner_id: str, nats_on: bool, url: str | None, ref: str | None) -> None:
        async with self.pool.acquire() as conn:
            await conn.execute(
                f"""INSERT INTO {self.schema}.partner_channels
                        (partner_id, nats, webhook_url, webhook_secret_ref)
                    VALUES ($1, $2, $3, $4)""",
                partner_id,
                nats_on,
                url,
                ref,
            )


@pytest.fixture
async def world(pool: asyncpg.Pool, settings: Settings) -> AsyncIterator[World]:
    tag = uuid.uuid4().hex[:8]
    schema = f"pn_{tag}"
    async with pool.acquire() as conn:
        await migrations.apply(
            conn,
            migrations.load(f"{schema}:kernel", migrations.KERNEL_SQL, schema)
            + migrations.load(schema, MIGRATIONS, schema),
        )
        # partner_channels is the directory's table; tolerate a tree where it moved.
        await conn.execute(
            f"""CREATE TABLE IF NOT EXISTS {schema}.partner_channels (partner_id text PRIMARY KEY,
                nats bool NOT NULL DEFAULT true, webhook_url text, webhook_secret_ref text)"""
        )
        for partner in ("caf-meuse", "cpam-meuse", "cresus-grand-est"):
            await conn.execute(
                f"""INSERT INTO {schema}.partners (partner_id, name, kind, motifs, territories)
                    VALUES ($1, $1, 'test', ARRAY['logement'], ARRAY['55029'])""",
                partner,
            )
    nc = await messaging.connect(settings.nats_url, f"test-notifier-{tag}")
    config = notifier.NotifierConfig(
        schema=schema,
        events_stream=f"PN_{tag.upper()}",
        subject_root=f"pn{tag}",
        partner_stream=f"PARTNERS_{tag.upper()}",
        partner_subject_root=f"partners{tag}",
        backoff_base_s=0.05,
        backoff_cap_s=0.2,
        idle_poll_s=0.2,
        batch_size=10,
        consumer_max_deliveries=3,
        consumer_ack_wait_s=1.0,
    )
    js = nc.jetstream()
    await messaging.ensure_events_stream(js, config.events_stream, config.subject_root)
    try:
        yield World(schema, pool, nc, config)
    finally:
        for stream in (config.events_stream, config.partner_stream):
            with contextlib.suppress(Exception):
                await js.delete_stream(stream)
        await nc.close()
        async with pool.acquire() as conn:
            await conn.execute(f"DROP SCHEMA {schema} CASCADE")
            await conn.execute("DELETE FROM public.schema_migrations WHERE component LIKE $1", f"{schema}%")


class Running:
    """Background tasks with their own stop event: stopped cleanly or cancelled (a crash)."""

    def __init__(self) -> None:
        self.stop = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []

    def start(self, run: Callable[[asyncio.Event], Awaitable[None]]) -> None:
        async def body() -> None:
            await run(self.stop)

        self.tasks.append(asyncio.create_task(body()))

    async def kill(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    async def close(self) -> None:
        self.stop.set()
        _, pending = await asyncio.wait(self.tasks, timeout=5)
        for task in pending:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


# --- per-partner NATS permissions on a real nats-server ------------------------------------


@pytest.fixture
def partner_nats_server(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    port = free_port()
    passwords = partner_nats.ensure_passwords([PARTNER_A, PARTNER_B], {})
    conf = tmp_path / "nats.conf"
    conf.write_text(
        partner_nats.render(
            [PARTNER_A, PARTNER_B], passwords, listen=f"127.0.0.1:{port}", store_dir=str(tmp_path / "js")
        )
    )
    binary = Path(sys.executable).parent / "nats-server"
    process = subprocess.Popen([str(binary), "-c", str(conf)], stderr=subprocess.DEVNULL)
    try:
        yield f"nats://127.0.0.1:{port}", passwords
    finally:
        process.terminate()
        process.wait(timeout=10)


async def connect_as(url: str, user: str, password: str, errors: list[str]) -> NATS:
    async def on_error(exc: Exception) -> None:
        errors.append(str(exc))

    for _ in range(100):  # the server may still be starting
        try:
            return await nats.connect(
                url,
                user=user,
                password=password,
                inbox_prefix=partner_nats.inbox_prefix(user)
                if user != partner_nats.NOTIFIER_USER
                else "_INBOX",
                error_cb=on_error,
                allow_reconnect=False,
            )
        except (OSError, nats.errors.NoServersError):
            await asyncio.sleep(0.1)
    raise TimeoutError("nats-server did not start")


async def refused(attempt: Awaitable[Any], errors: list[str], subject: str) -> None:
    """The request gets no answer and the server reports a publish permissions violation
    on exactly this API subject."""
    before = len(errors)
    with pytest.raises((TimeoutError, nats.errors.TimeoutError)):
        await asyncio.wait_for(attempt, timeout=1)
    assert f'permissions violation for publish to "{subject.lower()}"' in " ".join(errors[before:]), subject


async def test_partner_credentials_reach_only_their_own_messages(
    partner_nats_server: tuple[str, dict[str, str]],
) -> None:
    url, passwords = partner_nats_server
    errors: list[str] = []
    service = await connect_as(url, partner_nats.NOTIFIER_USER, passwords[partner_nats.NOTIFIER_USER], errors)
    config = notifier.NotifierConfig(schema="unused", events_stream="unused", subject_root="entraide")
    await notifier.ensure_partner_stream(service.jetstream(), config)
    for partner, n in ((PARTNER_A, 3), (PARTNER_B, 4)):
        for i in range(n):
            await service.jetstream().publish(
                f"partners.{partner}.referrals.requested", json.dumps({"i": i}).encode()
            )

    a_errors: list[str] = []
    a = await connect_as(url, PARTNER_A, passwords[PARTNER_A], a_errors)
    b_errors: list[str] = []
    b = await connect_as(url, PARTNER_B, passwords[PARTNER_B], b_errors)
    try:
        # A consumes its own messages through its own durable consumer.
        sub = await a.jetstream().pull_subscribe(
            f"partners.{PARTNER_A}.>", durable=PARTNER_A, stream="PARTNERS"
        )
        got = await sub.fetch(10, timeout=2)
        assert [m.subject for m in got] == [f"partners.{PARTNER_A}.referrals.requested"] * 3
        for m in got:
            await m.ack_sync()
        info = await a.jetstream().consumer_info("PARTNERS", PARTNER_A)
        assert info.num_ack_pending == 0 and info.num_pending == 0
        # B has its own consumer (so that A could try to read from it).
        b_sub = await b.jetstream().pull_subscribe(
            f"partners.{PARTNER_B}.>", durable=PARTNER_B, stream="PARTNERS"
        )

        ajs = a.jetstream()
        # Core subscription to B's subjects (and to everything): refused by the server.
        seen: list[str] = []

        async def collect(msg: Any) -> None:
            seen.append(msg.subject)

        for subject in (f"partners.{PARTNER_B}.>", "partners.>", ">", "_INBOX.>", f"_INBOX_{PARTNER_B}.>"):
            await a.subscribe(subject, cb=collect)
        await a.flush()
        await service.jetstream().publish(f"partners.{PARTNER_B}.referrals.accepted", b"{}")
        await asyncio.sleep(0.3)
        assert seen == []
        assert sum("permissions violation for subscription" in e.lower() for e in a_errors) == 5
        # A consumer of A's name filtered on B, one of B's name, an unfiltered one, a legacy durable.
        await refused(
            ajs.add_consumer(
                "PARTNERS",
                ConsumerConfig(
                    name=PARTNER_A, durable_name=PARTNER_A, filter_subject=f"partners.{PARTNER_B}.>"
                ),
            ),
            a_errors,
            f"$JS.API.CONSUMER.CREATE.PARTNERS.{PARTNER_A}.partners.{PARTNER_B}.>",
        )
        await refused(
            ajs.add_consumer(
                "PARTNERS",
                ConsumerConfig(
                    name=PARTNER_B, durable_name=PARTNER_B, filter_subject=f"partners.{PARTNER_B}.>"
                ),
            ),
            a_errors,
            f"$JS.API.CONSUMER.CREATE.PARTNERS.{PARTNER_B}.partners.{PARTNER_B}.>",
        )
        await refused(
            ajs.add_consumer("PARTNERS", ConsumerConfig(name="all")),
            a_errors,
            "$JS.API.CONSUMER.CREATE.PARTNERS.all",
        )
        await refused(
            ajs.add_consumer("PARTNERS", ConsumerConfig(durable_name="old")),
            a_errors,
            "$JS.API.CONSUMER.DURABLE.CREATE.PARTNERS.old",
        )
        await refused(
            ajs.add_consumer("PARTNERS", ConsumerConfig()), a_errors, "$JS.API.CONSUMER.CREATE.PARTNERS"
        )
        # The allowed API subject with a body that widens the filter: refused by the server's check.
        for body in (
            {"filter_subject": "partners.>"},
            {"filter_subjects": [f"partners.{PARTNER_A}.>", f"partners.{PARTNER_B}.>"]},
        ):
            request = {
                "stream_name": "PARTNERS",
                "config": {"durable_name": PARTNER_A, "name": PARTNER_A, **body},
            }
            reply = await a.request(
                f"$JS.API.CONSUMER.CREATE.PARTNERS.{PARTNER_A}.partners.{PARTNER_A}.>",
                json.dumps(request).encode(),
                timeout=3,
            )
            assert "error" in json.loads(reply.data), body
        info = await ajs.consumer_info("PARTNERS", PARTNER_A)
        assert info.config.filter_subject == f"partners.{PARTNER_A}.>"
        # Stream-level reads: message get, direct get, stream info; fetching from B's consumer.
        await refused(ajs.get_msg("PARTNERS", 4), a_errors, "$JS.API.STREAM.MSG.GET.PARTNERS")
        await refused(
            a.request("$JS.API.DIRECT.GET.PARTNERS", b'{"seq": 4}', timeout=1),
            a_errors,
            "$JS.API.DIRECT.GET.PARTNERS",
        )
        await refused(ajs.stream_info("PARTNERS"), a_errors, "$JS.API.STREAM.INFO.PARTNERS")
        await refused(
            a.request(f"$JS.API.CONSUMER.MSG.NEXT.PARTNERS.{PARTNER_B}", b'{"batch": 10}', timeout=1),
            a_errors,
            f"$JS.API.CONSUMER.MSG.NEXT.PARTNERS.{PARTNER_B}",
        )
        # A cannot publish into the partner stream either.
        await a.publish(f"partners.{PARTNER_A}.referrals.completed", b"{}")
        await a.flush()
        await asyncio.sleep(0.2)
        assert any("permissions violation for publish" in e.lower() for e in a_errors)
        # B's messages are all still there for B, unread by anyone else.
        b_got = await b_sub.fetch(10, timeout=2)
        assert len(b_got) == 5 and all(m.subject.startswith(f"partners.{PARTNER_B}.") for m in b_got)
        assert (await b.jetstream().consumer_info("PARTNERS", PARTNER_B)).delivered.stream_seq >= 8
    finally:
        for conn in (a, b, service):
            await conn.close()


# --- webhooks ----------------------------------------------------------------------------------


@dataclass
class Receiver:
    secret: bytes
    fail_first: int
    requests: int = 0
    bad_signatures: int = 0
    accepted: dict[str, dict[str, Any]] | None = None
    duplicates: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        body = await request.read()
        if self.requests <= self.fail_first:
            return web.Response(status=500)
        if not webhooks.verify(self.secret, request.headers.get(webhooks.SIGNATURE_HEADER, ""), body):
            self.bad_signatures += 1
            return web.Response(status=401)
        delivery = request.headers[webhooks.DELIVERY_HEADER]
        assert self.accepted is not None
        if delivery in self.accepted:  # de-duplication by delivery id
            self.duplicates += 1
            return web.Response(status=200)
        self.accepted[delivery] = {"body": json.loads(body), "headers": dict(request.headers)}
        return web.Response(status=204)


@contextlib.asynccontextmanager
async def receiver_server(receiver: Receiver) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield f"http://127.0.0.1:{port}/hook"
    finally:
        await runner.cleanup()


async def test_webhook_failing_twice_then_accepting_gets_the_message_once(world: World) -> None:
    secret = "s3cr3t-for-tests"
    ref = webhooks.secret_env_name(PARTNER_A)
    config = replace(world.config, env={ref: secret})
    receiver = Receiver(secret.encode(), fail_first=2, accepted={})
    async with receiver_server(receiver) as url:
        await world.set_channel(PARTNER_A, False, url, ref)
        event = status_event(PARTNER_A, "rejected", previous="requested", sequence=2)
        await world.js.publish(event.nats_subject(config.subject_root), event.data, headers=event.headers())
        running = Running()
        running.start(Consumer(world.pool, world.js, notifier.consumer_spec(config)).run)
        running.start(notifier.DeliveryLoop(world.pool, world.js, config).run)
        try:

            async def delivered() -> bool:
                rows = await world.deliveries()
                return len(rows) == 1 and rows[0]["status"] == "delivered"

            await eventually(delivered)
        finally:
            await running.close()
        [row] = await world.deliveries()
        assert row["channel"] == "webhook" and row["attempts"] == 3 and row["last_error_type"] is None
        assert receiver.requests == 3 and receiver.bad_signatures == 0
        assert list(receiver.accepted or {}) == [str(partner_messages.delivery_id(event.id, "webhook"))]
        # A second POST of the same delivery (e.g. a lost 2xx) is recognised by the receiver.
        loop = notifier.DeliveryLoop(world.pool, world.js, config)
        async with loop_session(loop):
            async with world.pool.acquire() as conn:
                again = await conn.fetchrow(
                    f"""SELECT d.*, d.payload::text AS payload, c.webhook_url, c.webhook_secret_ref
                          FROM {world.schema}.partner_deliveries d JOIN {world.schema}.partner_channels c
                          USING (partner_id)"""
                )
            assert await loop._post(again) is None
        assert receiver.duplicates == 1 and len(receiver.accepted or {}) == 1
    [accepted] = (receiver.accepted or {}).values()
    message = accepted["body"]
    assert message["type"] == "fr.entraide.referral.status_changed.v1"
    assert message["id"] == str(event.id) and message["subject"] == message["data"]["referral_id"]
    assert message["data"]["status"] == "rejected" and message["data"]["reason"] == "no_capacity"
    assert not FORBIDDEN_KEYS & (set(message) | set(message["data"]))
    schema = json.loads((REPO / "docs/partners/referral-status.v1.schema.json").read_text())
    assert set(schema["required"]) <= set(message) <= set(schema["properties"])
    assert set(message["data"]) == set(schema["properties"]["data"]["properties"])
    assert accepted["headers"]["ce-type"] == "fr.entraide.referral.status_changed.v1"


@contextlib.asynccontextmanager
async def loop_session(loop: notifier.DeliveryLoop) -> AsyncIterator[None]:
    import aiohttp

    loop._session = aiohttp.ClientSession()
    try:
        yield
    finally:
        await loop._session.close()


async def test_webhook_dead_lettered_after_max_attempts(world: World) -> None:
    ref = webhooks.secret_env_name(PARTNER_B)
    config = replace(world.config, env={ref: "x"}, max_attempts=3)
    receiver = Receiver(b"x", fail_first=10**6, accepted={})
    async with receiver_server(receiver) as url:
        await world.set_channel(PARTNER_B, True, url, ref)  # both channels
        event = status_event(PARTNER_B, "requested")
        async with world.pool.acquire() as conn, conn.transaction():
            await notifier.enqueue_handler(config)(conn, event)
        running = Running()
        running.start(notifier.DeliveryLoop(world.pool, world.js, config).run)
        try:

            async def settled() -> bool:
                return all(r["status"] != "pending" for r in await world.deliveries())

            await eventually(settled)
        finally:
            await running.close()
    rows = {r["channel"]: r for r in await world.deliveries()}
    assert rows["nats"]["status"] == "delivered"
    assert rows["webhook"]["status"] == "dead" and rows["webhook"]["attempts"] == 3
    assert rows["webhook"]["last_error_type"] == "WebhookRejected"
    assert receiver.requests == 3


# --- misconfigured webhook channels: reported once, held, sent when fixed ----------------------


def test_webhook_configuration_problems_have_stable_codes() -> None:
    ref = webhooks.secret_env_name(PARTNER_A)
    env = {ref: "s3cr3t"}
    problem = webhooks.configuration_problem
    assert problem("https://hooks.example.org/entraide", ref, PARTNER_A, env) is None
    assert problem("http://127.0.0.1:8080/hook", None, PARTNER_A, env) is None  # the conventional name
    assert problem("https://hooks.example.org/x", ref, PARTNER_A, {}) == webhooks.MISSING_WEBHOOK_SECRET
    assert (
        problem("https://hooks.example.org/x", ref, PARTNER_A, {ref: ""}) == webhooks.MISSING_WEBHOOK_SECRET
    )
    assert (
        problem("https://hooks.example.org/x", "partners/caf-meuse/webhook", PARTNER_A, env)
        == webhooks.INVALID_WEBHOOK_SECRET_REF
    )
    for url in (
        None,
        "",
        "ftp://hooks.example.org/x",
        "hooks.example.org/x",
        "https://",
        "https:///entraide/webhook",
        "http://:80/x",
        "http://hooks.example.org:99999/x",
        "http://[::1/x",
        "https://hooks.example .org/x",
    ):
        assert problem(url, ref, PARTNER_A, env) == webhooks.INVALID_WEBHOOK_URL, url


def notifier_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == notifier.log.name]


def field(record: logging.LogRecord, name: str) -> Any:
    """A field passed with `extra=` (None when absent)."""
    return vars(record).get(name)


async def misconfigured(world: World) -> list[tuple[str, str, str, int]]:
    """What the ops view reads: the SECURITY DEFINER function, as the application role."""
    async with world.pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL ROLE entraide_app")
        rows = await conn.fetch(f"SELECT * FROM {world.schema}.misconfigured_channel_list(50)")
    return [(r["partner_id"], r["channel"], r["reason"], int(r["deliveries_held"])) for r in rows]


def lifecycle(partner_id: str) -> list[Event]:
    """Several changes of one referral, as its workflow writes them."""
    referral = str(uuid.uuid4())
    statuses = ["requested", "received", "accepted", "in_progress", "completed"]
    return [
        status_event(
            partner_id, status, referral_id=referral, sequence=n + 1, previous=statuses[n - 1] if n else ""
        )
        for n, status in enumerate(statuses)
    ]


async def test_missing_webhook_secret_is_said_once_and_held_until_restarted_with_it(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="entraide")
    ref = webhooks.secret_env_name(PARTNER_A)
    secret = "s3cr3t-set-later"
    receiver = Receiver(secret.encode(), fail_first=0, accepted={})
    events = lifecycle(PARTNER_A)
    async with receiver_server(receiver) as url:
        await world.set_channel(PARTNER_A, True, url, ref)
        unset = replace(world.config, env={})  # the secret is not in the environment
        first = Running()
        first.start(Consumer(world.pool, world.js, notifier.consumer_spec(unset)).run)
        first.start(notifier.DeliveryLoop(world.pool, world.js, unset).run)
        try:
            for event in events:  # several changes over a few seconds (backoff would be 50-200 ms)
                await world.js.publish(
                    event.nats_subject(unset.subject_root), event.data, headers=event.headers()
                )
                await asyncio.sleep(0.6)

            async def settled() -> bool:
                rows = await world.deliveries()
                return len(rows) == 2 * len(events) and all(
                    r["status"] == ("delivered" if r["channel"] == "nats" else "held") for r in rows
                )

            await eventually(settled)
            await asyncio.sleep(1.0)
        finally:
            await first.close()
        records = notifier_records(caplog)
        warnings = [r for r in records if r.levelno >= logging.WARNING]
        assert [r.getMessage() for r in warnings] == [
            "partner webhook misconfigured: its deliveries are held, not retried, until it is fixed"
        ]
        [warning] = warnings
        assert field(warning, "partner_id") == PARTNER_A
        assert field(warning, "code") == webhooks.MISSING_WEBHOOK_SECRET
        line = json.loads(JsonFormatter("referral").format(warning))
        assert "[redacted]" not in line.values() and ref not in json.dumps(line)
        assert receiver.requests == 0
        held = [r for r in await world.deliveries() if r["channel"] == "webhook"]
        assert all(r["attempts"] == 0 and r["last_error_type"] is None for r in held)
        assert await misconfigured(world) == [(PARTNER_A, "webhook", webhooks.MISSING_WEBHOOK_SECRET, 5)]

        # The secret set, the notifier restarted: every held delivery goes, once.
        caplog.clear()
        fixed = replace(world.config, env={ref: secret})
        second = Running()
        second.start(Consumer(world.pool, world.js, notifier.consumer_spec(fixed)).run)
        second.start(notifier.DeliveryLoop(world.pool, world.js, fixed).run)
        try:

            async def delivered() -> bool:
                return all(r["status"] == "delivered" for r in await world.deliveries())

            await eventually(delivered)
        finally:
            await second.close()
    assert receiver.requests == len(events) and receiver.duplicates == 0 and receiver.bad_signatures == 0
    assert set(receiver.accepted or {}) == {
        str(partner_messages.delivery_id(e.id, "webhook")) for e in events
    }
    assert all(r["attempts"] == 1 for r in await world.deliveries())
    assert await misconfigured(world) == []
    records = notifier_records(caplog)
    assert [r.levelno for r in records] == [logging.INFO]
    assert field(records[0], "partner_id") == PARTNER_A and field(records[0], "count") == len(events)


async def test_directory_change_releases_held_deliveries_or_ends_a_removed_webhook(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="entraide")
    ref_a = webhooks.secret_env_name(PARTNER_A)
    config = replace(world.config, env={ref_a: "sa"})
    receiver = Receiver(b"sa", fail_first=0, accepted={})
    events = [status_event(p, "requested") for p in (PARTNER_A, PARTNER_B, PARTNER_A, PARTNER_B)]
    async with receiver_server(receiver) as url:
        await world.set_channel(PARTNER_A, True, "https:///entraide/webhook", ref_a)  # no host
        await world.set_channel(PARTNER_B, True, url, "partners/cpam-meuse/webhook")  # not a variable
        running = Running()
        running.start(Consumer(world.pool, world.js, notifier.consumer_spec(config)).run)
        running.start(notifier.DeliveryLoop(world.pool, world.js, config).run)
        try:
            for event in events:
                await world.js.publish(
                    event.nats_subject(config.subject_root), event.data, headers=event.headers()
                )

            async def webhook_rows() -> dict[str, list[str]]:
                rows: dict[str, list[str]] = {}
                for r in await world.deliveries():
                    if r["channel"] == "webhook":
                        rows.setdefault(r["partner_id"], []).append(r["status"])
                return rows

            async def rows_are(expected: dict[str, list[str]]) -> None:
                async def check() -> bool:
                    return await webhook_rows() == expected

                await eventually(check)

            await rows_are({PARTNER_A: ["held", "held"], PARTNER_B: ["held", "held"]})
            assert sorted(await misconfigured(world)) == [
                (PARTNER_A, "webhook", webhooks.INVALID_WEBHOOK_URL, 2),
                (PARTNER_B, "webhook", webhooks.INVALID_WEBHOOK_SECRET_REF, 2),
            ]
            # A directory import fixes A's URL: its deliveries go without a restart (the
            # periodic check is a minute away; the directory change wakes the loop).
            async with world.pool.acquire() as conn:
                await conn.execute(
                    f"UPDATE {world.schema}.partner_channels SET webhook_url = $2 WHERE partner_id = $1",
                    PARTNER_A,
                    url,
                )
            await rows_are({PARTNER_A: ["delivered", "delivered"], PARTNER_B: ["held", "held"]})
            # B's webhook is removed from the directory: its deliveries can go nowhere.
            async with world.pool.acquire() as conn:
                await conn.execute(
                    f"""UPDATE {world.schema}.partner_channels
                           SET webhook_url = NULL, webhook_secret_ref = NULL WHERE partner_id = $1""",
                    PARTNER_B,
                )
            await rows_are({PARTNER_A: ["delivered", "delivered"], PARTNER_B: ["dead", "dead"]})
        finally:
            await running.close()
    assert receiver.requests == 2 and len(receiver.accepted or {}) == 2
    dead = [r for r in await world.deliveries() if r["status"] == "dead"]
    assert {r["last_error_type"] for r in dead} == {notifier.WEBHOOK_REMOVED}
    assert all(r["attempts"] == 0 for r in dead)
    assert await misconfigured(world) == []
    said = [(r.levelname, field(r, "partner_id"), field(r, "code")) for r in notifier_records(caplog)]
    assert said == [
        ("WARNING", PARTNER_A, webhooks.INVALID_WEBHOOK_URL),
        ("WARNING", PARTNER_B, webhooks.INVALID_WEBHOOK_SECRET_REF),
        ("INFO", PARTNER_A, None),
        ("WARNING", PARTNER_B, None),
    ]


# --- exactly once across crashes ----------------------------------------------------------------


class Crash(Exception):
    pass


async def test_relay_and_notifier_killed_mid_stream_deliver_every_message_once(world: World) -> None:
    n = 60
    config = world.config
    partners = ["caf-meuse", "cpam-meuse", "cresus-grand-est"]
    events = [status_event(partners[i % 3], "requested") for i in range(n)]
    async with world.pool.acquire() as conn, conn.transaction():
        for event in events:
            await outbox.write(conn, world.schema, event)

    relay_marks = 0

    async def relay_crash(_: Event) -> None:
        nonlocal relay_marks
        relay_marks += 1
        if relay_marks == 25:  # published and acknowledged, not marked yet
            raise Crash

    loop_acks = 0

    async def loop_crash(_: str) -> None:
        nonlocal loop_acks
        loop_acks += 1
        if loop_acks == 3:  # on the partner stream, not marked delivered yet
            raise Crash

    first = Running()
    first.start(
        OutboxRelay(
            world.pool, world.schema, world.js, config.subject_root, batch_size=10, after_publish=relay_crash
        ).run
    )
    first.start(Consumer(world.pool, world.js, notifier.consumer_spec(config)).run)
    first.start(notifier.DeliveryLoop(world.pool, world.js, config, after_publish=loop_crash).run)

    async def both_crashed() -> bool:
        return relay_marks >= 25 and loop_acks >= 3

    await eventually(both_crashed)
    assert len(await world.deliveries()) < n  # mid-stream: the relay died before publishing all
    await first.kill()  # everything still running dies mid-stream
    assert all(task.done() for task in first.tasks)

    second = Running()
    second.start(OutboxRelay(world.pool, world.schema, world.js, config.subject_root, batch_size=10).run)
    second.start(Consumer(world.pool, world.js, notifier.consumer_spec(config)).run)
    second.start(notifier.DeliveryLoop(world.pool, world.js, config).run)
    try:

        async def all_delivered() -> bool:
            rows = await world.deliveries()
            return len(rows) == n and all(r["status"] == "delivered" for r in rows)

        await eventually(all_delivered, timeout=30)
    finally:
        await second.close()

        info = await world.js.stream_info(config.partner_stream)
    assert info.state.messages == n
    ids = []
    for seq in range(1, n + 1):
        message = await world.js.get_msg(config.partner_stream, seq)
        assert message.headers is not None
        ids.append(message.headers["Nats-Msg-Id"])
        body = json.loads(message.data or b"{}")
        assert not FORBIDDEN_KEYS & (set(body) | set(body["data"]))
        assert (
            message.subject
            == f"{config.partner_subject_root}.{body['data']['partner_id']}.referrals.requested"
        )
    expected = {str(partner_messages.delivery_id(e.id, "nats")) for e in events}
    assert len(set(ids)) == n and set(ids) == expected


async def test_two_replicas_deliver_every_message_once_and_both_deliver(
    world: World, settings: Settings
) -> None:
    """Two referral replicas side by side (relay, notifier consumer and delivery loop each,
    each with its own NATS connection): no delivery published twice, none starved."""
    n = 300
    config = world.config
    partners = ["caf-meuse", "cpam-meuse", "cresus-grand-est"]
    connections = [await messaging.connect(settings.nats_url, f"replica-{r}") for r in (1, 2)]
    replicas = [CountingJetStream(nc.jetstream()) for nc in connections]
    running = Running()
    try:
        for js in replicas:
            running.start(OutboxRelay(world.pool, world.schema, js, config.subject_root, batch_size=10).run)
            running.start(Consumer(world.pool, js.js, notifier.consumer_spec(config)).run)
            running.start(notifier.DeliveryLoop(world.pool, js, config).run)
        await asyncio.sleep(0.5)  # every part listening
        events = [status_event(partners[i % 3], "requested") for i in range(n)]
        async with world.pool.acquire() as conn, conn.transaction():
            for event in events:
                await outbox.write(conn, world.schema, event)

        async def all_delivered() -> bool:
            rows = await world.deliveries()
            return len(rows) == n and all(r["status"] == "delivered" for r in rows)

        await eventually(all_delivered, timeout=30)
    finally:
        await running.close()
        for nc in connections:
            await nc.close()
    expected = {str(partner_messages.delivery_id(e.id, "nats")) for e in events}
    delivered = [
        Counter({k: v for k, v in replica.published.items() if k in expected}) for replica in replicas
    ]
    total = delivered[0] + delivered[1]
    assert set(total) == expected and set(total.values()) == {1}  # nothing left for the dedup
    assert delivered[0] and delivered[1], "one delivery loop starved"
    relayed = [
        Counter({k: v for k, v in replica.published.items() if k not in expected}) for replica in replicas
    ]
    assert sum((relayed[0] + relayed[1]).values()) == n  # each event published once
    info = await world.js.stream_info(config.partner_stream)
    assert info.state.messages == n
