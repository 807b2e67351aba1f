"""Inputs and outputs crossing the workflow boundary (import-safe, plain dataclasses).

Workflow ids carry only the dossier's random id; search attributes carry only codes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DOSSIER_TASK_QUEUE = "dossiers"
INTAKE_TASK_QUEUE = "intake"
STAGES = ("reception", "ecoute", "orientation", "suivi", "cloture")


def dossier_workflow_id(dossier_id: str) -> str:
    return f"dossier-{dossier_id}"


@dataclass
class DossierSpec:
    """What reception records when a dossier is opened."""

    dossier_id: str
    territory: str
    site: str
    motifs: list[str]
    arrival_channel: str
    urgent: bool


@dataclass
class OpenedDossier:
    dossier_id: str
    stage: str
    opened_at: str  # ISO 8601
    created: bool


@dataclass
class RecordOpened:
    """Activity input: write the dossier and its dossier.opened event."""

    spec: DossierSpec
    workflow_id: str


@dataclass
class DossierState:
    """What the read-only query returns."""

    dossier_id: str
    stage: str
    opened_at: str | None
    history: list[dict[str, str]] = field(default_factory=list)
