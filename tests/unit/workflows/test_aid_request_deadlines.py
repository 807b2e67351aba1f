"""AidRequestWorkflow's pure part: which deadline a request's status arms, and when."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.aides import AidRequestStatus, AidStep
from services.intake.aides.settings import AidSettings
from workflows.aid_request import Due, deadline_of, is_final
from workflows.contracts import AidRequestInput
from workflows.worker import WORKFLOWS

AT = datetime(2031, 3, 30, 23, 30, tzinfo=UTC)


def _spec(settings: AidSettings | None = None) -> AidRequestInput:
    settings = settings or AidSettings()
    return AidRequestInput(
        aid_request_id="r",
        dossier_id="d",
        territory="55029",
        status=AidRequestStatus.SUBMITTED.value,
        changed_at=AT.isoformat(),
        instruction_s=settings.instruction_s,
        commission_s=settings.commission_s,
        payment_s=settings.payment_s,
    )


@pytest.mark.parametrize(
    ("status", "step", "days"),
    [
        (AidRequestStatus.SUBMITTED, AidStep.INSTRUCTION, 15),
        (AidRequestStatus.INCOMPLETE, AidStep.INSTRUCTION, 15),
        (AidRequestStatus.COMPLETE, AidStep.COMMISSION, 45),
        (AidRequestStatus.SCHEDULED, AidStep.COMMISSION, 45),
        (AidRequestStatus.POSTPONED, AidStep.COMMISSION, 45),
        (AidRequestStatus.GRANTED, AidStep.PAYMENT, 15),
    ],
)
def test_each_waiting_status_arms_its_steps_deadline(
    status: AidRequestStatus, step: AidStep, days: int
) -> None:
    # Exact elapsed time (UTC), whatever the Paris DST change in between (30 March 2031).
    assert deadline_of(_spec(), status.value, AT.isoformat(), 7) == Due(step, AT + timedelta(days=days), 7)
    assert not is_final(status.value)


@pytest.mark.parametrize(
    "status", [AidRequestStatus.REFUSED, AidRequestStatus.WITHDRAWN, AidRequestStatus.CLOSED]
)
def test_a_final_status_arms_nothing(status: AidRequestStatus) -> None:
    assert deadline_of(_spec(), status.value, AT.isoformat(), 3) is None
    assert is_final(status.value)


def test_the_deployments_delays_and_a_step_without_deadline() -> None:
    spec = _spec(AidSettings(instruction_s=60, commission_s=0, payment_s=-1))
    due = deadline_of(spec, AidRequestStatus.SUBMITTED.value, AT.isoformat(), 1)
    assert due == Due(AidStep.INSTRUCTION, AT + timedelta(seconds=60), 1)
    assert deadline_of(spec, AidRequestStatus.COMPLETE.value, AT.isoformat(), 2) is None
    assert deadline_of(spec, AidRequestStatus.GRANTED.value, AT.isoformat(), 3) is None


def test_the_offset_of_the_change_is_kept() -> None:
    paris = "2031-06-01T10:00:00+02:00"
    due = deadline_of(_spec(), AidRequestStatus.GRANTED.value, paris, 4)
    assert due is not None and due.at == datetime(2031, 6, 16, 8, 0, tzinfo=UTC)


def test_the_worker_runs_it() -> None:
    assert any(w.__name__ == "AidRequestWorkflow" for w in WORKFLOWS)


def test_every_status_is_either_waiting_or_final() -> None:
    for status in AidRequestStatus:
        due = deadline_of(_spec(), status.value, AT.isoformat(), 1)
        assert (due is None) == is_final(status.value)
