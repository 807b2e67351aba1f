"""Domain errors: raised by handlers and activities, mapped to gRPC status codes once.

A caller's mistake is never INTERNAL: it is one of these, with a message a person
understands (in English for API clients; UIs translate by `reason`).
"""

from __future__ import annotations

import grpc


class DomainError(Exception):
    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN
    # Stable machine-readable name, also the Temporal ApplicationError type.
    kind: str = "DomainError"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(DomainError):
    code = grpc.StatusCode.INVALID_ARGUMENT
    kind = "InvalidArgument"


class NotFound(DomainError):
    code = grpc.StatusCode.NOT_FOUND
    kind = "NotFound"


class FailedPrecondition(DomainError):
    code = grpc.StatusCode.FAILED_PRECONDITION
    kind = "FailedPrecondition"


class AlreadyExists(DomainError):
    code = grpc.StatusCode.ALREADY_EXISTS
    kind = "AlreadyExists"


class PermissionDenied(DomainError):
    code = grpc.StatusCode.PERMISSION_DENIED
    kind = "PermissionDenied"


class Unauthenticated(DomainError):
    code = grpc.StatusCode.UNAUTHENTICATED
    kind = "Unauthenticated"


class Unavailable(DomainError):
    code = grpc.StatusCode.UNAVAILABLE
    kind = "Unavailable"


ERRORS_BY_KIND: dict[str, type[DomainError]] = {
    cls.kind: cls
    for cls in (
        InvalidArgument,
        NotFound,
        FailedPrecondition,
        AlreadyExists,
        PermissionDenied,
        Unauthenticated,
        Unavailable,
    )
}
