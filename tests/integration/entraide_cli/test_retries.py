"""The entraide command sends one request id per action and repeats that same call when a
service answers a retryable UNAVAILABLE, never when nothing answers or on a refusal."""

from __future__ import annotations

import argparse
from typing import Any

import grpc

from entraide_cli.retries import RetryUnavailable, action_id
from entraide_cli.retry_policy import PAUSES_S
from kernel import faults, rich_status
from kernel.errors import FailedPrecondition
from kernel.temporal import no_worker


class Outcome:
    """What a continuation returns, as grpc's sync interceptors see it."""

    def __init__(self, status: grpc.Status | None, code: grpc.StatusCode = grpc.StatusCode.OK) -> None:
        self.status = status
        self._code = status.code if status is not None else code

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self.status.details if self.status is not None else "failed to connect to all addresses"

    def trailing_metadata(self) -> Any:
        return self.status.trailing_metadata if self.status is not None else ()


def run(outcomes: list[Outcome]) -> tuple[Outcome, list[Any], list[float]]:
    sent: list[Any] = []
    slept: list[float] = []

    def continuation(details: Any, request: Any) -> Outcome:
        sent.append(request)
        return outcomes[min(len(sent), len(outcomes)) - 1]

    final = RetryUnavailable(sleep=slept.append).intercept_unary_unary(continuation, None, "same request")
    return final, sent, slept


def test_a_retryable_unavailable_is_sent_again_with_the_same_request() -> None:
    worker_down = Outcome(rich_status.to_status(no_worker()))
    final, sent, slept = run(
        [
            worker_down,
            Outcome(rich_status.to_status(faults.unavailable("postgres", "La base"))),
            Outcome(None),
        ]
    )
    assert final.code() == grpc.StatusCode.OK
    assert sent == ["same request"] * 3 and slept == list(PAUSES_S[:2])


def test_retries_are_bounded() -> None:
    final, sent, _ = run([Outcome(rich_status.to_status(no_worker()))])
    assert final.code() == grpc.StatusCode.UNAVAILABLE and len(sent) == 1 + len(PAUSES_S)


def test_no_retry_when_nothing_answers_or_on_a_refusal() -> None:
    unreachable = Outcome(None, grpc.StatusCode.UNAVAILABLE)
    refused = Outcome(
        rich_status.to_status(FailedPrecondition("closed", fr="Clôturé.", reason="DOSSIER_CLOSED"))
    )
    for outcome in (unreachable, refused):
        final, sent, slept = run([outcome, Outcome(None)])
        assert final is outcome and len(sent) == 1 and slept == []


def test_one_request_id_per_action() -> None:
    args = argparse.Namespace()
    first = action_id(args)
    assert first and action_id(args) == first
    assert action_id(argparse.Namespace(request_id="mine")) == "mine"
