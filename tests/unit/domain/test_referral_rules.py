"""The referral's state machine, without any server."""

from __future__ import annotations

import pytest

from domain import referral
from domain.vocabulary import REFERRAL_TERMINAL, ReferralAction, ReferralStatus


def test_every_action_has_a_transition_and_terminal_statuses_accept_none() -> None:
    assert set(referral.TRANSITIONS) == set(ReferralAction)
    for action in ReferralAction:
        allowed, _ = referral.TRANSITIONS[action]
        assert not allowed & REFERRAL_TERMINAL
    for status in REFERRAL_TERMINAL:
        refusal = referral.guard(ReferralAction.CANCEL, status)
        assert refusal is not None and refusal.reason == "WRONG_REFERRAL_STATUS"
        assert "ne peut plus changer" in refusal.fr


def test_the_closed_loop_from_request_to_completion() -> None:
    status: str = ReferralStatus.REQUESTED
    for action in ("acknowledge", "accept", "start", "complete"):
        assert referral.guard(action, status, outcome="need_met") is None
        status = referral.next_status(action)
    assert status == ReferralStatus.COMPLETED


@pytest.mark.parametrize(("action", "needs"), [("reject", "REASON_REQUIRED"), ("fail", "REASON_REQUIRED")])
def test_reject_and_fail_need_a_reason(action: str, needs: str) -> None:
    status = ReferralStatus.RECEIVED if action == "reject" else ReferralStatus.ACCEPTED
    refusal = referral.guard(action, status)
    assert refusal is not None and refusal.reason == needs
    assert referral.guard(action, status, reason="no_capacity") is None


def test_complete_needs_an_outcome_and_unknown_actions_are_named() -> None:
    refusal = referral.guard("complete", ReferralStatus.IN_PROGRESS)
    assert refusal is not None and refusal.reason == "OUTCOME_REQUIRED"
    unknown = referral.guard("teleport", ReferralStatus.REQUESTED)
    assert unknown is not None and unknown.reason == "UNKNOWN_ACTION" and "teleport" in unknown.fr


def test_a_refusal_says_what_is_possible_now_in_french() -> None:
    refusal = referral.guard("accept", ReferralStatus.REQUESTED)
    assert refusal is not None
    assert refusal.fr == (
        "Impossible d'accepter cette orientation : elle est demandée"
        " (possible maintenant : accuser réception, refuser ou annuler)."
    )
    creating = referral.guard("accept", "")
    assert creating is not None and "en cours de création" in creating.fr
