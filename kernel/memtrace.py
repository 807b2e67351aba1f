"""An opt-in tracemalloc switch for memory investigations (bench.memory --tracemalloc).

With ENTRAIDE_TRACEMALLOC_FILE set, the process traces its Python allocations from the
start and, on SIGUSR1, writes a snapshot there (then `<file>.done`). Off by default:
tracing costs memory and time of its own.
"""

from __future__ import annotations

import signal
import tracemalloc
from collections.abc import Mapping
from pathlib import Path

FILE_VAR = "ENTRAIDE_TRACEMALLOC_FILE"


def install(env: Mapping[str, str]) -> None:
    """Starts tracing and the SIGUSR1 handler when asked (from the main thread)."""
    raw = env.get(FILE_VAR)
    if not raw:
        return
    path = Path(raw)
    tracemalloc.start(int(env.get("ENTRAIDE_TRACEMALLOC_FRAMES", "1")))

    def dump(*_: object) -> None:
        tracemalloc.take_snapshot().dump(str(path))
        path.with_suffix(".done").touch()

    # A plain signal handler (not the event loop's): it also works before the loop runs.
    signal.signal(signal.SIGUSR1, dump)
