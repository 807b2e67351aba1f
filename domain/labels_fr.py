"""French words a person reads for the codes of the dossier's vocabulary (stages,
note kinds, referral statuses and reasons, kinds of task in an agent's inbox),
defined once for the timeline, the CLI, the console and the error messages."""

from __future__ import annotations

from domain.aides import (
    AidNature,
    AidRequestStatus,
    AidStep,
    CommissionStatus,
    Decision,
    DecisionChannel,
    DocumentFormat,
    DocumentOwner,
    EligibilityScale,
    LoanIncidentKind,
    LoanStatus,
    PayeeKind,
    PaymentMode,
    PaymentStatus,
)
from domain.collective import (
    EnrolmentStatus,
    GoalStatus,
    ParticipantOutcome,
    ProgrammeStatus,
    SessionPresence,
)
from domain.planning import (
    AppointmentStatus,
    ContactChannel,
    ExceptionKind,
    HostKind,
    MessageKind,
    MessageStatus,
    Recurrence,
)
from domain.signals import SignallerKind, SignallerView, SignalStatus
from domain.vocabulary import (
    ConsentChannel,
    ConsentKind,
    DeadlineKind,
    NoteKind,
    ReferralAction,
    ReferralOutcome,
    ReferralReason,
    ReferralStatus,
    Stage,
    StepKind,
    TaskKind,
    Visibility,
)

NOTE_KIND_LABELS: dict[str, str] = {
    NoteKind.INTERVIEW: "Entretien",
    NoteKind.FOLLOW_UP: "Contact de suivi",
    NoteKind.CLOSURE: "Note de clôture",
    NoteKind.REOPEN: "Motif de réouverture",
}
STAGE_LABELS: dict[str, str] = {
    Stage.RECEPTION: "accueil",
    Stage.ECOUTE: "écoute",
    Stage.ORIENTATION: "orientation",
    Stage.SUIVI: "suivi",
    Stage.CLOTURE: "clôture",
}
REFERRAL_STATUS_LABELS: dict[str, str] = {
    ReferralStatus.REQUESTED: "demandée",
    ReferralStatus.RECEIVED: "reçue par le partenaire",
    ReferralStatus.ACCEPTED: "acceptée",
    ReferralStatus.REJECTED: "refusée",
    ReferralStatus.IN_PROGRESS: "en cours",
    ReferralStatus.COMPLETED: "terminée",
    ReferralStatus.FAILED: "échouée",
    ReferralStatus.CANCELLED: "annulée",
    ReferralStatus.EXPIRED: "expirée sans réponse du partenaire",
}
REFERRAL_REASON_ONLY_LABELS: dict[str, str] = {
    ReferralReason.PERSON_REFUSED: "la personne a refusé",
    ReferralReason.NO_CAPACITY: "pas de place",
    ReferralReason.NOT_ELIGIBLE: "non éligible",
    ReferralReason.PERSON_UNREACHABLE: "personne injoignable",
    ReferralReason.PARTNER_UNREACHABLE: "partenaire injoignable",
    ReferralReason.NEED_GONE: "besoin disparu",
    ReferralReason.REDIRECTED: "réorientée ailleurs",
    ReferralReason.CONSENT_WITHDRAWN: "consentement retiré par la personne",
    ReferralReason.OTHER: "autre",
}
REFERRAL_OUTCOME_LABELS: dict[str, str] = {
    ReferralOutcome.NEED_MET: "besoin satisfait",
    ReferralOutcome.RIGHTS_OPENED: "droits ouverts",
    ReferralOutcome.SUPPORT_STARTED: "accompagnement engagé",
    ReferralOutcome.REDIRECTED: "réorientée ailleurs",
    ReferralOutcome.OTHER: "autre",
}
# A "referral" timeline step carries a reason or an outcome in one field.
REFERRAL_REASON_LABELS: dict[str, str] = {**REFERRAL_OUTCOME_LABELS, **REFERRAL_REASON_ONLY_LABELS}
# Each action as a French verb (« Impossible d'accepter cette orientation »).
REFERRAL_ACTION_VERBS: dict[str, str] = {
    ReferralAction.ACKNOWLEDGE: "accuser réception de",
    ReferralAction.ACCEPT: "accepter",
    ReferralAction.REJECT: "refuser",
    ReferralAction.START: "commencer l'accompagnement de",
    ReferralAction.COMPLETE: "terminer",
    ReferralAction.FAIL: "déclarer en échec",
    ReferralAction.CANCEL: "annuler",
}
STEP_KIND_LABELS: dict[str, str] = {
    StepKind.OPENED: "ouverture du dossier",
    StepKind.INTERVIEW: "entretien d'écoute",
    StepKind.ECOUTE_COMPLETED: "écoute terminée",
    StepKind.STAGE_CHANGED: "changement d'étape",
    StepKind.FOLLOW_UP: "contact de suivi",
    StepKind.ASSIGNED: "attribution",
    StepKind.ESCALATED: "escalade (écoute urgente en retard)",
    StepKind.REMINDER: "relance de suivi",
    StepKind.CLOSURE_PROPOSED: "clôture proposée",
    StepKind.CLOSED: "clôture",
    StepKind.REOPENED: "réouverture",
    StepKind.REFERRAL: "orientation (changement de statut)",
    StepKind.CONSENT_WITHDRAWN: "retrait d'un consentement",
}
VISIBILITY_LABELS: dict[str, str] = {
    Visibility.TEAM: "l'équipe du dossier",
    Visibility.AUTHOR: "son auteur seul",
}
TASK_KIND_LABELS: dict[str, str] = {
    TaskKind.ESCALATED: "Écoute urgente en attente",
    TaskKind.SUIVI_REMINDER: "Relance de suivi",
    TaskKind.CLOSURE_PROPOSED: "Clôture proposée",
    TaskKind.REFERRAL_REJECTED: "Orientation refusée",
    TaskKind.REFERRAL_FAILED: "Orientation en échec",
    TaskKind.REFERRAL_EXPIRED: "Orientation expirée",
    TaskKind.APPOINTMENT_NO_SHOW: "Rendez-vous sans présence notée",
    TaskKind.MESSAGE_FAILED: "Message de rendez-vous non remis",
    TaskKind.AID_INSTRUCTION_LATE: "Demande d'aide à instruire (délai dépassé)",
    TaskKind.AID_DECISION_LATE: "Demande d'aide en attente de décision (délai dépassé)",
    TaskKind.AID_PAYMENT_LATE: "Aide accordée à payer (délai dépassé)",
}
DEADLINE_LABELS: dict[str, str] = {
    DeadlineKind.URGENT_ECOUTE: "écoute urgente à mener",
    DeadlineKind.SUIVI_REMINDER: "relance de suivi",
    DeadlineKind.CLOSURE_PROPOSAL: "proposition de clôture",
    DeadlineKind.REOPEN_LIMIT: "fin du délai de réouverture",
}
CONSENT_KIND_LABELS: dict[str, str] = {
    ConsentKind.CONSENT: "consentement de la personne",
    ConsentKind.LEGAL_BASIS: "base légale (partage prévu par la loi)",
}
CONSENT_CHANNEL_LABELS: dict[str, str] = {
    ConsentChannel.ORAL: "oral",
    ConsentChannel.WRITTEN: "écrit",
    ConsentChannel.ELECTRONIC: "électronique",
}


def stage_label(code: str) -> str:
    return STAGE_LABELS.get(code, code)


def de(infinitive: str) -> str:
    """« de » before a French infinitive, elided before a vowel (« d'orienter »)."""
    return ("d'" if infinitive[:1] in "aeéèêiîoôuy" else "de ") + infinitive


def quoted_stage(code: str) -> str:
    return f"« {stage_label(code)} »"


# ---- planning: permanences, appointments, messages to people (domain.planning) ----------
HOST_KIND_LABELS: dict[str, str] = {
    HostKind.PARTENAIRE: "partenaire",
    HostKind.ELU: "élu",
    HostKind.AGENT: "agent",
}
RECURRENCE_LABELS: dict[str, str] = {
    Recurrence.WEEKLY: "chaque semaine",
    Recurrence.FORTNIGHTLY: "une semaine sur deux",
}
EXCEPTION_KIND_LABELS: dict[str, str] = {
    ExceptionKind.CANCELLED: "séance annulée",
    ExceptionKind.HOLIDAY: "fermeture",
    ExceptionKind.EXTRA: "séance supplémentaire",
}
APPOINTMENT_STATUS_LABELS: dict[str, str] = {
    AppointmentStatus.BOOKED: "prévu",
    AppointmentStatus.CANCELLED: "annulé",
    AppointmentStatus.ARRIVED: "arrivé",
    AppointmentStatus.SEEN: "vu",
    AppointmentStatus.NO_SHOW: "absent",
    AppointmentStatus.NO_SHOW_EXCUSED: "absence excusée",
}
CONTACT_CHANNEL_LABELS: dict[str, str] = {
    ContactChannel.SMS: "SMS",
    ContactChannel.EMAIL: "courriel",
}
MESSAGE_KIND_LABELS: dict[str, str] = {
    MessageKind.CONFIRMATION: "confirmation",
    MessageKind.REMINDER: "rappel",
    MessageKind.SECOND_REMINDER: "second rappel",
    MessageKind.MOVED: "rendez-vous déplacé",
    MessageKind.CANCELLATION: "annulation",
}
MESSAGE_STATUS_LABELS: dict[str, str] = {
    MessageStatus.PENDING: "en attente",
    MessageStatus.SENDING: "en cours d'envoi",
    MessageStatus.SENT: "envoyé",
    MessageStatus.FAILED: "échec",
    MessageStatus.SUPERSEDED: "remplacé (rendez-vous déplacé ou annulé)",
}
# ISO weekday (1 = Monday) → its French name.
# The months, January first (dates written out: « jeudi 12 mars 2026 »).
MONTHS_FR = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)
WEEKDAY_LABELS: dict[int, str] = {
    1: "lundi",
    2: "mardi",
    3: "mercredi",
    4: "jeudi",
    5: "vendredi",
    6: "samedi",
    7: "dimanche",
}

# Collective actions (domain.collective).
PROGRAMME_STATUS_LABELS: dict[str, str] = {
    ProgrammeStatus.OPEN: "ouvert",
    ProgrammeStatus.CLOSED: "clôturé",
}
ENROLMENT_STATUS_LABELS: dict[str, str] = {
    EnrolmentStatus.ENROLLED: "inscrit(e)",
    EnrolmentStatus.WAITING: "sur liste d'attente",
    EnrolmentStatus.WITHDRAWN: "retiré(e)",
    EnrolmentStatus.COMPLETED: "parcours terminé",
}
SESSION_PRESENCE_LABELS: dict[str, str] = {
    SessionPresence.PRESENT: "présent(e)",
    SessionPresence.ABSENT: "absent(e)",
    SessionPresence.ABSENT_EXCUSED: "absent(e) excusé(e)",
}
GOAL_STATUS_LABELS: dict[str, str] = {
    GoalStatus.PROPOSED: "proposé",
    GoalStatus.UNDER_WAY: "en cours",
    GoalStatus.REACHED: "atteint",
    GoalStatus.GIVEN_UP: "abandonné",
}
PARTICIPANT_OUTCOME_LABELS: dict[str, str] = {
    ParticipantOutcome.INSERTION_PATH: "parcours d'insertion engagé",
    ParticipantOutcome.TRAINING: "formation",
    ParticipantOutcome.JOB: "emploi",
    ParticipantOutcome.OTHER_ACTION: "autre action",
    ParticipantOutcome.NONE: "aucune suite",
}
# Signals ("aller vers").
SIGNAL_STATUS_LABELS: dict[str, str] = {
    SignalStatus.RECEIVED: "à qualifier",
    SignalStatus.CONTACTED: "personne contactée (dossier ouvert)",
    SignalStatus.UNREACHABLE: "personne injoignable",
    SignalStatus.DECLINED: "refusé par la personne",
    SignalStatus.NOT_RELEVANT: "sans objet",
}
# All a signaller reads of its signal.
SIGNALLER_VIEW_LABELS: dict[str, str] = {
    SignallerView.RECEIVED: "reçu",
    SignallerView.TAKEN_IN_CHARGE: "pris en charge",
    SignallerView.CLOSED: "clos",
}
SIGNALLER_KIND_LABELS: dict[str, str] = {
    SignallerKind.ELU: "élu référent",
    SignallerKind.SECRETAIRE_MAIRIE: "secrétaire de mairie",
    SignallerKind.AGENT: "agent du CIAS",
}


# ---------------------------------------------------------------- aides facultatives

AID_NATURE_LABELS: dict[AidNature, str] = {
    AidNature.CASH: "versement à la personne",
    AidNature.VOUCHER: "bon d'achat",
    AidNature.PREPAID_CARD: "carte prépayée",
    AidNature.THIRD_PARTY: "paiement à un tiers",
    AidNature.LOAN: "microcrédit personnel",
}
ELIGIBILITY_SCALE_LABELS: dict[EligibilityScale, str] = {
    EligibilityScale.QUOTIENT_FAMILIAL: "quotient familial",
    EligibilityScale.RESTE_A_VIVRE: "reste à vivre",
    EligibilityScale.NONE: "sans barème",
}
AID_STATUS_LABELS: dict[AidRequestStatus, str] = {
    AidRequestStatus.SUBMITTED: "à instruire",
    AidRequestStatus.INCOMPLETE: "incomplète",
    AidRequestStatus.COMPLETE: "complète, à présenter en commission",
    AidRequestStatus.SCHEDULED: "inscrite à l'ordre du jour",
    AidRequestStatus.GRANTED: "accordée",
    AidRequestStatus.POSTPONED: "ajournée",
    AidRequestStatus.REFUSED: "refusée",
    AidRequestStatus.WITHDRAWN: "retirée",
    AidRequestStatus.CLOSED: "close",
}
DECISION_LABELS: dict[Decision, str] = {
    Decision.GRANTED: "accordée",
    Decision.POSTPONED: "ajournée",
    Decision.REFUSED: "refusée",
}
DECISION_CHANNEL_LABELS: dict[DecisionChannel, str] = {
    DecisionChannel.COMMISSION: "en commission",
    DecisionChannel.URGENT: "en urgence, hors commission",
}
COMMISSION_STATUS_LABELS: dict[CommissionStatus, str] = {
    CommissionStatus.PLANNED: "prévue",
    CommissionStatus.HELD: "tenue",
}
PAYMENT_MODE_LABELS: dict[PaymentMode, str] = {
    PaymentMode.TRANSFER: "virement",
    PaymentMode.CHEQUE: "chèque",
    PaymentMode.VOUCHER: "bon d'achat",
    PaymentMode.PREPAID_CARD: "carte prépayée",
    PaymentMode.CASH: "espèces",
}
PAYEE_KIND_LABELS: dict[PayeeKind, str] = {
    PayeeKind.PERSON: "la personne",
    PayeeKind.THIRD_PARTY: "un tiers",
}
PAYMENT_STATUS_LABELS: dict[PaymentStatus, str] = {
    PaymentStatus.TO_PAY: "à payer",
    PaymentStatus.PAID: "payé",
    PaymentStatus.CANCELLED: "annulé",
}
LOAN_STATUS_LABELS: dict[LoanStatus, str] = {
    LoanStatus.REPAYING: "en remboursement",
    LoanStatus.REPAID: "remboursé",
    LoanStatus.CLOSED: "clos",
}
LOAN_INCIDENT_LABELS: dict[LoanIncidentKind, str] = {
    LoanIncidentKind.LATE: "retard de paiement",
    LoanIncidentKind.UNPAID: "échéance impayée",
    LoanIncidentKind.EARLY_REPAYMENT: "remboursement anticipé",
    LoanIncidentKind.RESCHEDULED: "rééchelonnement",
}
DOCUMENT_OWNER_LABELS: dict[DocumentOwner, str] = {
    DocumentOwner.PERSON: "la personne",
    DocumentOwner.DOSSIER: "le dossier",
    DocumentOwner.AID_REQUEST: "la demande d'aide",
}
DOCUMENT_FORMAT_LABELS: dict[DocumentFormat, str] = {
    DocumentFormat.PDF: "PDF",
    DocumentFormat.JPEG: "image JPEG",
    DocumentFormat.PNG: "image PNG",
}
AID_STEP_LABELS: dict[AidStep, str] = {
    AidStep.INSTRUCTION: "instruction",
    AidStep.COMMISSION: "décision",
    AidStep.PAYMENT: "paiement",
}
