"""A private messaging world per test: its own schema, stream and subject root."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

import asyncpg
from entraide.v1 import events_pb2
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from kernel import messaging, migrations
from kernel.consumer import ConsumerSpec, Handler
from kernel.events import Event, new_event
from kernel.settings import Settings


@dataclass
class MessagingWorld:
    schema: str
    stream: str
    subject_root: str
    pool: asyncpg.Pool
    nc: NATS
    js: JetStreamContext

    def consumer_spec(
        self, handler: Handler, durable: str = "counter", max_deliveries: int = 3
    ) -> ConsumerSpec:
        return ConsumerSpec(
            schema=self.schema,
            stream=self.stream,
            durable=durable,
            filter_subject=f"{self.subject_root}.>",
            handler=handler,
            max_deliveries=max_deliveries,
            retry_delay_s=0.05,
            batch_size=20,
        )

    async def close(self) -> None:
        try:
            await self.js.delete_stream(self.stream)
        finally:
            await self.nc.close()
            async with self.pool.acquire() as conn:
                await conn.execute(f"DROP SCHEMA {self.schema} CASCADE")


async def open_world(pool: asyncpg.Pool, settings: Settings) -> MessagingWorld:
    tag = uuid.uuid4().hex[:8]
    schema = f"k_{tag}"
    async with pool.acquire() as conn:
        await migrations.apply(conn, migrations.load(f"{schema}:kernel", migrations.KERNEL_SQL, schema))
        # The "counted" side effect the consumer applies once per event.
        await conn.execute(f"CREATE TABLE {schema}.counted (dossier_id text PRIMARY KEY, times int NOT NULL)")
    nc = await messaging.connect(settings.nats_url, f"test-{tag}")
    js = nc.jetstream()
    stream = f"K_{tag.upper()}"
    await messaging.ensure_events_stream(js, stream, f"k{tag}")
    return MessagingWorld(schema, stream, f"k{tag}", pool, nc, js)


def opened_event(dossier_id: str) -> Event:
    return new_event(
        "entraide.dossier.opened",
        "entraide/test",
        dossier_id,
        events_pb2.DossierOpened(dossier_id=dossier_id, territory="55029", motifs=["logement"]),
    )


def counting_handler(schema: str) -> Handler:
    async def handle(conn: asyncpg.Connection, event: Event) -> None:
        data = event.parse(events_pb2.DossierOpened)
        await conn.execute(
            f"""INSERT INTO {schema}.counted (dossier_id, times) VALUES ($1, 1)
                ON CONFLICT (dossier_id) DO UPDATE SET times = counted.times + 1""",
            data.dossier_id,
        )

    return handle


class CountingJetStream:
    """A replica's JetStream context that counts what it publishes, by Nats-Msg-Id (the
    event or delivery id), and passes everything else through."""

    def __init__(self, js: JetStreamContext) -> None:
        self.js = js
        self.published: Counter[str] = Counter()

    async def publish_async(self, subject: str, payload: bytes, **kwargs: Any) -> Any:
        self.published[kwargs["headers"]["Nats-Msg-Id"]] += 1
        return await self.js.publish_async(subject, payload, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.js, name)
