"""Inputs, outputs and state crossing the workflow boundary (import-safe dataclasses).

Workflow ids carry only the dossier's random id; search attributes carry only codes.
Times are ISO 8601 strings (UTC) so that every payload stays plain JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from domain.vocabulary import Stage, Visibility

# Task queues: the workflows worker's, and each service's activity worker's.
DOSSIER_TASK_QUEUE = "dossiers"
INTAKE_TASK_QUEUE = "intake"
REFERRAL_TASK_QUEUE = "referral"


class WorkflowName(StrEnum):
    """Workflow type names, as registered (`@workflow.defn(name=...)`) and started."""

    DOSSIER = "DossierWorkflow"
    REFERRAL = "ReferralWorkflow"
    RETENTION = "RetentionWorkflow"
    IMPORT = "ImportWorkflow"
    APPOINTMENT = "AppointmentWorkflow"
    SIGNAL = "SignalWorkflow"
    AID_REQUEST = "AidRequestWorkflow"


# The signal a referral's workflow sends its dossier's (DossierWorkflow.referral_changed),
# and the referral service's when a person withdraws a consent (consent_withdrawn).
REFERRAL_CHANGED_SIGNAL = "referral_changed"
CONSENT_WITHDRAWN_SIGNAL = "consent_withdrawn"


class ActivityName(StrEnum):
    """Activity names, as registered (`@activity.defn(name=...)`) and called: both ends
    reference these, so a rename cannot silently break a workflow."""

    RECORD_DOSSIER_OPENED = "intake.record_dossier_opened"
    RECORD_TRANSITION = "intake.record_transition"
    CHECK_REFERRAL_CONSENT = "intake.check_referral_consent"
    ANONYMISE_INACTIVE = "intake.anonymise_inactive"
    PURGE_ACCESS_LOG = "intake.purge_access_log"
    START_IMPORTED_DOSSIERS = "intake.start_imported_dossiers"
    # An appointment's message (confirmation, reminder...) into the persons' outbox.
    QUEUE_PERSON_MESSAGE = "intake.queue_person_message"
    # Nothing recorded after an appointment's end: a no-show proposed to the agent.
    PROPOSE_NO_SHOW = "intake.propose_no_show"
    # A signal not qualified within the deployment's delay: escalated to the CIAS.
    ESCALATE_SIGNAL = "intake.escalate_signal"
    # An aid request still at the step it was at when its deadline was set: a task.
    AID_DEADLINE_PASSED = "intake.aid_deadline_passed"
    # Supporting documents past their date (retention): bytes deleted, row kept.
    PURGE_DOCUMENTS = "intake.purge_documents"
    RECORD_REFERRAL_STATUS = "referral.record_status"
    RECORD_REFERRAL_REMINDER = "referral.record_reminder"


# The task queue each activity is served on (its service's).
ACTIVITY_QUEUE: dict[ActivityName, str] = {
    name: INTAKE_TASK_QUEUE if name.startswith("intake.") else REFERRAL_TASK_QUEUE for name in ActivityName
}


def dossier_workflow_id(dossier_id: str) -> str:
    return f"dossier-{dossier_id}"


def import_workflow_id(import_id: str) -> str:
    return f"import-{import_id}"


def appointment_workflow_id(appointment_id: str) -> str:
    return f"appointment-{appointment_id}"


def signal_workflow_id(signal_id: str) -> str:
    return f"signal-{signal_id}"


# SignalWorkflow's signal: the signal was qualified (its timer is no longer needed).
SIGNAL_QUALIFIED_SIGNAL = "qualified"


def aid_request_workflow_id(aid_request_id: str) -> str:
    return f"aid-request-{aid_request_id}"


# AidRequestWorkflow's signal, sent by the aid RPCs after each change is committed
# (carries an AidProgress).
AID_REQUEST_CHANGED_SIGNAL = "aid_request_changed"


@dataclass
class AidRequestInput:
    """AidRequestWorkflow's input: the request at its creation and the deployment's
    deadlines (seconds) for each step (domain.aides.AidStep)."""

    aid_request_id: str
    dossier_id: str
    territory: str
    # domain.aides.AidRequestStatus, ISO 8601 UTC.
    status: str
    changed_at: str
    instruction_s: int
    commission_s: int
    payment_s: int
    # The request's change counter at creation (what AidProgress.version counts from).
    version: int = 1


@dataclass
class AidProgress:
    """A committed change of the request: its new status, when, and its version (the
    request's change counter; a signal older than the workflow's state is ignored)."""

    status: str
    changed_at: str
    version: int


@dataclass
class AidDeadline:
    """AID_DEADLINE_PASSED's input: the step whose deadline passed and the request's
    version then (the activity does nothing if the request moved on since)."""

    aid_request_id: str
    dossier_id: str
    territory: str
    step: str
    version: int


@dataclass
class SignalInput:
    """SignalWorkflow's input: escalate after `escalation_s` unless qualified before."""

    signal_id: str
    territory: str
    # ISO 8601 UTC.
    submitted_at: str
    escalation_s: float = 7 * 86400.0


@dataclass
class EscalateSignal:
    signal_id: str
    territory: str


# AppointmentWorkflow's updates (each carries an AppointmentChange); sent by the planning
# RPCs after their row is written, with an update id derived from the request id.
APPOINTMENT_RESCHEDULE_UPDATE = "reschedule"
APPOINTMENT_CANCEL_UPDATE = "cancel"
APPOINTMENT_ATTENDANCE_UPDATE = "attendance"


@dataclass
class AppointmentTimers:
    """Seconds; a deployment sets them (ENTRAIDE_APPOINTMENT_*_S), tests shorten them.
    Reminders are placed in Paris wall-clock time: 48 h before 10:00 is 10:00 two days
    earlier, whatever DST change lies between."""

    reminder_s: float = 48 * 3600.0
    # 0: no second reminder.
    second_reminder_s: float = 0.0
    no_show_grace_s: float = 30 * 60.0


@dataclass
class AppointmentSchedule:
    """When the appointment is, as of `version` (ISO 8601 UTC)."""

    starts_at: str
    ends_at: str
    version: int


@dataclass
class AppointmentInput:
    appointment_id: str
    territory: str
    schedule: AppointmentSchedule
    timers: AppointmentTimers = field(default_factory=AppointmentTimers)
    # A walk-in is already checked in: no confirmation, reminder or no-show.
    walk_in: bool = False


@dataclass
class AppointmentChange:
    """An update's argument: the new schedule (reschedule), the status recorded
    (attendance: domain.planning.AppointmentStatus), or nothing (cancel)."""

    schedule: AppointmentSchedule | None = None
    status: str = ""
    # Cancelled at the person's request: no cancellation message.
    by_person: bool = False


@dataclass
class QueueMessage:
    """Activity input: write this appointment's message of `kind` for `version` into the
    outbox, once (the outbox is keyed by appointment, kind and version)."""

    appointment_id: str
    territory: str
    kind: str  # domain.planning.MessageKind
    version: int


@dataclass
class ProposeNoShow:
    appointment_id: str
    territory: str
    version: int


@dataclass
class ImportStarts:
    """ImportWorkflow's input: the communes whose imported dossiers wait for their workflow."""

    import_id: str
    territories: list[str]


@dataclass
class StartPage:
    """Activity input: start the workflows of at most `limit` imported dossiers waiting
    for one, after `after` (dossier id order)."""

    territories: list[str]
    after: str
    limit: int


@dataclass
class StartedPage:
    started: int
    last: str  # the last dossier id of the page ("" when the page was empty)


@dataclass
class LifecycleTimers:
    """Durations in seconds; a deployment sets them (ENTRAIDE_*_S), tests shorten them."""

    urgent_ecoute_s: float = 24 * 3600.0
    suivi_reminder_s: float = 30 * 86400.0
    closure_proposal_s: float = 15 * 86400.0
    reopen_delay_s: float = 90 * 86400.0
    # Steps before the workflow continues as new (bounded history for long dossiers).
    max_steps_per_run: int = 500


@dataclass
class HistoryEntry:
    step: int
    kind: str
    stage: str
    at: str
    actor: str = ""


@dataclass
class DossierState:
    """Everything the workflow knows; carried over on continue-as-new."""

    dossier_id: str
    territory: str
    motifs: list[str]
    urgent: bool
    stage: str = Stage.RECEPTION.value
    cycle: int = 0
    assigned_agent: str = ""
    opened_at: str | None = None
    last_activity_at: str | None = None
    step: int = 0
    escalated: bool = False
    reminded_at: str | None = None
    closure_proposed: bool = False
    closed_at: str | None = None
    outcome: str = ""
    interviews: int = 0
    # Referrals of this dossier: id → latest status known (signalled by their workflows).
    referrals: dict[str, str] = field(default_factory=dict)
    # Recent steps only: the full timeline lives in intake's tables.
    history: list[HistoryEntry] = field(default_factory=list)
    # Request keys of the latest human steps → their step number (repeats answered).
    requests: dict[str, int] = field(default_factory=dict)
    # Consents withdrawn and recorded in the timeline (a repeated signal records nothing).
    withdrawn_consents: list[str] = field(default_factory=list)


@dataclass
class DossierSpec:
    """What reception records when a dossier is opened (the workflow's input)."""

    dossier_id: str
    territory: str
    site: str
    motifs: list[str]
    arrival_channel: str
    urgent: bool
    person_id: str = ""
    household_id: str = ""
    assigned_agent: str = ""
    timers: LifecycleTimers = field(default_factory=LifecycleTimers)
    # Who opened it (the caller's subject): the actor of the timeline's first entry.
    opened_by: str = ""
    # Set when the workflow continues as new.
    carried: DossierState | None = None


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


# Update inputs (what people do). Text is validated by the gRPC layer first.
@dataclass
class InterviewInput:
    agent: str
    notes: str = ""
    visibility: str = Visibility.TEAM.value
    # Derived from the client's request id (kernel.idempotency.derived_id): a repeat is
    # answered with the first step, never applied twice, even after continue-as-new.
    request_key: str = ""


@dataclass
class CompleteEcouteInput:
    agent: str
    next_stage: str
    motifs: list[str] = field(default_factory=list)
    # Derived from the client's request id (kernel.idempotency.derived_id): a repeat is
    # answered with the first step, never applied twice, even after continue-as-new.
    request_key: str = ""


@dataclass
class AgentInput:
    agent: str
    # Derived from the client's request id (kernel.idempotency.derived_id): a repeat is
    # answered with the first step, never applied twice, even after continue-as-new.
    request_key: str = ""


@dataclass
class FollowUpInput:
    agent: str
    notes: str = ""
    visibility: str = Visibility.TEAM.value
    # Derived from the client's request id (kernel.idempotency.derived_id): a repeat is
    # answered with the first step, never applied twice, even after continue-as-new.
    request_key: str = ""


@dataclass
class AssignInput:
    agent: str
    assignee: str
    # Derived from the client's request id (kernel.idempotency.derived_id): a repeat is
    # answered with the first step, never applied twice, even after continue-as-new.
    request_key: str = ""


@dataclass
class CloseInput:
    agent: str
    outcome: str
    notes: str = ""
    # Derived from the client's request id (kernel.idempotency.derived_id): a repeat is
    # answered with the first step, never applied twice, even after continue-as-new.
    request_key: str = ""


@dataclass
class ReopenInput:
    agent: str
    reason: str = ""
    # Derived from the client's request id (kernel.idempotency.derived_id): a repeat is
    # answered with the first step, never applied twice, even after continue-as-new.
    request_key: str = ""


@dataclass
class StepResult:
    dossier_id: str
    stage: str
    step: int


@dataclass
class Transition:
    """Activity input: one step written to intake's tables and outbox, idempotently
    (keyed by dossier and step number)."""

    workflow_id: str
    dossier_id: str
    territory: str
    step: int
    kind: str
    at: str
    actor: str
    from_stage: str
    to_stage: str
    cycle: int
    motifs: list[str] | None = None
    assigned_agent: str | None = None
    outcome: str | None = None
    notes: str = ""
    visibility: str = Visibility.TEAM.value
    due_at: str | None = None
    last_activity_at: str | None = None
    # kind "referral": one referral's change, shown in the dossier's timeline.
    referral_id: str | None = None
    partner_name: str | None = None
    referral_status: str | None = None
    reason: str | None = None


@dataclass
class Deadline:
    kind: str
    due_at: str


@dataclass
class DossierView:
    """What the read-only query returns."""

    state: DossierState
    deadlines: list[Deadline]


# ---- referrals (orientation) -----------------------------------------------------------
def referral_workflow_id(referral_id: str) -> str:
    return f"referral-{referral_id}"


@dataclass
class ReferralTimers:
    """ENTRAIDE_REFERRAL_REMINDER_S / ENTRAIDE_REFERRAL_EXPIRY_S: not acknowledged by then."""

    reminder_s: float = 10 * 86400.0
    expiry_s: float = 30 * 86400.0


@dataclass
class OrientInput:
    """Update input of DossierWorkflow.orient (validated by the referral service first)."""

    agent: str
    referral_id: str
    partner_id: str
    partner_name: str
    motif: str
    message_for_partner: str
    data_scope: list[str]
    timers: ReferralTimers = field(default_factory=ReferralTimers)


@dataclass
class ConsentCheck:
    """Activity input: is sharing `data_scope` with `partner_id` covered for this dossier's person?"""

    dossier_id: str
    territory: str
    partner_id: str
    data_scope: list[str]


@dataclass
class PersonShare:
    """The person as shared with one partner: only the consented categories are filled."""

    first_name: str = ""
    last_name: str = ""
    birth_date: str = ""
    phone: str = ""
    email: str = ""
    address: str = ""


@dataclass
class ReferralSpec:
    """ReferralWorkflow's input."""

    referral_id: str
    dossier_id: str
    territory: str
    partner_id: str
    partner_name: str
    motif: str
    message_for_partner: str
    data_scope: list[str]
    person: PersonShare
    referrer: str
    parent_workflow_id: str
    timers: ReferralTimers = field(default_factory=ReferralTimers)


@dataclass
class ActInput:
    """Update input of ReferralWorkflow.act: a partner's or the referrer's action."""

    action: str
    actor: str
    reason: str = ""
    outcome: str = ""
    comment: str = ""


@dataclass
class RecordReferralStatus:
    """Activity input: one status of a referral, its row, history and event (keyed by sequence)."""

    workflow_id: str
    spec: ReferralSpec
    sequence: int
    status: str
    previous_status: str
    actor: str
    at: str
    reason: str = ""
    outcome: str = ""
    comment: str = ""


@dataclass
class ReferralReminder:
    referral_id: str
    territory: str
    at: str


@dataclass
class ReferralChanged:
    """Signal from a ReferralWorkflow to its dossier's workflow (kind status or reminder)."""

    referral_id: str
    partner_name: str
    status: str
    actor: str
    sequence: int
    kind: str = "status"
    reason: str = ""
    outcome: str = ""


@dataclass
class ConsentWithdrawn:
    """Signal to a dossier's workflow: its person withdrew a consent (recorded once per
    consent in the timeline; the referrals it covered are cancelled by their workflows)."""

    consent_id: str
    partner_name: str
    agent: str


@dataclass
class ReferralResult:
    referral_id: str
    status: str
    sequence: int
