"""kernel.relay.Pipeline: batches whose acknowledgements overlap the next batch's
publishing, with scripted stages (no server)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from kernel.relay import Pipeline, Stage, drain_on_stop, run_whole


class Script:
    """Stages that send `count` rows, then wait for their acknowledgement (`ack`) and
    finish, or raise `error` before or after sending; records the order of events."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.acks: dict[str, asyncio.Event] = {}

    def stage(
        self, name: str, count: int = 10, *, before: Exception | None = None, after: Exception | None = None
    ) -> Stage:
        ack = self.acks.setdefault(name, asyncio.Event())

        async def run(sent: asyncio.Future[int]) -> None:
            self.events.append(f"{name} claimed")
            if before is not None:
                raise before
            sent.set_result(count)
            if count == 0:
                return
            await ack.wait()
            if after is not None:
                raise after
            self.events.append(f"{name} committed")

        return run

    def ack(self, name: str) -> None:
        self.acks.setdefault(name, asyncio.Event()).set()


async def test_a_batch_returns_once_sent_and_the_next_is_sent_while_it_waits() -> None:
    script, pipeline = Script(), Pipeline(depth=2)
    assert await pipeline.run_batch(script.stage("a", 10)) == 10
    assert await pipeline.run_batch(script.stage("b", 7)) == 7
    assert script.events == ["a claimed", "b claimed"]  # neither committed yet
    script.ack("b")
    script.ack("a")
    await pipeline.drain()
    assert sorted(script.events[2:]) == ["a committed", "b committed"]


async def test_no_more_than_depth_batches_are_in_flight() -> None:
    script, pipeline = Script(), Pipeline(depth=2)
    await pipeline.run_batch(script.stage("a"))
    await pipeline.run_batch(script.stage("b"))
    third = asyncio.create_task(pipeline.run_batch(script.stage("c")))
    await asyncio.sleep(0.05)
    assert not third.done() and "c claimed" not in script.events
    script.ack("a")
    assert await asyncio.wait_for(third, 1.0) == 10
    assert script.events.index("a committed") < script.events.index("c claimed")
    script.ack("b")
    script.ack("c")
    await pipeline.drain()


async def test_depth_one_is_stop_and_wait() -> None:
    script, pipeline = Script(), Pipeline(depth=1)
    await pipeline.run_batch(script.stage("a"))
    second = asyncio.create_task(pipeline.run_batch(script.stage("b")))
    await asyncio.sleep(0.05)
    assert script.events == ["a claimed"]
    script.ack("a")
    script.ack("b")
    await asyncio.wait_for(second, 1.0)
    await pipeline.drain()
    assert script.events == ["a claimed", "a committed", "b claimed", "b committed"]


async def test_nothing_to_send_returns_zero_and_holds_no_place() -> None:
    script, pipeline = Script(), Pipeline(depth=1)
    assert await pipeline.run_batch(script.stage("a", 0)) == 0
    assert await pipeline.run_batch(script.stage("b", 0)) == 0
    await asyncio.wait_for(pipeline.drain(), 1.0)


async def test_a_failure_before_sending_is_raised_by_its_own_call() -> None:
    script, pipeline = Script(), Pipeline(depth=2)
    with pytest.raises(OSError, match="claim"):
        await pipeline.run_batch(script.stage("a", before=OSError("claim")))
    assert await pipeline.run_batch(script.stage("b", 0)) == 0


async def test_a_failure_after_sending_is_raised_by_the_next_call_and_not_twice() -> None:
    script, pipeline = Script(), Pipeline(depth=2)
    await pipeline.run_batch(script.stage("a", after=TimeoutError("acks")))
    script.ack("a")
    await asyncio.sleep(0.01)
    with pytest.raises(TimeoutError, match="acks"):
        await pipeline.run_batch(script.stage("b"))
    assert "b claimed" not in script.events  # the caller's loop decides when to go on
    assert await pipeline.run_batch(script.stage("b", 0)) == 0


async def test_drain_waits_for_every_batch_and_raises_a_failure() -> None:
    script, pipeline = Script(), Pipeline(depth=3)
    await pipeline.run_batch(script.stage("a"))
    await pipeline.run_batch(script.stage("b", after=OSError("lost")))
    draining = asyncio.create_task(pipeline.drain())
    await asyncio.sleep(0.02)
    assert not draining.done()
    script.ack("a")
    script.ack("b")
    with pytest.raises(OSError, match="lost"):
        await asyncio.wait_for(draining, 1.0)
    assert "a committed" in script.events


async def test_run_whole_returns_after_the_commit() -> None:
    script = Script()
    script.ack("a")
    assert await run_whole(script.stage("a", 4)) == 4
    assert script.events == ["a claimed", "a committed"]
    assert await run_whole(script.stage("b", 0)) == 0


async def test_at_stop_a_retryable_failure_in_flight_is_logged_not_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    script, pipeline = Script(), Pipeline(depth=2)
    await pipeline.run_batch(script.stage("a", after=TimeoutError("acks")))
    script.ack("a")
    with caplog.at_level(logging.WARNING):
        await drain_on_stop(pipeline, "outbox relay", logging.getLogger("test"))
    assert "a batch in flight failed at stop" in caplog.text


async def test_at_stop_a_bug_in_flight_is_raised() -> None:
    script, pipeline = Script(), Pipeline(depth=2)
    await pipeline.run_batch(script.stage("a", after=ValueError("bug")))
    script.ack("a")
    with pytest.raises(ValueError, match="bug"):
        await drain_on_stop(pipeline, "outbox relay", logging.getLogger("test"))


def test_a_pipeline_holds_at_least_one_batch() -> None:
    with pytest.raises(ValueError):
        Pipeline(depth=0)
