"""What each workflow step means for people (French timeline summaries) and for other
services (the domain events it emits): one table entry per step kind. Pure: no I/O."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import Any

from entraide.v1 import events_pb2
from google.protobuf.message import Message

from domain.events import EventType
from domain.labels_fr import REFERRAL_REASON_LABELS, REFERRAL_STATUS_LABELS, STAGE_LABELS
from domain.vocabulary import REFERRAL_REMINDER, StepKind
from kernel.timestamps import to_timestamp
from workflows.contracts import Transition

NOTE_ID_NAMESPACE = uuid.UUID("3c0f8a51-52b8-4f4a-8c8e-2c1d1e4b9f70")
Emitted = list[tuple[EventType, Message]]


def note_id(dossier_id: str, step: int) -> uuid.UUID:
    return uuid.uuid5(NOTE_ID_NAMESPACE, f"{dossier_id}/{step}")


def _referral_summary(t: Transition) -> str:
    partner = t.partner_name or "un partenaire"
    if t.referral_status == REFERRAL_REMINDER:
        return f"Relance : orientation vers {partner} toujours sans accusé de réception"
    label = REFERRAL_STATUS_LABELS.get(t.referral_status or "", t.referral_status or "")
    detail = f" ({REFERRAL_REASON_LABELS.get(t.reason, t.reason)})" if t.reason else ""
    return f"Orientation vers {partner} : {label}{detail}"


# Step kind → its timeline summary (the outcomes' French names are reference data).
SUMMARIES: dict[str, Callable[[Transition, Mapping[str, str]], str]] = {
    StepKind.INTERVIEW: lambda t, _: (
        "Entretien d'écoute" + (" : début de l'écoute" if t.from_stage != t.to_stage else "")
    ),
    StepKind.ECOUTE_COMPLETED: lambda t, _: f"Écoute terminée, passage en {STAGE_LABELS[t.to_stage]}",
    StepKind.STAGE_CHANGED: lambda t, _: f"Passage en {STAGE_LABELS[t.to_stage]}",
    StepKind.FOLLOW_UP: lambda t, _: "Contact de suivi",
    StepKind.ASSIGNED: lambda t, _: f"Dossier attribué à {t.assigned_agent}",
    StepKind.ESCALATED: lambda t, _: "Escalade : dossier urgent sans écoute dans le délai",
    StepKind.REMINDER: lambda t, _: "Relance : aucune activité de suivi depuis le délai prévu",
    StepKind.CLOSURE_PROPOSED: lambda t, _: "Clôture proposée : toujours aucune activité après la relance",
    StepKind.CLOSED: lambda t, outcomes: (
        f"Dossier clôturé : {outcomes.get(t.outcome or '', t.outcome or '')}"
    ),
    StepKind.REOPENED: lambda t, _: f"Dossier rouvert (cycle {t.cycle + 1})",
    StepKind.REFERRAL: lambda t, _: _referral_summary(t),
    StepKind.CONSENT_WITHDRAWN: lambda t, _: (
        f"Consentement retiré par la personne : plus aucun partage avec {t.partner_name or 'ce partenaire'}"
    ),
}


def summary(t: Transition, outcomes: Mapping[str, str]) -> str:
    try:
        return SUMMARIES[t.kind](t, outcomes)
    except KeyError:
        raise ValueError(f"unknown step kind {t.kind!r}") from None


def _base(t: Transition) -> dict[str, Any]:
    return {"dossier_id": t.dossier_id, "territory": t.territory, "at": to_timestamp(t.at)}


# Step kind → the event it emits (ids and codes only, never notes); a change of stage
# adds DossierStageChanged whatever the kind. Referral steps emit nothing here: the
# referral service publishes their status changes.
_E = EventType
STEP_EVENTS: dict[str, Callable[[Transition], tuple[EventType, Message]]] = {
    StepKind.INTERVIEW: lambda t: (
        _E.INTERVIEW_RECORDED,
        events_pb2.InterviewRecorded(**_base(t), interview_id=str(note_id(t.dossier_id, t.step))),
    ),
    StepKind.ECOUTE_COMPLETED: lambda t: (
        _E.ECOUTE_COMPLETED,
        events_pb2.EcouteCompleted(**_base(t), motifs=t.motifs or [], next_stage=t.to_stage),
    ),
    StepKind.FOLLOW_UP: lambda t: (_E.FOLLOW_UP_RECORDED, events_pb2.FollowUpRecorded(**_base(t))),
    StepKind.ASSIGNED: lambda t: (
        _E.DOSSIER_ASSIGNED,
        events_pb2.DossierAssigned(**_base(t), assigned_agent=t.assigned_agent or ""),
    ),
    StepKind.ESCALATED: lambda t: (
        _E.DOSSIER_ESCALATED,
        events_pb2.DossierEscalated(**_base(t), due_at=to_timestamp(t.due_at or t.at)),
    ),
    StepKind.REMINDER: lambda t: (
        _E.SUIVI_REMINDER,
        events_pb2.SuiviReminder(**_base(t), last_activity_at=to_timestamp(t.last_activity_at or t.at)),
    ),
    StepKind.CLOSURE_PROPOSED: lambda t: (
        _E.CLOSURE_PROPOSED,
        events_pb2.ClosureProposed(**_base(t), last_activity_at=to_timestamp(t.last_activity_at or t.at)),
    ),
    StepKind.CLOSED: lambda t: (
        _E.DOSSIER_CLOSED,
        events_pb2.DossierClosed(**_base(t), outcome=t.outcome or "", cycle=t.cycle),
    ),
    StepKind.REOPENED: lambda t: (_E.DOSSIER_REOPENED, events_pb2.DossierReopened(**_base(t), cycle=t.cycle)),
}


def events(t: Transition) -> Emitted:
    """(ce-type, payload) for a step, in the order they are written."""
    build = STEP_EVENTS.get(t.kind)
    emitted: Emitted = [build(t)] if build else []
    if t.from_stage != t.to_stage:
        emitted.append(
            (
                _E.DOSSIER_STAGE_CHANGED,
                events_pb2.DossierStageChanged(
                    **_base(t), from_stage=t.from_stage, to_stage=t.to_stage, cycle=t.cycle
                ),
            )
        )
    return emitted
