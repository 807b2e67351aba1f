"""The fault matrix (`make faults`, devstack/faults) in small: 12 dossiers driven through their
lifecycle on a stack of its own while every fault is injected in turn for 2 s; nothing lost,
nothing doubled, no INTERNAL, every fault recovered from by itself, no process left."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from devstack.faults.injectors import FAULTS


def test_every_fault_loses_and_doubles_nothing(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)  # PostgreSQL runs as another user when the tests run as root
    state = tmp_path / "state"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("ENTRAIDE_") and k not in {"DATABASE_URL", "NATS_URL", "TEMPORAL_ADDRESS"}
    }
    argv = [sys.executable, "-m", "devstack.faults", "--dossiers", "12", "--state-dir", str(state)]
    argv += ["--fault-seconds", "2", "--gap-seconds", "0.5", "--settle-seconds", "60"]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=280)
    output = done.stdout[-12000:] + done.stderr[-4000:]
    assert done.returncode == 0, output
    assert "no process left" in done.stdout, output

    matrix = json.loads((state / "fault-matrix.json").read_text(encoding="utf-8"))
    rows = {row["fault"]: row for row in matrix["rows"]}
    assert {key for key, _, _ in FAULTS} <= set(rows), sorted(rows)
    for row in matrix["rows"]:
        assert (row["lost"], row["doubled"]) == (0, 0), row
        assert row["recovered"], row
        assert "INTERNAL" not in row["codes"], row
    assert (matrix["lost"], matrix["doubled"]) == (0, 0), matrix["problems"]
    failed = [c for c in matrix["checks"] if not c["ok"]]
    assert not failed, failed
    # The faults happened: processes restarted by supervisord, the poison dead-lettered, the
    # duplicates skipped, the timer fired after the outage, the webhook retried.
    restarts = matrix["counts"]["restarts"]
    assert all(restarts[p] >= 1 for p in ("intake", "referral", "reporting", "workflows")), restarts
    assert any("dead-lettered" in row["recovery"] for row in matrix["rows"] if row["fault"] == "poison")
    assert matrix["counts"]["webhook"]["distinct_deliveries"] == matrix["counts"]["webhook"]["owed"]
    assert matrix["counts"]["nats_partner"]["distinct_ids"] == matrix["counts"]["nats_partner"]["owed"]
    text = (state / "fault-matrix.txt").read_text(encoding="utf-8")
    assert all(f"\n{label} " in text for _, label, _ in FAULTS), text
