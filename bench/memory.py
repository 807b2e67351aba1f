"""Memory of every Entraide process after N dossiers, beside a bare baseline process.

    python -m bench.memory [--dossiers 1000] [--concurrency 10] [--refer-every 10] [--json]
    python -m bench.memory --dossiers 200 --env ENTRAIDE_WORKFLOW_CACHE_SIZE=1000  # compare a setting
    python -m bench.memory --dossiers 200 --tracemalloc   # + the workflows worker's top allocations

The processes `make up` runs (intake, referral — which also runs the partner notifier —,
reporting, the workflows worker, the codec server, the console; each service process
runs its own outbox relay and consumers), started as the stack starts them
(`python -m <module>`, own session, logs under the run's state folder), against private
or given servers: PostgreSQL and NATS from DATABASE_URL / NATS_URL when set (a scratch
database and a stream of the run's own), Temporal always a private dev server (the
activity queues must not be a running stack's). Beside them, two baselines started the
same way: `bare-stack` (bench.memory_baseline: grpcio server, Temporal client and a
sandboxed worker polling with nothing to do, asyncpg pool, NATS connection) and
`bare-python` (the interpreter alone).

N dossiers then go through their lifecycle via the gRPC API (bench.memory_load), C in
flight. Each process's memory is read from /proc once all are ready (`idle`) and after
the run and a settle pause (`after`): VmRSS, VmHWM (peak RSS), PSS and USS. A process is
within the limit when its RSS after the run is below --limit-mb (150).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
import tracemalloc
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from nats.js.errors import NotFoundError

from bench import procmem
from bench.memory_load import Tally, run_load
from devstack import cli, processes, scratch, secrets
from devstack.ports import free_port
from devstack.servers import REPO_ROOT, ensure_servers, free_ports, private_components, stop_servers
from kernel import messaging, metrics

READY_TIMEOUT_S = 120.0
BARE_PYTHON = (
    "import os, pathlib, signal; signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM});"
    " pathlib.Path(os.environ['ENTRAIDE_READY_FILE']).write_text('ready'); signal.sigwait({signal.SIGTERM})"
)


@dataclass(frozen=True)
class Proc:
    name: str
    argv: list[str]
    kind: str  # "entraide" or "baseline"
    ready: str  # grpc | web | metrics | tcp | file


def stack_processes() -> list[Proc]:
    """The stack's application processes, as devstack.cli.APPS lists them, then the baselines."""
    ready = {"workflows": "metrics", "codec": "tcp"}
    procs = [
        Proc(
            app.name,
            [sys.executable, "-m", app.module],
            "entraide",
            "grpc" if app.is_grpc else "web" if app.is_web else ready[app.name],
        )
        for app in cli.APPS
    ]
    return [
        *procs,
        Proc("bare-stack", [sys.executable, "-m", "bench.memory_baseline"], "baseline", "file"),
        Proc("bare-python", [sys.executable, "-c", BARE_PYTHON], "baseline", "file"),
    ]


@dataclass
class Row:
    name: str
    kind: str
    pid: int
    idle: procmem.Memory | None = None
    after: procmem.Memory | None = None


@dataclass
class Report:
    dossiers: int
    referrals: int
    errors: int
    retries: int
    concurrency: int
    load_s: float
    limit_mb: float
    cores: int
    load_avg: tuple[float, float, float]
    servers_private: list[str]
    extra_env: dict[str, str]
    processes: list[Row]
    over_limit: list[str] = field(default_factory=list)
    tracemalloc_top: list[str] = field(default_factory=list)
    total_s: float = 0.0


def app_env(
    base: dict[str, str], database_url: str, nats_url: str, temporal: str, state: Path
) -> dict[str, str]:
    """The processes' environment: like the test sessions' (fresh database, stream and
    subject root, free ports, generated secrets), never a running stack's."""
    tag = uuid.uuid4().hex[:10]
    env = {k: v for k, v in base.items() if not k.startswith("ENTRAIDE_")}
    env.update(
        DATABASE_URL=database_url,
        NATS_URL=nats_url,
        TEMPORAL_ADDRESS=temporal,
        ENTRAIDE_EVENTS_STREAM=f"MEM_{tag.upper()}",
        ENTRAIDE_SUBJECT_ROOT=f"mem{tag}",
        # The notifier's partner stream too: never the PARTNERS stream of a shared NATS.
        ENTRAIDE_PARTNER_STREAM=f"MEMP_{tag.upper()}",
        ENTRAIDE_PARTNER_SUBJECT_ROOT=f"memp{tag}",
        ENTRAIDE_LOG_LEVEL="WARNING",
        ENTRAIDE_STATE_DIR=str(state / "apps"),
        ENTRAIDE_CONSOLE_AGENTS_FILE=str(cli.DEMO_AGENTS_FILE),
        # Messages to people go nowhere: this load queues none.
        ENTRAIDE_SMTP_HOST="127.0.0.1",
        ENTRAIDE_SMTP_PORT=str(free_port()),
        ENTRAIDE_MAIL_FROM="rendez-vous@entraide.bench",
        **secrets.generate(),
    )
    for app in cli.APPS:
        if app.is_grpc:
            env[app.port_var] = str(free_port())
        if app.is_web:
            env[app.web_port_var] = str(free_port())
    for name in metrics.DEFAULT_METRICS_PORTS:
        env[f"ENTRAIDE_{name.upper()}_METRICS_PORT"] = str(free_port())
    env["ENTRAIDE_CODEC_PORT"] = str(free_port())
    env["ENTRAIDE_CONSOLE_URL"] = f"http://127.0.0.1:{env['ENTRAIDE_CONSOLE_PORT']}"
    return env


async def _drop_streams(nats_url: str, names: Sequence[str]) -> None:
    """The run's streams, deleted at the end (a given NATS is shared)."""
    nc = await messaging.connect(nats_url, "bench-memory")
    try:
        js = nc.jetstream()
        for name in names:
            with contextlib.suppress(NotFoundError):
                await js.delete_stream(name)
    finally:
        await nc.close()


def _ready(proc: Proc, env: dict[str, str], ready_file: Path) -> bool:
    if proc.ready == "file":
        return ready_file.exists()
    if proc.ready == "grpc":
        return cli.health(f"127.0.0.1:{env[f'ENTRAIDE_{proc.name.upper()}_PORT']}", env) == "SERVING"
    if proc.ready == "web":
        return cli.web_health(f"http://127.0.0.1:{env['ENTRAIDE_CONSOLE_PORT']}") == "SERVING"
    if proc.ready == "metrics":
        try:
            with urllib.request.urlopen(metrics.url(proc.name, env), timeout=2) as reply:
                return bool(reply.status == 200)
        except OSError:
            return False
    with socket.socket() as s:  # tcp
        return s.connect_ex(("127.0.0.1", int(env["ENTRAIDE_CODEC_PORT"]))) == 0


def wait_ready(apps: Path, procs: Sequence[Proc], envs: dict[str, dict[str, str]]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    waiting = list(procs)
    while waiting:
        for proc in list(waiting):
            if processes.is_running(apps, proc.name) is None:
                log = processes.tail(processes.log_file(apps, proc.name))
                raise RuntimeError(f"{proc.name} exited; its log:\n{log}")
            if _ready(proc, envs[proc.name], apps / f"{proc.name}.ready"):
                waiting.remove(proc)
        if waiting and time.monotonic() > deadline:
            names = ", ".join(p.name for p in waiting)
            raise RuntimeError(f"not ready after {READY_TIMEOUT_S:.0f} s: {names}")
        time.sleep(0.3)


def _tracemalloc_top(
    apps: Path, name: str, pid: int, say: Callable[[str], None], limit: int = 25
) -> list[str]:
    """Asks process `name` for a tracemalloc snapshot (SIGUSR1) and groups it by line."""
    path = apps / f"{name}.tracemalloc"
    os.kill(pid, signal.SIGUSR1)
    for _ in range(300):
        if path.exists() and path.with_suffix(".done").exists():
            break
        time.sleep(0.1)
    else:
        say(f"no tracemalloc snapshot came back from {name}")
        return []
    snapshot = tracemalloc.Snapshot.load(str(path))
    stats = snapshot.statistics("lineno")
    total = sum(s.size for s in stats) / procmem.MIB
    lines = [f"traced Python allocations: {total:.1f} MB in all; top {limit} lines:"]
    for stat in stats[:limit]:
        frame = stat.traceback[0]
        lines.append(
            f"{stat.size / procmem.MIB:8.2f} MB {stat.count:>8} blocks  {frame.filename}:{frame.lineno}"
        )
    # Where in our code the largest allocation sites come from (needs
    # ENTRAIDE_TRACEMALLOC_FRAMES > 1): the innermost frame of the repository.
    ours = [stat for stat in snapshot.statistics("traceback")[: limit * 4] if len(stat.traceback) > 1]
    if ours:
        lines.append(f"top {limit} call sites (innermost frame in {REPO_ROOT}):")
    for stat in ours[:limit]:
        inside = [
            f for f in stat.traceback if f.filename.startswith(str(REPO_ROOT)) and "/.venv/" not in f.filename
        ]
        frame = inside[-1] if inside else stat.traceback[-1]
        lines.append(f"{stat.size / procmem.MIB:8.2f} MB  {frame.filename}:{frame.lineno}")
    by_file = snapshot.statistics("filename")
    lines.append(f"top {limit} files:")
    lines += [f"{s.size / procmem.MIB:8.2f} MB  {s.traceback[0].filename}" for s in by_file[:limit]]
    return lines


def run(args: argparse.Namespace, say: Callable[[str], None]) -> Report:
    began = time.perf_counter()
    state = Path(tempfile.mkdtemp(prefix="entraide-bench-memory-"))
    state.chmod(0o755)  # the private PostgreSQL may run as another system user
    servers, apps = state / "servers", state / "apps"
    apps.mkdir()
    base = {k: v for k, v in os.environ.items() if k not in ("TEMPORAL_ADDRESS", "TEMPORAL_UI_URL")}
    extra = dict(item.split("=", 1) for item in args.env)
    procs = stack_processes()
    started: list[str] = []
    database = ""
    env: dict[str, str] = {}
    try:
        say("starting servers...")
        endpoints = ensure_servers(servers, free_ports(), base)
        private = private_components(servers)
        say(f"servers ready (private: {', '.join(private) or 'none'})")
        database, database_url = asyncio.run(scratch.create_database(endpoints.database_url, "bench_memory"))
        env = app_env(base, database_url, endpoints.nats_url, endpoints.temporal_address, state)
        env.update(extra)
        envs: dict[str, dict[str, str]] = {}
        for proc in procs:
            envs[proc.name] = {**env, "ENTRAIDE_READY_FILE": str(apps / f"{proc.name}.ready")}
            if proc.name == args.tracemalloc:
                envs[proc.name]["ENTRAIDE_TRACEMALLOC_FILE"] = str(apps / f"{proc.name}.tracemalloc")
            processes.start_process(apps, proc.name, proc.argv, envs[proc.name], cwd=REPO_ROOT)
            started.append(proc.name)
        wait_ready(apps, procs, envs)
        rows = [Row(p.name, p.kind, processes.is_running(apps, p.name) or 0) for p in procs]
        time.sleep(args.settle)
        for row in rows:
            row.idle = procmem.read(row.pid)
        say(f"all {len(rows)} processes ready; {args.dossiers} dossiers, {args.concurrency} in flight...")
        load_began = time.perf_counter()
        tally: Tally = asyncio.run(run_load(env, args.dossiers, args.concurrency, args.refer_every, say))
        load_s = time.perf_counter() - load_began
        say(f"{tally.dossiers} dossiers closed in {load_s:.0f} s; settling {args.settle:.0f} s")
        time.sleep(args.settle)
        for row in rows:
            if processes.is_running(apps, row.name) is None:
                raise RuntimeError(
                    f"{row.name} died during the run:\n{processes.tail(processes.log_file(apps, row.name))}"
                )
            row.after = procmem.read(row.pid)
        traced = [r for r in rows if r.name == args.tracemalloc]
        top = _tracemalloc_top(apps, traced[0].name, traced[0].pid, say) if traced else []
        over = [
            r.name
            for r in rows
            if r.kind == "entraide" and r.after is not None and r.after.rss_mb >= args.limit_mb
        ]
        load1, load5, load15 = os.getloadavg()
        return Report(
            dossiers=tally.dossiers,
            referrals=tally.referrals,
            errors=tally.errors,
            retries=tally.retries,
            concurrency=args.concurrency,
            load_s=round(load_s, 1),
            limit_mb=args.limit_mb,
            cores=os.cpu_count() or 1,
            load_avg=(round(load1, 2), round(load5, 2), round(load15, 2)),
            servers_private=private,
            extra_env=extra,
            processes=rows,
            over_limit=over,
            tracemalloc_top=top,
            total_s=round(time.perf_counter() - began, 1),
        )
    finally:
        for name in reversed(started):
            processes.stop_process(apps, name, timeout=15)
        if env:
            streams = [env["ENTRAIDE_EVENTS_STREAM"], env["ENTRAIDE_PARTNER_STREAM"]]
            asyncio.run(_drop_streams(env["NATS_URL"], streams))
        if database:
            asyncio.run(scratch.drop_database(endpoints.database_url, database))
        stop_servers(servers)
        if args.keep_logs:
            say(f"logs kept in {apps}")
        else:
            shutil.rmtree(state, ignore_errors=True)


def render(report: Report) -> str:
    bare = next(r for r in report.processes if r.name == "bare-stack")
    floor = bare.after.rss_mb if bare.after else 0.0
    head = (
        f"{'process':<12} {'kind':<9} {'idle RSS':>9} {'RSS':>8} {'peak':>8} {'PSS':>8} {'USS':>8}"
        f" {'+bare':>7} {'thr':>4}  limit"
    )
    lines = [
        f"memory after {report.dossiers} dossiers ({report.referrals} with a referral,"
        f" {report.errors} failed, {report.retries} retried calls),"
        f" C={report.concurrency}, load {report.load_s:.0f} s; cores={report.cores}"
        f" load={report.load_avg[0]}/{report.load_avg[1]}/{report.load_avg[2]}",
        "MB = MiB; RSS, PSS, USS after the run and a settle pause; peak = VmHWM;"
        " +bare = RSS − bare-stack RSS",
        head,
    ]
    for row in report.processes:
        idle, after = row.idle, row.after
        if idle is None or after is None:
            continue
        verdict = "" if row.kind != "entraide" else ("OVER" if row.name in report.over_limit else "ok")
        lines.append(
            f"{row.name:<12} {row.kind:<9} {idle.rss_mb:>9.1f} {after.rss_mb:>8.1f} {after.hwm_mb:>8.1f}"
            f" {after.pss_mb:>8.1f} {after.uss_mb:>8.1f} {after.rss_mb - floor:>+7.1f}"
            f" {after.threads:>4}  {verdict}"
        )
    if report.extra_env:
        lines.append("extra environment: " + " ".join(f"{k}={v}" for k, v in report.extra_env.items()))
    limit = f"every Entraide process below {report.limit_mb:.0f} MB RSS"
    lines.append(
        f"{limit}: {'yes' if not report.over_limit else 'NO, over: ' + ', '.join(report.over_limit)}"
    )
    lines += report.tracemalloc_top
    lines.append(f"total {report.total_s:.0f} s")
    return "\n".join(lines)


def to_json(report: Report) -> dict[str, Any]:
    return asdict(report)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dossiers", type=int, default=1000, help="dossiers through the lifecycle (N)")
    parser.add_argument("--concurrency", type=int, default=10, help="dossiers in flight (C)")
    parser.add_argument(
        "--refer-every", type=int, default=10, help="every K-th dossier gets a referral (0: none)"
    )
    parser.add_argument("--settle", type=float, default=5.0, help="seconds before each reading")
    parser.add_argument("--limit-mb", type=float, default=150.0)
    parser.add_argument(
        "--env", action="append", default=[], metavar="KEY=VALUE", help="extra setting for every process"
    )
    parser.add_argument(
        "--tracemalloc",
        nargs="?",
        const="workflows",
        default="",
        metavar="PROCESS",
        help="trace one process's Python allocations (default: the workflows worker)",
    )
    parser.add_argument("--keep-logs", action="store_true", help="keep the state folder (logs) at the end")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    # SIGTERM (or SIGINT, which a background job ignores) unwinds: the processes,
    # servers and scratch database are cleaned up by run()'s finally.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    report = run(args, say)
    if args.json:  # the table too, on stderr, for the record
        say(render(report))
        print(json.dumps(to_json(report)))
    else:
        print(render(report))
    return 0 if report.errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
