"""The dossier page's reads (GetDossier + GetDossierTimeline at once) at 1, 10 and 50
concurrent callers: the real intake server against a bare grpc.aio server doing the same
reads, in the same run.

    python -m bench.read_path [--callers 1,10,50] [--seconds 10] [--rounds 2] [--dossiers 20] [--json]

* **entraide**: `python -m services.intake` as deployed — its interceptors (token
  verification, roles, hard-input checks, idempotency path, metrics, logs), its
  handlers, and the access log (a read is answered only once its log row is committed).
* **bare**: a plain grpc.aio server (`--serve-bare`, a process of its own) answering the
  same two methods with the same SQL (intake's repository functions, the same
  statements) under the same role (`entraide_app`) and the same row-level security
  settings (`set_config` of the caller's territories, subject and role), and the same
  Temporal query for the timeline's deadlines; no token, no interceptor, no access log.
  One connection per call.

Both servers run at once against the same PostgreSQL (DATABASE_URL when set, else a
private one) in a scratch database dropped at the end; Temporal is always a private dev
server (never TEMPORAL_ADDRESS); the workflow worker runs too (the timeline asks the
dossier's workflow for its deadlines). Dossiers are opened and interviewed through the
real RPCs, so each has a workflow, a timeline and notes. For each number of callers the
rounds alternate which server goes first. At the end the access log must hold one row
per answered read of the real server (and the bench says so).

BENCH_INTAKE_ARGV / BENCH_BARE_ARGV (environment, split on spaces): another command for
either server (a profiling harness, an older tree's intake for a before/after).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped, unused-ignore]
import grpc
import psutil
from entraide.v1 import intake_pb2, intake_pb2_grpc

from bench.lifecycle import percentile
from devstack import processes, secrets
from devstack.scratch import fresh_database
from devstack.servers import ensure_servers, free_ports, private_components, stop_servers
from kernel import client, db, reference, runtime
from kernel import temporal as temporal_kernel
from kernel.auth import Claims, Role, mint
from kernel.settings import Settings
from kernel.timestamps import to_timestamp
from services.intake import access, repository
from services.intake.aides import store as aid_store
from services.intake.collective import timeline as collective_timeline
from services.intake.grpc_api import dossier_message, dossier_timeline_message
from services.intake.service import SPEC as INTAKE_SPEC
from services.intake.service import timers as lifecycle_timers
from workflows.contracts import dossier_workflow_id
from workflows.dossier import DossierWorkflow

COMMUNE = "55029"
AGENT = "agent-lecture"
ROLE = Role.TRAVAILLEUR_SOCIAL
BARE_PORT_VAR = "BENCH_BARE_PORT"
# Whose CPU time each measure counts: the server process.
SERVER_PROCESS = {"bare": "bare", "entraide": "intake"}
READ_METHODS = (
    "/entraide.v1.IntakeService/GetDossier",
    "/entraide.v1.IntakeService/GetDossierTimeline",
)


# ---- the bare server ---------------------------------------------------------------------
class BareIntake(intake_pb2_grpc.IntakeServiceServicer):
    """The same reads as IntakeServicer's, for one fixed caller, without the platform."""

    def __init__(self, pool: db.Pool, temporal: Any, settings: Settings) -> None:
        self.pool = pool
        self.temporal = temporal
        self.sites = reference.load(settings.env).sites
        self.timers = lifecycle_timers(settings)
        self.claims = Claims(AGENT, ROLE, frozenset({COMMUNE}))

    async def _scoped(self, conn: db.Connection) -> None:
        # The statement ScopedPool runs (kernel.db._scope), same settings.
        await db._scope(conn, self.claims.territories, self.claims.subject, ROLE.value, all_notes=False)

    async def _check(self, conn: db.Connection, dossier_id: str, context: Any) -> None:
        territory = await repository.dossier_territory(conn, dossier_id)
        if territory is None or territory not in self.claims.territories:
            await context.abort(grpc.StatusCode.NOT_FOUND, "no such dossier")

    async def _row(self, conn: db.Connection, dossier_id: str, context: Any) -> asyncpg.Record:
        row = await repository.get_dossier_view(conn, dossier_id, self.timers, datetime.now(UTC))
        if row is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, "no such dossier")
        assert row is not None  # abort raised otherwise
        return row

    async def _deadlines(self, dossier_id: str) -> list[intake_pb2.Deadline]:
        handle = self.temporal.get_workflow_handle(dossier_workflow_id(dossier_id))
        view = await handle.query(DossierWorkflow.view)
        return [intake_pb2.Deadline(kind=d.kind, due_at=to_timestamp(d.due_at)) for d in view.deadlines]

    async def GetDossier(self, request: intake_pb2.GetDossierRequest, context: Any) -> intake_pb2.Dossier:
        async with self.pool.acquire() as conn:
            await self._scoped(conn)
            await self._check(conn, request.dossier_id, context)
            row = await self._row(conn, request.dossier_id, context)
        return dossier_message(row, self.sites)

    async def GetDossierTimeline(
        self, request: intake_pb2.GetDossierRequest, context: Any
    ) -> intake_pb2.DossierTimeline:
        dossier_id = request.dossier_id
        async with self.pool.acquire() as conn:
            await self._scoped(conn)
            await self._check(conn, dossier_id, context)
            # As the real handler: the workflow's deadlines while the rows are read.
            deadlines = asyncio.create_task(self._deadlines(dossier_id))
            row = await self._row(conn, dossier_id, context)
            entries = await repository.timeline_of(conn, dossier_id)
            collective = await collective_timeline.rows_of(conn, dossier_id)
            if ROLE in access.FOLLOWING:
                collective += await aid_store.timeline_entries(conn, dossier_id)
            notes = await repository.notes_visible_to(conn, dossier_id, AGENT)
        return dossier_timeline_message(row, entries, collective, notes, await deadlines, self.sites)


async def serve_bare(env: dict[str, str]) -> None:
    settings = Settings.from_env(env)
    pool = await db.create_pool(settings.database_url, role=settings.db_role)
    temporal = await temporal_kernel.connect(settings)
    server = grpc.aio.server()
    intake_pb2_grpc.add_IntakeServiceServicer_to_server(
        BareIntake(pool, temporal, settings),  # type: ignore[abstract]  # two methods served
        server,
    )
    server.add_insecure_port(f"127.0.0.1:{env[BARE_PORT_VAR]}")
    await server.start()
    await server.wait_for_termination()


# ---- load --------------------------------------------------------------------------------
@dataclass
class Samples:
    page_ms: list[float] = field(default_factory=list)
    wall_s: float = 0.0
    errors: int = 0
    cpu_s: float = 0.0  # the server process's CPU time during the phase


@dataclass(frozen=True)
class Measure:
    pages: int
    rate: float  # pages per second
    p50_ms: float
    p95_ms: float
    errors: int
    cpu_ms_per_page: float  # the server process's CPU (not PostgreSQL's, Temporal's)


@dataclass(frozen=True)
class Level:
    callers: int
    load: float  # 1-minute load average after the level's rounds
    bare: Measure
    entraide: Measure
    ratio: float  # entraide pages/s ÷ bare pages/s
    p95_ratio: float  # entraide p95 ÷ bare p95


@dataclass(frozen=True)
class Report:
    seconds: float
    rounds: int
    dossiers: int
    cores: int
    load_before: float
    levels: list[Level]
    reads_answered: int  # by the real server, warm-up included
    access_log_rows: int  # its read rows for the two methods
    access_log_commits: int  # the statements (transactions) that wrote them
    total_s: float


async def _caller(stub: Any, ids: Sequence[str], until: float, samples: Samples, seed: int) -> None:
    rng = random.Random(seed)
    while time.monotonic() < until:
        request = intake_pb2.GetDossierRequest(dossier_id=rng.choice(ids))
        start = time.perf_counter()
        try:
            # As a dossier page asks for them: both at once.
            await asyncio.gather(
                stub.GetDossier(request, timeout=30), stub.GetDossierTimeline(request, timeout=30)
            )
        except grpc.RpcError:
            samples.errors += 1
            continue
        samples.page_ms.append((time.perf_counter() - start) * 1000)


def cpu_s(pid: int | None) -> float:
    if pid is None:
        return 0.0
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


async def phase(
    stub: Any, ids: Sequence[str], callers: int, seconds: float, pid: int | None = None
) -> Samples:
    samples = Samples()
    cpu_before = cpu_s(pid)
    start = time.monotonic()
    until = start + seconds
    await asyncio.gather(*(_caller(stub, ids, until, samples, n) for n in range(callers)))
    samples.wall_s = time.monotonic() - start
    samples.cpu_s = cpu_s(pid) - cpu_before
    return samples


def measure(parts: Sequence[Samples]) -> Measure:
    pages = [ms for s in parts for ms in s.page_ms]
    wall = sum(s.wall_s for s in parts)
    cpu = sum(s.cpu_s for s in parts)
    return Measure(
        pages=len(pages),
        cpu_ms_per_page=round(cpu * 1000 / len(pages), 2) if pages else float("nan"),
        rate=round(len(pages) / wall, 1) if wall else 0.0,
        p50_ms=round(percentile(pages, 50), 1) if pages else float("nan"),
        p95_ms=round(percentile(pages, 95), 1) if pages else float("nan"),
        errors=sum(s.errors for s in parts),
    )


# ---- set-up ------------------------------------------------------------------------------
def app_env(env: dict[str, str], database_url: str, temporal: str, state_dir: Path) -> dict[str, str]:
    tag = uuid.uuid4().hex[:10]
    ports = iter(free_ports_list(4))
    return {
        **{k: v for k, v in env.items() if not k.startswith("ENTRAIDE_")},
        **secrets.generate(),
        "DATABASE_URL": database_url,
        "TEMPORAL_ADDRESS": temporal,
        "ENTRAIDE_EVENTS_STREAM": f"BENCH_{tag.upper()}",
        "ENTRAIDE_SUBJECT_ROOT": f"bench{tag}",
        "ENTRAIDE_STATE_DIR": str(state_dir / "apps"),
        "ENTRAIDE_INTAKE_PORT": str(next(ports)),
        "ENTRAIDE_INTAKE_METRICS_PORT": str(next(ports)),
        "ENTRAIDE_WORKFLOWS_METRICS_PORT": str(next(ports)),
        BARE_PORT_VAR: str(next(ports)),
    }


def free_ports_list(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()


async def wait_serving(address: str, what: str, log: Path, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    async with grpc.aio.insecure_channel(address) as channel:
        while True:
            try:
                await asyncio.wait_for(channel.channel_ready(), timeout=1)
                return
            except TimeoutError:
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"{what} not serving on {address}; log:\n{processes.tail(log)}"
                    ) from None


async def seed(stub: Any, count: int, say: Callable[[str], None]) -> list[str]:
    """Dossiers opened and interviewed twice through the real RPCs (workflow, timeline, notes)."""

    async def one(n: int) -> str:
        opened = await stub.OpenDossier(
            intake_pb2.OpenDossierRequest(
                request_id=f"bench-read-{n}-{uuid.uuid4().hex[:8]}",
                territory=COMMUNE,
                motifs=["logement"],
                arrival_channel="telephone",
                assigned_agent=AGENT,
            ),
            timeout=60,
        )
        dossier_id: str = opened.dossier.dossier_id
        for notes in ("Premier entretien : situation décrite.", "Second entretien : pistes évoquées."):
            await stub.RecordInterview(
                intake_pb2.RecordInterviewRequest(
                    dossier_id=dossier_id, notes=notes, visibility="team", request_id=str(uuid.uuid4())
                ),
                timeout=60,
            )
        return dossier_id

    gate = asyncio.Semaphore(5)

    async def gated(n: int) -> str:
        async with gate:
            return await one(n)

    ids = list(await asyncio.gather(*(gated(n) for n in range(count))))
    say(f"seeded {len(ids)} dossiers (2 interviews each)")
    return ids


async def bench(
    env: dict[str, str], state_dir: Path, args: argparse.Namespace, say: Callable[[str], None]
) -> tuple[list[Level], int, int, int]:
    settings = Settings.from_env(env)
    await runtime.migrate(INTAKE_SPEC, settings)
    apps = state_dir / "apps"
    names = {
        # BENCH_INTAKE_ARGV / BENCH_BARE_ARGV: other commands (profiling harnesses).
        "intake": os.environ.get("BENCH_INTAKE_ARGV", "").split()
        or [sys.executable, "-m", "services.intake"],
        "workflows": [sys.executable, "-m", "workflows.worker"],
        "bare": os.environ.get("BENCH_BARE_ARGV", "").split()
        or [sys.executable, "-m", "bench.read_path", "--serve-bare"],
    }
    try:
        for name, argv in names.items():
            processes.start_process(apps, name, argv, env)
        real_address = settings.grpc_address("intake")
        bare_address = f"127.0.0.1:{env[BARE_PORT_VAR]}"
        await wait_serving(real_address, "intake", processes.log_file(apps, "intake"))
        await wait_serving(bare_address, "bare server", processes.log_file(apps, "bare"))
        token = mint(env["ENTRAIDE_JWT_SECRET"], AGENT, ROLE, [COMMUNE])
        async with (
            client.aio_channel(real_address, env, token) as real_channel,
            client.aio_channel(bare_address, env, token) as bare_channel,
        ):
            real = intake_pb2_grpc.IntakeServiceStub(real_channel)
            bare = intake_pb2_grpc.IntakeServiceStub(bare_channel)
            ids = await seed(real, args.dossiers, say)
            answered = 0
            # Warm-up, not measured: connections opened, caches filled, in both.
            for stub in (bare, real):
                got = await phase(stub, ids, max(args.callers), min(2.0, args.seconds))
                if stub is real:
                    answered += len(got.page_ms)
            levels = []
            per_round = args.seconds / args.rounds
            pids = {
                "bare": processes.is_running(apps, "bare"),
                "entraide": processes.is_running(apps, "intake"),
            }
            for index, callers in enumerate(args.callers):
                parts: dict[str, list[Samples]] = {"bare": [], "entraide": []}
                for number in range(args.rounds):
                    order = ["bare", "entraide"] if (number + index) % 2 == 0 else ["entraide", "bare"]
                    for name in order:
                        say(f"callers={callers} round {number + 1}/{args.rounds}: {name} ({per_round:.1f} s)")
                        got = await phase(
                            bare if name == "bare" else real, ids, callers, per_round, pids[name]
                        )
                        parts[name].append(got)
                        if name == "entraide":
                            answered += len(got.page_ms)
                b, e = measure(parts["bare"]), measure(parts["entraide"])
                levels.append(
                    Level(
                        callers=callers,
                        load=round(os.getloadavg()[0], 2),
                        bare=b,
                        entraide=e,
                        ratio=round(e.rate / b.rate, 3) if b.rate else float("nan"),
                        p95_ratio=round(e.p95_ms / b.p95_ms, 3) if b.p95_ms else float("nan"),
                    )
                )
                say(render_level(levels[-1]))
        # Every answered read has its committed row (two reads per page). As the owner:
        # row-level security does not filter it.
        owner = await asyncpg.connect(settings.migration_database_url)
        try:
            # Rows of one statement share their transaction's `at` (now()): distinct
            # values count the commits.
            counted = await owner.fetchrow(
                "SELECT count(*) AS rows, count(DISTINCT at) AS commits FROM audit.access_log"
                " WHERE action = 'read' AND method = ANY($1)",
                list(READ_METHODS),
            )
        finally:
            await owner.close()
        assert counted is not None  # an aggregate: always one row
        return levels, answered * 2, int(counted["rows"]), int(counted["commits"])
    finally:
        for name in names:
            processes.stop_process(apps, name, timeout=10)


def run(args: argparse.Namespace, say: Callable[[str], None]) -> Report:
    began = time.perf_counter()
    load_before = round(os.getloadavg()[0], 2)
    state_dir = Path(tempfile.mkdtemp(prefix="entraide-bench-read-"))
    state_dir.chmod(0o755)  # the private PostgreSQL may run as another system user
    servers = state_dir / "servers"
    # Never TEMPORAL_ADDRESS: intake's activity queue would be shared with a running stack.
    env = {k: v for k, v in os.environ.items() if k not in ("TEMPORAL_ADDRESS", "TEMPORAL_UI_URL")}
    try:
        say("starting servers...")
        endpoints = ensure_servers(servers, free_ports(), env)
        say(f"servers ready (private: {', '.join(private_components(servers)) or 'none'})")

        async def main() -> tuple[list[Level], int, int, int]:
            async with fresh_database(endpoints.database_url, "bench") as url:
                apps = app_env(
                    {**env, "NATS_URL": endpoints.nats_url}, url, endpoints.temporal_address, state_dir
                )
                return await bench(apps, state_dir, args, say)

        levels, answered, rows, commits = asyncio.run(main())
    finally:
        stop_servers(servers)
        shutil.rmtree(state_dir, ignore_errors=True)
    return Report(
        seconds=args.seconds,
        rounds=args.rounds,
        dossiers=args.dossiers,
        cores=os.cpu_count() or 1,
        load_before=load_before,
        levels=levels,
        reads_answered=answered,
        access_log_rows=rows,
        access_log_commits=commits,
        total_s=round(time.perf_counter() - began, 1),
    )


def render_level(level: Level) -> str:
    b, e = level.bare, level.entraide
    return "\n".join(
        [
            f"callers={level.callers}  load={level.load}",
            f"{'':10} {'pages/s':>9} {'p50 ms':>8} {'p95 ms':>8} {'cpu ms/page':>11}"
            f" {'pages':>7} {'errors':>6}",
            f"{'bare':10} {b.rate:>9.1f} {b.p50_ms:>8.1f} {b.p95_ms:>8.1f} {b.cpu_ms_per_page:>11.2f}"
            f" {b.pages:>7} {b.errors:>6}",
            f"{'entraide':10} {e.rate:>9.1f} {e.p50_ms:>8.1f} {e.p95_ms:>8.1f} {e.cpu_ms_per_page:>11.2f}"
            f" {e.pages:>7} {e.errors:>6}",
            f"ratio entraide/bare = {level.ratio:.3f}  p95 ratio = {level.p95_ratio:.3f}",
        ]
    )


def render(report: Report) -> str:
    head = (
        f"dossier page reads: {report.seconds:g} s per server and level, rounds={report.rounds}, "
        f"dossiers={report.dossiers}, cores={report.cores}, load={report.load_before}"
    )
    complete = "complete" if report.access_log_rows >= report.reads_answered else "INCOMPLETE"
    tail = (
        f"access log: {report.access_log_rows} read rows for {report.reads_answered} answered reads"
        f" in {report.access_log_commits} commits"
        f" ({complete}); run took {report.total_s} s"
    )
    return "\n".join([head, *(render_level(level) for level in report.levels), tail])


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.read_path", description=__doc__.split("\n\n")[0])
    parser.add_argument("--callers", default="1,10,50", help="concurrent callers, comma-separated levels")
    parser.add_argument("--seconds", type=float, default=10.0, help="per server and level, over the rounds")
    parser.add_argument("--rounds", type=int, default=2, help="rounds per level, alternating the order")
    parser.add_argument("--dossiers", type=int, default=20, help="dossiers seeded (each read at random)")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.add_argument("--serve-bare", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not args.serve_bare:
        try:
            args.callers = [int(c) for c in args.callers.split(",") if c.strip()]
        except ValueError:
            parser.error("--callers: comma-separated integers")
        if not args.callers or min(args.callers) < 1 or args.rounds < 1 or args.seconds <= 0:
            parser.error("--callers >= 1, --rounds >= 1, --seconds > 0")
        if args.dossiers < 1:
            parser.error("--dossiers >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve_bare:
        asyncio.run(serve_bare(dict(os.environ)))
        return 0

    def say(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    report = run(args, say)
    print(json.dumps(asdict(report)) if args.json else render(report), flush=True)
    errors = sum(level.bare.errors + level.entraide.errors for level in report.levels)
    return 0 if errors == 0 and report.access_log_rows >= report.reads_answered else 1


if __name__ == "__main__":
    sys.exit(main())
