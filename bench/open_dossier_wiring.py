"""bench.open_dossier's wiring: intake run in-process as its service runs, the run's
environment, the service's log lines, the workflow modules' bytecode."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from devstack import secrets
from devstack.ports import free_port
from kernel import runtime
from kernel.logs import JsonFormatter
from kernel.settings import Settings
from services.intake.service import SPEC as INTAKE_SPEC


@contextlib.asynccontextmanager
async def intake_running(settings: Settings) -> AsyncIterator[None]:
    """Intake as its process runs it (gRPC server, access policy, request replies,
    activity worker, outbox relay), in this process."""
    stop = asyncio.Event()
    ready = asyncio.Event()
    task = asyncio.create_task(runtime.run_service(INTAKE_SPEC, settings, stop, ready))
    waiter = asyncio.create_task(ready.wait())
    await asyncio.wait([task, waiter], return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        waiter.cancel()
        task.result()  # raises what stopped it
    try:
        yield
    finally:
        stop.set()
        await task


def bench_env(temporal_address: str, database_url: str, nats_url: str) -> dict[str, str]:
    """The service's environment for the run: fresh secrets, its own ports, stream and
    subject root (never a running stack's)."""
    tag = uuid.uuid4().hex[:8]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENTRAIDE_")}
    env.update(secrets.generate())
    env.update(
        {
            "DATABASE_URL": database_url,
            "NATS_URL": nats_url,
            "TEMPORAL_ADDRESS": temporal_address,
            "ENTRAIDE_INTAKE_PORT": str(free_port()),
            "ENTRAIDE_INTAKE_METRICS_PORT": str(free_port()),
            "ENTRAIDE_EVENTS_STREAM": f"BENCH_{tag.upper()}",
            "ENTRAIDE_SUBJECT_ROOT": f"bench{tag}",
        }
    )
    return env


def configure_service_logs(path: Path, level: str) -> None:
    """The service's JSON log lines (one per RPC at INFO, as in production) go to a
    file: written as in production, kept off the bench's output."""
    handler = logging.FileHandler(path)
    handler.setFormatter(JsonFormatter("intake"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("temporalio", "nats", "asyncio", "grpc"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def cache_bytecode(folder: Path) -> None:
    """Bytecode as an installed package has it (pip compiles it at install): the workflow
    sandbox re-imports the workflow's module for every new run, and without a .pyc (an
    editable install under PYTHONDONTWRITEBYTECODE=1) it compiles the source every time."""
    sys.pycache_prefix = str(folder)
    sys.dont_write_bytecode = False
