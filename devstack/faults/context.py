"""What every fault works with: the run's `Context`, the `Window` a fault fills (when it was
on, what was done, how the system came back), and the waits and probes they share."""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from devstack import cli, process_events, supervision
from devstack.faults.client import Clock
from devstack.faults.driver import DossierRun, Driver, plans
from devstack.faults.receiver import Receiver
from devstack.faults.stack import Stack
from kernel.settings import Settings

RECOVERY_TIMEOUT_S = 90.0
POLL_S = 0.1
STEP_METHODS = frozenset(
    {"RecordInterview", "CompleteEcoute", "AssignAgent", "RecordFollowUp", "StartSuivi", "CloseDossier"}
    | {"ReopenDossier", "OpenDossier", "CreateReferral", "AcknowledgeReferral", "AcceptReferral"}
    | {"StartReferral", "CompleteReferral"}
)
CONSUMERS = (
    ("reporting", "reporting-projector"),
    ("referral", "referral-dossiers"),
    ("referral", "referral-partner-notifier"),
)


@dataclass
class Window:
    key: str
    label: str
    start: float = 0.0  # run clock: the fault begins
    until: float = 0.0  # run clock: the next fault begins (calls up to then are charged here)
    recovered: str = ""  # how the system came back, "" while it has not
    recovered_s: float | None = None
    ok: bool = True  # False when it did not come back within the bound
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Context:
    stack: Stack
    clock: Clock
    driver: Driver
    receiver: Receiver
    pool: asyncpg.Pool
    nc: NATS
    js: JetStreamContext
    rng: random.Random
    seconds: float  # how long a fault that lasts stays on
    dossiers: int  # driven by the run (a few more are opened just before some faults: `open_probes`)
    probes: list[asyncio.Task[DossierRun]] = field(default_factory=list)
    poison: list[dict[str, Any]] = field(default_factory=list)
    duplicates: list[dict[str, Any]] = field(default_factory=list)
    relay_batches: dict[str, int] = field(default_factory=dict)

    @property
    def settings(self) -> Settings:
        return self.stack.settings


Fault = Callable[[Context, Window], Awaitable[None]]


# --- helpers -------------------------------------------------------------------------------------


async def until(
    ctx: Context, check: Callable[[], Awaitable[bool]], timeout: float = RECOVERY_TIMEOUT_S
) -> float | None:
    """Seconds until `check` held, None when it did not within `timeout`."""
    started = ctx.clock.now()
    while ctx.clock.now() - started < timeout:
        try:
            if await check():
                return ctx.clock.now() - started
        except Exception:  # a dependency still down: not yet
            pass
        await asyncio.sleep(POLL_S)
    return None


async def programs(ctx: Context) -> dict[str, supervision.ProgramStatus]:
    return await asyncio.to_thread(ctx.stack.programs)


async def serving(ctx: Context, name: str) -> bool:
    app = next(a for a in cli.APPS if a.name == name)
    if not app.is_grpc:
        status = (await programs(ctx)).get(name)
        return status is not None and status.state == "RUNNING"
    return await asyncio.to_thread(cli.health, ctx.stack.address(name), ctx.stack.env) == "SERVING"


async def all_up(ctx: Context) -> bool:
    """Every supervised program RUNNING (past supervisord's start time) and every gRPC
    service SERVING."""
    found = await programs(ctx)
    if len(found) != len(cli.APPS) or any(s.state != "RUNNING" for s in found.values()):
        return False
    return all([await serving(ctx, a.name) for a in cli.APPS if a.is_grpc])


def restart_events(stack: Stack) -> list[dict[str, Any]]:
    return [
        e
        for e in process_events.read_events(supervision.events_file(stack.state))
        if process_events.is_restart(e)
    ]


async def restarted(ctx: Context, program: str, since_wall: float) -> bool:
    events = await asyncio.to_thread(restart_events, ctx.stack)
    return any(e.get("program") == program and float(e.get("time", 0)) >= since_wall for e in events)


async def wait_in_flight(ctx: Context, timeout: float = 15.0) -> None:
    """Faults are injected while dossiers are being driven (unless the driver is done)."""
    await ctx.driver.wait_busy(timeout)


def recovered(window: Window, seconds: float | None, what: str) -> None:
    if seconds is None:
        window.ok = False
        window.recovered = f"NO: {what} not within {RECOVERY_TIMEOUT_S:.0f} s"
    else:
        window.recovered_s = seconds
        window.recovered = f"yes: {what} after {seconds:.1f} s"


async def open_probes(ctx: Context, count: int, **changes: Any) -> list[DossierRun]:
    """`count` more dossiers (their plans changed by `changes`), opened now and driven on in
    the background: they are in flight when the fault begins."""
    first = 100_000 + 100 * len(ctx.probes)
    planned = [
        dataclasses.replace(p, probe=True, **changes) for p in plans(count, ctx.rng.randrange(1 << 30), first)
    ]
    ctx.probes.extend(await ctx.driver.probe(planned))
    return [r for r in ctx.driver.runs if r.plan.probe and first <= r.plan.number < first + count]
