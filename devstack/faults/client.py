"""The retrying client of a fault run, as docs/retries.md tells integrators to write one:
every changing call carries a request id; UNAVAILABLE, DEADLINE_EXCEEDED and connection
failures are retried with the same request, with backoff, within a bounded time; any
other code is final. Every attempt is recorded (code, reason, start, latency)."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import grpc

from kernel import rich_status, tls

T = TypeVar("T")

RETRYABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})
ATTEMPT_TIMEOUT_S = 15.0
# Longer than a claim left by a crashed process lives (kernel.idempotency.STALE_CLAIM_S = 45 s).
TOTAL_BUDGET_S = 150.0
BACKOFF_FIRST_S = 0.2
BACKOFF_CAP_S = 2.0
# Reconnect quickly after a service restart (gRPC's default backoff grows to 120 s).
CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 1000),
]


@dataclass(frozen=True)
class Attempt:
    start: float  # seconds since the run started
    latency: float
    code: str  # "OK" or the status code's name; "EXCEPTION:<type>" for a client-side failure
    reason: str = ""  # ErrorInfo reason of a refusal


@dataclass
class CallRecord:
    method: str
    dossier: int  # the driver's dossier number, -1 for none
    start: float
    request_id: str
    attempts: list[Attempt] = field(default_factory=list)
    end: float = 0.0
    final: str = ""

    @property
    def latency(self) -> float:
        return self.end - self.start

    @property
    def ok(self) -> bool:
        return self.final == "OK"


class GaveUp(Exception):
    """A call still failing with a retryable code when the retry budget ran out."""

    def __init__(self, record: CallRecord) -> None:
        super().__init__(f"{record.method}: still {record.final} after {record.latency:.0f} s")
        self.record = record


class Refused(Exception):
    """A call answered with a code that is not retried."""

    def __init__(self, record: CallRecord, error: grpc.aio.AioRpcError) -> None:
        super().__init__(f"{record.method}: {record.final}")
        self.record = record
        self.error = error


class Clock:
    def __init__(self) -> None:
        self.origin = time.monotonic()
        self.wall_origin = time.time()

    def now(self) -> float:
        return time.monotonic() - self.origin


class Calls:
    """Runs calls with retries and keeps their records."""

    def __init__(self, clock: Clock, budget_s: float = TOTAL_BUDGET_S) -> None:
        self.clock = clock
        self.budget_s = budget_s
        self.records: list[CallRecord] = []

    async def call(
        self,
        method: str,
        fn: Callable[..., Awaitable[T]],
        request: Any,
        *,
        token: str,
        dossier: int = -1,
        timeout: float = ATTEMPT_TIMEOUT_S,
    ) -> T:
        record = CallRecord(method, dossier, self.clock.now(), getattr(request, "request_id", ""))
        self.records.append(record)
        metadata = (("authorization", f"Bearer {token}"),)
        delay = BACKOFF_FIRST_S
        while True:
            started = self.clock.now()
            try:
                answer = await fn(request, timeout=timeout, metadata=metadata)
            except grpc.aio.AioRpcError as exc:
                code = exc.code()
                reason = rich_status.describe(exc).reason
                record.attempts.append(Attempt(started, self.clock.now() - started, code.name, reason))
                record.final = code.name
                record.end = self.clock.now()
                if code not in RETRYABLE:
                    raise Refused(record, exc) from None
                if record.end - record.start + delay > self.budget_s:
                    raise GaveUp(record) from None
            except Exception as exc:  # a client-side failure: recorded, never retried
                name = f"EXCEPTION:{type(exc).__name__}"
                record.attempts.append(Attempt(started, self.clock.now() - started, name))
                record.final = name
                record.end = self.clock.now()
                raise
            else:
                record.attempts.append(Attempt(started, self.clock.now() - started, "OK"))
                record.final = "OK"
                record.end = self.clock.now()
                return answer
            await asyncio.sleep(delay * random.uniform(0.75, 1.25))
            delay = min(BACKOFF_CAP_S, delay * 2)


def channel(address: str, env: Mapping[str, str]) -> grpc.aio.Channel:
    """A channel as kernel.client opens one (TLS when configured), reconnecting quickly;
    the token goes with each call."""
    credentials = tls.channel_credentials(env)
    options = [*tls.channel_options(env), *CHANNEL_OPTIONS]
    if credentials is None:
        return grpc.aio.insecure_channel(address, options=options)
    return grpc.aio.secure_channel(address, credentials, options=options)
