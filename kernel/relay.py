"""The batch relay loop: take a batch of rows, act on it, wait, repeat, until stop.

Writers add rows in their transaction and `notify` a PostgreSQL channel; a `BatchRelay`
LISTENs on it (one pooled connection for the loop's life) and runs its `batch`:
- at once again while a batch comes back full (`>= batch_size`: more are waiting);
- else when a notification arrives (delivered at the writer's commit) or after
  `idle_poll_s` (a lost notification, a row due later, another relay's leftovers),
  whichever comes first;
- after a retryable error (the database or NATS unreachable, a timeout) `retry_s`
  later, the error logged as "<name> retrying";
- never again once `stop` is set: a running batch finishes, the listener is removed.
Other errors end the loop (and the service: kernel.runtime stops on a dead loop).

What a batch selects and does, its ordering and its claim on rows (FOR UPDATE SKIP
LOCKED, leases) belong to its user: kernel.outbox's relay, the referral notifier's
delivery loop.

A `Pipeline` lets a publishing batch overlap the next one: a stage claims its rows
and publishes them, says so (`sent`), then waits for the PubAcks and commits while
the loop already claims and publishes the next batch (SKIP LOCKED passes over the
rows still locked). At most `depth` batches are in flight, each holding one pooled
connection. Batches are published in claim order; a batch that fails rolls back and
its rows are published again later, after the batches that followed it (as with
several relays, consumers never relied on the order of events).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import asyncpg
import nats.errors

from kernel.db import Connection, Pool
from kernel.logs import get_logger

# A batch: handles up to one batch of rows, returns how many it handled.
Batch = Callable[[], Awaitable[int]]
# Batches in flight per pipeline (outbox relay, partner deliveries): the next one is
# claimed and published while the previous waits for its PubAcks; each holds a pooled
# connection.
PIPELINE_DEPTH = 2
# A pipelined batch: claims and publishes, sets `sent` to how many rows it published
# (0: none, nothing more to do), then waits for their acknowledgements and commits.
Stage = Callable[[asyncio.Future[int]], Coroutine[Any, Any, None]]
# Errors after which the loop waits `retry_s` and tries again (infrastructure, not bugs).
RETRYABLE: tuple[type[Exception], ...] = (TimeoutError, OSError, asyncpg.PostgresError, nats.errors.Error)


async def notify(conn: Connection, channel: str, payload: str = "") -> None:
    """Wakes the relays listening on `channel` when the caller's transaction commits
    (at once outside a transaction)."""
    await conn.execute("SELECT pg_notify($1, $2)", channel, payload)


class BatchRelay:
    """Runs `batch` on wake-ups of `channel` until stop (see the module's docstring).
    `on_notify` sees each notification's payload before the wake-up."""

    def __init__(
        self,
        pool: Pool,
        channel: str,
        batch: Batch,
        *,
        batch_size: int,
        idle_poll_s: float = 1.0,
        retry_s: float | None = None,  # default: idle_poll_s
        name: str = "relay",
        log: logging.Logger | None = None,
        on_notify: Callable[[str], None] | None = None,
    ) -> None:
        self.pool = pool
        self.channel = channel
        self.batch = batch
        self.batch_size = batch_size
        self.idle_poll_s = idle_poll_s
        self.retry_s = idle_poll_s if retry_s is None else retry_s
        self.name = name
        self.log = log or get_logger("relay")
        self.on_notify = on_notify
        self._wakeup = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        async with self.pool.acquire() as listener:
            await listener.add_listener(self.channel, self._notified)
            try:
                await self._loop(stop)
            finally:
                # A listener whose connection broke has nothing left to remove.
                with contextlib.suppress(*RETRYABLE):
                    await listener.remove_listener(self.channel, self._notified)

    async def _loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            # Cleared before the batch reads: a notification during the batch is kept.
            self._wakeup.clear()
            try:
                handled = await self.batch()
            except RETRYABLE as exc:
                self.log.warning(f"{self.name} retrying", extra={"error_type": type(exc).__name__})
                await _first(self.retry_s, stop)
                continue
            if handled < self.batch_size:
                await _first(self.idle_poll_s, stop, self._wakeup)

    def _notified(self, *args: object) -> None:
        # asyncpg calls back with (connection, pid, channel, payload).
        if self.on_notify is not None:
            self.on_notify(str(args[-1]) if args else "")
        self._wakeup.set()


async def _first(timeout_s: float, *events: asyncio.Event) -> None:
    """Returns when one of `events` is set or after `timeout_s`."""
    waiters = [asyncio.create_task(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


class Pipeline:
    """Runs stages so that each batch's acknowledgements and commit overlap the next
    batch's claim and publish (see the module's docstring)."""

    def __init__(self, depth: int) -> None:
        if depth < 1:
            raise ValueError("a pipeline holds at least one batch")
        self.depth = depth
        self._in_flight: set[asyncio.Task[None]] = set()

    async def run_batch(self, stage: Stage) -> int:
        """Starts `stage` once a place is free and returns as soon as its batch is sent:
        how many rows it published. Raises the error of an earlier batch that failed
        (its rows are published again by a later batch)."""
        await self._make_room()
        sent: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(stage(sent))
        waiting: set[asyncio.Future[Any]] = {task, sent}
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        if not sent.done():
            task.result()  # failed before sending: raises
            return 0
        self._in_flight.add(task)
        return sent.result()

    async def drain(self) -> None:
        """Waits for every batch in flight; raises the first failure."""
        while self._in_flight:
            await asyncio.wait(self._in_flight)
            self._reap()

    async def _make_room(self) -> None:
        self._reap()
        while len(self._in_flight) >= self.depth:
            await asyncio.wait(self._in_flight, return_when=asyncio.FIRST_COMPLETED)
            self._reap()

    def _reap(self) -> None:
        done = {task for task in self._in_flight if task.done()}
        self._in_flight -= done
        for task in done:
            error = None if task.cancelled() else task.exception()
            if error is not None:
                raise error


async def run_whole(stage: Stage) -> int:
    """Runs one stage to its end (commit included), without a pipeline: how many rows
    it published."""
    sent: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    await stage(sent)
    return sent.result() if sent.done() else 0


async def drain_on_stop(pipeline: Pipeline, name: str, log: logging.Logger) -> None:
    """At stop, the batches in flight finish; one that fails is only logged: its rows
    stay unmarked and are published again at the next start (deduplicated)."""
    try:
        await pipeline.drain()
    except RETRYABLE as exc:
        log.warning(f"{name}: a batch in flight failed at stop", extra={"error_type": type(exc).__name__})
