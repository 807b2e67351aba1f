"""The batch relay loop (kernel.relay) with a fake batch and a fake pool: no server."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any, cast

import pytest

from kernel.db import Pool
from kernel.relay import BatchRelay

CHANNEL = "s_outbox"
LONG_S = 30.0  # a poll interval no test waits for: what happens sooner is a wake-up


class FakeListener:
    """The LISTEN connection: records (un)listens, delivers notifications as asyncpg does."""

    def __init__(self) -> None:
        self.callbacks: dict[str, Callable[..., None]] = {}
        self.removed: list[str] = []

    async def add_listener(self, channel: str, callback: Callable[..., None]) -> None:
        self.callbacks[channel] = callback

    async def remove_listener(self, channel: str, callback: Callable[..., None]) -> None:
        assert self.callbacks.pop(channel) == callback
        self.removed.append(channel)

    def notify(self, channel: str, payload: str = "") -> None:
        self.callbacks[channel](self, 4242, channel, payload)


class FakePool:
    def __init__(self) -> None:
        self.listener = FakeListener()

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[FakeListener]:
        yield self.listener


class FakeBatch:
    """Returns (or raises) the scripted results in turn, then 0; records when it ran."""

    def __init__(self, results: Iterable[int | Exception] = ()) -> None:
        self.results = list(results)
        self.calls: list[float] = []
        self.called = asyncio.Event()

    async def __call__(self) -> int:
        self.calls.append(asyncio.get_running_loop().time())
        self.called.set()
        result = self.results.pop(0) if self.results else 0
        if isinstance(result, Exception):
            raise result
        return result

    async def wait_calls(self, n: int, timeout: float = 2.0) -> None:
        async with asyncio.timeout(timeout):
            while len(self.calls) < n:
                self.called.clear()
                await self.called.wait()


@contextlib.asynccontextmanager
async def running(relay: BatchRelay) -> AsyncIterator[tuple[asyncio.Event, asyncio.Task[None]]]:
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        yield stop, task
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, timeout=2.0)


def make(batch: FakeBatch, **options: Any) -> tuple[BatchRelay, FakePool]:
    pool = FakePool()
    settings: dict[str, Any] = {"batch_size": 5, "idle_poll_s": LONG_S, **options}
    return BatchRelay(cast(Pool, pool), CHANNEL, batch, **settings), pool


async def test_a_notification_wakes_the_loop_before_its_poll_interval() -> None:
    batch = FakeBatch()
    seen: list[str] = []
    relay, pool = make(batch, on_notify=seen.append)
    async with running(relay):
        await batch.wait_calls(1)
        await asyncio.sleep(0.05)
        assert len(batch.calls) == 1, "an empty batch waits"
        pool.listener.notify(CHANNEL, "channels")
        await batch.wait_calls(2)
    assert seen == ["channels"]


async def test_a_notification_during_a_batch_is_not_lost() -> None:
    pool_box: list[FakePool] = []

    class NotifiedWhileRunning(FakeBatch):
        async def __call__(self) -> int:
            if not self.calls:
                pool_box[0].listener.notify(CHANNEL)  # a commit while the batch reads
            return await super().__call__()

    batch = NotifiedWhileRunning()
    relay, pool = make(batch)
    pool_box.append(pool)
    async with running(relay):
        await batch.wait_calls(2)


async def test_without_notification_the_loop_polls() -> None:
    batch = FakeBatch()
    relay, _ = make(batch, idle_poll_s=0.1)
    async with running(relay):
        await batch.wait_calls(3)
    assert all(b - a >= 0.09 for a, b in zip(batch.calls, batch.calls[1:], strict=False))


async def test_full_batches_are_drained_at_once_then_the_loop_waits() -> None:
    batch = FakeBatch([5, 5, 5, 2])
    relay, pool = make(batch)
    async with running(relay):
        await batch.wait_calls(4, timeout=1.0)  # no notification, no poll: drained
        await asyncio.sleep(0.1)
        assert len(batch.calls) == 4, "a batch that was not full ends the draining"
        pool.listener.notify(CHANNEL)
        await batch.wait_calls(5)


async def test_stop_ends_a_waiting_loop_at_once_and_removes_the_listener() -> None:
    batch = FakeBatch()
    relay, pool = make(batch)
    stop = asyncio.Event()
    outside = asyncio.all_tasks()
    task = asyncio.create_task(relay.run(stop))
    await batch.wait_calls(1)
    assert CHANNEL in pool.listener.callbacks
    stop.set()
    await asyncio.wait_for(task, timeout=1.0)
    await asyncio.sleep(0)  # the cancelled waiters finish
    assert pool.listener.removed == [CHANNEL] and not pool.listener.callbacks
    assert len(batch.calls) == 1
    assert not asyncio.all_tasks() - outside, "the loop leaves no task behind"


async def test_stop_during_a_batch_lets_it_finish_and_starts_no_other() -> None:
    release = asyncio.Event()

    class Slow(FakeBatch):
        async def __call__(self) -> int:
            handled = await super().__call__()
            await release.wait()
            return handled

    batch = Slow([5, 5, 5])  # full: the loop would go on at once
    relay, pool = make(batch)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    await batch.wait_calls(1)
    stop.set()
    release.set()
    await asyncio.wait_for(task, timeout=1.0)
    assert len(batch.calls) == 1 and pool.listener.removed == [CHANNEL]


async def test_a_retryable_error_is_logged_and_retried_after_the_backoff(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="entraide")
    batch = FakeBatch([OSError("database unreachable"), TimeoutError(), 0])
    relay, pool = make(batch, retry_s=0.2, name="test relay")
    async with running(relay):
        await batch.wait_calls(1)
        pool.listener.notify(CHANNEL)  # no shortcut through the backoff
        await batch.wait_calls(3)
        await asyncio.sleep(0.05)
        assert len(batch.calls) == 3, "back to waiting once a batch works"
    first, second, third = batch.calls
    assert second - first >= 0.19 and third - second >= 0.19
    retried = [r for r in caplog.records if r.getMessage() == "test relay retrying"]
    assert [vars(r)["error_type"] for r in retried] == ["OSError", "TimeoutError"]


async def test_the_backoff_is_the_poll_interval_by_default_and_stop_cuts_it_short() -> None:
    batch = FakeBatch([OSError()])
    relay, _ = make(batch)
    assert relay.retry_s == LONG_S
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    await batch.wait_calls(1)
    stop.set()
    await asyncio.wait_for(task, timeout=1.0)
    assert len(batch.calls) == 1


async def test_another_error_ends_the_loop_and_still_removes_the_listener() -> None:
    batch = FakeBatch([ValueError("a bug, not an outage")])
    relay, pool = make(batch)
    with pytest.raises(ValueError, match="a bug"):
        await asyncio.wait_for(relay.run(asyncio.Event()), timeout=1.0)
    assert pool.listener.removed == [CHANNEL] and len(batch.calls) == 1
