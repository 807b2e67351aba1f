"""The signal queue's order and its escalation flag (pure helpers of the pages)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from entraide.v1 import signals_pb2
from google.protobuf.timestamp_pb2 import Timestamp

from domain.signals import DEFAULT_ESCALATION_DAYS, SignalStatus
from services.console.signal_pages import escalation_text, queue_order


def signal(
    days_ago: float, status: SignalStatus = SignalStatus.RECEIVED, escalated: bool = False
) -> signals_pb2.Signal:
    stamp = Timestamp()
    stamp.FromDatetime(datetime.now(UTC) - timedelta(days=days_ago))
    return signals_pb2.Signal(signal_id=f"{days_ago}", status=status, escalated=escalated, submitted_at=stamp)


def test_unqualified_first_the_escalated_at_their_head_then_the_oldest() -> None:
    signals = [
        signal(1, SignalStatus.CONTACTED),
        signal(2),
        signal(9, escalated=True),
        signal(3),
        signal(8, SignalStatus.DECLINED, escalated=True),
    ]
    ordered = [s.signal_id for s in sorted(signals, key=queue_order)]
    assert ordered == ["9", "3", "2", "8", "1"]


def test_the_flag_claims_the_default_days_only_when_they_have_passed() -> None:
    assert escalation_text(signal(DEFAULT_ESCALATION_DAYS + 1, escalated=True)) == (
        f"en attente depuis plus de {DEFAULT_ESCALATION_DAYS} jours"
    )
    # A deployment's shorter delay (or a test's time-skipping): no number of days claimed.
    assert escalation_text(signal(0.5, escalated=True)) == "délai de qualification dépassé"
