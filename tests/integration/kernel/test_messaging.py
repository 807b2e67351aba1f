"""Outbox, relay and idempotent consumer, on real PostgreSQL and NATS JetStream."""

from __future__ import annotations

import asyncio

import pytest
from nats.aio.msg import Msg
from nats.js.errors import NotFoundError

from kernel import outbox
from kernel.consumer import Consumer
from kernel.events import Event
from kernel.outbox import OutboxRelay
from tests.kernel_fixtures import MessagingWorld, counting_handler, opened_event


async def write_events(world: MessagingWorld, events: list[Event]) -> None:
    async with world.pool.acquire() as conn, conn.transaction():
        for event in events:
            await outbox.write(conn, world.schema, event)


async def counted(world: MessagingWorld) -> dict[str, int]:
    async with world.pool.acquire() as conn:
        rows = await conn.fetch(f"SELECT dossier_id, times FROM {world.schema}.counted")
    return {r["dossier_id"]: r["times"] for r in rows}


async def run_until(predicate_coro: object, timeout: float = 10) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await predicate_coro():  # type: ignore[operator]
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def stream_messages(world: MessagingWorld) -> int:
    info = await world.js.stream_info(world.stream)
    return int(info.state.messages)


async def test_outbox_write_is_part_of_the_callers_transaction(world: MessagingWorld) -> None:
    event = opened_event("d-rolled-back")
    with pytest.raises(RuntimeError):
        async with world.pool.acquire() as conn, conn.transaction():
            await outbox.write(conn, world.schema, event)
            raise RuntimeError("state change failed")
    async with world.pool.acquire() as conn:
        assert await outbox.backlog(conn, world.schema) == 0
        async with conn.transaction():
            assert await outbox.write(conn, world.schema, event) is True
            assert await outbox.write(conn, world.schema, event) is False  # same event id: one row
        assert await outbox.backlog(conn, world.schema) == 1


async def test_relay_publishes_with_event_id_as_msg_id_and_marks_after_puback(world: MessagingWorld) -> None:
    events = [opened_event(f"d{i}") for i in range(5)]
    await write_events(world, events)
    relay = OutboxRelay(world.pool, world.schema, world.js, world.subject_root)
    assert await relay.publish_batch() == 5
    assert await relay.publish_batch() == 0
    sub = await world.js.pull_subscribe(f"{world.subject_root}.>", stream=world.stream)
    messages = await sub.fetch(5, timeout=2)
    assert [m.headers["Nats-Msg-Id"] for m in messages if m.headers] == [str(e.id) for e in events]
    first = messages[0]
    assert first.subject == f"{world.subject_root}.dossier.opened"
    assert first.headers is not None and first.headers["ce-type"] == "entraide.dossier.opened"
    assert first.headers["ce-subject"] == "d0"
    async with world.pool.acquire() as conn:
        assert await outbox.backlog(conn, world.schema) == 0


async def test_relay_killed_between_publish_and_mark_republishes_and_event_counts_once(
    world: MessagingWorld,
) -> None:
    events = [opened_event(f"crash{i}") for i in range(3)]
    await write_events(world, events)

    async def crash(_: Event) -> None:
        raise ConnectionError("relay process died after the PubAck")

    with pytest.raises(ConnectionError):
        await OutboxRelay(
            world.pool, world.schema, world.js, world.subject_root, after_publish=crash
        ).publish_batch()
    async with world.pool.acquire() as conn:
        assert await outbox.backlog(conn, world.schema) == 3, "nothing marked: the publish must be redone"
    assert await stream_messages(world) == 3

    # A new relay republishes the same events; JetStream's duplicate window drops them.
    assert await OutboxRelay(world.pool, world.schema, world.js, world.subject_root).publish_batch() == 3
    assert await stream_messages(world) == 3

    # Even past the duplicate window (simulated by publishing again by hand), the
    # consumer's inbox applies each event once.
    for event in events:
        await world.nc.publish(
            event.nats_subject(world.subject_root),
            event.data,
            headers={k: v for k, v in event.headers().items() if k != "Nats-Msg-Id"},
        )
    await world.nc.flush()
    stop = asyncio.Event()
    task = asyncio.create_task(
        Consumer(world.pool, world.js, world.consumer_spec(counting_handler(world.schema))).run(stop)
    )
    try:
        await run_until(lambda: _consumed(world, 6))
        assert await counted(world) == {"crash0": 1, "crash1": 1, "crash2": 1}
    finally:
        stop.set()
        await task


async def _consumed(world: MessagingWorld, n: int) -> bool:
    try:
        info = await world.js.consumer_info(world.stream, "counter")
    except NotFoundError:
        return False  # not created yet
    return int(info.num_ack_pending) == 0 and int(info.delivered.stream_seq) >= n


async def test_poison_event_goes_to_dead_letters_and_later_events_still_count(world: MessagingWorld) -> None:
    await write_events(world, [opened_event("before")])
    await OutboxRelay(world.pool, world.schema, world.js, world.subject_root).publish_batch()
    # Poison: right headers, undecodable payload.
    poison = opened_event("poison")
    await world.js.publish(
        poison.nats_subject(world.subject_root), b"\xff\xfe not protobuf", headers=poison.headers()
    )
    # And one with no CloudEvents headers at all.
    await world.js.publish(f"{world.subject_root}.dossier.opened", b"", headers={"Nats-Msg-Id": "naked"})
    await write_events(world, [opened_event(f"after{i}") for i in range(3)])
    await OutboxRelay(world.pool, world.schema, world.js, world.subject_root).publish_batch()

    stop = asyncio.Event()
    task = asyncio.create_task(
        Consumer(world.pool, world.js, world.consumer_spec(counting_handler(world.schema))).run(stop)
    )

    async def settled() -> bool:
        async with world.pool.acquire() as conn:
            dead = await conn.fetchval(f"SELECT count(*) FROM {world.schema}.dead_letters")
        return dead == 2 and len(await counted(world)) == 4

    try:
        await run_until(settled)
    finally:
        stop.set()
        await task
    assert await counted(world) == {"before": 1, "after0": 1, "after1": 1, "after2": 1}
    async with world.pool.acquire() as conn:
        rows = await conn.fetch(f"SELECT * FROM {world.schema}.dead_letters ORDER BY stream_seq")
    assert [r["deliveries"] for r in rows] == [3, 3]
    assert rows[0]["data"] == b"\xff\xfe not protobuf"
    assert {r["error_type"] for r in rows} <= {"DecodeError", "ValueError"}
    # Terminated: nothing left pending for redelivery.
    info = await world.js.consumer_info(world.stream, "counter")
    assert info.num_ack_pending == 0 and info.num_pending == 0


class CrashBeforeAck(Consumer):
    """Commits the effect then 'dies' before acking, once the budget is spent."""

    def __init__(self, *args: object, crash_after: int, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.budget = crash_after

    async def handle(self, message: Msg) -> None:
        if self.budget == 0:
            await self._apply(message)  # committed...
            raise asyncio.CancelledError  # ...but never acked
        self.budget -= 1
        await super().handle(message)


async def test_consumer_restarted_mid_stream_loses_and_doubles_nothing(world: MessagingWorld) -> None:
    ids = [f"m{i:03d}" for i in range(60)]
    await write_events(world, [opened_event(i) for i in ids])
    await OutboxRelay(world.pool, world.schema, world.js, world.subject_root).publish_batch()
    spec = world.consumer_spec(counting_handler(world.schema))
    spec = type(spec)(**{**spec.__dict__, "ack_wait_s": 1.0})

    stop = asyncio.Event()
    crashing = asyncio.create_task(CrashBeforeAck(world.pool, world.js, spec, crash_after=25).run(stop))
    with pytest.raises(asyncio.CancelledError):
        await crashing
    assert len(await counted(world)) == 26  # 25 acked + 1 committed but not acked

    # Restart: the unacked message comes back after ack_wait and is skipped by the inbox.
    stop = asyncio.Event()
    task = asyncio.create_task(Consumer(world.pool, world.js, spec).run(stop))

    async def all_done() -> bool:
        try:
            info = await world.js.consumer_info(world.stream, spec.durable)
        except NotFoundError:
            return False
        return len(await counted(world)) == 60 and info.num_ack_pending == 0 and info.num_pending == 0

    try:
        await run_until(all_done, timeout=20)
    finally:
        stop.set()
        await task
    assert await counted(world) == dict.fromkeys(ids, 1)


async def test_outbox_columns_are_the_ones_a_writer_fills(world: MessagingWorld) -> None:
    async with world.pool.acquire() as conn:
        found = await conn.fetch(
            """SELECT column_name FROM information_schema.columns
                WHERE table_schema = $1 AND table_name = 'outbox' ORDER BY ordinal_position""",
            world.schema,
        )
    defaulted = {"seq", "created_at", "published_at"}
    assert [r["column_name"] for r in found if r["column_name"] not in defaulted] == list(outbox.COLUMNS)
    event = opened_event("d-columns")
    assert dict(zip(outbox.COLUMNS, outbox.values(event), strict=True))["event_id"] == event.id
    assert outbox.channel(world.schema) == f"{world.schema}_outbox"


async def test_running_relay_publishes_at_commit_not_at_its_next_poll(world: MessagingWorld) -> None:
    counted_batches: list[tuple[str, int]] = []
    relay = OutboxRelay(
        world.pool,
        world.schema,
        world.js,
        world.subject_root,
        idle_poll_s=30.0,
        on_published=lambda schema, n: counted_batches.append((schema, n)),
    )
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        await asyncio.sleep(0.3)  # listening, idle
        await write_events(world, [opened_event(f"woken{i}") for i in range(3)])
        await run_until(lambda: _stored(world, 3), timeout=5)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=5)
    assert counted_batches == [(world.schema, 3)]


async def _stored(world: MessagingWorld, n: int) -> bool:
    return await stream_messages(world) >= n
