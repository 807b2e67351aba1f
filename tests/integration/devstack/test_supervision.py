"""devstack.supervision and its event listener, with a real supervisord running `sleep`
(fast; the whole stack under supervisord is in test_stack_commands.py)."""

from __future__ import annotations

import io
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from devstack import process_events, processes, supervision

SLEEPER = supervision.Program("sleeper", ["sleep", "600"])


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def gone(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


@pytest.fixture
def state(tmp_path: Path) -> Iterator[Path]:
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    try:
        yield state_dir
    finally:
        supervision.shutdown(state_dir)
        supervision.kill_orphans(state_dir)


def sleeper(state: Path) -> supervision.ProgramStatus:
    status = supervision.program_status(state, ["sleeper"]).get("sleeper")
    assert status is not None, "supervisord does not know the sleeper"
    return status


def test_the_listener_speaks_supervisords_protocol_and_records_state_changes(tmp_path: Path) -> None:
    def event(name: str, payload: str) -> bytes:
        body = payload.encode()
        header = f"ver:3.0 server:supervisor serial:1 pool:process-events poolserial:1 eventname:{name}"
        return f"{header} len:{len(body)}\n".encode() + body

    stdin = io.BytesIO(
        event(
            "PROCESS_STATE_EXITED", "processname:intake groupname:intake from_state:RUNNING expected:0 pid:42"
        )
        + event("PROCESS_STATE_STARTING", "processname:intake groupname:intake from_state:EXITED tries:0")
        + event("PROCESS_STATE_STARTING", "processname:codec groupname:codec from_state:STOPPED tries:0")
        + event("TICK_5", "when:1")
    )
    stdout = io.BytesIO()
    path = tmp_path / "events.jsonl"
    process_events.listen(path, stdin, stdout)

    assert stdout.getvalue() == b"READY\n" + b"RESULT 2\nOKREADY\n" * 4
    events = process_events.read_events(path)
    assert [(e["program"], e["state"], e["from"]) for e in events] == [
        ("intake", "EXITED", "RUNNING"),
        ("intake", "STARTING", "EXITED"),
        ("codec", "STARTING", "STOPPED"),
    ]
    assert events[0]["pid"] == 42 and events[0]["expected"] == 0
    assert process_events.restart_counts(events) == {"intake": 1}  # a start from STOPPED is `make up`'s
    assert set(process_events.last_unexpected_exits(events)) == {"intake"}


def test_config_escapes_percent_and_moves_a_long_socket_path_to_tmp(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 90) / "state 100%"
    text = supervision.render_config(deep, [SLEEPER], cwd=tmp_path)
    assert "state 100%%" in text and "state 100%/" not in text
    socket = supervision.socket_file(deep)
    assert len(str(socket)) <= 100 and socket.parent != deep
    assert f"file={socket}" in text
    for key in ("autorestart=true", "stopasgroup=true", "killasgroup=true", "stopsignal=TERM"):
        assert key in text


def test_a_killed_program_is_restarted_and_counted_and_shutdown_leaves_nothing(state: Path) -> None:
    pid = supervision.start(state, [SLEEPER], os.environ, cwd=state)
    assert supervision.is_running(state) == pid
    wait_for(lambda: sleeper(state).state == "RUNNING", 10, "the sleeper never reached RUNNING")
    first = sleeper(state)
    assert first.restarts == 0 and first.pid and first.uptime_s is not None

    os.kill(first.pid, signal.SIGKILL)
    wait_for(lambda: (sleeper(state).pid or first.pid) != first.pid, 10, "supervisord did not restart it")
    # The listener records the event a moment after supervisord has spawned the new process.
    wait_for(lambda: sleeper(state).restarts == 1, 5, "the restart was not counted")
    again = sleeper(state)
    assert again.last_unexpected_exit is not None
    assert "restarts: 1 (last unexpected exit" in again.describe()

    assert supervision.stop_program(state, "sleeper") is True
    assert sleeper(state).state == "STOPPED"
    supervision.start_program(state, "sleeper")  # as a second `make up` does: not a restart
    wait_for(lambda: sleeper(state).up, 10, "the sleeper did not start again")
    assert sleeper(state).restarts == 1

    children = [p.pid for p in psutil.Process(pid).children(recursive=True)]
    assert supervision.shutdown(state) is True
    assert gone(pid) and all(gone(child) for child in children)
    assert supervision.orphans(state) == []
    assert not processes.pid_file(state, supervision.SUPERVISORD).exists()


def test_programs_of_a_killed_supervisord_are_found_and_stopped(state: Path) -> None:
    pid = supervision.start(state, [SLEEPER], os.environ, cwd=state)
    wait_for(lambda: bool(sleeper(state).pid), 10, "the sleeper did not start")
    child = sleeper(state).pid
    os.kill(pid, signal.SIGKILL)  # its children live on, in their own process groups
    wait_for(lambda: supervision.is_running(state) is None, 5, "supervisord did not die")
    os.waitpid(pid, 0)  # our child: reap it

    assert ("sleeper", child) in supervision.orphans(state)
    assert "sleeper" in supervision.kill_orphans(state)
    assert child is not None and gone(child)
    assert supervision.orphans(state) == []
