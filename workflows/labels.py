"""French words a person reads for the codes of the dossier's vocabulary (stages,
note kinds, referral statuses and reasons, kinds of task in an agent's inbox), defined
once for the timeline, the CLI, the console and the error messages."""

from __future__ import annotations

from enum import StrEnum


class NoteKind(StrEnum):
    """What a note was written for (the `kind` column of intake's notes)."""

    INTERVIEW = "interview"
    FOLLOW_UP = "follow_up"
    CLOSURE = "closure"
    REOPEN = "reopen"


# Step kind (Transition.kind) → the kind of the note written at that step.
NOTE_KIND_OF_STEP: dict[str, NoteKind] = {
    "interview": NoteKind.INTERVIEW,
    "follow_up": NoteKind.FOLLOW_UP,
    "closed": NoteKind.CLOSURE,
    "reopened": NoteKind.REOPEN,
}
NOTE_KIND_LABELS: dict[str, str] = {
    NoteKind.INTERVIEW: "Entretien",
    NoteKind.FOLLOW_UP: "Contact de suivi",
    NoteKind.CLOSURE: "Note de clôture",
    NoteKind.REOPEN: "Motif de réouverture",
}
STAGE_LABELS: dict[str, str] = {
    "reception": "accueil",
    "ecoute": "écoute",
    "orientation": "orientation",
    "suivi": "suivi",
    "cloture": "clôture",
}
REFERRAL_STATUS_LABELS: dict[str, str] = {
    "requested": "demandée",
    "received": "reçue par le partenaire",
    "accepted": "acceptée",
    "rejected": "refusée",
    "in_progress": "en cours",
    "completed": "terminée",
    "failed": "échouée",
    "cancelled": "annulée",
    "expired": "expirée sans réponse du partenaire",
}
REFERRAL_REASON_LABELS: dict[str, str] = {
    "person_refused": "la personne a refusé",
    "no_capacity": "pas de place",
    "not_eligible": "non éligible",
    "person_unreachable": "personne injoignable",
    "partner_unreachable": "partenaire injoignable",
    "need_gone": "besoin disparu",
    "redirected": "réorientée ailleurs",
    "other": "autre",
    "need_met": "besoin satisfait",
    "rights_opened": "droits ouverts",
    "support_started": "accompagnement engagé",
}


def stage_label(code: str) -> str:
    return STAGE_LABELS.get(code, code)


class TaskKind(StrEnum):
    """What a dossier's workflow asks of an agent (an agent's inbox, ListTasks)."""

    ESCALATED = "escalated"
    SUIVI_REMINDER = "suivi_reminder"
    CLOSURE_PROPOSED = "closure_proposed"
    REFERRAL_REJECTED = "referral_rejected"
    REFERRAL_FAILED = "referral_failed"
    REFERRAL_EXPIRED = "referral_expired"


# Timeline step kind (Transition.kind) → the task it gives.
TASK_KIND_OF_STEP: dict[str, TaskKind] = {
    "escalated": TaskKind.ESCALATED,
    "reminder": TaskKind.SUIVI_REMINDER,
    "closure_proposed": TaskKind.CLOSURE_PROPOSED,
}
# Status of a "referral" step (Transition.referral_status) → the task it gives.
TASK_KIND_OF_REFERRAL_STATUS: dict[str, TaskKind] = {
    "rejected": TaskKind.REFERRAL_REJECTED,
    "failed": TaskKind.REFERRAL_FAILED,
    "expired": TaskKind.REFERRAL_EXPIRED,
}
TASK_KIND_LABELS: dict[str, str] = {
    TaskKind.ESCALATED: "Écoute urgente en attente",
    TaskKind.SUIVI_REMINDER: "Relance de suivi",
    TaskKind.CLOSURE_PROPOSED: "Clôture proposée",
    TaskKind.REFERRAL_REJECTED: "Orientation refusée",
    TaskKind.REFERRAL_FAILED: "Orientation en échec",
    TaskKind.REFERRAL_EXPIRED: "Orientation expirée",
}
# Deadlines a dossier's workflow acts on (Deadline.kind, Dossier.next_due_kind).
DEADLINE_LABELS: dict[str, str] = {
    "urgent_ecoute": "écoute urgente à mener",
    "suivi_reminder": "relance de suivi",
    "closure_proposal": "proposition de clôture",
    "reopen_limit": "fin du délai de réouverture",
}
# Consents (RecordConsentRequest.kind and .channel).
CONSENT_KIND_LABELS: dict[str, str] = {
    "consent": "consentement de la personne",
    "legal_basis": "base légale (partage prévu par la loi)",
}
CONSENT_CHANNEL_LABELS: dict[str, str] = {"oral": "oral", "written": "écrit", "electronic": "électronique"}
