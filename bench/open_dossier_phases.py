"""Where an OpenDossier's time goes (`python -m bench.open_dossier --phases K`): after the
measured levels, K more calls of each flavour by one caller, with timers around the parts
of the call, installed in this process only (the bench runs intake in-process).

Indented parts run inside the part above them. The update-with-start RPCs wait until
the update is accepted (entraide, then it polls for the result) or, for the bare call
(`execute_update_with_start_workflow`), until it is completed (the poll included).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from temporalio.client import Client, WorkflowUpdateHandle

from kernel.access import AccessPolicy
from kernel.idempotency import RequestReplies
from services.intake.activities import IntakeActivities
from services.intake.grpc_api import IntakeServicer

# name → (owner, attribute): each an async method of the call's path.
PARTS: dict[str, tuple[type, str]] = {
    "request id claimed (INSERT, commit)": (RequestReplies, "claim"),
    "update-with-start RPCs": (Client, "_start_update_with_start"),
    "  poll until the update's outcome": (WorkflowUpdateHandle, "_poll_until_outcome"),
    "  activity record_dossier_opened (1 transaction)": (IntakeActivities, "record_dossier_opened"),
    "dossier row read back (SELECT)": (IntakeServicer, "_dossier_row"),
    "reply stored (UPDATE, commit)": (RequestReplies, "store"),
    "access log (INSERT, commit)": (AccessPolicy, "record"),
}


@dataclass
class Timings:
    flavour: str = ""  # the flavour whose calls are timed now; "" = not timing
    totals: dict[tuple[str, str], float] = field(default_factory=dict)

    def add(self, name: str, seconds: float) -> None:
        if self.flavour:
            key = (self.flavour, name)
            self.totals[key] = self.totals.get(key, 0.0) + seconds

    def means_ms(self, flavour: str, calls: int) -> dict[str, float]:
        """Mean time per call of each part (a part may run 0 or several times a call)."""
        return {
            name: round(self.totals.get((flavour, name), 0.0) * 1000 / max(1, calls), 1) for name in PARTS
        }


def _timed(name: str, inner: Callable[..., Any], timings: Timings) -> Callable[..., Any]:
    @functools.wraps(inner)  # keeps the activity definition Temporal reads off the function
    async def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await inner(*args, **kwargs)
        finally:
            timings.add(name, time.perf_counter() - started)

    return timed


@contextmanager
def instrumented() -> Iterator[Timings]:
    """Installs the timers (before intake starts: its activity worker takes the method
    then); they count only while `timings.flavour` is set."""
    timings = Timings()
    originals = {name: getattr(owner, attr) for name, (owner, attr) in PARTS.items()}
    for name, (owner, attr) in PARTS.items():
        setattr(owner, attr, _timed(name, originals[name], timings))
    try:
        yield timings
    finally:
        for name, (owner, attr) in PARTS.items():
            setattr(owner, attr, originals[name])
