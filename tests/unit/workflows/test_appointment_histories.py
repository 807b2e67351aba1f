"""The recorded AppointmentWorkflow histories are there (test_replay.py replays every
history under tests/histories/ against today's code; tests/record_appointment_histories.py
recorded these)."""

from __future__ import annotations

from tests.paths import HISTORIES
from tests.record_appointment_histories import SCENARIOS


def test_appointment_histories_are_recorded() -> None:
    assert {path.stem for path in HISTORIES.glob("appointment_*.json")} >= set(SCENARIOS)
