"""bench.memory end to end with N=2 (one with a referral): every process of the stack and
both baselines are started, read and listed, and the workflows worker answers the
tracemalloc switch. The figures themselves are not checked (see bench/README.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from bench import procmem
from devstack import cli
from devstack.servers import Endpoints
from kernel.settings import DEFAULT_WORKFLOW_CACHE_SIZE, Settings
from tests.paths import REPO

EXPECTED = [*(app.name for app in cli.APPS), "bare-stack", "bare-python"]
READING = {"rss_mb", "hwm_mb", "pss_mb", "uss_mb", "threads", "processes"}


def test_reading_of_this_process_has_every_field() -> None:
    reading = procmem.read(os.getpid())
    assert set(vars(reading)) == READING
    assert reading.processes >= 1


def test_workflow_cache_size_setting() -> None:
    assert Settings.from_env({}).workflow_cache_size == DEFAULT_WORKFLOW_CACHE_SIZE
    assert Settings.from_env({"ENTRAIDE_WORKFLOW_CACHE_SIZE": "7"}).workflow_cache_size == 7


def test_memory_bench_lists_every_process_beside_the_baselines(endpoints: Endpoints) -> None:
    # The session's PostgreSQL and NATS are reused (a scratch database and stream of the
    # bench's own); the bench always starts its own Temporal.
    env = {**os.environ, "DATABASE_URL": endpoints.database_url, "NATS_URL": endpoints.nats_url}
    argv = ["--dossiers", "2", "--concurrency", "2", "--refer-every", "2", "--settle", "0.5"]
    result = subprocess.run(
        [sys.executable, "-m", "bench.memory", *argv, "--tracemalloc", "--json"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert (report["dossiers"], report["referrals"], report["errors"]) == (2, 1, 0)
    rows = {row["name"]: row for row in report["processes"]}
    assert list(rows) == EXPECTED
    assert {rows[name]["kind"] for name in EXPECTED[:-2]} == {"entraide"}
    assert {rows["bare-stack"]["kind"], rows["bare-python"]["kind"]} == {"baseline"}
    for row in rows.values():
        assert set(row["idle"]) == READING and set(row["after"]) == READING
    assert report["tracemalloc_top"], "the workflows worker sent no tracemalloc snapshot"
    # The table (on stderr with --json) names every process.
    table = result.stderr[result.stderr.index("\nprocess ") :]
    assert all(f"\n{name} " in table for name in EXPECTED)
