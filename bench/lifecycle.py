"""Dossiers/s through the full lifecycle: DossierWorkflow with intake's real activities
against BareDossierWorkflow (same shape, no I/O), in the same run.

    python -m bench.lifecycle --dossiers 200 --concurrency 20 [--warmup 10] [--json]

Each dossier: update-with-start `open`, then record_interview, complete_ecoute
(→ orientation), record_follow_up, start_suivi, record_follow_up, close ("regle"):
one update-with-start and 6 updates, 7 activities.
The client talks to Temporal directly (no gRPC front): this measures the workflow
engine path and intake's activities, not the API layer.

Temporal is always a private dev server started for the run (never TEMPORAL_ADDRESS):
the workflow hard-codes the `intake` activity queue, which a running `make up` stack
also polls. PostgreSQL and NATS come from DATABASE_URL / NATS_URL when set, else are
private too; the bench works in a fresh database dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped, unused-ignore]
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.worker import Worker

from bench.bare_workflow import (
    BARE_ACTIVITY_TASK_QUEUE,
    BARE_WORKFLOW_TASK_QUEUE,
    BareDossierWorkflow,
    bare_opened,
    bare_transition,
)
from devstack import secrets
from devstack.scratch import fresh_database
from devstack.servers import ensure_servers, free_ports, private_components, stop_servers
from kernel import db, reference, runtime
from kernel import temporal as temporal_kernel
from kernel.settings import Settings
from services.intake.activities import IntakeActivities
from services.intake.service import SPEC as INTAKE_SPEC
from workflows import search_attributes as sa
from workflows.contracts import (
    DOSSIER_TASK_QUEUE,
    INTAKE_TASK_QUEUE,
    AgentInput,
    CloseInput,
    CompleteEcouteInput,
    DossierSpec,
    FollowUpInput,
    InterviewInput,
    LifecycleTimers,
    OpenedDossier,
    StepResult,
)
from workflows.dossier import DossierWorkflow

AGENT = "agent-bench"
# The steps after `open`, identical for both workflows: (update name, argument).
STEPS: tuple[tuple[str, object], ...] = (
    ("record_interview", InterviewInput(AGENT, "premier entretien")),
    ("complete_ecoute", CompleteEcouteInput(AGENT, "orientation")),
    ("record_follow_up", FollowUpInput(AGENT, "appel au bailleur")),
    ("start_suivi", AgentInput(AGENT)),
    ("record_follow_up", FollowUpInput(AGENT, "point d'étape")),
    ("close", CloseInput(AGENT, "regle", "situation réglée")),
)
ACTIVITIES_PER_DOSSIER = 1 + len(STEPS)

log = logging.getLogger("bench")


@dataclass(frozen=True)
class Flavour:
    """One of the two workflows under test and where its workflow tasks go."""

    name: str
    workflow: str
    task_queue: str
    id_prefix: str


BARE = Flavour("bare", "BareDossierWorkflow", BARE_WORKFLOW_TASK_QUEUE, "bare")
ENTRAIDE = Flavour("entraide", "DossierWorkflow", DOSSIER_TASK_QUEUE, "dossier")


@dataclass(frozen=True)
class Measure:
    dossiers: int
    wall_s: float
    rate: float  # dossiers per second
    p50_ms: float
    p95_ms: float


@dataclass(frozen=True)
class Report:
    dossiers: int
    concurrency: int
    warmup: int
    rounds: int
    cores: int
    load_before: float  # 1-minute load average when the run began (other work on the machine)
    order: str
    bare: Measure
    entraide: Measure
    ratio: float  # entraide rate / bare rate
    timeline_rows: int
    outbox_rows: int
    total_s: float


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (defined for any non-empty sample, even of 1 or 3)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def spec_for(dossier_id: str) -> DossierSpec:
    # Valid against the default reference data, as OpenDossier would build it.
    return DossierSpec(
        dossier_id=dossier_id,
        territory="55029",
        site="ccas-bar-le-duc",
        motifs=["logement"],
        arrival_channel="telephone",
        urgent=False,
        timers=LifecycleTimers(),
    )


async def one_dossier(client: Client, flavour: Flavour) -> float:
    """Runs one dossier from opening to closure; its latency in seconds."""
    dossier_id = str(uuid.uuid4())
    spec = spec_for(dossier_id)
    started = time.perf_counter()
    # As services/intake/grpc_api.py OpenDossier starts it (minus the gRPC layer).
    start: WithStartWorkflowOperation[Any, str] = WithStartWorkflowOperation(
        flavour.workflow,
        spec,
        id=f"{flavour.id_prefix}-{dossier_id}",
        task_queue=flavour.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        search_attributes=sa.initial(spec.territory, spec.urgent),
        result_type=str,
    )
    opened = await client.execute_update_with_start_workflow(
        "open", start_workflow_operation=start, result_type=OpenedDossier
    )
    assert opened.created, f"{flavour.name}: dossier {dossier_id} was not created"
    handle = await start.workflow_handle()
    result: StepResult | None = None
    for update, argument in STEPS:
        result = await handle.execute_update(update, argument, result_type=StepResult)
    assert result is not None and result.stage == "cloture", f"{flavour.name}: ended in {result}"
    return time.perf_counter() - started


async def run_many(
    client: Client, flavour: Flavour, count: int, concurrency: int
) -> tuple[list[float], float]:
    """`count` dossiers, at most `concurrency` in flight: their latencies, and the wall
    time from the first start to the last closure."""
    gate = asyncio.Semaphore(concurrency)

    async def gated() -> float:
        async with gate:
            return await one_dossier(client, flavour)

    started = time.perf_counter()
    latencies = await asyncio.gather(*(gated() for _ in range(count)))
    return list(latencies), time.perf_counter() - started


def summarise(latencies: Sequence[float], wall: float) -> Measure:
    return Measure(
        dossiers=len(latencies),
        wall_s=round(wall, 3),
        rate=round(len(latencies) / wall, 2),
        p50_ms=round(percentile(latencies, 50) * 1000, 1),
        p95_ms=round(percentile(latencies, 95) * 1000, 1),
    )


def round_sizes(total: int, rounds: int) -> list[int]:
    """`total` split into at most `rounds` non-empty, near-equal parts."""
    rounds = min(rounds, total)
    return [total // rounds + (1 if i < total % rounds else 0) for i in range(rounds)]


async def measure(
    client: Client,
    dossiers: int,
    concurrency: int,
    warmup: int,
    rounds: int,
    first: Flavour,
    say: Callable[[str], None],
) -> dict[str, Measure]:
    """Both workflows in the same run, interleaved in rounds A B | B A | A B...: a change
    of load on the machine or a slow-down as the server's store grows hits both alike."""
    second = ENTRAIDE if first is BARE else BARE
    if warmup:
        # Not measured: fills the workers' caches, the sandbox's module cache, the pool
        # and the server's task queues before the clock starts.
        for flavour in (first, second):
            await run_many(client, flavour, warmup, concurrency)
    latencies: dict[str, list[float]] = {BARE.name: [], ENTRAIDE.name: []}
    walls = {BARE.name: 0.0, ENTRAIDE.name: 0.0}
    for index, size in enumerate(round_sizes(dossiers, rounds)):
        for flavour in (first, second) if index % 2 == 0 else (second, first):
            batch, wall = await run_many(client, flavour, size, concurrency)
            latencies[flavour.name] += batch
            walls[flavour.name] += wall
            say(f"round {index + 1}: {flavour.name} {size} dossiers in {wall:.1f} s")
    return {name: summarise(latencies[name], walls[name]) for name in latencies}


def entraide_workers(client: Client, pool: db.Pool, settings: Settings) -> list[Worker]:
    """As deployed: the workflow worker (default sandbox) and intake's activity worker
    with their default options."""
    intake = IntakeActivities(pool, reference.load(settings.env))
    return [
        Worker(client, task_queue=DOSSIER_TASK_QUEUE, workflows=[DossierWorkflow]),
        Worker(
            client,
            task_queue=INTAKE_TASK_QUEUE,
            activities=[intake.record_dossier_opened, intake.record_transition],
        ),
    ]


async def bench(
    settings: Settings,
    dossiers: int,
    concurrency: int,
    warmup: int,
    rounds: int,
    order: str,
    say: Callable[[str], None],
) -> tuple[Measure, Measure, int, int]:
    # Wired as intake runs in production: migrations as the schema owner, then a pool
    # whose connections SET ROLE to the application role (row-level security applies),
    # and the services' Temporal client (payload encryption included).
    await runtime.migrate(INTAKE_SPEC, settings)
    pool = await db.create_pool(settings.database_url, role=settings.db_role)
    try:
        client = await temporal_kernel.connect(settings)
        # The baseline gets the same pair of workers as Entraide's.
        workers = [
            *entraide_workers(client, pool, settings),
            Worker(client, task_queue=BARE_WORKFLOW_TASK_QUEUE, workflows=[BareDossierWorkflow]),
            Worker(client, task_queue=BARE_ACTIVITY_TASK_QUEUE, activities=[bare_opened, bare_transition]),
        ]
        async with workers[0], workers[1], workers[2], workers[3]:
            first = BARE if order == "bare-first" else ENTRAIDE
            results = await measure(client, dossiers, concurrency, warmup, rounds, first, say)
        # The real run really wrote: one timeline row per activity, and the events. Counted
        # as the owner, which row-level security does not filter.
        owner = await asyncpg.connect(settings.migration_database_url)
        try:
            timeline_rows = int(await owner.fetchval("SELECT count(*) FROM intake.dossier_timeline"))
            outbox_rows = int(await owner.fetchval("SELECT count(*) FROM intake.outbox"))
        finally:
            await owner.close()
        expected = (dossiers + warmup) * ACTIVITIES_PER_DOSSIER
        if timeline_rows != expected:
            raise RuntimeError(f"expected {expected} timeline rows, found {timeline_rows}")
        return results["bare"], results["entraide"], timeline_rows, outbox_rows
    finally:
        await pool.close()


def run(
    dossiers: int, concurrency: int, warmup: int, rounds: int, order: str, say: Callable[[str], None]
) -> Report:
    began = time.perf_counter()
    load_before = round(os.getloadavg()[0], 2)
    state_dir = Path(tempfile.mkdtemp(prefix="entraide-bench-"))
    state_dir.chmod(0o755)  # the private PostgreSQL may run as another system user
    servers = state_dir / "servers"
    # Never TEMPORAL_ADDRESS (see the module docstring): always a private Temporal. Fresh
    # secrets: the private server holds nothing encrypted with the stack's own keys.
    env = {k: v for k, v in os.environ.items() if k not in ("TEMPORAL_ADDRESS", "TEMPORAL_UI_URL")}
    env.update(secrets.generate())
    try:
        say("starting servers...")
        endpoints = ensure_servers(servers, free_ports(), env)
        say(f"servers ready (private: {', '.join(private_components(servers)) or 'none'})")

        async def main() -> tuple[Measure, Measure, int, int]:
            async with fresh_database(endpoints.database_url, "bench") as url:
                settings = Settings.from_env(
                    {**env, "DATABASE_URL": url, "TEMPORAL_ADDRESS": endpoints.temporal_address}
                )
                return await bench(settings, dossiers, concurrency, warmup, rounds, order, say)

        bare, entraide, timeline_rows, outbox_rows = asyncio.run(main())
    finally:
        # Only what this run started: external servers have no pid file in this dir.
        stop_servers(servers)
        shutil.rmtree(state_dir, ignore_errors=True)
    return Report(
        dossiers=dossiers,
        concurrency=concurrency,
        warmup=warmup,
        rounds=len(round_sizes(dossiers, rounds)),
        cores=os.cpu_count() or 1,
        load_before=load_before,
        order=order,
        bare=bare,
        entraide=entraide,
        ratio=round(entraide.rate / bare.rate, 3),
        timeline_rows=timeline_rows,
        outbox_rows=outbox_rows,
        total_s=round(time.perf_counter() - began, 1),
    )


def table_header(first: str) -> str:
    """The header of a table of Measures, its first column titled `first`."""
    return f"{first:10} {'dossiers/s':>10} {'wall s':>8} {'p50 ms':>8} {'p95 ms':>8}"


def table_row(name: str, m: Measure) -> str:
    return f"{name:10} {m.rate:>10.2f} {m.wall_s:>8.2f} {m.p50_ms:>8.1f} {m.p95_ms:>8.1f}"


def render(report: Report) -> str:
    return "\n".join(
        [
            f"dossiers N={report.dossiers}  concurrency C={report.concurrency}  "
            f"warm-up={report.warmup} each  rounds={report.rounds}  order={report.order}  "
            f"cores={report.cores}  load={report.load_before}",
            table_header(""),
            table_row("bare", report.bare),
            table_row("entraide", report.entraide),
            f"ratio entraide/bare = {report.ratio:.3f}",
            f"written: {report.timeline_rows} timeline rows, {report.outbox_rows} outbox rows; "
            f"run took {report.total_s} s",
        ]
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.lifecycle", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dossiers", type=int, default=200, help="measured dossiers per workflow (N)")
    parser.add_argument("--concurrency", type=int, default=20, help="dossiers in flight at once (C)")
    parser.add_argument(
        "--warmup",
        type=int,
        default=None,
        help="unmeasured dossiers per workflow before measuring (default: the concurrency, at least 10)",
    )
    parser.add_argument(
        "--rounds", type=int, default=4, help="measured rounds, alternating which workflow goes first"
    )
    parser.add_argument(
        "--order",
        choices=("bare-first", "entraide-first"),
        default="bare-first",
        help="which workflow opens the first round",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = parser.parse_args(argv)
    if args.warmup is None:
        # A full batch in flight at once before the clock starts: with fewer, the first
        # measured round paid for the server and workers ramping up to C dossiers.
        args.warmup = max(10, args.concurrency)
    if args.dossiers < 1 or args.concurrency < 1 or args.rounds < 1 or args.warmup < 0:
        parser.error("--dossiers, --concurrency and --rounds must be >= 1, --warmup >= 0")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    def say(message: str) -> None:
        # Progress on stderr, so that --json leaves stdout machine-readable.
        print(message, file=sys.stderr, flush=True)

    report = run(args.dossiers, args.concurrency, args.warmup, args.rounds, args.order, say)
    data: dict[str, Any] = asdict(report)
    print(json.dumps(data) if args.json else render(report), flush=True)


if __name__ == "__main__":
    main()
