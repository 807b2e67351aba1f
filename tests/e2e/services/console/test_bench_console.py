"""bench.console end to end with 2 agents for 2 seconds: both phases run, every page and
post succeeds, the figures are printed. The numbers themselves are not checked."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.e2e.services.console.conftest import Console
from tests.paths import REPO

REPO = REPO


def test_bench_console_runs_both_phases(console: Console) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.console",
            "--agents",
            "2",
            "--seconds",
            "2",
            "--url",
            console.url,
            "--json",
        ],
        cwd=REPO,
        env=console.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)
    assert result["errors"] == 0
    assert result["pages"] > 0 and result["posts"] > 0
    assert result["grpc_page_p95_ms"] > 0 and result["console_page_p95_ms"] > 0
