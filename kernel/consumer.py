"""Idempotent durable pull consumer: exactly-once effects over at-least-once delivery.

Per message, one transaction: insert the event id into the inbox (already there →
skip), apply the handler, commit; only then ack. A message whose handling fails is
redelivered with a delay; after `max_deliveries` it is stored in the dead-letter
table and terminated, so the events behind it keep flowing.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

import asyncpg
import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from kernel import metrics
from kernel.db import Connection, Pool
from kernel.events import Event
from kernel.logs import get_logger

log = get_logger("consumer")
# How long an ack waits for the server's confirmation (a loaded server can be slow).
ACK_TIMEOUT_S = 5.0

Handler = Callable[[Connection, Event], Awaitable[None]]
# Applies a batch of new events (their ids just inserted into the inbox) in one transaction.
BatchHandler = Callable[[Connection, list[Event]], Awaitable[None]]


class PreparedBatch(Protocol):
    """A batch's CPU work done ahead (decoded, folded…); `apply` writes it given the
    events the inbox found new (all of them, but for redeliveries)."""

    async def apply(self, conn: Connection, fresh: list[Event]) -> None: ...


# Optional: prepares a fetched batch (pure CPU, no I/O) while the previous batch is in
# the database; it runs as soon as the batch arrives, so the two overlap. Raising (a
# malformed event) sends the batch to the per-message path, as a failing handler does.
BatchPrepare = Callable[[list[Event]], Awaitable[PreparedBatch]]
T = TypeVar("T")


@dataclass(frozen=True)
class ConsumerSpec:
    schema: str  # where the inbox and dead-letter tables live
    stream: str
    durable: str
    filter_subject: str
    handler: Handler
    max_deliveries: int = 5
    batch_size: int = 100
    ack_wait_s: float = 30.0
    retry_delay_s: float = 0.5
    # Optional: a fetched batch is applied in one transaction (one inbox insert for
    # the batch); a failing batch falls back to the per-message path.
    batch_handler: BatchHandler | None = None
    # Optional: a shared advisory lock taken first in every transaction, so that a
    # holder of the exclusive lock (e.g. a projection rebuild's cut-over) pauses it.
    lock_key: int | None = None
    # Optional, with batch_handler: the batch's CPU part done ahead (see BatchPrepare);
    # batch_handler then only serves batches that were not prepared.
    batch_prepare: BatchPrepare | None = None


async def ensure_consumer(js: JetStreamContext, spec: ConsumerSpec) -> None:
    """Declarative provisioning: durable consumers ignore config drift otherwise."""
    config = ConsumerConfig(
        durable_name=spec.durable,
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        filter_subject=spec.filter_subject,
        ack_wait=spec.ack_wait_s,
        # The server keeps redelivering past our own limit; we terminate ourselves
        # after storing the dead letter, so the message is never silently dropped.
        max_deliver=-1,
        max_ack_pending=10_000,
    )
    await js.add_consumer(spec.stream, config)


class PullAhead(Generic[T]):
    """Batches from a pull subscription, the next one requested while the current one is
    applied: the network, the decoding and `prepare` (the CPU work a batch needs before
    its transaction) overlap the database work. Used by the consumer loop and by
    reporting's rebuild."""

    def __init__(
        self,
        subscription: JetStreamContext.PullSubscription,
        prepare: Callable[[list[Msg]], Awaitable[T]],
        timeout_s: float = 1.0,
    ) -> None:
        self.subscription = subscription
        self.prepare = prepare
        self.timeout_s = timeout_s
        self.pending: asyncio.Future[T] | None = None

    async def fetch(self, count: int) -> T:
        """The batch pulled ahead if there is one, else a pull of `count`, prepared; raises
        as `PullSubscription.fetch` does (a timeout when nothing came)."""
        if self.pending is not None:
            fetch, self.pending = self.pending, None
            return await fetch
        return await self._pull(count)

    def pull_ahead(self, count: int) -> None:
        self.pending = asyncio.ensure_future(self._pull(count))

    async def take_pending(self) -> T | None:
        """What the pull ahead brought and nobody fetched (None if none or nothing came)."""
        pending, self.pending = self.pending, None
        if pending is None:
            return None
        try:
            return await pending
        except (TimeoutError, nats.errors.Error):
            return None

    async def _pull(self, count: int) -> T:
        messages = await self.subscription.fetch(count, timeout=self.timeout_s)
        return await self.prepare(messages)


@dataclass
class Pulled:
    """A fetched batch and what was done with it ahead of its transaction."""

    messages: list[Msg]
    events: list[Event] | None = None  # None: not decoded (a malformed message)
    prepared: PreparedBatch | None = None
    error: Exception | None = None  # why it was not decoded or prepared


class Consumer:
    def __init__(self, pool: Pool, js: JetStreamContext, spec: ConsumerSpec) -> None:
        self.pool = pool
        self.js = js
        self.spec = spec
        metrics.declare_consumer(spec.durable)

    async def run(self, stop: asyncio.Event) -> None:
        await ensure_consumer(self.js, self.spec)
        subscription = await self.js.pull_subscribe_bind(durable=self.spec.durable, stream=self.spec.stream)
        # When idle, wait for ONE message: a pull for a whole batch would hold the first
        # message until the batch fills or the request expires (up to a second of lag).
        # After a message, pull a batch: what is already there comes back at once.
        # After a full batch, the next one is pulled (and prepared) while this one is applied.
        idle = True
        size = self.spec.batch_size
        puller = PullAhead(subscription, self._prepare)
        try:
            while not stop.is_set():
                try:
                    pulled = await puller.fetch(1 if idle else size)
                except (TimeoutError, nats.errors.TimeoutError):
                    idle = True
                    continue  # nothing new
                except nats.errors.ConnectionClosedError:
                    return
                except nats.errors.Error as exc:
                    log.warning("fetch failed, retrying", extra={"error_type": type(exc).__name__})
                    await asyncio.sleep(0.5)
                    continue
                messages = pulled.messages
                idle = len(messages) < size and not idle
                if len(messages) == size:
                    puller.pull_ahead(size)
                try:
                    if self.spec.batch_handler is not None and len(messages) > 1:
                        await self.handle_batch(pulled)
                        continue
                    for message in messages:
                        await self.handle(message)
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    # The database is unreachable: nothing was acked, JetStream redelivers.
                    log.warning("database unavailable, retrying", extra={"error_type": type(exc).__name__})
                    await asyncio.sleep(1.0)
        finally:
            # On stop, a batch pulled ahead is returned at once (nak), not after ack_wait.
            left = await puller.take_pending()
            for message in left.messages if left is not None else []:
                await self._settle(message.nak(), message)
            try:
                await subscription.unsubscribe()
            except nats.errors.Error:
                pass

    async def _prepare(self, messages: list[Msg]) -> Pulled:
        """Decodes a batch and runs the spec's batch_prepare, as soon as it arrives."""
        pulled = Pulled(messages)
        if self.spec.batch_handler is None or len(messages) < 2:
            return pulled  # handled message by message
        try:
            pulled.events = [Event.from_headers(m.headers or {}, m.data) for m in messages]
            if self.spec.batch_prepare is not None:
                pulled.prepared = await self.spec.batch_prepare(pulled.events)
        except Exception as exc:  # the batch goes the per-message way, which judges each
            pulled.error = exc
        return pulled

    async def handle(self, message: Msg) -> None:
        meta = message.metadata
        try:
            applied = await self._apply(message)
        except Exception as exc:
            await self._on_failure(message, exc, meta.num_delivered, meta.sequence.stream)
            return
        await self._settle(message.ack_sync(timeout=ACK_TIMEOUT_S), message)
        metrics.consumer_event(self.spec.durable, "applied" if applied else "duplicate")
        if not applied:
            log.info(
                "duplicate event skipped",
                extra={"consumer": self.spec.durable, "stream_seq": meta.sequence.stream},
            )

    async def handle_batch(self, pulled: Pulled) -> None:
        """One transaction for the batch; on any failure, message by message."""
        assert self.spec.batch_handler is not None
        messages = pulled.messages
        try:
            if pulled.error is not None:
                raise pulled.error
            events = pulled.events
            if events is None:
                events = [Event.from_headers(m.headers or {}, m.data) for m in messages]
            async with self.pool.acquire() as conn, conn.transaction():
                await self._lock(conn)
                fresh = await conn.fetch(
                    f"""INSERT INTO {self.spec.schema}.inbox (consumer, event_id)
                        SELECT $1, id FROM unnest($2::uuid[]) AS id
                        ON CONFLICT DO NOTHING RETURNING event_id""",
                    self.spec.durable,
                    [e.id for e in events],
                )
                new_ids = {row["event_id"] for row in fresh}
                new = events if len(new_ids) == len(events) else [e for e in events if e.id in new_ids]
                if pulled.prepared is not None:
                    await pulled.prepared.apply(conn, new)
                else:
                    await self.spec.batch_handler(conn, new)
        except Exception as exc:
            log.warning(
                "batch failed, handling its messages one by one",
                extra={
                    "consumer": self.spec.durable,
                    "count": len(messages),
                    "error_type": type(exc).__name__,
                },
            )
            for message in messages:
                await self.handle(message)
            return
        await self._ack_all(messages)
        metrics.CONSUMER_EVENTS.labels(self.spec.durable, "applied").inc(len(new_ids))
        metrics.CONSUMER_EVENTS.labels(self.spec.durable, "duplicate").inc(len(messages) - len(new_ids))

    async def _ack_all(self, messages: Sequence[Msg]) -> None:
        """Acks a committed batch (fire and forget: a lost ack means a redelivery, which
        the inbox skips)."""
        for message in messages:
            try:
                await message.ack()
            except (nats.errors.Error, TimeoutError) as exc:
                self._unconfirmed(message, exc)

    async def _settle(self, action: Awaitable[object], message: Msg) -> None:
        """An ack, nak or term that does not reach the server is not fatal: the message
        comes back after ack_wait and the inbox skips what was already applied."""
        try:
            await action
        except (nats.errors.Error, TimeoutError) as exc:
            self._unconfirmed(message, exc)

    def _unconfirmed(self, message: Msg, exc: Exception) -> None:
        log.warning(
            "acknowledgement not confirmed; the message will be redelivered",
            extra={
                "consumer": self.spec.durable,
                "stream_seq": message.metadata.sequence.stream,
                "error_type": type(exc).__name__,
            },
        )

    async def _lock(self, conn: Connection) -> None:
        if self.spec.lock_key is not None:
            await conn.execute("SELECT pg_advisory_xact_lock_shared($1)", self.spec.lock_key)

    async def _apply(self, message: Msg) -> bool:
        """One transaction: inbox insert, then the handler. False for a duplicate."""
        event = Event.from_headers(message.headers or {}, message.data)
        async with self.pool.acquire() as conn, conn.transaction():
            await self._lock(conn)
            inserted = await conn.fetchval(
                f"""INSERT INTO {self.spec.schema}.inbox (consumer, event_id) VALUES ($1, $2)
                    ON CONFLICT DO NOTHING RETURNING true""",
                self.spec.durable,
                event.id,
            )
            if not inserted:
                return False
            await self.spec.handler(conn, event)
            return True

    async def _on_failure(self, message: Msg, exc: Exception, deliveries: int, stream_seq: int) -> None:
        fields = {
            "consumer": self.spec.durable,
            "stream_seq": stream_seq,
            "deliveries": deliveries,
            "error_type": type(exc).__name__,
        }
        if deliveries < self.spec.max_deliveries:
            log.warning("event handling failed, will retry", extra=fields)
            metrics.consumer_event(self.spec.durable, "retried")
            await self._settle(message.nak(delay=self.spec.retry_delay_s), message)
            return
        async with self.pool.acquire() as conn:
            await conn.execute(
                f"""INSERT INTO {self.spec.schema}.dead_letters
                        (consumer, stream_seq, subject, headers, data, deliveries, error_type)
                    VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7)
                    ON CONFLICT (consumer, stream_seq) DO NOTHING""",
                self.spec.durable,
                stream_seq,
                message.subject,
                json.dumps(dict(message.headers or {})),
                message.data,
                deliveries,
                type(exc).__name__,
            )
        await self._settle(message.term(), message)
        metrics.consumer_event(self.spec.durable, "dead_lettered")
        log.error("event dead-lettered", extra=fields)
