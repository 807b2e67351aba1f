"""Transactional outbox: events are written with the state change, published later.

`write` runs inside the caller's transaction. `OutboxRelay` publishes unpublished
rows in order with `Nats-Msg-Id = event id`, and marks a row published only after
JetStream's PubAck: a crash between the two republishes the event, which JetStream
(duplicate window) and the consumers' inbox (forever) both discard.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import nats.errors
from nats.js import JetStreamContext

from kernel import metrics
from kernel.db import Connection, Pool
from kernel.events import Event
from kernel.logs import get_logger

log = get_logger("outbox")

# --- fault-injection hook (devstack.faults, tests only; never set in production) -------------
# ENTRAIDE_FAULT_RELAY_EXIT_AFTER_PUBLISH=N: the process exits at once (os._exit(1), no cleanup,
# as in a crash) right after the PubAcks of the relay batch that holds its N-th PubAck, before
# those rows are marked published, so they are published again after the restart. With
# ENTRAIDE_FAULT_RELAY_EXIT_ARM_DIR also set, the hook is one-shot and per schema: it counts and
# fires only while the file `<dir>/relay-exit-<schema>` exists and removes it when it fires, so
# the process its supervisor starts again runs normally. Both are read once, at import.
_FAULT_EXIT_AFTER_PUBLISH = int(os.environ.get("ENTRAIDE_FAULT_RELAY_EXIT_AFTER_PUBLISH") or 0)
_FAULT_ARM_DIR = os.environ.get("ENTRAIDE_FAULT_RELAY_EXIT_ARM_DIR", "")


class _FaultExitHook:
    def __init__(self, after: int, arm_dir: str) -> None:
        self.after = after
        self.arm_dir = Path(arm_dir) if arm_dir else None
        self.acked = 0

    def published(self, schema: str, count: int) -> None:
        """`count` PubAcks of `schema`'s relay just arrived; the rows are not marked yet."""
        if self.after <= 0:
            return
        arm = self.arm_dir / f"relay-exit-{schema}" if self.arm_dir is not None else None
        if arm is not None and not arm.exists():
            return
        self.acked += count
        if self.acked < self.after:
            return
        if arm is not None:
            arm.unlink(missing_ok=True)
        log.error(
            "fault injection: exiting between PubAck and mark",
            extra={"component": f"{schema} relay", "count": count},
        )
        os._exit(1)


_fault_exit = _FaultExitHook(_FAULT_EXIT_AFTER_PUBLISH, _FAULT_ARM_DIR)


def _channel(schema: str) -> str:
    return f"{schema}_outbox"


async def write(conn: Connection, schema: str, event: Event) -> bool:
    """Adds an event to the outbox; False when this event id is already there."""
    status = await conn.execute(
        f"""INSERT INTO {schema}.outbox
                (event_id, ce_type, ce_source, ce_subject, ce_time, data_schema, data)
            VALUES ($1, $2, $3, $4, $5, $6, $7)
            ON CONFLICT (event_id) DO NOTHING""",
        event.id,
        event.type,
        event.source,
        event.subject,
        event.time,
        event.data_schema,
        event.data,
    )
    if status.endswith(" 1"):
        # Delivered at commit: wakes the relay without polling delay.
        await conn.execute("SELECT pg_notify($1, '')", _channel(schema))
        return True
    return False


async def backlog(conn: Connection, schema: str) -> int:
    value = await conn.fetchval(f"SELECT count(*) FROM {schema}.outbox WHERE published_at IS NULL")
    return int(value)


class OutboxRelay:
    """Publishes a schema's outbox to JetStream. Several relays may run: rows are
    claimed with FOR UPDATE SKIP LOCKED."""

    def __init__(
        self,
        pool: Pool,
        schema: str,
        js: JetStreamContext,
        subject_root: str,
        *,
        batch_size: int = 200,
        idle_poll_s: float = 1.0,
        ack_timeout_s: float = 10.0,
        after_publish: Callable[[Event], Awaitable[None]] | None = None,
    ) -> None:
        self.pool = pool
        self.schema = schema
        self.js = js
        self.subject_root = subject_root
        self.batch_size = batch_size
        self.idle_poll_s = idle_poll_s
        self.ack_timeout_s = ack_timeout_s
        # Test seam: runs between the PubAck and the mark (crash simulation).
        self.after_publish = after_publish
        self._wakeup = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        async with self.pool.acquire() as listener:
            await listener.add_listener(_channel(self.schema), self._on_notify)
            while not stop.is_set():
                # Cleared before reading: a notify that lands during the batch is kept.
                self._wakeup.clear()
                try:
                    published = await self.publish_batch()
                except (TimeoutError, OSError, asyncpg.PostgresError, nats.errors.Error) as exc:
                    log.warning("outbox relay retrying", extra={"error_type": type(exc).__name__})
                    await asyncio.sleep(self.idle_poll_s)
                    continue
                if published < self.batch_size:
                    waiters = [asyncio.create_task(self._wakeup.wait()), asyncio.create_task(stop.wait())]
                    await asyncio.wait(waiters, timeout=self.idle_poll_s, return_when=asyncio.FIRST_COMPLETED)
                    for waiter in waiters:
                        waiter.cancel()
            await listener.remove_listener(_channel(self.schema), self._on_notify)

    def _on_notify(self, *_: object) -> None:
        self._wakeup.set()

    async def publish_batch(self) -> int:
        """Publishes up to one batch; returns how many rows were published."""
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                f"""SELECT seq, event_id, ce_type, ce_source, ce_subject, ce_time,
                           data_schema, data
                      FROM {self.schema}.outbox
                     WHERE published_at IS NULL
                     ORDER BY seq
                     LIMIT $1
                       FOR UPDATE SKIP LOCKED""",
                self.batch_size,
            )
            if not rows:
                return 0
            # Published in outbox order and pipelined: every PubAck is awaited before the mark.
            events = [_event_from_row(row) for row in rows]
            acks = [
                await self.js.publish_async(e.nats_subject(self.subject_root), e.data, headers=e.headers())
                for e in events
            ]
            await asyncio.wait_for(asyncio.gather(*acks), timeout=self.ack_timeout_s)
            _fault_exit.published(self.schema, len(events))
            for event in events:
                if self.after_publish is not None:
                    await self.after_publish(event)
            await conn.execute(
                f"UPDATE {self.schema}.outbox SET published_at = now() WHERE seq = ANY($1::bigint[])",
                [row["seq"] for row in rows],
            )
            log.debug("outbox published", extra={"count": len(rows)})
        metrics.outbox_published(self.schema, len(rows))  # committed
        return len(rows)


def _event_from_row(row: asyncpg.Record) -> Event:
    return Event(
        id=row["event_id"],
        type=row["ce_type"],
        source=row["ce_source"],
        subject=row["ce_subject"],
        time=row["ce_time"],
        data_schema=row["data_schema"],
        data=bytes(row["data"]),
    )
