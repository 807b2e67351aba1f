"""bench.lifecycle end to end with N=3: both workflows run and the command prints both
rates and their ratio. The numbers themselves are not checked (see bench/README.md)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

from bench.lifecycle import percentile, round_sizes
from devstack.servers import Endpoints
from tests.paths import REPO

REPO_ROOT = REPO
RATE = r"(\d+\.\d+)"


def test_percentile_and_rounds() -> None:
    assert percentile([3.0], 95) == 3.0
    assert percentile([1.0, 2.0, 3.0], 50) == 2.0
    assert percentile([float(i) for i in range(1, 101)], 95) == 95.0
    assert round_sizes(200, 4) == [50, 50, 50, 50]
    assert round_sizes(3, 4) == [1, 1, 1]
    assert round_sizes(10, 4) == [3, 3, 2, 2]


def test_bench_runs_both_workflows_and_prints_rates_and_ratio(endpoints: Endpoints) -> None:
    # The session's PostgreSQL and NATS are reused (the bench works in a database of its
    # own and drops it); the bench always starts its own Temporal.
    env = {
        **os.environ,
        "DATABASE_URL": endpoints.database_url,
        "NATS_URL": endpoints.nats_url,
    }
    result = subprocess.run(
        [sys.executable, "-m", "bench.lifecycle", "--dossiers", "3", "--concurrency", "3", "--warmup", "1"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "N=3" in out and "C=3" in out and "cores=" in out
    bare = re.search(rf"^bare\s+{RATE}\s", out, re.MULTILINE)
    entraide = re.search(rf"^entraide\s+{RATE}\s", out, re.MULTILINE)
    ratio = re.search(rf"^ratio entraide/bare = {RATE}$", out, re.MULTILINE)
    assert bare and entraide and ratio, out
    assert float(bare.group(1)) > 0 and float(entraide.group(1)) > 0
    assert float(ratio.group(1)) > 0
    # 3 measured + 1 warm-up dossiers, 7 steps each, all written by the real activities.
    assert "written: 28 timeline rows" in out


def test_import_bench_runs_both_and_prints_the_ratio(endpoints: Endpoints) -> None:
    """bench.import_rows with one small file: the bare COPY and the import both run."""
    env = {**os.environ, "DATABASE_URL": endpoints.database_url}
    result = subprocess.run(
        [sys.executable, "-m", "bench.import_rows", "--rows", "200", "--rounds", "1", "--json"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(result.stdout)
    assert figures["rows"] == 200 and figures["accepted"] == 196 and figures["dossiers_created"] == 196
    assert figures["rows_written"] > 196 * 5  # dossiers, persons, timeline, events
    assert figures["ratio"] > 0
