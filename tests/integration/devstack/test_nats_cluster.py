"""A 3-node JetStream cluster on loopback (devstack.nats_cluster) with the events and
partner streams at 3 replicas (ENTRAIDE_STREAM_REPLICAS' path): the partner stream's
leader node is killed and restarted, and one of two referral replicas (relay, notifier
consumer, delivery loop) crashes, while status changes flow: every partner message
arrives once, none is lost."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from bench.notifier import Scratch
from devstack.nats_cluster import NatsCluster, stream_leader
from kernel import messaging
from kernel.settings import Settings, StreamLayout
from services.referral import partner_messages

CHANGES = 300
THREE = StreamLayout(replicas=3)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsCluster]:
    started = NatsCluster(Path(tmp_path_factory.mktemp("nats-cluster")))
    try:
        started.start()
        yield started
    finally:
        started.stop()


@pytest.fixture
async def big_pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    # Two replicas' relays and loops each hold a listening connection and batches in flight.
    created = await asyncpg.create_pool(settings.database_url, min_size=2, max_size=24)
    assert created is not None
    try:
        yield created
    finally:
        await created.close()


async def test_streams_are_placed_on_three_nodes(cluster: NatsCluster, big_pool: asyncpg.Pool) -> None:
    async with Scratch(big_pool, cluster.url, uuid.uuid4().hex[:8], THREE) as scratch:
        for stream in (scratch.config.events_stream, scratch.config.partner_stream):
            info = await scratch.js.stream_info(stream)
            assert info.config.num_replicas == 3
            assert info.cluster is not None and info.cluster.leader is not None
            peers = {info.cluster.leader} | {peer.name for peer in info.cluster.replicas or []}
            assert peers == {node.name for node in cluster.nodes}


class Replica:
    """One referral process's messaging parts, on its own NATS connection."""

    def __init__(self, scratch: Scratch, name: str) -> None:
        self.scratch = scratch
        self.name = name
        self.stop = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self.nc = await messaging.connect(self.scratch.nats_url, self.name)
        js = self.nc.jetstream()
        for part in (self.scratch.relay(js), self.scratch.consumer(js), self.scratch.delivery_loop(js)):
            self.tasks.append(asyncio.create_task(part.run(self.stop)))

    async def crash(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.nc.close()

    async def close(self) -> None:
        self.stop.set()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if not self.nc.is_closed:
            await self.nc.close()


async def test_a_dead_stream_leader_and_a_crashed_replica_lose_and_double_nothing(
    cluster: NatsCluster, big_pool: asyncpg.Pool
) -> None:
    async with Scratch(big_pool, cluster.url, uuid.uuid4().hex[:8], THREE) as scratch:
        replicas = [Replica(scratch, "replica-1"), Replica(scratch, "replica-2")]
        for replica in replicas:
            await replica.start()
        try:
            third = CHANGES // 3
            await scratch.write_changes(third)
            await until(lambda: at_least(scratch.rows("delivered"), third // 2))

            leader = await stream_leader(cluster.url, scratch.config.partner_stream)
            await asyncio.to_thread(cluster.kill, leader)
            await replicas[0].crash()
            await scratch.write_changes(third)
            await asyncio.sleep(2.0)
            await asyncio.to_thread(cluster.restart, leader)
            await scratch.write_changes(CHANGES - 2 * third)

            await until(lambda: at_least(scratch.rows("delivered"), CHANGES), timeout_s=120)
            await until(lambda: at_least(scratch.messages(scratch.config.partner_stream), CHANGES))
        finally:
            for replica in replicas:
                await replica.close()

        info = await scratch.js.stream_info(scratch.config.partner_stream)
        assert info.state.messages == CHANGES  # none doubled (Msg-Id dedup), none lost
        async with big_pool.acquire() as conn:
            rows = await conn.fetch(f"SELECT event_id, delivery_id FROM {scratch.schema}.partner_deliveries")
        assert len(rows) == CHANGES
        ids = set()
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            message = await scratch.js.get_msg(scratch.config.partner_stream, seq)
            assert message.headers is not None
            ids.add(message.headers["Nats-Msg-Id"])
        assert ids == {str(partner_messages.delivery_id(row["event_id"], "nats")) for row in rows}
        events = await scratch.js.stream_info(scratch.config.events_stream)
        assert events.state.messages == CHANGES


async def at_least(count: object, n: int) -> bool:
    return await count >= n  # type: ignore[misc, operator]


async def until(check: object, timeout_s: float = 60.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not await check():  # type: ignore[operator]
        assert loop.time() < deadline, "not reached in time"
        await asyncio.sleep(0.1)
