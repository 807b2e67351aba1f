"""`make up` / `make status` / `make down` as a person runs them, on a machine with
no server of ours: private PostgreSQL, NATS and Temporal, the four services, demo data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psutil

from tests.conftest import free_port

BIN = Path(sys.executable).parent


def stack_env(state: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("ENTRAIDE_") and k not in {"DATABASE_URL", "NATS_URL", "TEMPORAL_ADDRESS"}
    }
    env["ENTRAIDE_STATE_DIR"] = str(state)
    for name in (
        "postgres",
        "nats",
        "nats_monitor",
        "temporal",
        "temporal_ui",
        "intake",
        "referral",
        "reporting",
        "intake_metrics",
        "referral_metrics",
        "reporting_metrics",
        "workflows_metrics",
        "codec",
    ):
        env[f"ENTRAIDE_{name.upper()}_PORT"] = str(free_port())
    return env


def run(env: dict[str, str], *argv: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout)


def ours(state: Path) -> list[psutil.Process]:
    """Processes started for this state folder (the services and private servers)."""
    found = []
    for proc in psutil.process_iter(["cmdline", "environ"]):
        try:
            text = " ".join(proc.info["cmdline"] or [])
            environ = proc.info["environ"] or {}
        except (psutil.Error, TypeError):
            continue
        if str(state) in text or environ.get("ENTRAIDE_STATE_DIR") == str(state):
            found.append(proc)
    return found


def test_up_open_count_status_down(tmp_path: Path) -> None:
    state = tmp_path / "state"
    tmp_path.chmod(0o755)
    env = stack_env(state)
    up = run(env, str(BIN / "entraide-stack"), "up")
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert "Temporal UI" in up.stdout and "make down" in up.stdout
        # Three fictional people oriented to the demo partner, who answered two of them.
        assert "demo data: 3 people oriented to caf-meuse now, 0 already there" in up.stdout
        stack_file = (state / "stack.env").read_text()
        for line in stack_file.splitlines():
            key, _, value = line.removeprefix("export ").partition("=")
            env[key] = value.strip("'\"")

        status = run(env, str(BIN / "entraide-stack"), "status")
        assert status.returncode == 0, status.stdout + status.stderr
        assert status.stdout.count("SERVING") == 3

        def motif_count() -> int:
            done = run(env, str(BIN / "entraide"), "--json", "chiffres", "--commune", "55519", timeout=30)
            assert done.returncode == 0, done.stderr
            counts = json.loads(done.stdout)
            return next((int(m["count"]) for m in counts["motifs"] if m["code"] == "justice"), 0)

        before = motif_count()
        opened = run(
            env,
            str(BIN / "entraide"),
            "ouvrir",
            "--commune",
            "55519",
            "--motif",
            "justice",
            "--canal",
            "courriel",
            "--request-id",
            uuid.uuid4().hex,
            timeout=30,
        )
        assert opened.returncode == 0, opened.stderr
        assert "Dossier ouvert" in opened.stdout
        started = time.monotonic()
        while motif_count() != before + 1:
            assert time.monotonic() - started < 2.0, "the count did not move within 2 seconds"
            time.sleep(0.05)

        again = run(env, str(BIN / "entraide-stack"), "up")
        assert again.returncode == 0, again.stdout + again.stderr
        assert again.stdout.count("already running") == 5  # four services and the codec server
        assert "demo data: 0 people oriented to caf-meuse now, 3 already there" in again.stdout
        assert motif_count() == before + 1  # demo data not loaded twice, nothing reopened
    finally:
        down = run(env, str(BIN / "entraide-stack"), "down")
    assert down.returncode == 0, down.stdout + down.stderr
    deadline = time.monotonic() + 10
    while ours(state) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert ours(state) == [], "make down left processes running"
    assert run(env, str(BIN / "entraide-stack"), "status").returncode == 1
