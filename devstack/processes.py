"""Detached background processes tracked by pid files.

Every process gets `state_dir/pids/<name>.pid`, a small JSON document holding the pid, the
process creation time and the command line. The creation time guards against pid reuse: after a
reboot or a long time, the recorded pid may belong to an unrelated process, which must never be
reported as ours nor signalled.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import psutil

log = logging.getLogger("devstack")

# psutil derives the creation time from clock ticks since boot: two reads of the same process
# agree far better than this, two different processes almost never start in the same window.
_CREATE_TIME_TOLERANCE = 0.05


def pid_dir(state_dir: Path) -> Path:
    return state_dir / "pids"


def log_dir(state_dir: Path) -> Path:
    return state_dir / "logs"


def pid_file(state_dir: Path, name: str) -> Path:
    return pid_dir(state_dir) / f"{name}.pid"


def log_file(state_dir: Path, name: str) -> Path:
    return log_dir(state_dir) / f"{name}.log"


def record_process(state_dir: Path, name: str, pid: int) -> None:
    """Write the pid file of a process started by other means (e.g. a daemon that forks itself)."""
    proc = psutil.Process(pid)
    record = {
        "pid": pid,
        "create_time": proc.create_time(),
        "since_boot": _since_boot(pid),
        "cmdline": _safe_cmdline(proc),
    }
    path = pid_file(state_dir, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record) + "\n")
    tmp.replace(path)


def is_running(state_dir: Path, name: str) -> int | None:
    """Pid of the live process recorded under `name`, or None (stale pid files are removed)."""
    path = pid_file(state_dir, name)
    record = _read_record(path)
    if record is None:
        return None
    pid = int(record["pid"])
    since_boot = record.get("since_boot")
    if _matches(pid, float(record["create_time"]), float(since_boot) if since_boot is not None else None):
        return pid
    path.unlink(missing_ok=True)
    return None


def start_process(
    state_dir: Path,
    name: str,
    argv: Sequence[str],
    env: Mapping[str, str],
    log_name: str | None = None,
    cwd: Path | None = None,
) -> int:
    """Start `argv` detached from this process, unless `name` already runs; return its pid.

    The child gets its own session (so it survives the launcher and its terminal), no stdin, and
    stdout and stderr appended to `state_dir/logs/<log_name or name>.log`.
    """
    existing = is_running(state_dir, name)
    if existing is not None:
        return existing
    logfile = log_file(state_dir, log_name or name)
    logfile.parent.mkdir(parents=True, exist_ok=True)
    with logfile.open("ab") as out:
        out.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting {name}\n".encode())
        out.flush()
        child = subprocess.Popen(
            list(argv),
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    record_process(state_dir, name, child.pid)
    return child.pid


def stop_process(state_dir: Path, name: str, timeout: float = 10) -> bool:
    """Stop the process recorded under `name` and its process group; True if something was stopped.

    SIGTERM first, SIGKILL once `timeout` seconds have passed. The pid file is removed.
    """
    pid = is_running(state_dir, name)
    if pid is None:
        pid_file(state_dir, name).unlink(missing_ok=True)
        return False
    group = _own_group(pid)
    _signal(pid, group, signal.SIGTERM)
    if not _wait_gone(pid, group, timeout):
        log.warning("%s (pid %d) did not stop after %.0f s, killing it", name, pid, timeout)
        _signal(pid, group, signal.SIGKILL)
        _wait_gone(pid, group, 5)
    pid_file(state_dir, name).unlink(missing_ok=True)
    return True


def tail(path: Path, lines: int = 40) -> str:
    """The last `lines` lines of a text file, or a note that it does not exist."""
    if not path.exists():
        return f"(no log file at {path})"
    with path.open("rb") as f:
        f.seek(0, os.SEEK_END)
        f.seek(max(0, f.tell() - 64 * 1024))
        data = f.read().decode("utf-8", errors="replace")
    return "\n".join(data.splitlines()[-lines:])


def _read_record(path: Path) -> dict[str, Any] | None:
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        log.warning("ignoring unreadable pid file %s", path)
        path.unlink(missing_ok=True)
        return None
    if not isinstance(record, dict) or "pid" not in record or "create_time" not in record:
        path.unlink(missing_ok=True)
        return None
    return record


def _since_boot(pid: int) -> float | None:
    """When the process started, in seconds since boot (Linux's /proc/<pid>/stat field 22):
    unlike the wall-clock start psutil derives from the kernel's boot time, which is
    re-read on each call and shifts by whole seconds when the system clock is adjusted
    (that made a live server look gone). None where there is no /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) ", from field 3
    return int(fields[19]) / os.sysconf("SC_CLK_TCK")


def _matches(pid: int, create_time: float, since_boot: float | None = None) -> bool:
    """The live process is the one recorded, not another that reused its pid."""
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        if since_boot is not None:
            now = _since_boot(pid)
            if now is not None:
                return abs(now - since_boot) < _CREATE_TIME_TOLERANCE
        return abs(float(proc.create_time()) - create_time) < _CREATE_TIME_TOLERANCE
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def _safe_cmdline(proc: psutil.Process) -> list[str]:
    try:
        return list(proc.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return []


def _own_group(pid: int) -> int | None:
    """The process group to signal: only when the process leads its own group (we started it so)."""
    try:
        return pid if os.getpgid(pid) == pid else None
    except ProcessLookupError:
        return None


def _signal(pid: int, group: int | None, sig: signal.Signals) -> None:
    try:
        if group is not None:
            os.killpg(group, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _wait_gone(pid: int, group: int | None, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        _reap(pid)
        if not _group_alive(pid, group):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def _reap(pid: int) -> None:
    """Collect the exit status when the process is our own child, so it does not linger as a zombie."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _group_alive(pid: int, group: int | None) -> bool:
    if group is None:
        try:
            return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
        except psutil.NoSuchProcess:
            return False
    for proc in psutil.process_iter(["pid"]):
        try:
            if os.getpgid(proc.pid) == group and proc.status() != psutil.STATUS_ZOMBIE:
                return True
        except (ProcessLookupError, psutil.NoSuchProcess):
            continue
    return False
