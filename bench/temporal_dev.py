"""A private Temporal dev server for a bench, with the store chosen: its SQLite file (as
devstack starts it for `make up` and the tests) or in memory (no `--db-filename`).

Its pid file is `<state_dir>/pids/temporal.pid`, so devstack.servers.stop_servers(state_dir)
stops it with the rest.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import time
from datetime import timedelta
from pathlib import Path

from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client

from devstack import processes
from devstack.ports import free_port
from devstack.servers import SEARCH_ATTRIBUTES, TEMPORAL_NAMESPACE

READY_TIMEOUT_S = 60.0


def temporal_binary() -> str:
    beside = Path(sys.executable).parent / "temporal"
    found = str(beside) if beside.exists() else shutil.which("temporal")
    if not found:
        raise RuntimeError("cannot find the `temporal` executable; run `make venv`")
    return found


def dev_server_argv(state_dir: Path, store: str, port: int, ui_port: int) -> list[str]:
    argv = [temporal_binary(), "server", "start-dev"]
    if store == "file":
        argv += ["--db-filename", str(state_dir / "temporal.db")]
    elif store != "memory":
        raise ValueError(f"unknown store {store!r}")
    argv += ["--ip", "127.0.0.1", "--port", str(port), "--ui-port", str(ui_port)]
    argv += ["--namespace", TEMPORAL_NAMESPACE, "--log-level", "warn"]
    for name, kind in SEARCH_ATTRIBUTES.items():
        argv += ["--search-attribute", f"{name}={kind}"]
    return argv


async def _ready(address: str) -> bool:
    """The frontend answers and lists every search attribute the workflows upsert."""
    try:
        client = await asyncio.wait_for(Client.connect(address, namespace=TEMPORAL_NAMESPACE), timeout=5)
        found = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=TEMPORAL_NAMESPACE), timeout=timedelta(seconds=5)
        )
    except Exception:
        return False
    return set(SEARCH_ATTRIBUTES) <= set(found.custom_attributes)


def start_temporal(state_dir: Path, store: str) -> str:
    """Starts the dev server and waits until it is ready; its address."""
    state_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    processes.start_process(
        state_dir, "temporal", dev_server_argv(state_dir, store, port, free_port()), os.environ
    )
    address = f"127.0.0.1:{port}"
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not asyncio.run(_ready(address)):
        if processes.is_running(state_dir, "temporal") is None or time.monotonic() > deadline:
            log = processes.log_file(state_dir, "temporal")
            raise RuntimeError(f"Temporal dev server not ready; log:\n{processes.tail(log)}")
        time.sleep(0.5)
    return address
