"""bench.scale_out with N=4: the phases with one and with two instance processes run, every
dossier's activities are written, and the command prints both rates and their ratio. The
numbers themselves are not checked (bench/README.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from devstack.servers import Endpoints
from tests.paths import REPO


def test_scale_out_bench_runs_one_and_two_instances(endpoints: Endpoints) -> None:
    env = {**os.environ, "DATABASE_URL": endpoints.database_url}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.scale_out",
            "--dossiers",
            "4",
            "--concurrency",
            "2",
            "--rounds",
            "1",
            "--json",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert report["one"]["dossiers"] == 4 and report["two"]["dossiers"] == 4
    assert report["one"]["rate"] > 0 and report["two"]["rate"] > 0 and report["ratio"] > 0
    # 4 measured a side and a warm-up of 2 a phase, 7 activities each, all really written.
    assert report["timeline_rows"] == (8 + 2 * 2) * 7
