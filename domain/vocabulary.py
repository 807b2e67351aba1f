"""The codes of the dossier's vocabulary, as enums (their values are the wire and
database codes, so an enum member and its code compare equal)."""

from __future__ import annotations

from enum import StrEnum


class Stage(StrEnum):
    """Where a dossier stands in its lifecycle (docs/domain.md, "Cycle de vie")."""

    RECEPTION = "reception"
    ECOUTE = "ecoute"
    ORIENTATION = "orientation"
    SUIVI = "suivi"
    CLOTURE = "cloture"


STAGES: tuple[Stage, ...] = tuple(Stage)


class StepKind(StrEnum):
    """One step of a dossier's timeline (a workflow step written by intake)."""

    OPENED = "opened"
    INTERVIEW = "interview"
    ECOUTE_COMPLETED = "ecoute_completed"
    STAGE_CHANGED = "stage_changed"
    FOLLOW_UP = "follow_up"
    ASSIGNED = "assigned"
    ESCALATED = "escalated"
    REMINDER = "reminder"
    CLOSURE_PROPOSED = "closure_proposed"
    CLOSED = "closed"
    REOPENED = "reopened"
    REFERRAL = "referral"
    # The person withdrew a consent: recorded in every dossier of the person.
    CONSENT_WITHDRAWN = "consent_withdrawn"


# Steps the workflow takes on a timer, not on a person's request.
TIMER_STEPS = frozenset({StepKind.ESCALATED, StepKind.REMINDER, StepKind.CLOSURE_PROPOSED})


class DeadlineKind(StrEnum):
    """What a dossier's workflow waits for on a timer."""

    URGENT_ECOUTE = "urgent_ecoute"
    SUIVI_REMINDER = "suivi_reminder"
    CLOSURE_PROPOSAL = "closure_proposal"
    REOPEN_LIMIT = "reopen_limit"


# The step a deadline leads to when it passes (the reopen limit ends the workflow).
STEP_OF_DEADLINE: dict[str, StepKind] = {
    DeadlineKind.URGENT_ECOUTE: StepKind.ESCALATED,
    DeadlineKind.SUIVI_REMINDER: StepKind.REMINDER,
    DeadlineKind.CLOSURE_PROPOSAL: StepKind.CLOSURE_PROPOSED,
}


class Visibility(StrEnum):
    """Who reads a note: the dossier's team, or its author only."""

    TEAM = "team"
    AUTHOR = "author"


class NoteKind(StrEnum):
    """What a note was written for (the `kind` column of intake's notes)."""

    INTERVIEW = "interview"
    FOLLOW_UP = "follow_up"
    CLOSURE = "closure"
    REOPEN = "reopen"


NOTE_KIND_OF_STEP: dict[str, NoteKind] = {
    StepKind.INTERVIEW: NoteKind.INTERVIEW,
    StepKind.FOLLOW_UP: NoteKind.FOLLOW_UP,
    StepKind.CLOSED: NoteKind.CLOSURE,
    StepKind.REOPENED: NoteKind.REOPEN,
}


# After the écoute the dossier goes to one of these.
AFTER_ECOUTE = (Stage.ORIENTATION, Stage.SUIVI)
# Stages in which a referral can be made and a follow-up recorded.
ORIENTING = frozenset({Stage.ORIENTATION, Stage.SUIVI})


class ReferralStatus(StrEnum):
    REQUESTED = "requested"
    RECEIVED = "received"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


REFERRAL_STATUSES: tuple[ReferralStatus, ...] = tuple(ReferralStatus)
REFERRAL_TERMINAL = frozenset(
    {
        ReferralStatus.REJECTED,
        ReferralStatus.COMPLETED,
        ReferralStatus.FAILED,
        ReferralStatus.CANCELLED,
        ReferralStatus.EXPIRED,
    }
)
# A "referral" step's status when the workflow only reminded the partner.
REFERRAL_REMINDER = "reminder"


class ReferralAction(StrEnum):
    """What a partner (or the referrer, for cancel) does to a referral."""

    ACKNOWLEDGE = "acknowledge"
    ACCEPT = "accept"
    REJECT = "reject"
    START = "start"
    COMPLETE = "complete"
    FAIL = "fail"
    CANCEL = "cancel"


class ReferralReason(StrEnum):
    """Why a referral was rejected, failed, cancelled or expired."""

    PERSON_REFUSED = "person_refused"
    NO_CAPACITY = "no_capacity"
    NOT_ELIGIBLE = "not_eligible"
    PERSON_UNREACHABLE = "person_unreachable"
    PARTNER_UNREACHABLE = "partner_unreachable"
    NEED_GONE = "need_gone"
    REDIRECTED = "redirected"
    # The person withdrew the consent it was made under (cancelled by the platform).
    CONSENT_WITHDRAWN = "consent_withdrawn"
    OTHER = "other"


class ReferralOutcome(StrEnum):
    """How a completed referral ended for the person."""

    NEED_MET = "need_met"
    RIGHTS_OPENED = "rights_opened"
    SUPPORT_STARTED = "support_started"
    REDIRECTED = "redirected"
    OTHER = "other"


# Set by the platform only (a consent withdrawal), never chosen by a person.
PLATFORM_REASONS = frozenset({ReferralReason.CONSENT_WITHDRAWN})
# The reasons a partner or an agent chooses (reject, fail, cancel).
REFERRAL_REASONS: tuple[ReferralReason, ...] = tuple(r for r in ReferralReason if r not in PLATFORM_REASONS)
REFERRAL_OUTCOMES: tuple[ReferralOutcome, ...] = tuple(ReferralOutcome)
# The actor of what the platform does on its own: timers (escalation, reminders, expiry),
# cancellations after a consent withdrawal, its own database sessions.
SYSTEM_ACTOR = "entraide-system"


class TaskKind(StrEnum):
    """What a dossier's workflow asks of an agent (an agent's inbox, ListTasks)."""

    ESCALATED = "escalated"
    SUIVI_REMINDER = "suivi_reminder"
    CLOSURE_PROPOSED = "closure_proposed"
    REFERRAL_REJECTED = "referral_rejected"
    REFERRAL_FAILED = "referral_failed"
    REFERRAL_EXPIRED = "referral_expired"
    # An appointment of the dossier ended with nothing recorded: confirm the no-show.
    APPOINTMENT_NO_SHOW = "appointment_no_show"
    # A message to the person about an appointment of the dossier could not be sent.
    MESSAGE_FAILED = "message_failed"
    # An aid request of the dossier is past its step's deadline (domain.aides.AidStep).
    AID_INSTRUCTION_LATE = "aid_instruction_late"
    AID_DECISION_LATE = "aid_decision_late"
    AID_PAYMENT_LATE = "aid_payment_late"


# Tasks from a dossier's appointments (services/intake/notices/tasks.py), not its timeline.
APPOINTMENT_TASK_KINDS = frozenset({TaskKind.APPOINTMENT_NO_SHOW, TaskKind.MESSAGE_FAILED})
TASK_KIND_OF_STEP: dict[str, TaskKind] = {
    StepKind.ESCALATED: TaskKind.ESCALATED,
    StepKind.REMINDER: TaskKind.SUIVI_REMINDER,
    StepKind.CLOSURE_PROPOSED: TaskKind.CLOSURE_PROPOSED,
}
TASK_KIND_OF_REFERRAL_STATUS: dict[str, TaskKind] = {
    ReferralStatus.REJECTED: TaskKind.REFERRAL_REJECTED,
    ReferralStatus.FAILED: TaskKind.REFERRAL_FAILED,
    ReferralStatus.EXPIRED: TaskKind.REFERRAL_EXPIRED,
}


class ConsentKind(StrEnum):
    CONSENT = "consent"
    LEGAL_BASIS = "legal_basis"


class ConsentChannel(StrEnum):
    ORAL = "oral"
    WRITTEN = "written"
    ELECTRONIC = "electronic"
