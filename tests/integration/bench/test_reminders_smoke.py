"""bench.reminders end to end with N=3: the reminders go through the whole path (timer,
activity, outbox, sender, SMTP), the bare loop runs, the command prints both rates and
their ratio. The numbers themselves are not checked (see bench/README.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from devstack.servers import Endpoints
from tests.paths import REPO


def test_reminders_bench_runs_both_and_prints_the_ratio(endpoints: Endpoints) -> None:
    # The session's PostgreSQL is reused (the bench works in a database of its own and
    # drops it); the bench always starts its own Temporal.
    env = {**os.environ, "DATABASE_URL": endpoints.database_url, "NATS_URL": endpoints.nats_url}
    result = subprocess.run(
        [sys.executable, "-m", "bench.reminders", "--appointments", "3", "--lead", "20", "--json"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(result.stdout)
    assert figures["appointments"] == 3
    assert figures["entraide_per_s"] > 0 and figures["bare_per_s"] > 0 and figures["sender_only_per_s"] > 0
    assert figures["ratio"] > 0 and figures["timers_only_per_s"] > 0
