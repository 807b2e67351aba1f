"""The local stack launcher, with real processes and real servers."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg  # type: ignore[import-untyped, unused-ignore]
import nats
import psutil
import pytest
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client

from devstack import processes
from devstack.servers import (
    SEARCH_ATTRIBUTES,
    ensure_servers,
    free_ports,
    redact,
    server_status,
    stop_servers,
)

SLEEP = ["sleep", "60"]


@pytest.fixture
def state(tmp_path: Path) -> Iterator[Path]:
    """A state dir whose recorded processes are all stopped at the end, pass or fail."""
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    try:
        yield state_dir
    finally:
        stop_servers(state_dir)
        for pid_path in processes.pid_dir(state_dir).glob("*.pid"):
            processes.stop_process(state_dir, pid_path.stem, timeout=2)


def _gone(pid: int, timeout: float = 5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def test_start_is_idempotent_and_stop_removes_the_process(state: Path) -> None:
    pid = processes.start_process(state, "sleeper", SLEEP, os.environ)

    assert processes.is_running(state, "sleeper") == pid
    assert processes.start_process(state, "sleeper", SLEEP, os.environ) == pid
    assert os.getpgid(pid) == pid, "the child must lead its own session/group to survive the launcher"
    assert processes.log_file(state, "sleeper").exists()

    assert processes.stop_process(state, "sleeper", timeout=5) is True
    assert _gone(pid)
    assert processes.is_running(state, "sleeper") is None
    assert not processes.pid_file(state, "sleeper").exists()
    assert processes.stop_process(state, "sleeper") is False


def test_stop_kills_the_whole_group_and_escalates_to_sigkill(state: Path) -> None:
    # `sh` and its `sleep` children ignore SIGTERM (an ignored signal stays ignored across exec).
    script = 'trap "" TERM; sleep 60 & sleep 60; wait'
    pid = processes.start_process(state, "stubborn", ["sh", "-c", script], os.environ)
    deadline = time.monotonic() + 5
    while len(psutil.Process(pid).children()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    children = [c.pid for c in psutil.Process(pid).children()]
    assert len(children) == 2

    started = time.monotonic()
    assert processes.stop_process(state, "stubborn", timeout=0.5) is True
    assert time.monotonic() - started < 5
    assert all(_gone(p) for p in [pid, *children])


def test_a_live_process_stays_ours_when_the_system_clock_moves(state: Path) -> None:
    """The wall-clock start psutil derives shifts with the clock (whole seconds, when NTP
    adjusts it): the start since boot is what tells a live process from a reused pid."""
    pid = processes.start_process(state, "sleeper", SLEEP, os.environ)
    try:
        path = processes.pid_file(state, "sleeper")
        record = json.loads(path.read_text())
        record["create_time"] -= 1.0  # as read before the clock moved by a second
        path.write_text(json.dumps(record))
        assert processes.is_running(state, "sleeper") == pid
        record["since_boot"] -= 1000  # another process that got the same pid
        path.write_text(json.dumps(record))
        assert processes.is_running(state, "sleeper") is None
    finally:
        os.kill(pid, signal.SIGKILL)


def test_pid_file_of_a_reused_pid_is_not_ours(state: Path) -> None:
    # Our own pid stands for an unrelated process that got the recorded pid after a reboot.
    me = psutil.Process()
    path = processes.pid_file(state, "ghost")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"pid": me.pid, "create_time": me.create_time() - 1000, "cmdline": SLEEP}))

    assert processes.is_running(state, "ghost") is None
    assert not path.exists(), "a stale pid file is dropped"
    path.write_text(json.dumps({"pid": me.pid, "create_time": me.create_time() - 1000, "cmdline": SLEEP}))
    assert processes.stop_process(state, "ghost") is False  # and, obviously, we are still alive

    pid = processes.start_process(state, "ghost", SLEEP, os.environ)
    assert pid != me.pid and processes.is_running(state, "ghost") == pid


def test_garbage_pid_file_is_ignored(state: Path) -> None:
    path = processes.pid_file(state, "broken")
    path.parent.mkdir(parents=True)
    path.write_text("not json")
    assert processes.is_running(state, "broken") is None
    assert not path.exists()


def _server_pids(state: Path) -> list[int]:
    """Every process of the private servers, PostgreSQL's backends and workers included."""
    pids: list[int] = []
    for name in ("postgres", "nats", "temporal"):
        pid = processes.is_running(state, name)
        assert pid is not None, f"{name} is not running"
        pids += [pid, *(c.pid for c in psutil.Process(pid).children(recursive=True))]
    return pids


async def test_private_servers_start_answer_are_reused_and_stop(state: Path) -> None:
    ports = free_ports()
    assert len(set(vars(ports).values())) == 5

    started = time.monotonic()
    endpoints = ensure_servers(state, ports, env={})
    cold = time.monotonic() - started

    assert endpoints.database_url == f"postgresql://postgres@127.0.0.1:{ports.postgres}/entraide"
    # The private NATS asks for a password: the URL carries the services' user.
    assert redact(endpoints.nats_url) == f"nats://entraide:***@127.0.0.1:{ports.nats}"
    assert endpoints.temporal_address == f"127.0.0.1:{ports.temporal}"
    assert endpoints.temporal_ui_url == f"http://127.0.0.1:{ports.temporal_ui}"
    for sub in ("postgres", "nats", "temporal.db", "logs/postgres.log", "logs/nats.log", "logs/temporal.log"):
        assert (state / sub).exists(), sub

    conn = await asyncpg.connect(endpoints.database_url, timeout=5)
    try:
        assert await conn.fetchval("SELECT 1") == 1
        assert await conn.fetchval("SELECT current_database()") == "entraide"
        assert await conn.fetchval("SHOW server_encoding") == "UTF8"
    finally:
        await conn.close()

    nc = await nats.connect(endpoints.nats_url, connect_timeout=5, allow_reconnect=False)
    try:
        info = await nc.jetstream().account_info()
        assert info.limits is not None
    finally:
        await nc.close()
    assert "sync_interval: always" in (state / "nats" / "nats.conf").read_text()

    client = await Client.connect(endpoints.temporal_address, namespace="default")
    request = ListSearchAttributesRequest(namespace="default")
    resp = await client.operator_service.list_search_attributes(request)
    expected = {
        name: IndexedValueType.Value(f"INDEXED_VALUE_TYPE_{kind.upper()}")
        for name, kind in SEARCH_ATTRIBUTES.items()
    }
    assert {n: resp.custom_attributes[n] for n in expected if n in resp.custom_attributes} == expected

    pids = {name: processes.is_running(state, name) for name in ("postgres", "nats", "temporal")}
    started = time.monotonic()
    assert ensure_servers(state, ports, env={}) == endpoints
    warm = time.monotonic() - started
    assert {name: processes.is_running(state, name) for name in pids} == pids
    assert len(psutil.Process(pids["postgres"]).children()) > 0  # not a second postmaster
    status = server_status(state, env={})
    assert status == {name: f"up (private, pid {pid})" for name, pid in pids.items()}
    print(f"ensure_servers: cold {cold:.1f} s, warm {warm:.2f} s", file=sys.stderr)

    every_pid = _server_pids(state)
    assert sorted(stop_servers(state)) == ["nats", "postgres", "temporal"]
    assert all(_gone(pid) for pid in every_pid)
    assert list(processes.pid_dir(state).glob("*.pid")) == []
    assert server_status(state, env={}) == {"postgres": "down", "nats": "down", "temporal": "down"}
    assert stop_servers(state) == []


def test_unreachable_external_servers_fall_back_to_private_ones(state: Path) -> None:
    ports = free_ports()
    dead = free_ports()  # nothing listens there
    env = {
        "DATABASE_URL": f"postgresql://postgres:secret@127.0.0.1:{dead.postgres}/x",
        "NATS_URL": f"nats://127.0.0.1:{dead.nats}",
        "TEMPORAL_ADDRESS": f"127.0.0.1:{dead.temporal}",
    }
    endpoints = ensure_servers(state, ports, env=env)
    assert endpoints.database_url.endswith(f":{ports.postgres}/entraide")
    assert endpoints.nats_url.endswith(f":{ports.nats}")
    assert endpoints.temporal_address.endswith(f":{ports.temporal}")

    # Our own private servers named in the environment (a shell that sourced stack.env) stay private.
    env = {
        "DATABASE_URL": endpoints.database_url,
        "NATS_URL": endpoints.nats_url,
        "TEMPORAL_ADDRESS": endpoints.temporal_address,
    }
    assert ensure_servers(state, ports, env=env) == endpoints
    assert all(s.startswith("up (private") for s in server_status(state, env=env).values())
