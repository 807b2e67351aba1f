"""The gRPC rich error model (google.rpc.Status in the `grpc-status-details-bin` trailer):
built once for every server from a DomainError, read once for every client.

Each refusal carries an ErrorInfo (stable `reason`, domain `entraide`, the fields at
fault in its metadata), a BadRequest with one FieldViolation per field when a field is
at fault, and a LocalizedMessage in fr-FR: the sentence the CLI and the console show.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from kernel.errors import DomainError, Violation

DOMAIN = "entraide"
LOCALE = "fr-FR"
# What a person reads for conditions that are not a DomainError.
GENERIC_FR: dict[grpc.StatusCode, str] = {
    grpc.StatusCode.INTERNAL: "Erreur interne du service : les exploitants ont été prévenus.",
    grpc.StatusCode.UNIMPLEMENTED: "Ce service ne propose pas cette opération.",
    grpc.StatusCode.UNAVAILABLE: "Le service est momentanément indisponible : réessayez dans un instant.",
    grpc.StatusCode.DEADLINE_EXCEEDED: "Le service n'a pas répondu dans le délai : réessayez.",
    grpc.StatusCode.UNAUTHENTICATED: "Connexion requise : votre jeton est absent ou invalide.",
    grpc.StatusCode.PERMISSION_DENIED: "Vous n'avez pas accès à cette opération.",
    grpc.StatusCode.CANCELLED: "L'appel a été annulé.",
    grpc.StatusCode.RESOURCE_EXHAUSTED: "Le service est surchargé : réessayez dans un instant.",
}


def _pack(message: Any) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def _localized(text: str) -> error_details_pb2.LocalizedMessage:
    return error_details_pb2.LocalizedMessage(locale=LOCALE, message=text)


def to_status(error: DomainError) -> grpc.Status:
    """The status a server answers for a domain error: code, English message, details."""
    info = error_details_pb2.ErrorInfo(reason=error.reason, domain=DOMAIN)
    if error.violations:
        info.metadata["fields"] = ",".join(v.field for v in error.violations)
    details = [_pack(info)]
    if error.violations:
        details.append(
            _pack(
                error_details_pb2.BadRequest(
                    field_violations=[
                        error_details_pb2.BadRequest.FieldViolation(
                            field=v.field,
                            description=v.description,
                            reason=v.reason or error.reason,
                            localized_message=_localized(v.fr),
                        )
                        for v in error.violations
                    ]
                )
            )
        )
    details.append(_pack(_localized(error.fr)))
    status = status_pb2.Status(code=error.code.value[0], message=error.message, details=details)
    return rpc_status.to_status(status)


def generic_status(code: grpc.StatusCode, message: str, reason: str) -> grpc.Status:
    """A status for a condition that is no DomainError (a bug, an unimplemented method)."""
    fr = GENERIC_FR.get(code, "Erreur du service.")
    status = status_pb2.Status(
        code=code.value[0],
        message=message,
        details=[_pack(error_details_pb2.ErrorInfo(reason=reason, domain=DOMAIN)), _pack(_localized(fr))],
    )
    return rpc_status.to_status(status)


@dataclass(frozen=True)
class Described:
    """A client's reading of a failed call."""

    code: grpc.StatusCode
    message: str
    fr: str
    reason: str = ""
    violations: tuple[Violation, ...] = field(default=())


def describe(error: grpc.RpcError) -> Described:
    """Code, English message, French sentence, reason and fields of a failed call; a
    status without details (a transport failure) gets the French sentence of its code."""
    call: Any = error
    code: grpc.StatusCode = call.code()
    message: str = call.details() or ""
    fr = ""
    reason = ""
    violations: list[Violation] = []
    try:
        status = rpc_status.from_call(call)
    except ValueError:
        status = None
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.LocalizedMessage.DESCRIPTOR):
            localized = error_details_pb2.LocalizedMessage()
            detail.Unpack(localized)
            if localized.locale == LOCALE:
                fr = localized.message
        elif detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason = info.reason
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            violations.extend(
                Violation(v.field, v.description, v.localized_message.message or v.description, v.reason)
                for v in bad.field_violations
            )
    return Described(code, message, fr or GENERIC_FR.get(code, message), reason, tuple(violations))
