"""The faults, injected one at a time while the driver runs, each followed by the wait for
the system to recover by itself (bounded). Nothing here starts an application process:
supervisord does, after every kill; the run only stops and starts the private servers, and
its own webhook receiver. Messages on the streams and the webhook receiver: `messages`.

Each fault fills its `Window`: when it was on, what was done, and when (and how) the system
was back; the checks charge losses and doubles to the window their call was made in.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime

import asyncpg

from devstack import processes
from devstack.faults import messages
from devstack.faults.context import (
    STEP_METHODS,
    Context,
    Fault,
    Window,
    all_up,
    open_probes,
    programs,
    recovered,
    restarted,
    serving,
    until,
    wait_in_flight,
)
from devstack.faults.stack import Stack

# --- process kills -------------------------------------------------------------------------------


async def _kill_and_wait(ctx: Context, window: Window, program: str, note: str = "") -> None:
    wall = time.time()
    pid = await asyncio.to_thread(ctx.stack.kill, program)
    window.notes.append(f"kill -9 of {program} (pid {pid}){note}")

    async def back() -> bool:
        return await restarted(ctx, program, wall) and await serving(ctx, program) and (await all_up(ctx))

    recovered(window, await until(ctx, back), "serving again")


def kill(program: str) -> Fault:
    async def fault(ctx: Context, window: Window) -> None:
        await wait_in_flight(ctx)
        await _kill_and_wait(ctx, window, program)

    return fault


async def notifier_killed(ctx: Context, window: Window) -> None:
    """The partner notifier runs in the referral process: killing it is killing referral,
    timed while a partner delivery is waiting to be sent (a row lives for milliseconds:
    watched on a connection of its own, every few milliseconds)."""
    conn = await asyncpg.connect(ctx.stack.endpoints.database_url)
    pending = 0
    try:
        deadline = ctx.clock.now() + 30
        while ctx.clock.now() < deadline:
            pending = int(
                await conn.fetchval(
                    "SELECT count(*) FROM referral.partner_deliveries WHERE status = 'pending'"
                )
            )
            if pending:
                break
            await asyncio.sleep(0.005)
    finally:
        await conn.close()
    note = f"; {pending} partner deliveries pending at the kill" if pending else "; none pending within 30 s"
    await _kill_and_wait(ctx, window, "referral", note + " (the notifier lives in the referral process)")


def relay_killed(program: str) -> Fault:
    """Arms kernel/outbox.py's hook for one schema: the process exits right after a relay
    batch's PubAcks, before marking the rows; the rows are published again after the restart."""

    async def fault(ctx: Context, window: Window) -> None:
        await wait_in_flight(ctx)
        arm = ctx.stack.fault_dir / f"relay-exit-{program}"
        wall = time.time()
        arm.write_text("armed by devstack.faults\n")

        async def fired() -> bool:
            return not arm.exists()

        crashed = await until(ctx, fired, timeout=60)
        if crashed is None:
            arm.unlink(missing_ok=True)
            window.ok = False
            window.recovered = f"NO: the {program} relay published nothing within 60 s (hook not fired)"
            return
        count = _hook_batch(ctx.stack, program)
        ctx.relay_batches[program] = count
        window.notes.append(
            f"{program} exited (os._exit) after the PubAcks of a batch of {count} event(s), before marking"
            " them published; they are published again after the restart (same Nats-Msg-Id)"
        )

        async def back() -> bool:
            if not (await restarted(ctx, program, wall) and await all_up(ctx)):
                return False
            async with ctx.pool.acquire() as conn:
                return not await conn.fetchval(
                    f"SELECT count(*) FROM {program}.outbox WHERE published_at IS NULL AND created_at < $1",
                    datetime.fromtimestamp(wall, UTC),
                )

        recovered(window, await until(ctx, back), "serving again, the batch republished")

    return fault


def _hook_batch(stack: Stack, program: str) -> int:
    """The batch size the hook logged before exiting (its last such line)."""
    text = processes.log_file(stack.state, program).read_text(encoding="utf-8", errors="replace")
    count = 0
    for line in text.splitlines():
        if "fault injection: exiting between PubAck and mark" in line:
            try:
                count = int(json.loads(line).get("count", 0))
            except ValueError:
                continue
    return count


# --- workflow worker outages ---------------------------------------------------------------------


async def worker_outage(ctx: Context, window: Window, seconds: float) -> tuple[float, float]:
    """The worker killed, and every process supervisord starts for it killed at once, for
    `seconds`; then supervisord's next start is left alone. (start, end) on the run clock."""
    start = ctx.clock.now()
    killed = [await asyncio.to_thread(ctx.stack.kill, "workflows")]
    while ctx.clock.now() - start < seconds:
        status = (await programs(ctx)).get("workflows")
        if status is not None and status.pid and status.pid not in killed:
            killed.append(await asyncio.to_thread(ctx.stack.kill, "workflows"))
        await asyncio.sleep(0.05)
    end = ctx.clock.now()
    window.notes.append(
        f"worker down {end - start:.1f} s: kill -9 of each of the {len(killed)} processes supervisord started"
    )
    return start, end


async def timer_during_outage(ctx: Context, window: Window) -> None:
    runs = await open_probes(ctx, 2 if ctx.dossiers < 50 else 4, urgent=True)
    start, end = await worker_outage(ctx, window, max(ctx.seconds, 4.0))
    window.extra["outage"] = (start, end)
    due = [r.escalation_due for r in runs if r.escalation_due is not None]
    urgent_s = ctx.stack.env.get("ENTRAIDE_URGENT_ECOUTE_S")
    window.notes.append(
        f"{len(runs)} urgent dossiers opened just before; their écoute deadline ({urgent_s} s) fell due"
        f" {', '.join(f'+{d - start:.1f} s' for d in due)} into the outage"
    )

    async def escalated() -> bool:
        ids = [uuid.UUID(r.dossier_id) for r in runs if r.dossier_id]
        async with ctx.pool.acquire() as conn:
            n = await conn.fetchval(
                "SELECT count(DISTINCT dossier_id) FROM intake.dossier_timeline"
                " WHERE kind = 'escalated' AND dossier_id = ANY($1::uuid[])",
                ids,
            )
        return bool(ids) and int(n) == len(ids)

    seconds = await until(ctx, escalated)
    recovered(
        window,
        None if seconds is None else ctx.clock.now() - end,
        "each escalated, after the worker's return",
    )


async def updates_during_outage(ctx: Context, window: Window) -> None:
    """Dossiers opened just before, whose next steps are sent while the worker is down."""
    await open_probes(ctx, 2 if ctx.dossiers < 50 else 4, urgent=False)
    start, end = await worker_outage(ctx, window, max(ctx.seconds, 4.0))
    window.extra["outage"] = (start, end)
    sent = [
        c
        for c in ctx.driver.calls.records
        if c.method in STEP_METHODS and c.start <= end and (not c.end or c.end >= start)
    ]
    window.notes.append(f"{len(sent)} dossier/referral steps in flight while the worker was down")

    async def answered() -> bool:
        return bool(sent) and all(c.ok for c in sent)

    seconds = await until(ctx, answered)
    recovered(
        window,
        None if seconds is None else ctx.clock.now() - end,
        "each step sent during it answered, after its return",
    )


# --- servers -------------------------------------------------------------------------------------


def server_restart(name: str) -> Fault:
    async def fault(ctx: Context, window: Window) -> None:
        await wait_in_flight(ctx)
        stopped = ctx.clock.now()
        await asyncio.to_thread(ctx.stack.stop_server, name)
        await asyncio.sleep(ctx.seconds)
        await asyncio.to_thread(ctx.stack.start_servers)
        back = ctx.clock.now()
        window.notes.append(
            f"{name} stopped {back - stopped:.1f} s (restarted by the run, same port and data)"
        )
        seconds = await until(ctx, lambda: all_up(ctx))
        recovered(
            window,
            None if seconds is None else back - stopped + seconds,
            "every process running and serving (counted from the stop)",
        )

    return fault


# --- the schedule --------------------------------------------------------------------------------

# Processes first, then servers (a call caught by a crash waits for its claim to go stale, 45 s:
# later faults run meanwhile), the faults without client-visible effect last.
FAULTS: list[tuple[str, str, Fault]] = [
    ("intake", "intake killed (kill -9)", kill("intake")),
    ("referral", "referral killed (kill -9)", kill("referral")),
    ("reporting", "reporting killed (kill -9)", kill("reporting")),
    ("worker", "workflow worker killed (kill -9)", kill("workflows")),
    ("notifier", "partner notifier killed (= referral process, deliveries pending)", notifier_killed),
    ("relay-intake", "intake relay killed between PubAck and mark", relay_killed("intake")),
    ("relay-referral", "referral relay killed between PubAck and mark", relay_killed("referral")),
    ("postgres", "PostgreSQL restarted", server_restart("postgres")),
    ("nats", "NATS restarted", server_restart("nats")),
    ("temporal", "Temporal restarted", server_restart("temporal")),
    ("timer", "timer falls due during a worker outage", timer_during_outage),
    ("updates", "updates sent during a worker outage", updates_during_outage),
    ("webhook", "webhook receiver down", messages.receiver_down),
    ("poison", "poison messages on the events stream", messages.poison),
    ("duplicates", "duplicate events (new Nats-Msg-Id, same event id)", messages.duplicates),
]
