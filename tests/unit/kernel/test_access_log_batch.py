"""AccessLogWriter: group commit of the access log, against a stand-in pool (no server).

Each call's rows are written exactly once and the call returns only after the statement
that holds them; concurrent calls share statements; a failed statement fails its calls."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import grpc
import pytest

from kernel import faults
from kernel.access import AccessLogWriter, AccessRow, access_rows


class FakeConnection:
    """Records each statement's rows; `gate` holds a statement until it is set."""

    def __init__(self, pool: FakePool) -> None:
        self.pool = pool

    async def execute(self, query: str, *columns: list[str]) -> str:
        assert "unnest" in query and len(columns) == 8
        await self.pool.gate.wait()
        if self.pool.failures:
            raise self.pool.failures.pop(0)
        rows = list(zip(*columns, strict=True))
        self.pool.statements.append(rows)
        return f"INSERT 0 {len(rows)}"


class FakePool:
    def __init__(self) -> None:
        self.statements: list[list[tuple[str, ...]]] = []
        self.failures: list[BaseException] = []
        self.acquire_failures: list[BaseException] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.acquired = 0
        self.released = 0

    async def acquire(self) -> FakeConnection:
        if self.acquire_failures:
            raise self.acquire_failures.pop(0)
        self.acquired += 1
        return FakeConnection(self)

    async def release(self, conn: FakeConnection) -> None:
        self.released += 1

    @property
    def rows(self) -> list[tuple[str, ...]]:
        return [row for statement in self.statements for row in statement]


def rows_of(n: int, resources: int = 1) -> list[AccessRow]:
    return access_rows(
        service="test",
        actor=f"agent-{n}",
        role="travailleur_social",
        action="read",
        method="/test.Service/Read",
        resources=[("dossier", f"d-{n}-{r}") for r in range(resources)],
        purpose="test",
    )


def writer(pool: FakePool, **kwargs: Any) -> AccessLogWriter:
    return AccessLogWriter(pool, **kwargs)  # type: ignore[arg-type]


async def test_a_lone_call_is_written_at_once() -> None:
    pool = FakePool()
    log = writer(pool)
    await log.write(rows_of(1))
    assert pool.rows == [tuple(r) for r in rows_of(1)]
    assert log.flushes == 1


async def test_concurrent_calls_share_statements_and_each_row_is_written_once() -> None:
    pool = FakePool()
    log = writer(pool)
    pool.gate.clear()  # the first statement is in flight while the others arrive
    calls = [asyncio.create_task(log.write(rows_of(n, resources=1 + n % 3))) for n in range(50)]
    await asyncio.sleep(0)
    assert not any(c.done() for c in calls)
    pool.gate.set()
    await asyncio.gather(*calls)
    expected = sorted(tuple(r) for n in range(50) for r in rows_of(n, resources=1 + n % 3))
    assert sorted(pool.rows) == expected
    assert 1 <= log.flushes < 50
    assert log.flushes == len(pool.statements)
    assert pool.acquired == pool.released >= 1


async def test_no_call_returns_before_its_statement() -> None:
    pool = FakePool()
    log = writer(pool)
    pool.gate.clear()
    call = asyncio.create_task(log.write(rows_of(7)))
    for _ in range(5):
        await asyncio.sleep(0)
    assert not call.done() and pool.rows == []
    pool.gate.set()
    await call
    assert pool.rows == [tuple(r) for r in rows_of(7)]


async def test_statements_are_bounded_in_rows() -> None:
    pool = FakePool()
    log = writer(pool, max_rows=10)
    pool.gate.clear()
    calls = [asyncio.create_task(log.write(rows_of(n, resources=3))) for n in range(12)]
    await asyncio.sleep(0)
    pool.gate.set()
    await asyncio.gather(*calls)
    assert len(pool.rows) == 36
    assert all(len(statement) <= 10 for statement in pool.statements)


async def test_a_failed_statement_fails_its_calls_and_the_next_call_is_written() -> None:
    pool = FakePool()
    log = writer(pool)
    pool.failures.append(asyncpg.exceptions.ConnectionDoesNotExistError("connection lost"))
    pool.gate.clear()
    calls = [asyncio.create_task(log.write(rows_of(n))) for n in range(5)]
    await asyncio.sleep(0)
    pool.gate.set()
    outcomes = await asyncio.gather(*calls, return_exceptions=True)
    assert all(isinstance(o, asyncpg.exceptions.ConnectionDoesNotExistError) for o in outcomes)
    assert pool.rows == []
    # The interceptor maps it as any outage of PostgreSQL: UNAVAILABLE, not INTERNAL.
    fault = faults.classify(outcomes[0])  # type: ignore[arg-type]
    assert fault is not None and fault.code == grpc.StatusCode.UNAVAILABLE
    await log.write(rows_of(9))
    assert pool.rows == [tuple(r) for r in rows_of(9)]
    await log.close()
    assert pool.acquired == pool.released == 2


async def test_no_connection_fails_the_calls() -> None:
    pool = FakePool()
    log = writer(pool)
    pool.acquire_failures.append(OSError("connection refused"))
    with pytest.raises(OSError):
        await log.write(rows_of(1))
    await log.write(rows_of(2))
    assert pool.rows == [tuple(r) for r in rows_of(2)]


async def test_a_caller_that_goes_away_leaves_its_row() -> None:
    pool = FakePool()
    log = writer(pool)
    pool.gate.clear()
    call = asyncio.create_task(log.write(rows_of(3)))
    await asyncio.sleep(0)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    pool.gate.set()
    await log.close()
    assert pool.rows == [tuple(r) for r in rows_of(3)]


async def test_close_waits_for_pending_rows_then_refuses_new_ones() -> None:
    pool = FakePool()
    log = writer(pool)
    pool.gate.clear()
    calls = [asyncio.create_task(log.write(rows_of(n))) for n in range(3)]
    await asyncio.sleep(0)
    closing = asyncio.create_task(log.close())
    await asyncio.sleep(0)
    assert not closing.done()
    pool.gate.set()
    await closing
    await asyncio.gather(*calls)
    assert len(pool.rows) == 3
    with pytest.raises(Exception) as refused:
        await log.write(rows_of(4))
    assert getattr(refused.value, "code", None) == grpc.StatusCode.UNAVAILABLE


async def test_close_gives_up_after_its_timeout_and_fails_the_calls() -> None:
    pool = FakePool()
    log = writer(pool)
    pool.gate.clear()  # never set: the database does not answer
    call = asyncio.create_task(log.write(rows_of(1)))
    await asyncio.sleep(0)
    await log.close(timeout_s=0.01)
    with pytest.raises(Exception) as failed:
        await call
    assert getattr(failed.value, "code", None) == grpc.StatusCode.UNAVAILABLE
    assert pool.rows == []


def test_rows_of_a_call() -> None:
    assert access_rows(
        service="s", actor="a", role="r", action="read", method="m", resources=[], purpose="p"
    ) == [("s", "a", "r", "read", "m", "", "", "p")]
    doubled = access_rows(
        service="s",
        actor="a",
        role="r",
        action="write",
        method="m",
        resources=[("dossier", "1"), ("dossier", "1"), ("person", "2")],
        purpose="p",
    )
    assert [(r[5], r[6]) for r in doubled] == [("dossier", "1"), ("person", "2")]
    with pytest.raises(ValueError):
        access_rows(service="s", actor="a", role="r", action="erase", method="m", resources=[], purpose="p")


async def test_a_call_arriving_while_the_connection_is_given_back_does_not_wait_for_it() -> None:
    pool = FakePool()
    log = writer(pool)
    releasing = asyncio.Event()
    original = pool.release

    async def slow_release(conn: FakeConnection) -> None:
        await releasing.wait()
        await original(conn)

    pool.release = slow_release  # type: ignore[method-assign]
    await log.write(rows_of(1))  # answered before its connection is back
    await log.write(rows_of(2))  # a second flusher, not blocked on the first reset
    assert len(pool.rows) == 2 and pool.acquired == 2 and pool.released == 0
    releasing.set()
    await log.close()
    assert pool.released == 2
