"""bench.read_path, tiny: both servers answer the dossier page's reads at two levels of
callers, the command prints both rates, their ratio and the p95 ratio, and the access log
holds a row for every read the real server answered. The figures are not checked."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

from devstack.servers import Endpoints
from tests.paths import REPO

RATE = r"(\d+\.\d+)"


def test_read_path_bench_prints_both_rates_and_ratios(endpoints: Endpoints) -> None:
    # The session's PostgreSQL and NATS; the bench starts its own Temporal and servers.
    env = {**os.environ, "DATABASE_URL": endpoints.database_url, "NATS_URL": endpoints.nats_url}
    args = ["--callers", "1,3", "--seconds", "1", "--rounds", "1", "--dossiers", "2"]
    result = subprocess.run(
        [sys.executable, "-m", "bench.read_path", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "cores=" in out and "load=" in out
    for callers in (1, 3):
        assert f"callers={callers}  load=" in out, out
    assert len(re.findall(rf"^bare\s+{RATE}\s", out, re.MULTILINE)) == 2, out
    assert len(re.findall(rf"^entraide\s+{RATE}\s", out, re.MULTILINE)) == 2, out
    ratios = re.findall(rf"^ratio entraide/bare = {RATE}  p95 ratio = {RATE}$", out, re.MULTILINE)
    assert len(ratios) == 2 and all(float(r) > 0 and float(p) > 0 for r, p in ratios), out
    logged = re.search(
        r"^access log: (\d+) read rows for (\d+) answered reads in (\d+) commits \(complete\)",
        out,
        re.MULTILINE,
    )
    assert logged and int(logged.group(2)) > 0 and logged.group(1) == logged.group(2), out
    assert 0 < int(logged.group(3)) <= int(logged.group(1)), out


def test_read_path_bench_json(endpoints: Endpoints) -> None:
    env = {**os.environ, "DATABASE_URL": endpoints.database_url, "NATS_URL": endpoints.nats_url}
    args = ["--callers", "2", "--seconds", "1", "--rounds", "1", "--dossiers", "1", "--json"]
    result = subprocess.run(
        [sys.executable, "-m", "bench.read_path", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    [level] = report["levels"]
    assert level["callers"] == 2 and level["bare"]["rate"] > 0 and level["entraide"]["rate"] > 0
    assert level["ratio"] > 0 and level["p95_ratio"] > 0
    assert report["access_log_rows"] == report["reads_answered"] > 0
    assert 0 < report["access_log_commits"] <= report["access_log_rows"]
