"""The consumer's batches prepared ahead (ConsumerSpec.batch_prepare), on real
PostgreSQL and NATS JetStream: a prepared batch is applied once with the events the
inbox found new, and a batch whose preparation fails goes the per-message way."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from entraide.v1 import events_pb2

from kernel import outbox
from kernel.consumer import Consumer, PreparedBatch
from kernel.db import Connection
from kernel.events import Event
from kernel.outbox import OutboxRelay
from tests.kernel_fixtures import MessagingWorld, counting_handler, opened_event


class Counted:
    """A prepared batch: the dossier ids decoded ahead, counted in one statement."""

    def __init__(self, schema: str, events: list[Event], applied: list[int]) -> None:
        self.schema = schema
        self.ids = {e.id: e.parse(events_pb2.DossierOpened).dossier_id for e in events}
        self.applied = applied

    async def apply(self, conn: Connection, fresh: list[Event]) -> None:
        self.applied.append(len(fresh))
        await conn.execute(
            f"""INSERT INTO {self.schema}.counted (dossier_id, times) SELECT d, 1 FROM unnest($1::text[]) AS d
                ON CONFLICT (dossier_id) DO UPDATE SET times = counted.times + 1""",
            [self.ids[e.id] for e in fresh],
        )


async def consume(world: MessagingWorld, events: list[Event], *, fail_prepare: bool) -> list[int]:
    """Publishes the events, consumes them all; returns the prepared batches' sizes."""
    async with world.pool.acquire() as conn, conn.transaction():
        for event in events:
            await outbox.write(conn, world.schema, event)
    relay = OutboxRelay(world.pool, world.schema, world.js, world.subject_root)
    while await relay.publish_batch():
        pass
    applied: list[int] = []

    async def prepare(batch: list[Event]) -> PreparedBatch:
        if fail_prepare:
            raise ValueError("a malformed event in the batch")
        return Counted(world.schema, batch, applied)

    async def not_prepared(conn: Connection, batch: list[Event]) -> None:
        raise AssertionError("a prepared batch is applied by its own apply")

    spec = replace(
        world.consumer_spec(counting_handler(world.schema)), batch_handler=not_prepared, batch_prepare=prepare
    )
    stop = asyncio.Event()
    task = asyncio.create_task(Consumer(world.pool, world.js, spec).run(stop))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while True:
        async with world.pool.acquire() as conn:
            done = await conn.fetchval(f"SELECT count(*) FROM {world.schema}.counted")
        if done >= len(events):
            break
        assert loop.time() < deadline, f"{done} of {len(events)} events applied in time"
        await asyncio.sleep(0.05)
    stop.set()
    await task
    return applied


async def counts(world: MessagingWorld) -> list[int]:
    async with world.pool.acquire() as conn:
        return [r["times"] for r in await conn.fetch(f"SELECT times FROM {world.schema}.counted")]


async def test_prepared_batches_apply_every_event_once(world: MessagingWorld) -> None:
    events = [opened_event(f"prep{i}") for i in range(70)]
    applied = await consume(world, events, fail_prepare=False)
    assert await counts(world) == [1] * len(events)
    # Batches of 20 (the world's batch size); a lone first message goes the per-message way.
    assert applied and sum(applied) <= len(events) and max(applied) <= 20


async def test_a_batch_whose_preparation_fails_is_handled_message_by_message(world: MessagingWorld) -> None:
    events = [opened_event(f"fallback{i}") for i in range(30)]
    applied = await consume(world, events, fail_prepare=True)
    assert applied == []
    assert await counts(world) == [1] * len(events)
