"""The referral's state machine: which action applies in which status, where it
leads, what it needs, and the refusal a person reads otherwise (docs/domain.md,
"Orientation")."""

from __future__ import annotations

from domain.dossier import Refusal
from domain.labels_fr import REFERRAL_ACTION_VERBS, REFERRAL_STATUS_LABELS, de
from domain.vocabulary import ReferralAction, ReferralStatus

_S = ReferralStatus
_OPEN = frozenset({_S.REQUESTED, _S.RECEIVED, _S.ACCEPTED, _S.IN_PROGRESS})
# action → (statuses it applies to, status it leads to)
TRANSITIONS: dict[str, tuple[frozenset[str], ReferralStatus]] = {
    ReferralAction.ACKNOWLEDGE: (frozenset({_S.REQUESTED}), _S.RECEIVED),
    ReferralAction.ACCEPT: (frozenset({_S.RECEIVED}), _S.ACCEPTED),
    ReferralAction.REJECT: (frozenset({_S.REQUESTED, _S.RECEIVED}), _S.REJECTED),
    ReferralAction.START: (frozenset({_S.ACCEPTED}), _S.IN_PROGRESS),
    ReferralAction.COMPLETE: (frozenset({_S.IN_PROGRESS}), _S.COMPLETED),
    ReferralAction.FAIL: (frozenset({_S.ACCEPTED, _S.IN_PROGRESS}), _S.FAILED),
    ReferralAction.CANCEL: (_OPEN, _S.CANCELLED),
}
NEEDS_REASON = frozenset({ReferralAction.REJECT, ReferralAction.FAIL})
NEEDS_OUTCOME = frozenset({ReferralAction.COMPLETE})
# What can be done in each open status, for the refusal's hint.
POSSIBLE_NOW: dict[str, str] = {
    _S.REQUESTED: "acknowledge, reject or cancel",
    _S.RECEIVED: "accept, reject or cancel",
    _S.ACCEPTED: "start, fail or cancel",
    _S.IN_PROGRESS: "complete, fail or cancel",
}
POSSIBLE_NOW_FR: dict[str, str] = {
    _S.REQUESTED: "accuser réception, refuser ou annuler",
    _S.RECEIVED: "accepter, refuser ou annuler",
    _S.ACCEPTED: "commencer l'accompagnement, déclarer en échec ou annuler",
    _S.IN_PROGRESS: "terminer, déclarer en échec ou annuler",
}


def next_status(action: str) -> ReferralStatus:
    return TRANSITIONS[ReferralAction(action)][1]


def guard(action: str, status: str, *, reason: str = "", outcome: str = "") -> Refusal | None:
    """The refusal of `action` on a referral in `status` ("" while being created)."""
    if action not in TRANSITIONS:
        return Refusal(
            f"unknown action {action[:20]!r}",
            f"Action inconnue sur une orientation : « {action[:20]} ».",
            "UNKNOWN_ACTION",
        )
    known = ReferralAction(action)
    allowed_from, _ = TRANSITIONS[known]
    verb = REFERRAL_ACTION_VERBS[known]
    if status not in allowed_from:
        hint = POSSIBLE_NOW.get(status)
        label = REFERRAL_STATUS_LABELS.get(status, status)
        if not status:
            why = "elle est en cours de création : réessayez dans un instant."
        elif hint:
            why = f"elle est {label} (possible maintenant : {POSSIBLE_NOW_FR[status]})."
        else:
            why = f"elle est {label} et ne peut plus changer."
        return Refusal(
            f"cannot {action} this referral: it is {status or 'being created'}"
            + (f" (possible now: {hint})" if hint else " (it is over)"),
            f"Impossible {de(verb)} cette orientation : {why}",
            "WRONG_REFERRAL_STATUS",
        )
    if known in NEEDS_REASON and not reason:
        return Refusal(
            f"{action} needs a reason",
            f"Pour {verb} cette orientation, indiquez un motif.",
            "REASON_REQUIRED",
        )
    if known in NEEDS_OUTCOME and not outcome:
        return Refusal(
            "complete needs an outcome",
            "Pour terminer cette orientation, indiquez son issue.",
            "OUTCOME_REQUIRED",
        )
    return None
