"""Transactional outbox: events are written with the state change, published later.

The table, `<schema>.outbox` (kernel/sql/001_messaging.sql, in every service schema):
- `seq` (bigserial, taken at insert): the publishing order;
- `event_id` (uuid, unique), `ce_type`, `ce_source`, `ce_subject`, `ce_time`,
  `data_schema`, `data` (bytea): the event's CloudEvents envelope and protobuf data,
  filled by the writer (`COLUMNS`, values from `values(event)`);
- `created_at` (now() at insert) and `published_at` (NULL until the row's PubAck).

Writers insert inside their own transaction (`write` does, for one event) and then
notify the channel `channel(schema)`, `<schema>_outbox` (`wake`), so that the relay
wakes at commit rather than at its next poll. A writer inserting rows by other means
(e.g. COPY) uses `COLUMNS` and `values`, skips known event ids and calls `wake`.

`OutboxRelay` (a kernel.relay loop on that channel) publishes unpublished rows in
`seq` order with `Nats-Msg-Id = event id`, and marks a row published only after
JetStream's PubAck: a crash between the two republishes the event, which JetStream
(duplicate window) and the consumers' inbox (forever) both discard. Its batches are
pipelined (kernel.relay.Pipeline, `relay.PIPELINE_DEPTH`): the next batch is claimed and
published while the previous one waits for its PubAcks and commit.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path

import asyncpg
from nats.js import JetStreamContext

from kernel import relay
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


# The columns a writer fills, in the order of `values`; the others have defaults.
COLUMNS = ("event_id", "ce_type", "ce_source", "ce_subject", "ce_time", "data_schema", "data")
_COLUMN_LIST = ", ".join(COLUMNS)
_PLACEHOLDERS = ", ".join(f"${n}" for n in range(1, len(COLUMNS) + 1))


def channel(schema: str) -> str:
    """The notification channel of `schema`'s outbox, on which its relay listens."""
    return f"{schema}_outbox"


def values(event: Event) -> tuple[uuid.UUID, str, str, str, datetime, str, bytes]:
    """An event's outbox row, in `COLUMNS` order."""
    return (event.id, event.type, event.source, event.subject, event.time, event.data_schema, event.data)


async def wake(conn: Connection, schema: str) -> None:
    """Wakes `schema`'s relay when the caller's transaction commits."""
    await relay.notify(conn, channel(schema))


async def write(conn: Connection, schema: str, event: Event) -> bool:
    """Adds one event to `schema`'s outbox inside the caller's transaction (published
    only if it commits) and wakes the relay; False when this event id is already there."""
    status = await conn.execute(
        f"""INSERT INTO {schema}.outbox ({_COLUMN_LIST}) VALUES ({_PLACEHOLDERS})
            ON CONFLICT (event_id) DO NOTHING""",
        *values(event),
    )
    if status.endswith(" 1"):
        await wake(conn, schema)
        return True
    return False


async def backlog(conn: Connection, schema: str) -> int:
    """How many rows of `schema`'s outbox are not published yet."""
    value = await conn.fetchval(f"SELECT count(*) FROM {schema}.outbox WHERE published_at IS NULL")
    return int(value)


class OutboxRelay:
    """Publishes a schema's outbox to JetStream. Several relays may run: rows are
    claimed with FOR UPDATE SKIP LOCKED. `on_published(schema, count)` is told of
    every committed batch (the runtime counts them in kernel.metrics)."""

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
        depth: int = relay.PIPELINE_DEPTH,
        after_publish: Callable[[Event], Awaitable[None]] | None = None,
        on_published: Callable[[str, int], None] | None = None,
    ) -> None:
        self.pool = pool
        self.schema = schema
        self.js = js
        self.subject_root = subject_root
        self.batch_size = batch_size
        self.idle_poll_s = idle_poll_s
        self.ack_timeout_s = ack_timeout_s
        self.depth = depth
        # Test seam: runs between the PubAck and the mark (crash simulation).
        self.after_publish = after_publish
        self.on_published = on_published

    async def run(self, stop: asyncio.Event) -> None:
        pipeline = relay.Pipeline(self.depth)
        loop = relay.BatchRelay(
            self.pool,
            channel(self.schema),
            lambda: pipeline.run_batch(self._batch),
            batch_size=self.batch_size,
            idle_poll_s=self.idle_poll_s,
            name="outbox relay",
            log=log,
        )
        try:
            await loop.run(stop)
        finally:
            await relay.drain_on_stop(pipeline, "outbox relay", log)

    async def publish_batch(self) -> int:
        """Publishes up to one batch, committed before it returns; how many rows."""
        return await relay.run_whole(self._batch)

    async def _batch(self, sent: asyncio.Future[int]) -> None:
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
                sent.set_result(0)
                return
            # Published in outbox order and pipelined: every PubAck is awaited before the mark.
            events = [_event_from_row(row) for row in rows]
            acks = [
                await self.js.publish_async(e.nats_subject(self.subject_root), e.data, headers=e.headers())
                for e in events
            ]
            sent.set_result(len(rows))  # the next batch may be claimed and published now
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
        if self.on_published is not None:
            self.on_published(self.schema, len(rows))  # committed


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
