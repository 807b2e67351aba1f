"""Checks on what callers send, with messages a person understands."""

from __future__ import annotations

import re
import uuid

from entraide.v1 import intake_pb2

from kernel.errors import InvalidArgument
from kernel.reference import ReferenceData
from workflows.contracts import DossierSpec, LifecycleTimers

_REQUEST_ID = re.compile(r"^[\x21-\x7e]{1,100}$")
_AGENT = re.compile(r"^[\x21-\x7e]{1,100}$")
MAX_SITE_LENGTH = 100
MAX_NOTES_LENGTH = 20_000
MAX_PAGE_SIZE = 200
# Dossier ids derive from (territory, request id): a retried request finds its dossier.
DOSSIER_ID_NAMESPACE = uuid.UUID("0b6f7f39-3d0e-4e58-9a3c-6a6f0d1c2e44")


def dossier_id_for(territory: str, request_id: str) -> str:
    return str(uuid.uuid5(DOSSIER_ID_NAMESPACE, f"{territory}\x00{request_id}"))


def parse_dossier_id(raw: str) -> str:
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise InvalidArgument(
            f"dossier_id must be a dossier id (a UUID), got {len(raw)} characters that are not one"
        ) from None


def open_dossier_spec(
    request: intake_pb2.OpenDossierRequest, reference: ReferenceData, timers: LifecycleTimers
) -> DossierSpec:
    problems: list[str] = []
    if not _REQUEST_ID.match(request.request_id):
        problems.append("request_id is required: 1 to 100 printable characters without spaces")
    if request.territory not in reference.territories:
        problems.append(
            f"territory {request.territory[:20]!r} is not a commune of this deployment"
            if request.territory
            else "territory (the commune's INSEE code) is required"
        )
    if len(request.site) > MAX_SITE_LENGTH:
        problems.append(f"site is at most {MAX_SITE_LENGTH} characters")
    motifs = list(dict.fromkeys(request.motifs))
    if not motifs:
        problems.append("at least one motif is required")
    unknown = [m[:40] for m in motifs if m not in reference.motifs]
    if unknown:
        problems.append(f"unknown motif(s): {', '.join(unknown[:5])} (see ListReferenceData)")
    if request.arrival_channel not in reference.arrival_channels:
        problems.append(
            f"unknown arrival_channel {request.arrival_channel[:40]!r} (see ListReferenceData)"
            if request.arrival_channel
            else "arrival_channel is required"
        )
    for field, raw in (("person_id", request.person_id), ("household_id", request.household_id)):
        if raw:
            try:
                uuid.UUID(raw)
            except ValueError:
                problems.append(f"{field} must be an id (a UUID) or empty")
    if request.assigned_agent and not _AGENT.match(request.assigned_agent):
        problems.append("assigned_agent is an agent's id, 1 to 100 printable characters")
    if problems:
        raise InvalidArgument("; ".join(problems))
    return DossierSpec(
        dossier_id=dossier_id_for(request.territory, request.request_id),
        territory=request.territory,
        site=request.site.strip(),
        motifs=motifs,
        arrival_channel=request.arrival_channel,
        urgent=request.urgent,
        person_id=str(uuid.UUID(request.person_id)) if request.person_id else "",
        household_id=str(uuid.UUID(request.household_id)) if request.household_id else "",
        assigned_agent=request.assigned_agent,
        timers=timers,
    )


def agent(raw: str, field: str = "agent") -> str:
    if not _AGENT.match(raw):
        raise InvalidArgument(f"{field} is required: the agent's id, 1 to 100 printable characters")
    return raw


def notes(raw: str, field: str = "notes") -> str:
    if len(raw) > MAX_NOTES_LENGTH:
        raise InvalidArgument(f"{field} is at most {MAX_NOTES_LENGTH} characters (got {len(raw)})")
    if any(ord(c) < 32 and c not in "\n\r\t" for c in raw):
        raise InvalidArgument(f"{field} contains control characters")
    return raw


def visibility(raw: str) -> str:
    if raw in ("", "team"):
        return "team"
    if raw == "author":
        return "author"
    raise InvalidArgument("visibility is 'team' (the dossier team) or 'author' (author only)")


def motifs(raw: list[str], reference: ReferenceData, *, required: bool) -> list[str]:
    unique = list(dict.fromkeys(raw))
    if required and not unique:
        raise InvalidArgument("at least one motif is required")
    unknown = [m[:40] for m in unique if m not in reference.motifs]
    if unknown:
        raise InvalidArgument(f"unknown motif(s): {', '.join(unknown[:5])} (see ListReferenceData)")
    return unique


def next_stage(raw: str) -> str:
    if raw not in ("orientation", "suivi"):
        raise InvalidArgument("next_stage is 'orientation' (a partner is needed) or 'suivi'")
    return raw


def outcome(raw: str, reference: ReferenceData) -> str:
    if raw not in reference.closure_outcomes:
        raise InvalidArgument(
            f"outcome {raw[:40]!r} is not a closure outcome (see ListReferenceData)"
            if raw
            else "outcome is required to close a dossier"
        )
    return raw


def territory(raw: str, reference: ReferenceData) -> str:
    if raw not in reference.territories:
        raise InvalidArgument(
            f"territory {raw[:20]!r} is not a commune of this deployment"
            if raw
            else "territory (the commune's INSEE code) is required"
        )
    return raw


def optional_id(raw: str, field: str) -> str:
    if not raw:
        return ""
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise InvalidArgument(f"{field} must be an id (a UUID) or empty") from None
