"""Dossiers/s through the full lifecycle with one and with two instances of the workflows
worker and intake's activity worker (each instance its own process, bench.lifecycle_instance)
against the same servers, in the same run: what a second instance buys on this machine.

    python -m bench.scale_out --dossiers 200 --concurrency 20 [--rounds 4] [--json]

The dossiers are bench.lifecycle's (update-with-start `open`, 6 updates, 7 real activities),
sent by this process to Temporal directly. Each round runs a phase with one instance and
a phase with two, the order alternating (1 2 | 2 1 | …); a phase starts its instances,
runs C dossiers unmeasured (caches, pools), measures its share of N, then stops them.
Temporal is a private dev server, PostgreSQL DATABASE_URL's or a private one (a scratch
database, dropped at the end).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import asyncpg  # type: ignore[import-untyped, unused-ignore]

from bench.lifecycle import (
    ACTIVITIES_PER_DOSSIER,
    ENTRAIDE,
    Measure,
    round_sizes,
    run_many,
    summarise,
    table_header,
    table_row,
)
from bench.lifecycle_instance import READY
from devstack import secrets
from devstack.scratch import fresh_database
from devstack.servers import ensure_servers, free_ports, start_temporal, stop_servers
from kernel import runtime
from kernel import temporal as temporal_kernel
from kernel.settings import Settings
from services.intake.service import SPEC as INTAKE_SPEC

INSTANCE_START_S = 60.0


@dataclass(frozen=True)
class Report:
    dossiers: int  # measured per phase kind
    concurrency: int
    warmup: int  # unmeasured dossiers at the start of every phase
    rounds: int
    cores: int
    load_before: float
    one: Measure
    two: Measure
    ratio: float  # two instances' rate / one instance's
    timeline_rows: int
    total_s: float


class Instances:
    """`count` instance processes with `env`; started and stopped as one."""

    def __init__(self, count: int, env: Mapping[str, str]) -> None:
        self.count = count
        self.env = dict(env)
        self.processes: list[asyncio.subprocess.Process] = []

    async def __aenter__(self) -> Instances:
        for _ in range(self.count):
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bench.lifecycle_instance",
                env=self.env,
                stdout=asyncio.subprocess.PIPE,
                stdin=asyncio.subprocess.DEVNULL,
            )
            self.processes.append(process)
        for process in self.processes:
            assert process.stdout is not None
            line = await asyncio.wait_for(process.stdout.readline(), timeout=INSTANCE_START_S)
            if line.decode().strip() != READY:
                raise RuntimeError(f"an instance did not start (exit {process.returncode})")
        return self

    async def __aexit__(self, *exc: object) -> None:
        for process in self.processes:
            if process.returncode is None:
                process.terminate()
        for process in self.processes:
            try:
                await asyncio.wait_for(process.wait(), timeout=30)
            except TimeoutError:
                process.kill()
                await process.wait()


async def measure(
    settings: Settings,
    env: Mapping[str, str],
    dossiers: int,
    concurrency: int,
    warmup: int,
    rounds: int,
    say: Callable[[str], None],
) -> dict[int, Measure]:
    client = await temporal_kernel.connect(settings)
    latencies: dict[int, list[float]] = {1: [], 2: []}
    walls = {1: 0.0, 2: 0.0}
    for index, size in enumerate(round_sizes(dossiers, rounds)):
        for count in (1, 2) if index % 2 == 0 else (2, 1):
            async with Instances(count, env):
                if warmup:
                    await run_many(client, ENTRAIDE, warmup, concurrency)
                batch, wall = await run_many(client, ENTRAIDE, size, concurrency)
            latencies[count] += batch
            walls[count] += wall
            say(
                f"round {index + 1}: {count} instance(s), {size} dossiers in {wall:.1f} s"
                f"  load={os.getloadavg()[0]:.2f}"
            )
    return {count: summarise(latencies[count], walls[count]) for count in latencies}


def run(dossiers: int, concurrency: int, warmup: int, rounds: int, say: Callable[[str], None]) -> Report:
    began = time.perf_counter()
    load_before = round(os.getloadavg()[0], 2)
    state_dir = Path(tempfile.mkdtemp(prefix="entraide-bench-scale-"))
    state_dir.chmod(0o755)  # the private PostgreSQL may run as another system user
    servers = state_dir / "servers"
    # A private Temporal always (a running stack's workers poll the same queues), fresh keys.
    env = {k: v for k, v in os.environ.items() if k not in ("TEMPORAL_ADDRESS", "TEMPORAL_UI_URL")}
    env.update(secrets.generate())
    try:
        say("starting servers...")
        temporal_address = start_temporal(servers, env=env)
        endpoints = ensure_servers(servers, free_ports(), env, components=("postgres",))

        async def main() -> tuple[dict[int, Measure], int]:
            async with fresh_database(endpoints.database_url, "bench") as url:
                instance_env = {**env, "DATABASE_URL": url, "TEMPORAL_ADDRESS": temporal_address}
                settings = Settings.from_env(instance_env)
                await runtime.migrate(INTAKE_SPEC, settings)
                measures = await measure(settings, instance_env, dossiers, concurrency, warmup, rounds, say)
                owner = await asyncpg.connect(settings.migration_database_url)
                try:
                    rows = int(await owner.fetchval("SELECT count(*) FROM intake.dossier_timeline"))
                finally:
                    await owner.close()
                return measures, rows

        measures, timeline_rows = asyncio.run(main())
    finally:
        stop_servers(servers)
        shutil.rmtree(state_dir, ignore_errors=True)
    phases = 2 * len(round_sizes(dossiers, rounds))
    expected = (2 * dossiers + phases * warmup) * ACTIVITIES_PER_DOSSIER
    if timeline_rows != expected:
        raise RuntimeError(f"expected {expected} timeline rows, found {timeline_rows}")
    one, two = measures[1], measures[2]
    return Report(
        dossiers=dossiers,
        concurrency=concurrency,
        warmup=warmup,
        rounds=len(round_sizes(dossiers, rounds)),
        cores=os.cpu_count() or 1,
        load_before=load_before,
        one=one,
        two=two,
        ratio=round(two.rate / one.rate, 3),
        timeline_rows=timeline_rows,
        total_s=round(time.perf_counter() - began, 1),
    )


def render(report: Report) -> str:
    return "\n".join(
        [
            f"dossiers N={report.dossiers} per side  concurrency C={report.concurrency}  "
            f"warm-up={report.warmup} a phase  rounds={report.rounds}  cores={report.cores}  "
            f"load={report.load_before}",
            table_header("instances"),
            table_row("one", report.one),
            table_row("two", report.two),
            f"ratio two/one = {report.ratio:.3f}",
            f"written: {report.timeline_rows} timeline rows; run took {report.total_s} s",
        ]
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.scale_out", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dossiers", type=int, default=200, help="measured dossiers per side (N)")
    parser.add_argument("--concurrency", type=int, default=20, help="dossiers in flight at once (C)")
    parser.add_argument("--warmup", type=int, default=None, help="unmeasured dossiers a phase (default: C)")
    parser.add_argument("--rounds", type=int, default=4, help="rounds, each a phase of one and of two")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = parser.parse_args(argv)
    warmup = args.concurrency if args.warmup is None else args.warmup
    if args.dossiers < 1 or args.concurrency < 1 or args.rounds < 1 or warmup < 0:
        parser.error("--dossiers, --concurrency and --rounds must be >= 1, --warmup >= 0")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    def say(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    report = run(args.dossiers, args.concurrency, warmup, args.rounds, say)
    print(json.dumps(asdict(report)) if args.json else render(report), flush=True)


if __name__ == "__main__":
    main()
