"""The dossier's transition table and guards, without any server."""

from __future__ import annotations

import pytest

from domain.dossier import RULES, Action, Facts, guard, target_stage
from domain.vocabulary import STAGES, Stage, StepKind

OPEN_STAGES = [s for s in STAGES if s is not Stage.CLOTURE]


def reason(action: Action, stage: str, **args: str) -> str | None:
    refusal = guard(action, Facts(stage, motifs=("logement",), assigned_agent="agent-1"), **args)
    return None if refusal is None else refusal.reason


def test_every_action_has_a_rule_and_every_rule_names_its_step() -> None:
    assert set(RULES) == set(Action)
    assert {r.step for r in RULES.values()} - {None} <= set(StepKind)


@pytest.mark.parametrize("stage", OPEN_STAGES)
def test_an_interview_is_recorded_in_any_open_stage_and_the_first_starts_the_ecoute(stage: Stage) -> None:
    assert reason(Action.RECORD_INTERVIEW, stage) is None
    expected = Stage.ECOUTE if stage is Stage.RECEPTION else stage
    assert target_stage(Action.RECORD_INTERVIEW, stage) == expected


@pytest.mark.parametrize(
    ("action", "allowed", "args"),
    [
        (Action.COMPLETE_ECOUTE, {Stage.ECOUTE}, {"next_stage": "suivi"}),
        (Action.START_SUIVI, {Stage.ORIENTATION}, {}),
        (Action.RECORD_FOLLOW_UP, {Stage.ORIENTATION, Stage.SUIVI}, {}),
        (Action.ORIENT, {Stage.ORIENTATION, Stage.SUIVI}, {"motif": "logement"}),
    ],
)
def test_stage_bound_actions_are_refused_elsewhere_with_wrong_stage(
    action: Action, allowed: set[Stage], args: dict[str, str]
) -> None:
    for stage in OPEN_STAGES:
        assert reason(action, stage, **args) == (None if stage in allowed else "WRONG_STAGE"), stage


@pytest.mark.parametrize("action", [a for a in Action if a is not Action.REOPEN])
def test_a_closed_dossier_refuses_everything_but_reopening(action: Action) -> None:
    assert (
        reason(action, Stage.CLOTURE, next_stage="suivi", motif="logement", assignee="x") == "DOSSIER_CLOSED"
    )
    finished = guard(action, Facts(Stage.CLOTURE, finished=True), next_stage="suivi", motif="x", assignee="x")
    assert finished is not None and finished.reason == "REOPEN_DELAY_PASSED"


def test_reopening_needs_a_closed_dossier_within_its_delay() -> None:
    assert reason(Action.REOPEN, Stage.CLOTURE) is None
    assert target_stage(Action.REOPEN, Stage.CLOTURE) == Stage.ECOUTE
    for stage in OPEN_STAGES:
        assert reason(Action.REOPEN, stage) == "DOSSIER_NOT_CLOSED"
    late = guard(Action.REOPEN, Facts(Stage.CLOTURE, finished=True))
    assert late is not None and late.reason == "REOPEN_DELAY_PASSED"


def test_the_ecoute_leads_to_orientation_or_suivi_only() -> None:
    for next_stage in ("orientation", "suivi"):
        assert reason(Action.COMPLETE_ECOUTE, Stage.ECOUTE, next_stage=next_stage) is None
    for wrong in ("cloture", "reception", ""):
        assert reason(Action.COMPLETE_ECOUTE, Stage.ECOUTE, next_stage=wrong) == "INVALID_NEXT_STAGE"


def test_assigning_to_the_current_agent_and_orienting_outside_the_motifs_are_refused() -> None:
    assert reason(Action.ASSIGN, Stage.SUIVI, assignee="agent-1") == "ALREADY_ASSIGNED"
    assert reason(Action.ASSIGN, Stage.SUIVI, assignee="agent-2") is None
    assert reason(Action.ORIENT, Stage.SUIVI, motif="emploi") == "MOTIF_NOT_IN_DOSSIER"


def test_closing_leads_to_cloture_and_starting_the_suivi_to_suivi() -> None:
    assert target_stage(Action.CLOSE, Stage.ECOUTE) == Stage.CLOTURE
    assert target_stage(Action.START_SUIVI, Stage.ORIENTATION) == Stage.SUIVI
    assert target_stage(Action.RECORD_FOLLOW_UP, Stage.SUIVI) == Stage.SUIVI


def test_refusals_speak_french_with_the_stage_s_french_name() -> None:
    refusal = guard(Action.COMPLETE_ECOUTE, Facts(Stage.RECEPTION), next_stage="suivi")
    assert refusal is not None
    assert refusal.fr == (
        "Impossible de terminer l'écoute : le dossier est à l'étape « accueil », pas « écoute »"
        " ; enregistrez d'abord un entretien."
    )
    closed = guard(Action.ORIENT, Facts(Stage.CLOTURE), motif="x")
    assert closed is not None and closed.fr.startswith(
        "Impossible d'orienter la personne : le dossier est clôturé."
    )
