"""One request id per user action, and the retry of that action's call.

Every command that changes something sends a request id (the one given with
--request-id, else a new UUID for this run of the command). A call refused with
UNAVAILABLE by an Entraide service (a dependency or the workflow worker restarting:
the answer carries a reason) is sent again, with the same request id, a few times:
the server applies it once whatever happens (docs/retries.md). A service that does
not answer at all is not retried: the person is told at once to start the stack.
Which answers are sent again, and when: entraide_cli.retry_policy.
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import Callable
from typing import Any

import grpc

from entraide_cli.retry_policy import retry_pause


def action_id(args: argparse.Namespace) -> str:
    """This user action's request id: --request-id, else one UUID per command run."""
    given: str = getattr(args, "request_id", "") or ""
    if not given:
        given = str(uuid.uuid4())
        args.request_id = given
    return given


class RetryUnavailable(grpc.UnaryUnaryClientInterceptor):  # type: ignore[type-arg]
    """Sends a call again on a retryable UNAVAILABLE (same request, same request id)."""

    def __init__(self, sleep: Callable[[float], None] = time.sleep) -> None:
        self.sleep = sleep

    def intercept_unary_unary(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        outcome = continuation(client_call_details, request)
        attempt = 0
        while (pause := retry_pause(outcome, attempt)) is not None:
            self.sleep(pause)
            outcome = continuation(client_call_details, request)
            attempt += 1
        return outcome
