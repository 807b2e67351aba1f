"""Where things are, for tests at any depth of the tests/ tree."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# Recorded workflow histories replayed by tests/unit/workflows (tests/record_histories.py).
HISTORIES = REPO / "tests" / "histories"
