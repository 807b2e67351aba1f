"""What each step means in the timeline and which events it emits, without any server."""

from __future__ import annotations

from dataclasses import replace

import pytest

from domain.events import EventType, spec_of
from domain.vocabulary import REFERRAL_REMINDER, Stage, StepKind
from services.intake import timeline
from workflows.contracts import Transition

AT = "2026-03-02T09:30:00+00:00"


def step(
    kind: StepKind, from_stage: Stage = Stage.SUIVI, to_stage: Stage = Stage.SUIVI, **fields: object
) -> Transition:
    return Transition(
        workflow_id="dossier-d1",
        dossier_id="d1",
        territory="55029",
        step=3,
        kind=kind,
        at=AT,
        actor="agent-1",
        from_stage=from_stage,
        to_stage=to_stage,
        cycle=0,
        **fields,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("kind", [k for k in StepKind if k is not StepKind.OPENED])
def test_every_step_kind_has_a_french_summary_and_catalogued_events(kind: StepKind) -> None:
    t = step(kind, motifs=["logement"], assigned_agent="agent-2", outcome="autre", partner_name="CAF")
    assert timeline.summary(t, {"autre": "Autre issue"})
    for event_type, payload in timeline.events(t):
        assert type(payload) is spec_of(event_type).message


def test_a_change_of_stage_adds_stage_changed_after_the_step_s_own_event() -> None:
    t = step(StepKind.INTERVIEW, Stage.RECEPTION, Stage.ECOUTE)
    emitted = timeline.events(t)
    assert [e for e, _ in emitted] == [EventType.INTERVIEW_RECORDED, EventType.DOSSIER_STAGE_CHANGED]
    changed = emitted[1][1]
    assert (changed.from_stage, changed.to_stage) == ("reception", "ecoute")  # type: ignore[attr-defined]
    assert timeline.summary(t, {}) == "Entretien d'écoute : début de l'écoute"
    assert timeline.summary(replace(t, from_stage=Stage.ECOUTE), {}) == "Entretien d'écoute"


def test_events_carry_codes_and_ids_never_notes() -> None:
    t = step(StepKind.FOLLOW_UP, notes="la personne a perdu son logement")
    for _, payload in timeline.events(t):
        assert b"logement" not in payload.SerializeToString()
    interview = timeline.events(step(StepKind.INTERVIEW, Stage.ECOUTE, Stage.ECOUTE))[0][1]
    assert interview.interview_id == str(timeline.note_id("d1", 3))  # type: ignore[attr-defined]


def test_referral_steps_are_summarised_with_their_status_and_reason_but_emit_nothing() -> None:
    rejected = step(StepKind.REFERRAL, partner_name="CAF", referral_status="rejected", reason="no_capacity")
    assert timeline.summary(rejected, {}) == "Orientation vers CAF : refusée (pas de place)"
    reminder = step(StepKind.REFERRAL, partner_name="CAF", referral_status=REFERRAL_REMINDER)
    assert "toujours sans accusé de réception" in timeline.summary(reminder, {})
    assert timeline.events(rejected) == []


def test_closure_uses_the_deployment_s_outcome_names_and_unknown_kinds_are_refused() -> None:
    closed = step(StepKind.CLOSED, Stage.SUIVI, Stage.CLOTURE, outcome="solution")
    assert timeline.summary(closed, {"solution": "Solution trouvée"}) == "Dossier clôturé : Solution trouvée"
    with pytest.raises(ValueError, match="unknown step kind"):
        timeline.summary(replace(closed, kind="teleported"), {})
