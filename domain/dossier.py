"""The dossier's rules: which step a person may take in which stage, where it leads,
and the refusal a person reads otherwise. Data and small pure functions; the
workflow's update validators call `guard` and apply `target_stage`
(docs/domain.md, "Cycle de vie")."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from domain.labels_fr import de, quoted_stage
from domain.vocabulary import AFTER_ECOUTE, ORIENTING, Stage, StepKind


@dataclass(frozen=True)
class Refusal:
    """Why a step is refused: `message` for logs and integrators (English), `fr` for the
    person, `reason` the stable code integrators branch on."""

    message: str
    fr: str
    reason: str


class Action(StrEnum):
    """What a person asks of a dossier (one workflow update each)."""

    RECORD_INTERVIEW = "record_interview"
    COMPLETE_ECOUTE = "complete_ecoute"
    START_SUIVI = "start_suivi"
    RECORD_FOLLOW_UP = "record_follow_up"
    ASSIGN = "assign"
    CLOSE = "close"
    REOPEN = "reopen"
    ORIENT = "orient"


@dataclass(frozen=True)
class Rule:
    """One row of the transition table."""

    step: StepKind | None  # the timeline step it writes (orient: the referral's own steps)
    verb: str  # English, after "cannot"
    verb_fr: str  # French infinitive, after "Impossible de"
    # Stages the action is allowed in; None: any stage of an open dossier.
    stages: frozenset[Stage] | None = None
    # The stage it leads to; None: the dossier stays where it is.
    to_stage: Stage | None = None


RULES: dict[Action, Rule] = {
    Action.RECORD_INTERVIEW: Rule(StepKind.INTERVIEW, "record an interview", "enregistrer un entretien"),
    Action.COMPLETE_ECOUTE: Rule(
        StepKind.ECOUTE_COMPLETED, "complete the écoute", "terminer l'écoute", frozenset({Stage.ECOUTE})
    ),
    Action.START_SUIVI: Rule(
        StepKind.STAGE_CHANGED,
        "start the suivi",
        "commencer le suivi",
        frozenset({Stage.ORIENTATION}),
        Stage.SUIVI,
    ),
    Action.RECORD_FOLLOW_UP: Rule(
        StepKind.FOLLOW_UP, "record a follow-up", "enregistrer un contact de suivi", ORIENTING
    ),
    Action.ASSIGN: Rule(StepKind.ASSIGNED, "assign the dossier", "attribuer le dossier"),
    Action.CLOSE: Rule(StepKind.CLOSED, "close the dossier", "clôturer le dossier", None, Stage.CLOTURE),
    Action.REOPEN: Rule(
        StepKind.REOPENED,
        "reopen the dossier",
        "rouvrir le dossier",
        frozenset({Stage.CLOTURE}),
        Stage.ECOUTE,
    ),
    Action.ORIENT: Rule(None, "orient the person", "orienter la personne", ORIENTING),
}


@dataclass(frozen=True)
class Facts:
    """What the rules read of a dossier."""

    stage: str
    # The reopen delay has passed: the dossier is over for good.
    finished: bool = False
    assigned_agent: str = ""
    motifs: Sequence[str] = ()


def target_stage(action: Action, stage: str) -> str:
    """Where the action leads from `stage` (the first interview starts the écoute)."""
    if action is Action.RECORD_INTERVIEW:
        return Stage.ECOUTE if stage == Stage.RECEPTION else stage
    return RULES[action].to_stage or stage


def guard(
    action: Action,
    facts: Facts,
    *,
    next_stage: str = "",
    assignee: str = "",
    motif: str = "",
) -> Refusal | None:
    """The refusal of `action` on a dossier in this state, or None when it may go ahead."""
    if action is Action.REOPEN:
        return _guard_reopen(facts)
    rule = RULES[action]
    if (closed := _closed(rule, facts)) is not None:
        return closed
    if rule.stages is not None and facts.stage not in rule.stages:
        return _wrong_stage(action, facts.stage)
    if action is Action.COMPLETE_ECOUTE and next_stage not in AFTER_ECOUTE:
        return Refusal(
            "after the écoute the dossier goes to 'orientation' or 'suivi'",
            "Après l'écoute, le dossier passe en « orientation » ou en « suivi ».",
            "INVALID_NEXT_STAGE",
        )
    if action is Action.ASSIGN and assignee == facts.assigned_agent:
        return Refusal(
            "the dossier is already assigned to this agent",
            f"Le dossier est déjà attribué à « {assignee[:100]} ».",
            "ALREADY_ASSIGNED",
        )
    if action is Action.ORIENT and motif not in facts.motifs:
        return Refusal(
            "the referral's motif must be one of the dossier's motifs",
            f"Le motif de l'orientation (« {motif[:40]} ») doit être l'un des motifs du dossier :"
            f" {', '.join(f'« {m} »' for m in facts.motifs)}.",
            "MOTIF_NOT_IN_DOSSIER",
        )
    return None


def _closed(rule: Rule, facts: Facts) -> Refusal | None:
    if facts.finished:
        return Refusal(
            f"cannot {rule.verb}: this dossier's reopen delay has passed",
            f"Impossible {de(rule.verb_fr)} : ce dossier est clôturé et son délai de réouverture"
            " est passé. Ouvrez un nouveau dossier.",
            "REOPEN_DELAY_PASSED",
        )
    if facts.stage == Stage.CLOTURE:
        return Refusal(
            f"cannot {rule.verb}: the dossier is closed (reopen it first)",
            f"Impossible {de(rule.verb_fr)} : le dossier est clôturé."
            " Rouvrez-le d'abord (commande `entraide rouvrir`).",
            "DOSSIER_CLOSED",
        )
    return None


def _guard_reopen(facts: Facts) -> Refusal | None:
    if facts.finished:
        return Refusal(
            "the reopen delay has passed: open a new dossier",
            "Le délai de réouverture de ce dossier est passé : ouvrez un nouveau dossier.",
            "REOPEN_DELAY_PASSED",
        )
    if facts.stage != Stage.CLOTURE:
        return Refusal(
            f"only a closed dossier can be reopened; this one is in stage {facts.stage!r}",
            "Seul un dossier clôturé peut être rouvert ;"
            f" celui-ci est à l'étape {quoted_stage(facts.stage)}.",
            "DOSSIER_NOT_CLOSED",
        )
    return None


def _wrong_stage(action: Action, stage: str) -> Refusal:
    before_ecoute = stage in (Stage.RECEPTION, Stage.ECOUTE)
    if action is Action.COMPLETE_ECOUTE:
        first = stage == Stage.RECEPTION
        return Refusal(
            f"cannot complete the écoute: the dossier is in stage {stage!r}, not 'ecoute'"
            + (" (record an interview first)" if first else ""),
            f"Impossible de terminer l'écoute : le dossier est à l'étape {quoted_stage(stage)},"
            f" pas {quoted_stage(Stage.ECOUTE)}" + (" ; enregistrez d'abord un entretien." if first else "."),
            "WRONG_STAGE",
        )
    if action is Action.START_SUIVI:
        return Refusal(
            f"cannot start the suivi: the dossier is in stage {stage!r}, not 'orientation'",
            f"Impossible de commencer le suivi : le dossier est à l'étape {quoted_stage(stage)},"
            f" pas {quoted_stage(Stage.ORIENTATION)}.",
            "WRONG_STAGE",
        )
    if action is Action.RECORD_FOLLOW_UP:
        return Refusal(
            f"a follow-up is recorded in orientation or suivi; the dossier is in {stage!r}",
            "Un contact de suivi s'enregistre à l'étape orientation ou suivi ;"
            f" le dossier est à l'étape {quoted_stage(stage)}.",
            "WRONG_STAGE",
        )
    assert action is Action.ORIENT, action
    return Refusal(
        f"a referral is made in stage orientation or suivi; the dossier is in {stage!r}"
        + (" (complete the écoute first)" if before_ecoute else ""),
        "Une orientation se fait à l'étape orientation ou suivi ;"
        f" le dossier est à l'étape {quoted_stage(stage)}"
        + (" : terminez d'abord l'écoute." if before_ecoute else "."),
        "WRONG_STAGE",
    )
