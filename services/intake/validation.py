"""Checks on what callers send, with messages a person understands."""

from __future__ import annotations

import re
import uuid

from entraide.v1 import intake_pb2

from kernel.errors import InvalidArgument
from kernel.reference import ReferenceData
from workflows.contracts import DossierSpec

_REQUEST_ID = re.compile(r"^[\x21-\x7e]{1,100}$")
MAX_SITE_LENGTH = 100
MAX_MOTIFS = 13
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


def open_dossier_spec(request: intake_pb2.OpenDossierRequest, reference: ReferenceData) -> DossierSpec:
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
    if problems:
        raise InvalidArgument("; ".join(problems))
    return DossierSpec(
        dossier_id=dossier_id_for(request.territory, request.request_id),
        territory=request.territory,
        site=request.site.strip(),
        motifs=motifs,
        arrival_channel=request.arrival_channel,
        urgent=request.urgent,
    )
