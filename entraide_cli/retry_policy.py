"""When a client of the API sends a refused call again: the entraide command's policy,
public so that other clients (the benches) follow the same one.

An UNAVAILABLE answer carrying one of RETRYABLE's reasons is a passing state of the
service (a dependency or the workflow worker restarting): the very same request, same
request id, may be sent again and the server applies it once (docs/retries.md). An
UNAVAILABLE without a reason means nothing answered; any other answer is final.
"""

from __future__ import annotations

from collections.abc import Sequence

import grpc

from kernel import rich_status

PAUSES_S = (0.5, 1.0, 2.0)
# Reasons of UNAVAILABLE answers that a repeat of the same request can get past.
RETRYABLE = frozenset(
    {
        "WORKER_UNAVAILABLE",
        "WORKER_BUSY",
        "POSTGRES_UNAVAILABLE",
        "TEMPORAL_UNAVAILABLE",
        "NATS_UNAVAILABLE",
        "DEPENDENCY_UNAVAILABLE",
        "REQUEST_IN_FLIGHT",
    }
)


def retry_pause(outcome: grpc.RpcError, attempt: int, pauses: Sequence[float] = PAUSES_S) -> float | None:
    """Seconds to wait before sending the same request again after `outcome` (a call's
    result or error), for retry number `attempt` (from 0); None: do not send it again."""
    if attempt >= len(pauses) or outcome.code() != grpc.StatusCode.UNAVAILABLE:
        return None
    if rich_status.describe(outcome).reason not in RETRYABLE:
        return None
    return pauses[attempt]
