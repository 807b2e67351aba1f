"""bench.notifier end to end with N=60, one round: the whole path and each stage alone
run against the bare publish loop and the report has every figure. The numbers
themselves are not checked (bench/README.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from devstack.servers import Endpoints
from tests.paths import REPO


def test_notifier_bench_runs_the_path_the_stages_and_the_baseline(endpoints: Endpoints) -> None:
    env = {**os.environ, "DATABASE_URL": endpoints.database_url, "NATS_URL": endpoints.nats_url}
    result = subprocess.run(
        [sys.executable, "-m", "bench.notifier", "--changes", "60", "--rounds", "1", "--json"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert report["changes"] == 60 and report["rounds"] == 1
    for key in ("entraide_per_s", "bare_per_s", "ratio", "entraide_cpu_us", "bare_cpu_us"):
        assert report[key] > 0, key
    for stage in ("relay_per_s", "consumer_per_s", "delivery_per_s"):
        assert report[stage] > 0, stage
