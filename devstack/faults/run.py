"""The command line of the fault matrix, and the run: stack, driver, faults, truth, report."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import random
import secrets
import tempfile
import time
import traceback
import uuid
from pathlib import Path

import asyncpg
from entraide.v1 import referral_pb2, referral_pb2_grpc

from devstack import ports, process_events, supervision
from devstack.faults import checks, report, stack
from devstack.faults.client import Calls, Clock, channel
from devstack.faults.context import Context, Fault, Window, until
from devstack.faults.driver import Driver, plans
from devstack.faults.injectors import FAULTS
from devstack.faults.receiver import Receiver
from kernel import messaging
from kernel.auth import Role

KILLED = {"intake": "intake", "referral": "referral", "reporting": "reporting", "worker": "workflows"}
KILLED |= {"notifier": "referral", "relay-intake": "intake", "relay-referral": "referral"}
KILLED |= {"timer": "workflows", "updates": "workflows"}


class Schedule:
    """Warm-up, then each fault in turn with a gap after it; `progress` (0 → 1) paces the
    driver so that dossiers are in flight all along."""

    def __init__(
        self, clock: Clock, faults: list[tuple[str, str, Fault]], seconds: float, gap: float
    ) -> None:
        self.clock = clock
        self.faults = faults
        self.gap = gap
        self.phase_s = seconds + gap + 3.0  # a fault's usual length, for the pacing only
        self.index = 0
        self.phase_start = 0.0
        self.done = False
        self._tick = asyncio.Condition()

    async def wait_progress(self, fraction: float) -> None:
        async with self._tick:
            await self._tick.wait_for(lambda: self.progress() >= fraction)

    async def _ticker(self) -> None:
        while True:
            async with self._tick:
                self._tick.notify_all()
            if self.done:
                return
            await asyncio.sleep(0.1)

    def progress(self) -> float:
        if self.done:
            return 1.0
        fraction = min(1.0, (self.clock.now() - self.phase_start) / self.phase_s)
        return (self.index + fraction) / (1 + len(self.faults))

    async def run(self, ctx: Context) -> list[Window]:
        now = self.clock.now
        ticker = asyncio.create_task(self._ticker())
        windows = [Window("warmup", "(no fault: warm-up)", start=now())]
        self.phase_start = now()
        await asyncio.sleep(self.phase_s)
        for index, (key, label, fault) in enumerate(self.faults, start=1):
            self.index, self.phase_start = index, now()
            window = Window(key, label, start=now())
            windows[-1].until = window.start
            windows.append(window)
            print(f"[{window.start:6.1f} s] {label}", flush=True)
            try:
                await fault(ctx, window)
            except Exception as exc:  # the injection itself failed: the row says so
                window.ok = False
                window.recovered = f"NO: the injection failed ({type(exc).__name__}: {exc})"
            print(f"           {window.recovered}", flush=True)
            await asyncio.sleep(self.gap)
        self.done = True
        await ticker
        windows[-1].until = now()
        windows.append(Window("after", "(after the faults: the driver finishing)", start=now()))
        return windows


async def import_directory(st: stack.Stack, calls: Calls, webhook_url: str) -> None:
    token = st.token("faults.responsable", Role.RESPONSABLE)
    async with channel(st.address("referral"), st.env) as ch:
        stub = referral_pb2_grpc.ReferralServiceStub(ch)
        request = referral_pb2.ImportDirectoryRequest(
            document=stack.directory_document(webhook_url), request_id=f"faults-directory-{uuid.uuid4().hex}"
        )
        await calls.call("ImportDirectory", stub.ImportDirectory, request, token=token, timeout=60)


@dataclasses.dataclass
class Started:
    args: argparse.Namespace
    state: Path
    began: float  # time.monotonic() at the start
    began_wall: float
    webhook_port: int
    webhook_secret: str
    timings: dict[str, float]


async def run(args: argparse.Namespace, state: Path) -> int:
    """Stack up, the run, the stack down (unless --keep); the exit status."""
    started = Started(
        args, state, time.monotonic(), time.time(), ports.free_port(), secrets.token_urlsafe(32), {}
    )
    stack.prepare_environment(state, started.webhook_secret)
    print(f"fault matrix: {args.dossiers} dossiers, seed {args.seed}, state dir {state}", flush=True)
    code = 1
    try:
        st = await asyncio.to_thread(stack.start, state, started.webhook_port, started.webhook_secret)
        started.timings["stack up"] = time.monotonic() - started.began
        code = await drive_and_check(started, st)
    except Exception:  # the run itself failed (a server did not start…): said, and torn down
        traceback.print_exc()
        print("error: the fault run did not complete", flush=True)
        code = 1
    finally:
        if args.keep:
            print(f"stack kept up: ENTRAIDE_STATE_DIR={state} .venv/bin/entraide-stack down stops it")
        else:
            print(await asyncio.to_thread(stack.down, state))
            left = await asyncio.to_thread(stack.leftovers, state)
            if left:
                print(f"error: processes left behind: {[p.pid for p in left]}")
                code = 1
            else:
                print("no process left")
                stack.remove_server_data(state)
    return code


async def drive_and_check(started: Started, st: stack.Stack) -> int:
    args, timings = started.args, started.timings
    selected = [f for f in FAULTS if not args.faults or f[0] in args.faults]
    clock = Clock()
    receiver = Receiver(started.webhook_port, stack.WEBHOOK_PATH, started.webhook_secret, clock.now)
    await receiver.start()
    pool = await asyncpg.create_pool(st.endpoints.database_url, min_size=0, max_size=8)
    nc = await messaging.connect(st.endpoints.nats_url, "faults")
    calls = Calls(clock)
    schedule = Schedule(clock, selected, args.fault_seconds, args.gap_seconds)
    driver = Driver(st, calls, clock, pool, schedule.wait_progress, uuid.uuid4().hex[:8])
    rng = random.Random(args.seed)
    ctx = Context(
        st, clock, driver, receiver, pool, nc, nc.jetstream(), rng, args.fault_seconds, args.dossiers
    )
    try:
        await import_directory(st, calls, f"http://127.0.0.1:{started.webhook_port}{stack.WEBHOOK_PATH}")
        driving = asyncio.create_task(driver.run(plans(args.dossiers, args.seed)))
        windows = await schedule.run(ctx)
        await driving
        await asyncio.gather(*ctx.probes)
        windows[-1].until = clock.now()
        timings["driving and faults"] = clock.now()
        settle_started = clock.now()
        await until(ctx, lambda: checks.settled(ctx), timeout=args.settle_seconds)
        truth = await checks.truth(ctx, driver.runs, started.began_wall)
        while truth.worth_waiting and clock.now() - settle_started < args.settle_seconds:
            await asyncio.sleep(3)
            truth = await checks.truth(ctx, driver.runs, started.began_wall)
        await checks.supervision_checks(ctx, truth, {KILLED[key] for key, _, _ in selected if key in KILLED})
        timings["settling and checks"] = clock.now() - settle_started
        status = await asyncio.to_thread(st.status_text)
    finally:
        await driver.close()
        await receiver.stop()
        await nc.close()
        await pool.close()
    events = process_events.read_events(supervision.events_file(started.state))
    restarts = [
        (float(e["time"]) - clock.wall_origin, str(e.get("program")))
        for e in events
        if process_events.is_restart(e)
    ]
    found = report.rows(windows, calls.records, truth, restarts)
    ok = truth.ok and all(w.ok for w in windows)
    timings["total"] = time.monotonic() - started.began
    probes = len(driver.runs) - args.dossiers
    header = [
        f"Fault matrix: {len(driver.runs)} dossiers ({args.dossiers} driven + {probes} opened just before"
        f" a fault), seed {args.seed}, {args.fault_seconds:g} s per lasting fault, {len(selected)} faults;"
        f" state dir {started.state}",
        "client-visible effect: the calls that met their first fault during the row's window, every"
        " code they saw (retries included) and the longest of them.",
        "lost / doubled: effects owed by the calls made during that row's window (timeline steps,"
        " person, consent, referral and its statuses, partner messages by delivery id, reporting facts,"
        " stage, outcome) found fewer / more times than owed; global figures (bilan, dead letters) in"
        " TOTAL.",
    ]
    text = report.render(found, truth, calls.records, timings, header)
    text += "\n`entraide-stack status` at the end:\n" + status
    print("\n" + text, flush=True)
    state = started.state
    (state / "fault-matrix.txt").write_text(text, encoding="utf-8")
    matrix = report.as_json(found, truth, timings, ok)
    (state / "fault-matrix.json").write_text(json.dumps(matrix, indent=1, default=str), encoding="utf-8")
    with (state / "calls.jsonl").open("w", encoding="utf-8") as out:
        for record in calls.records:
            out.write(json.dumps(dataclasses.asdict(record)) + "\n")
    print(f"saved: {state / 'fault-matrix.txt'}, fault-matrix.json, calls.jsonl", flush=True)
    return 0 if ok else 1


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devstack.faults", description=__doc__)
    parser.add_argument("--dossiers", type=int, default=200, help="dossiers driven (default 200)")
    parser.add_argument(
        "--seed", type=int, default=2026, help="seed of the dossiers' plans and of the faults"
    )
    parser.add_argument(
        "--state-dir", default="", help="state dir of the run's stack (default: a new temporary one)"
    )
    parser.add_argument("--keep", action="store_true", help="leave the stack up at the end")
    parser.add_argument("--fault-seconds", type=float, default=5.0, help="how long a lasting fault stays on")
    parser.add_argument("--gap-seconds", type=float, default=3.0, help="pause after each fault")
    parser.add_argument("--settle-seconds", type=float, default=120.0, help="bound on the final wait")
    parser.add_argument(
        "--faults",
        type=lambda text: [f for f in text.split(",") if f],
        default=[],
        help="only these faults, comma-separated: " + ",".join(key for key, _, _ in FAULTS),
    )
    args = parser.parse_args(argv)
    unknown = set(args.faults) - {key for key, _, _ in FAULTS}
    if unknown:
        parser.error(f"unknown faults: {', '.join(sorted(unknown))}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    # The run's own clients (NATS, PostgreSQL) lose their servers on purpose: only errors.
    logging.basicConfig(level=logging.ERROR, format="%(name)s: %(message)s")
    state = (
        Path(args.state_dir).resolve()
        if args.state_dir
        else Path(tempfile.mkdtemp(prefix="entraide-faults-"))
    )
    return asyncio.run(run(args, state))
