"""What an imported row becomes: ids derived from the row, the same steps and event ids
as a live dossier's, the state its workflow starts from."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.events import EventType
from domain.vocabulary import Stage, StepKind
from kernel.events import step_event_id
from services.intake.importing import plan, starts
from tests.imported import day, imported_row, stored
from workflows.contracts import LifecycleTimers

row = imported_row


def test_steps_and_events_are_a_live_dossiers() -> None:
    p = plan.plan(row(), "resp")
    assert [(t.step, t.kind, t.from_stage, t.to_stage) for t in p.steps] == [
        (1, StepKind.STAGE_CHANGED, Stage.RECEPTION, Stage.ECOUTE),
        (2, StepKind.STAGE_CHANGED, Stage.ECOUTE, Stage.SUIVI),
        (3, StepKind.CLOSED, Stage.SUIVI, Stage.CLOTURE),
    ]
    assert p.stage == Stage.CLOTURE
    assert p.last_activity_at == day("2024-02-20")  # a closure is no activity
    events = plan.step_events(p)
    assert [e.type for e in events] == [
        EventType.DOSSIER_STAGE_CHANGED,
        EventType.DOSSIER_STAGE_CHANGED,
        EventType.DOSSIER_CLOSED,
        EventType.DOSSIER_STAGE_CHANGED,
    ]
    assert events[2].id == step_event_id(p.workflow_id, f"3/{EventType.DOSSIER_CLOSED}")
    opened = plan.opened_event(p, None)
    assert opened.id == step_event_id(p.workflow_id, StepKind.OPENED)
    assert opened.time == row().opened_at


def test_the_same_row_is_the_same_dossier_and_another_commune_another() -> None:
    assert plan.dossier_id(row()) == plan.dossier_id(row(site="ailleurs"))
    assert plan.dossier_id(row()) != plan.dossier_id(row(key="55291\x00ref\x00D-1"))


def test_an_open_dossier_carries_its_state_to_its_workflow() -> None:
    p = plan.plan(row(closed_at=None, outcome=None), "resp")
    now = datetime(2026, 12, 2, tzinfo=UTC)
    assert plan.needs_workflow(p, now, reopen_delay_s=90 * 86400)
    # The dossier's rows as the import wrote them (services.intake.importing.store).
    dossier, steps = stored(p, urgent_ecoute_s=60.0)
    spec = starts.spec_of(dossier, steps, LifecycleTimers(suivi_reminder_s=5.0))  # type: ignore[arg-type]
    state = spec.carried
    assert state is not None
    assert (state.stage, state.step, state.closed_at) == (Stage.SUIVI, 2, None)
    assert state.last_activity_at == "2024-02-20T12:00:00+01:00"
    assert [h.step for h in state.history] == [0, 1, 2]
    assert (spec.timers.urgent_ecoute_s, spec.timers.suivi_reminder_s) == (
        60.0,
        5.0,
    )  # its own, else the service's
    assert spec.opened_by == "resp"


def test_a_dossier_closed_long_ago_needs_no_workflow_but_a_recent_one_does() -> None:
    now = datetime(2026, 12, 2, tzinfo=UTC)
    assert not plan.needs_workflow(plan.plan(row(), "resp"), now, reopen_delay_s=90 * 86400)
    recent = row(closed_at=now - timedelta(days=10))
    assert plan.needs_workflow(plan.plan(recent, "resp"), now, reopen_delay_s=90 * 86400)
