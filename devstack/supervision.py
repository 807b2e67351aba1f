"""supervisord for the application processes of the local stack.

`entraide-stack up` writes `state_dir/supervisord.conf` and starts supervisord (its pid file under
`pids/`, like every process of the stack, its log `logs/supervisord.log`, its control socket
`supervisord.sock`). supervisord starts each program, sends its stdout and stderr to
`logs/<name>.log` and starts it again whenever it exits; the environment is the one `up` computed,
which supervisord passes on to its children. An event listener (devstack.process_events) records
every state change in `logs/process-events.jsonl`, which is where the restart counts come from.
`entraide-stack down` stops the programs through supervisord, then supervisord itself, then any
process a dead supervisord left behind (found by the socket address supervisord gives them).
"""

from __future__ import annotations

import fcntl
import hashlib
import http.client
import logging
import os
import pwd
import shlex
import signal
import socket
import sys
import tempfile
import time
import xmlrpc.client
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import psutil

from devstack import process_events, processes

log = logging.getLogger("devstack")

SUPERVISORD = "supervisord"  # the name of its pid file and of its log file
EVENT_LISTENER = "process-events"

# A program must stay up START_SECS to count as started; a start that fails sooner is retried
# START_RETRIES times, supervisord waiting 1 s, then 2 s, 3 s ... between attempts (36 s in all),
# then gives up (FATAL) until the next `make up`. A program that exits after having started is
# started again at once, however many times.
START_SECS = 3
START_RETRIES = 8
# SIGTERM first (the services drain and stop cleanly), SIGKILL to the whole group after this.
STOP_WAIT_S = 15
LOG_MAX_BYTES = "50MB"
LOG_BACKUPS = 5
READY_TIMEOUT = 20.0

# supervisord's state names (supervisor.states.ProcessStates).
UP_STATES = frozenset({"STARTING", "RUNNING"})
GAVE_UP_STATES = frozenset({"FATAL", "STOPPED", "UNKNOWN"})

# Fault codes of supervisord's XML-RPC interface (supervisor.xmlrpc.Faults).
_FAULT_BAD_NAME = 10
_FAULT_ALREADY_STARTED = 60
_FAULT_NOT_RUNNING = 70


# What a call to supervisord may raise when it does not answer (Faults are caught before).
_UNREACHABLE = (OSError, xmlrpc.client.Error, http.client.HTTPException)


class SupervisionError(RuntimeError):
    """supervisord did not start or does not answer; the message names its log file."""


@dataclass(frozen=True)
class Program:
    name: str
    argv: Sequence[str]


@dataclass(frozen=True)
class ProgramStatus:
    name: str
    state: str  # supervisord's: STARTING, RUNNING, BACKOFF, STOPPING, STOPPED, EXITED, FATAL
    pid: int | None
    uptime_s: float | None
    restarts: int
    last_unexpected_exit: float | None
    detail: str  # supervisord's description when not up, e.g. "Exited too quickly"

    @property
    def up(self) -> bool:
        return self.state in UP_STATES

    def describe(self) -> str:
        parts = [self.state]
        if self.pid:
            parts.append(f"pid {self.pid}")
        if self.uptime_s is not None:
            parts.append(f"uptime {timedelta(seconds=int(self.uptime_s))}")
        restarts = f"restarts: {self.restarts}"
        if self.last_unexpected_exit is not None:
            at = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.last_unexpected_exit))
            restarts += f" (last unexpected exit {at})"
        parts.append(restarts)
        if not self.up and self.detail:
            parts.append(self.detail)
        return ", ".join(parts)


# --- files ------------------------------------------------------------------------------------


def config_file(state_dir: Path) -> Path:
    return state_dir / "supervisord.conf"


def log_file(state_dir: Path) -> Path:
    return processes.log_file(state_dir, SUPERVISORD)


def events_file(state_dir: Path) -> Path:
    return processes.log_dir(state_dir) / f"{EVENT_LISTENER}.jsonl"


def socket_file(state_dir: Path) -> Path:
    """`state_dir/supervisord.sock`, or a name under /tmp when that path is too long for a socket."""
    state_dir = state_dir.resolve()
    candidate = state_dir / "supervisord.sock"
    if len(str(candidate)) <= 100:
        return candidate
    digest = hashlib.sha256(str(state_dir).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"entraide-supervisord-{os.getuid()}-{digest}.sock"


def server_url(state_dir: Path) -> str:
    """What supervisord puts in its children's SUPERVISOR_SERVER_URL."""
    return f"unix://{socket_file(state_dir)}"


def render_config(state_dir: Path, programs: Sequence[Program], cwd: Path) -> str:
    """supervisord.conf for `programs` (started in this order, stopped in the reverse one)."""
    state_dir = state_dir.resolve()
    logs = processes.log_dir(state_dir)

    def value(text: object) -> str:
        return str(text).replace("%", "%%")  # supervisord expands %(name)s in values

    def command(argv: Sequence[str]) -> str:
        return value(shlex.join(argv))

    supervisord = [
        "[supervisord]",
        "nodaemon=true",  # a child of `entraide-stack up`, detached and tracked like the servers
        "silent=true",  # its log goes to logfile only, not also to stdout
        f"logfile={value(log_file(state_dir))}",
        "logfile_maxbytes=0",  # never rotated: its stdout and stderr go to the same file
        "loglevel=info",
        f"pidfile={value(state_dir / 'supervisord.pid')}",
        f"childlogdir={value(logs)}",
        f"directory={value(cwd)}",
        f"identifier=entraide-{hashlib.sha256(str(state_dir).encode()).hexdigest()[:12]}",
    ]
    if os.geteuid() == 0:  # says so explicitly; otherwise supervisord logs a CRIT line at start
        supervisord.append(f"user={pwd.getpwuid(0).pw_name}")
    lines = [
        "; Written by `entraide-stack up` (devstack/supervision.py) each time it starts supervisord.",
        *supervisord,
        "",
        "[unix_http_server]",
        f"file={value(socket_file(state_dir))}",
        "chmod=0700",
        "",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        "",
        "[supervisorctl]",
        f"serverurl={value(server_url(state_dir))}",
        "",
        f"[eventlistener:{EVENT_LISTENER}]",
        f"command={command([sys.executable, '-m', 'devstack.process_events', str(events_file(state_dir))])}",
        "events=PROCESS_STATE",
        "priority=1",
        "autostart=true",
        "autorestart=true",
        "startsecs=1",
        f"startretries={START_RETRIES}",
        "buffer_size=1000",
        "stdout_logfile=NONE",
        f"stderr_logfile={value(processes.log_file(state_dir, EVENT_LISTENER))}",
        f"stderr_logfile_maxbytes={LOG_MAX_BYTES}",
        "stderr_logfile_backups=1",
    ]
    for index, program in enumerate(programs):
        lines += [
            "",
            f"[program:{program.name}]",
            f"command={command(program.argv)}",
            f"directory={value(cwd)}",
            f"priority={100 + 10 * index}",
            "autostart=true",
            "autorestart=true",
            f"startsecs={START_SECS}",
            f"startretries={START_RETRIES}",
            "stopsignal=TERM",
            f"stopwaitsecs={STOP_WAIT_S}",
            "stopasgroup=true",
            "killasgroup=true",
            "redirect_stderr=true",
            f"stdout_logfile={value(processes.log_file(state_dir, program.name))}",
            f"stdout_logfile_maxbytes={LOG_MAX_BYTES}",
            f"stdout_logfile_backups={LOG_BACKUPS}",
            # Log lines reach the file as they are written, not when a buffer fills.
            'environment=PYTHONUNBUFFERED="1"',
        ]
    return "\n".join(lines) + "\n"


# --- supervisord itself -----------------------------------------------------------------------


@contextmanager
def lock(state_dir: Path) -> Iterator[None]:
    """Serialises launchers on one state dir, so two `make up` start one supervisord."""
    state_dir.mkdir(parents=True, exist_ok=True)
    with (state_dir / ".supervisord.lock").open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def is_running(state_dir: Path) -> int | None:
    """supervisord's pid when it runs for `state_dir`."""
    return processes.is_running(state_dir, SUPERVISORD)


def start(state_dir: Path, programs: Sequence[Program], env: Mapping[str, str], cwd: Path) -> int:
    """Write the configuration and start supervisord, which starts every program; its pid.

    The events of the previous run move to `process-events.jsonl.1`: restarts count from here."""
    state_dir = state_dir.resolve()
    conf = config_file(state_dir)
    conf.write_text(render_config(state_dir, programs, cwd))
    conf.chmod(0o600)
    events = events_file(state_dir)
    events.parent.mkdir(parents=True, exist_ok=True)
    if events.exists():
        events.replace(events.with_name(events.name + ".1"))
    argv = [sys.executable, "-m", "supervisor.supervisord", "--configuration", str(conf)]
    pid = processes.start_process(state_dir, SUPERVISORD, argv, env, cwd=cwd)
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        try:
            if _proxy(state_dir, timeout=2).supervisor.getState()["statename"] == "RUNNING":
                return pid
        except _UNREACHABLE:
            pass
        if processes.is_running(state_dir, SUPERVISORD) is None:
            raise SupervisionError(
                f"supervisord exited during start-up; see {log_file(state_dir)}:\n"
                f"{processes.tail(log_file(state_dir), 20)}"
            )
        if time.monotonic() >= deadline:
            shutdown(state_dir)
            raise SupervisionError(
                f"supervisord does not answer on {socket_file(state_dir)} after {READY_TIMEOUT:.0f} s; "
                f"see {log_file(state_dir)}:\n{processes.tail(log_file(state_dir), 20)}"
            )
        time.sleep(0.1)


def shutdown(state_dir: Path) -> bool:
    """Stop supervisord (SIGTERM: it stops what still runs, SIGTERM then SIGKILL to each group),
    then anything left behind; True if supervisord was running."""
    pid = is_running(state_dir)
    if pid is None:
        processes.pid_file(state_dir, SUPERVISORD).unlink(missing_ok=True)
        return False
    _stop_and_remove_groups(state_dir)
    processes.stop_process(state_dir, SUPERVISORD, timeout=STOP_WAIT_S + 10)
    kill_orphans(state_dir)
    socket_file(state_dir).unlink(missing_ok=True)
    return True


def _stop_and_remove_groups(state_dir: Path) -> None:
    """Stop every program (reverse priority order) and remove it from supervisord, best effort.

    supervisord's own shutdown handles one process group per turn of its main loop, which waits
    up to 1 s when nothing happens: emptied first, it exits at once on SIGTERM."""
    try:
        proxy = _proxy(state_dir, timeout=STOP_WAIT_S + 10)
        proxy.supervisor.stopAllProcesses(True)
        for group in {str(info["group"]) for info in proxy.supervisor.getAllProcessInfo()}:
            proxy.supervisor.removeProcessGroup(group)
    except _UNREACHABLE as exc:  # SIGTERM still stops whatever is left
        log.warning("supervisord did not stop its programs on request (%s); signalling it", exc)


def orphans(state_dir: Path) -> list[tuple[str, int]]:
    """(program, pid) of live processes started by a supervisord of `state_dir` that no longer
    runs (killed, or stopped without stopping its children): they carry its socket address."""
    url = server_url(state_dir)
    found: list[tuple[str, int]] = []
    for proc in psutil.process_iter(["pid"]):
        try:
            environ = proc.environ()
            if environ.get("SUPERVISOR_SERVER_URL") == url and proc.status() != psutil.STATUS_ZOMBIE:
                found.append((environ.get("SUPERVISOR_PROCESS_NAME", "?"), proc.pid))
        except (psutil.Error, OSError):
            continue
    return found


def kill_orphans(state_dir: Path, timeout: float = 10) -> list[str]:
    """Stop the `orphans` (SIGTERM to each one's group, SIGKILL after `timeout`); their names."""
    if is_running(state_dir) is not None:
        return []  # a live supervisord owns them
    found = orphans(state_dir)
    if not found:
        return []
    for name, pid in found:
        log.warning("stopping %s (pid %d), left behind by a supervisord that is gone", name, pid)
        _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while orphans(state_dir) and time.monotonic() < deadline:
        time.sleep(0.1)
    for _, pid in orphans(state_dir):
        _signal_group(pid, signal.SIGKILL)
    return sorted({name for name, _ in found})


def _signal_group(pid: int, sig: signal.Signals) -> None:
    """Each program leads its own process group (supervisord calls setpgrp in the child)."""
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        pass


# --- programs ---------------------------------------------------------------------------------


def program_status(state_dir: Path, names: Iterable[str]) -> dict[str, ProgramStatus]:
    """State, pid, uptime and restarts of each program supervisord knows among `names`
    (empty when supervisord does not answer)."""
    try:
        infos = {str(i["name"]): i for i in _proxy(state_dir).supervisor.getAllProcessInfo()}
    except _UNREACHABLE:
        return {}
    events = process_events.read_events(events_file(state_dir))
    restarts = process_events.restart_counts(events)
    exits = process_events.last_unexpected_exits(events)
    found: dict[str, ProgramStatus] = {}
    for name in names:
        info = infos.get(name)
        if info is None:
            continue
        state = str(info["statename"])
        up = state in UP_STATES or state == "STOPPING"
        found[name] = ProgramStatus(
            name=name,
            state=state,
            pid=int(info["pid"]) or None,
            uptime_s=max(0.0, float(info["now"]) - float(info["start"])) if up and info["start"] else None,
            restarts=restarts.get(name, 0),
            last_unexpected_exit=exits.get(name),
            detail=str(info.get("spawnerr") or info.get("description") or ""),
        )
    return found


def start_program(state_dir: Path, name: str) -> None:
    """Ask supervisord to start `name` (after it gave up, or was stopped); no wait."""
    try:
        _proxy(state_dir).supervisor.startProcess(name, False)
    except xmlrpc.client.Fault as fault:
        if fault.faultCode != _FAULT_ALREADY_STARTED:
            raise SupervisionError(f"supervisord cannot start {name}: {fault.faultString}") from fault
    except _UNREACHABLE as exc:
        raise SupervisionError(f"supervisord does not answer on {socket_file(state_dir)}: {exc}") from exc


def stop_program(state_dir: Path, name: str) -> bool:
    """Stop `name` and wait until it is gone; True if it was running (or starting, or retrying)."""
    try:
        _proxy(state_dir, timeout=STOP_WAIT_S + 10).supervisor.stopProcess(name, True)
    except xmlrpc.client.Fault as fault:
        if fault.faultCode in (_FAULT_NOT_RUNNING, _FAULT_BAD_NAME):
            return False
        raise SupervisionError(f"supervisord cannot stop {name}: {fault.faultString}") from fault
    except _UNREACHABLE as exc:
        raise SupervisionError(f"supervisord does not answer on {socket_file(state_dir)}: {exc}") from exc
    return True


def wait_started(state_dir: Path, name: str, timeout: float = 10) -> ProgramStatus | None:
    """The program's status once supervisord has spawned it (it has a pid) or given up on it."""
    deadline = time.monotonic() + timeout
    status: ProgramStatus | None = None
    while time.monotonic() < deadline:
        status = program_status(state_dir, [name]).get(name)
        if status is not None and (status.pid or status.state in GAVE_UP_STATES | {"BACKOFF"}):
            return status
        time.sleep(0.1)
    return status


# --- XML-RPC over the unix socket --------------------------------------------------------------


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(str(self._path))
        except OSError:
            sock.close()
            raise
        self.sock = sock


class _UnixTransport(xmlrpc.client.Transport):
    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__()
        self._path = path
        self._timeout = timeout

    def make_connection(self, host: Any) -> http.client.HTTPConnection:
        return _UnixConnection(self._path, self._timeout)


def _proxy(state_dir: Path, timeout: float = 5.0) -> Any:
    """supervisord's XML-RPC interface (`.supervisor.getState()`, ...), with a timeout."""
    transport = _UnixTransport(socket_file(state_dir), timeout)
    return xmlrpc.client.ServerProxy("http://localhost/RPC2", transport=transport)
