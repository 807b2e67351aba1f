"""Temporal client connection and the mapping of workflow failures to domain errors."""

from __future__ import annotations

from collections.abc import Mapping

from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from kernel.codec import data_converter
from kernel.errors import ERRORS_BY_KIND, DomainError, FailedPrecondition
from kernel.settings import Settings


async def connect(settings: Settings) -> Client:
    """The client of every service and worker; its payloads are encrypted (kernel.codec)."""
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(settings.env),
    )


def application_error(error: DomainError) -> ApplicationError:
    """A domain error raised in workflow or activity code (never retried)."""
    return ApplicationError(error.message, error.details(), type=error.kind, non_retryable=True)


def domain_error_from(exc: BaseException) -> DomainError | None:
    """The domain error behind a failed update or activity, if there is one."""
    current: BaseException | None = exc
    while current is not None:
        if isinstance(current, ApplicationError) and current.type in ERRORS_BY_KIND:
            details = current.details[0] if current.details else None
            return ERRORS_BY_KIND[current.type].from_details(
                current.message, details if isinstance(details, Mapping) else None
            )
        current = current.__cause__
    if isinstance(exc, WorkflowUpdateFailedError):
        return FailedPrecondition(
            str(exc.cause) if exc.cause else "the dossier refused this step",
            fr="Le dossier a refusé cette étape.",
            reason="STEP_REFUSED",
        )
    return None
