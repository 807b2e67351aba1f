"""OpenDossier through intake's real gRPC server against a bare update-with-start of a
workflow of the same shape, on the same private Temporal dev server, at several numbers
of concurrent callers.

    python -m bench.open_dossier --callers 1,10,50 --dossiers-per-level 100 [--json]

* entraide: `OpenDossier` RPCs to intake's gRPC server, run as the service runs
  (`kernel.runtime.run_service`: token check, validation, request-id claim, the
  update-with-start of `DossierWorkflow.open`, the read-back of the dossier row, the
  stored reply, the access log), with the workflow worker and intake's activities.
* bare: `execute_update_with_start_workflow` of `BareDossierWorkflow.open` with the same
  start options (id conflict and reuse policies, search attributes, payload codec), from
  a client of its own, with its workers.

For each level of callers, after an unmeasured warm-up of each, the rounds alternate
bare/entraide then entraide/bare. Temporal is always a private dev server started for
the run, with its SQLite file store (as `make up`) or `--store memory`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped, unused-ignore]
import grpc
from entraide.v1 import intake_pb2, intake_pb2_grpc
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.worker import Worker

from bench.bare_workflow import (
    BARE_ACTIVITY_TASK_QUEUE,
    BARE_WORKFLOW_TASK_QUEUE,
    BareDossierWorkflow,
    bare_opened,
    bare_transition,
)
from bench.lifecycle import percentile, round_sizes
from bench.open_dossier_phases import Timings, instrumented
from bench.open_dossier_wiring import bench_env, cache_bytecode, configure_service_logs, intake_running
from devstack.scratch import fresh_database
from devstack.servers import (
    TEMPORAL_STORES,
    TemporalStore,
    ensure_servers,
    free_ports,
    private_components,
    start_temporal,
    stop_servers,
)
from kernel import client as grpc_client
from kernel import reference, runtime
from kernel import temporal as temporal_kernel
from kernel.auth import Role, mint
from kernel.settings import Settings
from services.intake.service import SPEC as INTAKE_SPEC
from workflows import search_attributes as sa
from workflows.contracts import DOSSIER_TASK_QUEUE, DossierSpec, LifecycleTimers, OpenedDossier
from workflows.worker import WORKFLOWS

AGENT = "agent-bench"
TERRITORY = "55029"
SITE = "ccas-bar-le-duc"
MOTIFS = ("logement",)
CHANNEL = "telephone"
FLAVOURS = ("bare", "entraide")
RPC_TIMEOUT_S = 60.0

log = logging.getLogger("bench")

# One call: returns its latency in seconds (raises on failure).
Call = Callable[[], Awaitable[float]]


@dataclass(frozen=True)
class Measure:
    calls: int
    errors: int
    wall_s: float
    rate: float  # dossiers opened per second
    p50_ms: float
    p95_ms: float
    p99_ms: float


@dataclass(frozen=True)
class Level:
    callers: int
    load: float  # 1-minute load average when the level ended
    bare: Measure
    entraide: Measure
    ratio: float  # entraide rate / bare rate


@dataclass(frozen=True)
class Report:
    store: str
    bytecode: str
    dossiers_per_level: int
    warmup: int | None
    rounds: int
    cores: int
    load_before: float
    levels: list[Level]
    # --phases K: per flavour, mean ms a call of each part of K more calls by one caller.
    phases: dict[str, dict[str, float]]
    phases_calls: int
    dossier_rows: int
    total_s: float


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


def summarise(latencies: Sequence[float], errors: int, wall: float) -> Measure:
    ms = [x * 1000 for x in latencies] or [0.0]
    return Measure(
        calls=len(latencies),
        errors=errors,
        wall_s=round(wall, 3),
        rate=round(len(latencies) / wall, 2) if wall > 0 else 0.0,
        p50_ms=round(percentile(ms, 50), 1),
        p95_ms=round(percentile(ms, 95), 1),
        p99_ms=round(percentile(ms, 99), 1),
    )


# ---- the two callers ------------------------------------------------------------------


def bare_caller(client: Client) -> Call:
    """As OpenDossier starts DossierWorkflow, minus everything of ours around it."""

    async def call() -> float:
        dossier_id = str(uuid.uuid4())
        spec = DossierSpec(
            dossier_id=dossier_id,
            territory=TERRITORY,
            site=SITE,
            motifs=list(MOTIFS),
            arrival_channel=CHANNEL,
            urgent=False,
            timers=LifecycleTimers(),
        )
        started = time.perf_counter()
        start: WithStartWorkflowOperation[Any, str] = WithStartWorkflowOperation(
            "BareDossierWorkflow",
            spec,
            id=f"bare-{dossier_id}",
            task_queue=BARE_WORKFLOW_TASK_QUEUE,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=sa.initial(spec.territory, spec.urgent),
            result_type=str,
        )
        opened = await client.execute_update_with_start_workflow(
            "open", start_workflow_operation=start, result_type=OpenedDossier, id=str(uuid.uuid4())
        )
        elapsed = time.perf_counter() - started
        if not opened.created:
            raise RuntimeError(f"bare dossier {dossier_id} was not created")
        return elapsed

    return call


def entraide_caller(stub: intake_pb2_grpc.IntakeServiceAsyncStub) -> Call:
    async def call() -> float:
        request = intake_pb2.OpenDossierRequest(
            request_id=str(uuid.uuid4()),
            territory=TERRITORY,
            site=SITE,
            motifs=list(MOTIFS),
            arrival_channel=CHANNEL,
        )
        started = time.perf_counter()
        response = await stub.OpenDossier(request, timeout=RPC_TIMEOUT_S)
        elapsed = time.perf_counter() - started
        if not response.created or response.dossier.stage != "reception":
            raise RuntimeError(f"unexpected answer: {response}")
        return elapsed

    return call


async def run_calls(call: Call, count: int, callers: int) -> tuple[list[float], int, float]:
    """`count` calls by `callers` concurrent callers (each waits for its answer before
    its next call): the latencies of the successful ones, the failures, the wall time."""
    remaining = count
    latencies: list[float] = []
    errors = 0

    async def caller() -> None:
        nonlocal remaining, errors
        while remaining > 0:
            remaining -= 1
            started = time.perf_counter()
            try:
                latencies.append(await call())
            except grpc.aio.AioRpcError as exc:  # counted, not fatal: a finding
                errors += 1
                log.warning(
                    "call failed after %.1f s: %s %s",
                    time.perf_counter() - started,
                    exc.code().name,
                    (exc.details() or "")[:200],
                )

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(min(callers, count))))
    return latencies, errors, time.perf_counter() - started


async def measure_level(
    calls: dict[str, Call],
    callers: int,
    count: int,
    warmup: int | None,
    rounds: int,
    say: Callable[[str], None],
) -> Level:
    # Unmeasured: pools, caches and task queues at this concurrency. By default a full
    # wave of callers (with fewer, the first round pays for the ramp-up).
    for name in FLAVOURS:
        await run_calls(calls[name], max(10, callers) if warmup is None else warmup, callers)
    latencies: dict[str, list[float]] = {name: [] for name in FLAVOURS}
    errors = dict.fromkeys(FLAVOURS, 0)
    walls = dict.fromkeys(FLAVOURS, 0.0)
    for index, size in enumerate(round_sizes(count, rounds)):
        for name in FLAVOURS if index % 2 == 0 else tuple(reversed(FLAVOURS)):
            batch, failed, wall = await run_calls(calls[name], size, callers)
            latencies[name] += batch
            errors[name] += failed
            walls[name] += wall
            say(
                f"callers={callers} round {index + 1}: {name} {size} calls in {wall:.1f} s"
                f"  load={load_average()}"
            )
    bare = summarise(latencies["bare"], errors["bare"], walls["bare"])
    entraide = summarise(latencies["entraide"], errors["entraide"], walls["entraide"])
    ratio = round(entraide.rate / bare.rate, 3) if bare.rate else 0.0
    return Level(callers, load_average(), bare, entraide, ratio)


# ---- wiring -----------------------------------------------------------------------------


async def bench(
    settings: Settings,
    levels: Sequence[int],
    count: int,
    warmup: int | None,
    rounds: int,
    phases: int,
    say: Callable[[str], None],
) -> tuple[list[Level], dict[str, dict[str, float]], int]:
    await runtime.migrate(INTAKE_SPEC, settings)
    workers_client = await temporal_kernel.connect(settings)
    bare_client = await temporal_kernel.connect(settings)  # the bare caller's own, as intake has its own
    workers = [
        # As workflows.worker runs it (all its workflows, default options).
        Worker(workers_client, task_queue=DOSSIER_TASK_QUEUE, workflows=WORKFLOWS),
        Worker(workers_client, task_queue=BARE_WORKFLOW_TASK_QUEUE, workflows=[BareDossierWorkflow]),
        Worker(
            workers_client, task_queue=BARE_ACTIVITY_TASK_QUEUE, activities=[bare_opened, bare_transition]
        ),
    ]
    token = mint(
        settings.env["ENTRAIDE_JWT_SECRET"],
        AGENT,
        Role.TRAVAILLEUR_SOCIAL,
        reference.load(settings.env).territories,
    )
    with contextlib.ExitStack() as stack:
        # Before intake starts: its activity worker takes the (wrapped) method then.
        timings = stack.enter_context(instrumented()) if phases else None
        async with workers[0], workers[1], workers[2], intake_running(settings):
            results, breakdown = await drive(
                settings, token, bare_client, levels, count, warmup, rounds, phases, timings, say
            )
    owner = await asyncpg.connect(settings.migration_database_url)
    try:
        rows = int(await owner.fetchval("SELECT count(*) FROM intake.dossiers"))
    finally:
        await owner.close()
    return results, breakdown, rows


async def drive(
    settings: Settings,
    token: str,
    bare_client: Client,
    levels: Sequence[int],
    count: int,
    warmup: int | None,
    rounds: int,
    phases: int,
    timings: Timings | None,
    say: Callable[[str], None],
) -> tuple[list[Level], dict[str, dict[str, float]]]:
    results: list[Level] = []
    async with grpc_client.aio_channel(settings.grpc_address("intake"), settings.env, token) as channel:
        calls = {
            "bare": bare_caller(bare_client),
            "entraide": entraide_caller(intake_pb2_grpc.IntakeServiceStub(channel)),
        }
        for callers in levels:
            level = await measure_level(calls, callers, count, warmup, rounds, say)
            say(
                f"callers={callers}: bare {level.bare.rate}/s, entraide {level.entraide.rate}/s,"
                f" ratio {level.ratio}  load={level.load}"
            )
            results.append(level)
        if not phases or timings is None:
            return results, {}
        breakdown: dict[str, dict[str, float]] = {}
        for name in FLAVOURS:
            timings.flavour = name
            latencies, _, _ = await run_calls(calls[name], phases, 1)
            timings.flavour = ""
            breakdown[name] = {
                "call (mean)": round(sum(latencies) * 1000 / max(1, len(latencies)), 1),
                **timings.means_ms(name, len(latencies)),
            }
    return results, breakdown


def run(
    levels: Sequence[int],
    count: int,
    warmup: int | None,
    rounds: int,
    store: TemporalStore,
    phases: int,
    bytecode: str,
    say: Callable[[str], None],
) -> Report:
    began = time.perf_counter()
    load_before = load_average()
    state_dir = Path(tempfile.mkdtemp(prefix="entraide-bench-open-"))
    state_dir.chmod(0o755)  # the private PostgreSQL may run as another system user
    if bytecode == "cached":
        cache_bytecode(state_dir / "pycache")
    servers = state_dir / "servers"
    try:
        say(f"starting a private Temporal dev server ({store} store)...")
        temporal_address = start_temporal(servers, store)
        endpoints = ensure_servers(servers, free_ports(), components=("postgres", "nats"))
        say(f"servers ready (private: {', '.join(['temporal', *private_components(servers)])})")

        async def main() -> tuple[list[Level], dict[str, dict[str, float]], int]:
            async with fresh_database(endpoints.database_url, "bench") as url:
                service_env = bench_env(temporal_address, url, endpoints.nats_url)
                settings = Settings.from_env(service_env)
                configure_service_logs(state_dir / "intake.log", settings.log_level)
                return await bench(settings, levels, count, warmup, rounds, phases, say)

        results, parts, rows = asyncio.run(main())
    finally:
        stop_servers(servers)  # only what this run started (pid files in this folder)
        shutil.rmtree(state_dir, ignore_errors=True)
    measured = sum(level.entraide.calls for level in results)
    if rows < measured:  # each answered call opened its dossier (plus the warm-ups')
        raise RuntimeError(f"{measured} dossiers opened but {rows} dossier rows")
    return Report(
        store=store,
        bytecode=bytecode,
        dossiers_per_level=count,
        warmup=warmup,
        rounds=len(round_sizes(count, rounds)),
        cores=os.cpu_count() or 1,
        load_before=load_before,
        levels=results,
        phases=parts,
        phases_calls=phases,
        dossier_rows=rows,
        total_s=round(time.perf_counter() - began, 1),
    )


def render(report: Report) -> str:
    warmup = "callers, >= 10" if report.warmup is None else str(report.warmup)
    lines = [
        f"OpenDossier vs bare update-with-start  store={report.store}  bytecode={report.bytecode}"
        f"  N={report.dossiers_per_level}"
        f" per level  warm-up={warmup}  rounds={report.rounds}  cores={report.cores}"
        f"  load={report.load_before}",
        f"{'callers':>7} {'':9} {'dossiers/s':>10} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>6}",
    ]
    for level in report.levels:
        for name, m in (("bare", level.bare), ("entraide", level.entraide)):
            lines.append(
                f"{level.callers:>7} {name:9} {m.rate:>10.2f} {m.p50_ms:>8.1f} {m.p95_ms:>8.1f}"
                f" {m.p99_ms:>8.1f} {m.errors:>6}"
            )
        lines.append(f"{level.callers:>7} ratio entraide/bare = {level.ratio:.3f}  load={level.load}")
    if report.phases:
        lines.append(f"where the time goes ({report.phases_calls} calls each, 1 caller), mean ms a call:")
        lines.append(f"  {'':52} {'bare':>8} {'entraide':>8}")
        for part in report.phases["entraide"]:
            bare, entraide = report.phases["bare"][part], report.phases["entraide"][part]
            lines.append(f"  {part:52} {bare:>8.1f} {entraide:>8.1f}")
    lines.append(f"written: {report.dossier_rows} dossier rows; run took {report.total_s} s")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.open_dossier", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--callers", default="1,10,50", help="levels of concurrent callers, comma-separated")
    parser.add_argument(
        "--dossiers-per-level", type=int, default=100, help="measured dossiers per flavour and level (N)"
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=None,
        help="unmeasured calls per flavour and level (default: the callers, at least 10)",
    )
    parser.add_argument("--rounds", type=int, default=2, help="measured rounds per level, alternating")
    parser.add_argument(
        "--store",
        choices=TEMPORAL_STORES,
        default="file",
        help="the dev server's store: its SQLite file (as `make up`) or in memory",
    )
    parser.add_argument(
        "--bytecode",
        choices=("cached", "none"),
        default="cached",
        help="workflow modules' bytecode: cached as installed (default) or compiled at each import",
    )
    parser.add_argument(
        "--phases", type=int, default=0, help="then K more OpenDossier calls, timed part by part"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = parser.parse_args(argv)
    try:
        args.levels = [int(x) for x in args.callers.split(",") if x.strip()]
    except ValueError:
        parser.error("--callers takes integers, e.g. 1,10,50")
    if (
        not args.levels
        or min(args.levels) < 1
        or args.dossiers_per_level < 1
        or args.rounds < 1
        or (args.warmup is not None and args.warmup < 0)
        or args.phases < 0
    ):
        parser.error("--callers and --dossiers-per-level and --rounds must be >= 1, --warmup >= 0")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    # The bench's own warnings on stderr; the service's log lines go to a file (run()).
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    log.addHandler(handler)
    log.propagate = False

    def say(message: str) -> None:
        print(message, file=sys.stderr, flush=True)  # stdout stays machine-readable with --json

    report = run(
        args.levels,
        args.dossiers_per_level,
        args.warmup,
        args.rounds,
        args.store,
        args.phases,
        args.bytecode,
        say,
    )
    print(json.dumps(asdict(report)) if args.json else render(report), flush=True)


if __name__ == "__main__":
    main()
