"""bench.open_dossier end to end, tiny: both callers run at two levels and the command
prints the rates, the percentiles and the ratio. The numbers themselves are not checked
(see bench/README.md)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from bench.open_dossier import parse_args, summarise
from devstack.servers import Endpoints
from tests.paths import REPO

RATE = r"(\d+\.\d+)"


def test_options_and_summary() -> None:
    args = parse_args(["--callers", "1,10,50", "--dossiers-per-level", "20"])
    assert args.levels == [1, 10, 50] and args.dossiers_per_level == 20 and args.store == "file"
    with pytest.raises(SystemExit):
        parse_args(["--callers", "0"])
    measure = summarise([0.1, 0.2, 0.3, 0.4], errors=1, wall=2.0)
    assert (measure.calls, measure.errors, measure.rate) == (4, 1, 2.0)
    assert (measure.p50_ms, measure.p95_ms, measure.p99_ms) == (200.0, 400.0, 400.0)


def run_bench(endpoints: Endpoints, *args: str) -> subprocess.CompletedProcess[str]:
    # The session's PostgreSQL and NATS are reused (the bench works in a database of its
    # own and drops it); the bench always starts its own Temporal.
    env = {**os.environ, "DATABASE_URL": endpoints.database_url, "NATS_URL": endpoints.nats_url}
    return subprocess.run(
        [sys.executable, "-m", "bench.open_dossier", "--dossiers-per-level", "2", "--warmup", "1", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_prints_rates_percentiles_and_ratio(endpoints: Endpoints) -> None:
    result = run_bench(endpoints, "--callers", "1,2")
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "store=file" in out and "cores=" in out and "load=" in out
    for callers in (1, 2):
        for name in ("bare", "entraide"):
            row = re.search(rf"^\s+{callers} {name}\s+{RATE}\s+{RATE}\s+{RATE}\s+{RATE}\s+0$", out, re.M)
            assert row, out
            assert float(row.group(1)) > 0
        assert re.search(rf"^\s+{callers} ratio entraide/bare = {RATE}\s+load=", out, re.M), out
    # 2 measured + 1 warm-up OpenDossier per level, each one dossier row.
    assert "written: 6 dossier rows" in out


def test_json_with_the_memory_store_and_the_phases(endpoints: Endpoints) -> None:
    result = run_bench(endpoints, "--callers", "1", "--store", "memory", "--phases", "1", "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    # 2 measured + 1 warm-up + 1 timed part by part.
    assert report["store"] == "memory" and report["dossier_rows"] == 4
    (level,) = report["levels"]
    assert level["callers"] == 1 and level["ratio"] > 0
    for name in ("bare", "entraide"):
        assert level[name]["calls"] == 2 and level[name]["errors"] == 0
        assert {"p50_ms", "p95_ms", "p99_ms", "rate"} <= set(level[name])
        assert report["phases"][name]["call (mean)"] > 0
    # Timers are on entraide's own parts: the bare call has none of them.
    assert report["phases"]["entraide"]["reply stored (UPDATE, commit)"] > 0
    assert report["phases"]["bare"]["reply stored (UPDATE, commit)"] == 0
