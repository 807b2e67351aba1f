"""The recorded AidRequestWorkflow histories are there (test_replay.py replays every
history under tests/histories/ against today's code; tests/record_aid_request_histories.py
recorded these), and each ran the deadlines it was meant to."""

from __future__ import annotations

import json

from tests.paths import HISTORIES
from tests.record_aid_request_histories import SCENARIOS


def test_aid_request_histories_are_recorded() -> None:
    assert {path.stem for path in HISTORIES.glob("aid_request_*.json")} >= set(SCENARIOS)


def _activities(name: str) -> int:
    events = json.loads((HISTORIES / f"{name}.json").read_text())["events"]
    return sum(1 for e in events if e.get("eventType") == "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED")


def test_each_history_ran_its_deadlines() -> None:
    # Instruction (v1), instruction again (v2, re-timed), commission (v3), payment (v5).
    assert _activities("aid_request_v1_late_at_every_step_closed") == 4
    assert _activities("aid_request_v1_refused_in_time") == 0
    assert _activities("aid_request_v1_withdrawn") == 0
