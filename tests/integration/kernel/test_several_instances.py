"""Two instances of the kernel's relay and of a consumer side by side, as two replicas of
a service run them (each with its own NATS connection), on real PostgreSQL and JetStream:
every event published once and applied once, and both instances take part."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from typing import Any

import asyncpg

from kernel import messaging, outbox
from kernel.consumer import Consumer, Handler
from kernel.events import Event
from kernel.outbox import OutboxRelay
from kernel.settings import Settings
from tests.kernel_fixtures import (
    CountingJetStream,
    MessagingWorld,
    counting_handler,
    opened_event,
)

EVENTS = 600


async def until(check: Any, timeout_s: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not await check():
        assert loop.time() < deadline, "not reached in time"
        await asyncio.sleep(0.05)


async def write(world: MessagingWorld, events: list[Event]) -> None:
    async with world.pool.acquire() as conn, conn.transaction():
        for event in events:
            await outbox.write(conn, world.schema, event)


async def test_two_relays_publish_each_row_once_and_both_publish(
    world: MessagingWorld, settings: Settings
) -> None:
    connections = [await messaging.connect(settings.nats_url, f"replica-{n}") for n in (1, 2)]
    replicas = [CountingJetStream(nc.jetstream()) for nc in connections]
    stop = asyncio.Event()
    relays = [
        asyncio.create_task(
            OutboxRelay(world.pool, world.schema, js, world.subject_root, batch_size=25).run(stop)  # type: ignore[arg-type]
        )
        for js in replicas
    ]
    try:
        await asyncio.sleep(0.3)  # both listening: the commit below wakes both at once
        events = [opened_event(f"d{i:04d}") for i in range(EVENTS)]
        await write(world, events)

        async def all_marked() -> bool:
            async with world.pool.acquire() as conn:
                return await outbox.backlog(conn, world.schema) == 0

        await until(all_marked)
    finally:
        stop.set()
        await asyncio.gather(*relays)
        for nc in connections:
            await nc.close()
    published = replicas[0].published + replicas[1].published
    # SKIP LOCKED: no row claimed twice, so nothing for the Msg-Id dedup to absorb.
    assert sorted(published) == sorted(str(e.id) for e in events)
    assert set(published.values()) == {1}
    assert all(replica.published for replica in replicas), "one relay starved"
    info = await world.js.stream_info(world.stream)
    assert info.state.messages == EVENTS


def tallying(world: MessagingWorld, tally: Counter[str], name: str) -> Handler:
    count = counting_handler(world.schema)

    async def handle(conn: asyncpg.Connection, event: Event) -> None:
        await count(conn, event)
        tally[name] += 1

    return handle


async def test_two_consumers_on_one_durable_apply_each_event_once_and_share_them(
    world: MessagingWorld, settings: Settings
) -> None:
    events = [opened_event(f"d{i:04d}") for i in range(EVENTS)]
    await write(world, events)
    while await OutboxRelay(world.pool, world.schema, world.js, world.subject_root).publish_batch():
        pass
    connections = [await messaging.connect(settings.nats_url, f"replica-{n}") for n in (1, 2)]
    tally: Counter[str] = Counter()
    base = world.consumer_spec(counting_handler(world.schema))
    stop = asyncio.Event()
    consumers = [
        asyncio.create_task(
            Consumer(
                world.pool, nc.jetstream(), dataclasses.replace(base, handler=tallying(world, tally, name))
            ).run(stop)
        )
        for name, nc in zip(("a", "b"), connections, strict=True)
    ]

    async def all_applied() -> bool:
        async with world.pool.acquire() as conn:
            return int(await conn.fetchval(f"SELECT count(*) FROM {world.schema}.counted")) == EVENTS

    try:
        await until(all_applied)
    finally:
        stop.set()
        await asyncio.gather(*consumers)
        for nc in connections:
            await nc.close()
    async with world.pool.acquire() as conn:
        times = await conn.fetch(f"SELECT times FROM {world.schema}.counted")
    assert {row["times"] for row in times} == {1}
    assert tally["a"] + tally["b"] == EVENTS
    assert tally["a"] and tally["b"], f"one consumer starved: {dict(tally)}"
