"""What each workflow step means for people (French timeline summaries) and for other
services (the domain events it emits). Pure functions: no I/O."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from entraide.v1 import events_pb2
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from domain.labels_fr import REFERRAL_REASON_LABELS, REFERRAL_STATUS_LABELS, STAGE_LABELS
from workflows.contracts import Transition

NOTE_ID_NAMESPACE = uuid.UUID("3c0f8a51-52b8-4f4a-8c8e-2c1d1e4b9f70")


def stamp(value: datetime | str) -> Timestamp:
    result = Timestamp()
    result.FromDatetime(datetime.fromisoformat(value) if isinstance(value, str) else value)
    return result


def note_id(dossier_id: str, step: int) -> uuid.UUID:
    return uuid.uuid5(NOTE_ID_NAMESPACE, f"{dossier_id}/{step}")


def summary(t: Transition, outcomes: Mapping[str, str]) -> str:
    if t.kind == "interview":
        return "Entretien d'écoute" + (" : début de l'écoute" if t.from_stage != t.to_stage else "")
    if t.kind == "ecoute_completed":
        return f"Écoute terminée, passage en {STAGE_LABELS[t.to_stage]}"
    if t.kind == "stage_changed":
        return f"Passage en {STAGE_LABELS[t.to_stage]}"
    if t.kind == "follow_up":
        return "Contact de suivi"
    if t.kind == "assigned":
        return f"Dossier attribué à {t.assigned_agent}"
    if t.kind == "escalated":
        return "Escalade : dossier urgent sans écoute dans le délai"
    if t.kind == "reminder":
        return "Relance : aucune activité de suivi depuis le délai prévu"
    if t.kind == "closure_proposed":
        return "Clôture proposée : toujours aucune activité après la relance"
    if t.kind == "closed":
        return f"Dossier clôturé : {outcomes.get(t.outcome or '', t.outcome or '')}"
    if t.kind == "reopened":
        return f"Dossier rouvert (cycle {t.cycle + 1})"
    if t.kind == "referral":
        partner = t.partner_name or "un partenaire"
        if t.referral_status == "reminder":
            return f"Relance : orientation vers {partner} toujours sans accusé de réception"
        label = REFERRAL_STATUS_LABELS.get(t.referral_status or "", t.referral_status or "")
        detail = f" ({REFERRAL_REASON_LABELS.get(t.reason, t.reason)})" if t.reason else ""
        return f"Orientation vers {partner} : {label}{detail}"
    raise ValueError(f"unknown step kind {t.kind!r}")


def events(t: Transition) -> list[tuple[str, Message]]:
    """(ce-type, payload) for a step; ids and codes only, never notes."""
    at = stamp(t.at)
    base: dict[str, Any] = {"dossier_id": t.dossier_id, "territory": t.territory}
    emitted: list[tuple[str, Message]] = []
    if t.kind == "interview":
        emitted.append(
            (
                "entraide.dossier.interview_recorded",
                events_pb2.InterviewRecorded(**base, interview_id=str(note_id(t.dossier_id, t.step)), at=at),
            )
        )
    elif t.kind == "ecoute_completed":
        emitted.append(
            (
                "entraide.dossier.ecoute_completed",
                events_pb2.EcouteCompleted(**base, motifs=t.motifs or [], next_stage=t.to_stage, at=at),
            )
        )
    elif t.kind == "follow_up":
        emitted.append(("entraide.dossier.follow_up_recorded", events_pb2.FollowUpRecorded(**base, at=at)))
    elif t.kind == "assigned":
        emitted.append(
            (
                "entraide.dossier.assigned",
                events_pb2.DossierAssigned(**base, assigned_agent=t.assigned_agent or "", at=at),
            )
        )
    elif t.kind == "escalated":
        emitted.append(
            (
                "entraide.dossier.escalated",
                events_pb2.DossierEscalated(**base, due_at=stamp(t.due_at or t.at), at=at),
            )
        )
    elif t.kind == "reminder":
        emitted.append(
            (
                "entraide.dossier.reminder",
                events_pb2.SuiviReminder(**base, last_activity_at=stamp(t.last_activity_at or t.at), at=at),
            )
        )
    elif t.kind == "closure_proposed":
        emitted.append(
            (
                "entraide.dossier.closure_proposed",
                events_pb2.ClosureProposed(**base, last_activity_at=stamp(t.last_activity_at or t.at), at=at),
            )
        )
    elif t.kind == "closed":
        emitted.append(
            (
                "entraide.dossier.closed",
                events_pb2.DossierClosed(**base, outcome=t.outcome or "", at=at, cycle=t.cycle),
            )
        )
    elif t.kind == "reopened":
        emitted.append(
            ("entraide.dossier.reopened", events_pb2.DossierReopened(**base, at=at, cycle=t.cycle))
        )
    if t.from_stage != t.to_stage:
        emitted.append(
            (
                "entraide.dossier.stage_changed",
                events_pb2.DossierStageChanged(
                    **base, from_stage=t.from_stage, to_stage=t.to_stage, at=at, cycle=t.cycle
                ),
            )
        )
    return emitted
