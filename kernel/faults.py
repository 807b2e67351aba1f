"""Faults of a dependency (PostgreSQL, Temporal, NATS) told apart from bugs.

A dependency that is down or restarting is UNAVAILABLE for the caller (safe to retry
with the same request id), a caller's deadline is DEADLINE_EXCEEDED; only what is
neither is INTERNAL. Each fault has a reason code for logs and integrators.
"""

from __future__ import annotations

import asyncio

import asyncpg
import nats.errors
from temporalio.client import RPCTimeoutOrCancelledError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError, RPCStatusCode

from kernel.errors import DeadlineExceeded, DomainError, Unavailable

_POSTGRES_DOWN: tuple[type[BaseException], ...] = (
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.TooManyConnectionsError,
    # What asyncpg raises on a connection whose server went away in the middle of its
    # protocol ("cannot switch to state …"), seen while PostgreSQL restarts.
    asyncpg.exceptions.InternalClientError,
)
_NATS_DOWN: tuple[type[BaseException], ...] = (
    nats.errors.ConnectionClosedError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.NoServersError,
    nats.errors.StaleConnectionError,
    nats.errors.TimeoutError,
    nats.errors.NoRespondersError,
)
_TEMPORAL_DOWN = frozenset(
    {RPCStatusCode.UNAVAILABLE, RPCStatusCode.RESOURCE_EXHAUSTED, RPCStatusCode.ABORTED}
)


def unavailable(dependency: str, fr_name: str) -> Unavailable:
    return Unavailable(
        f"{dependency} is unavailable; retry with the same request_id",
        fr=f"{fr_name} est momentanément indisponible : réessayez dans un instant.",
        reason=f"{dependency.upper()}_UNAVAILABLE",
    )


def deadline_exceeded(what: str = "the call") -> DeadlineExceeded:
    return DeadlineExceeded(
        f"{what} did not finish within the caller's deadline; retry with the same request_id",
        fr="L'opération n'a pas abouti dans le délai : réessayez avec la même demande.",
        reason="DEADLINE_EXCEEDED",
    )


def classify(exc: BaseException) -> DomainError | None:
    """The domain error a dependency fault means for the caller, None for a bug."""
    if isinstance(exc, _POSTGRES_DOWN) or (
        # asyncpg's word for a connection the server closed under it (a restart).
        isinstance(exc, asyncpg.exceptions.InterfaceError) and "connection is closed" in str(exc)
    ):
        return unavailable("postgres", "La base de données")
    if isinstance(exc, _NATS_DOWN):
        return unavailable("nats", "La messagerie")
    if isinstance(exc, RPCTimeoutOrCancelledError | WorkflowUpdateRPCTimeoutOrCancelledError):
        return deadline_exceeded()
    if isinstance(exc, RPCError):
        if exc.status in _TEMPORAL_DOWN:
            return unavailable("temporal", "Le moteur de workflows")
        if exc.status == RPCStatusCode.DEADLINE_EXCEEDED:
            return deadline_exceeded()
        return None
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return deadline_exceeded()
    if isinstance(exc, ConnectionError | OSError):
        return unavailable("dependency", "Un service dont dépend Entraide")
    return None
