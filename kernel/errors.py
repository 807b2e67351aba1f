"""Domain errors: raised by handlers and activities, mapped to gRPC status codes once.

A caller's mistake is never INTERNAL: it is one of these. Each carries two sentences,
one in English for integrators' logs (`message`) and one in French for the people who
read it in the CLI or the console (`fr`), a stable machine-readable `reason`
(UPPER_SNAKE_CASE, never reworded: integrators branch on it), and the request fields
at fault (`violations`). kernel.rich_status turns them into the gRPC rich error model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import grpc


@dataclass(frozen=True)
class Violation:
    """One request field at fault: its path (`motifs[2]`, `$.organizations[0].id`), why
    in English, and the same in French for people."""

    field: str
    description: str
    fr: str
    reason: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "description": self.description, "fr": self.fr, "reason": self.reason}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Violation:
        return cls(
            field=str(raw.get("field", "")),
            description=str(raw.get("description", "")),
            fr=str(raw.get("fr", "")),
            reason=str(raw.get("reason", "")),
        )


class DomainError(Exception):
    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN
    # Stable machine-readable name, also the Temporal ApplicationError type.
    kind: str = "DomainError"
    # The reason code when a raise site gives none.
    default_reason: str = "ERROR"

    def __init__(
        self,
        message: str,
        *,
        fr: str,
        reason: str = "",
        field: str = "",
        violations: Sequence[Violation] = (),
    ) -> None:
        """`field`: shorthand for one violation carrying the error's own sentences."""
        super().__init__(message)
        self.message = message
        self.fr = fr
        self.reason = reason or self.default_reason
        found = list(violations)
        if field:
            found.insert(0, Violation(field, message, fr, self.reason))
        self.violations: tuple[Violation, ...] = tuple(found)

    @classmethod
    def of(cls, violations: Sequence[Violation], reason: str = "") -> DomainError:
        """One error for several fields at fault (validation collects them all)."""
        if len(violations) == 1:
            only = violations[0]
            return cls(only.description, fr=only.fr, reason=reason or only.reason, violations=violations)
        return cls(
            "; ".join(v.description for v in violations),
            # Each French sentence stands on its own (they start with a capital).
            fr=" ".join(v.fr if v.fr.endswith((".", "!", "?")) else v.fr + "." for v in violations),
            reason=reason,
            violations=violations,
        )

    def details(self) -> dict[str, Any]:
        """What crosses a Temporal boundary (ApplicationError details), to rebuild it."""
        return {
            "fr": self.fr,
            "reason": self.reason,
            "violations": [v.as_dict() for v in self.violations],
        }

    @classmethod
    def from_details(cls, message: str, details: Mapping[str, Any] | None) -> DomainError:
        details = details or {}
        raw = details.get("violations") or []
        return cls(
            message,
            fr=str(details.get("fr") or message),
            reason=str(details.get("reason") or ""),
            violations=[Violation.from_dict(v) for v in raw if isinstance(v, Mapping)],
        )


class InvalidArgument(DomainError):
    code = grpc.StatusCode.INVALID_ARGUMENT
    kind = "InvalidArgument"
    default_reason = "INVALID_FIELD"


class NotFound(DomainError):
    code = grpc.StatusCode.NOT_FOUND
    kind = "NotFound"
    default_reason = "NOT_FOUND"


class FailedPrecondition(DomainError):
    code = grpc.StatusCode.FAILED_PRECONDITION
    kind = "FailedPrecondition"
    default_reason = "FAILED_PRECONDITION"


class AlreadyExists(DomainError):
    code = grpc.StatusCode.ALREADY_EXISTS
    kind = "AlreadyExists"
    default_reason = "ALREADY_EXISTS"


class PermissionDenied(DomainError):
    code = grpc.StatusCode.PERMISSION_DENIED
    kind = "PermissionDenied"
    default_reason = "PERMISSION_DENIED"


class Unauthenticated(DomainError):
    code = grpc.StatusCode.UNAUTHENTICATED
    kind = "Unauthenticated"
    default_reason = "UNAUTHENTICATED"


class Unavailable(DomainError):
    code = grpc.StatusCode.UNAVAILABLE
    kind = "Unavailable"
    default_reason = "DEPENDENCY_UNAVAILABLE"


class DeadlineExceeded(DomainError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED
    kind = "DeadlineExceeded"
    default_reason = "DEADLINE_EXCEEDED"


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
        DeadlineExceeded,
    )
}
