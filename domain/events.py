"""The event catalogue: every domain event's CloudEvents type, the protobuf message
its data carries and what its subject is, declared once. Producers build events
through `kernel.events.new_event` (which checks the pairing), consumers read them
with `Event.payload()`; nobody spells a ce-type by hand. The proto file's comments
say what each message means (proto/entraide/v1/events.proto)."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from enum import StrEnum

from entraide.v1 import events_pb2
from google.protobuf.message import Message

TYPE_PREFIX = "entraide."


class EventType(StrEnum):
    DOSSIER_OPENED = "entraide.dossier.opened"
    DOSSIER_STAGE_CHANGED = "entraide.dossier.stage_changed"
    ECOUTE_COMPLETED = "entraide.dossier.ecoute_completed"
    INTERVIEW_RECORDED = "entraide.dossier.interview_recorded"
    FOLLOW_UP_RECORDED = "entraide.dossier.follow_up_recorded"
    DOSSIER_ESCALATED = "entraide.dossier.escalated"
    SUIVI_REMINDER = "entraide.dossier.reminder"
    CLOSURE_PROPOSED = "entraide.dossier.closure_proposed"
    DOSSIER_CLOSED = "entraide.dossier.closed"
    DOSSIER_REOPENED = "entraide.dossier.reopened"
    DOSSIER_ASSIGNED = "entraide.dossier.assigned"
    PERSON_CREATED = "entraide.person.created"
    PERSONS_MERGED = "entraide.person.merged"
    PERSON_RECTIFIED = "entraide.person.rectified"
    PERSON_ANONYMISED = "entraide.person.anonymised"
    CONSENT_RECORDED = "entraide.consent.recorded"
    CONSENT_REVOKED = "entraide.consent.revoked"
    REFERRAL_STATUS_CHANGED = "entraide.referral.status_changed"
    APPOINTMENT_BOOKED = "entraide.appointment.booked"
    APPOINTMENT_MOVED = "entraide.appointment.moved"
    APPOINTMENT_CANCELLED = "entraide.appointment.cancelled"
    ATTENDANCE_RECORDED = "entraide.appointment.attendance_recorded"
    PARTICIPANT_ENROLLED = "entraide.collective.enrolled"
    ENROLMENT_CHANGED = "entraide.collective.enrolment_changed"
    GROUP_SESSION_HELD = "entraide.collective.session_held"
    GOAL_CHANGED = "entraide.collective.goal_changed"
    PARTICIPANT_OUTCOME_RECORDED = "entraide.collective.outcome_recorded"
    SIGNAL_SUBMITTED = "entraide.signal.submitted"
    SIGNAL_QUALIFIED = "entraide.signal.qualified"
    SIGNAL_ESCALATED = "entraide.signal.escalated"
    AID_REQUESTED = "entraide.aid.requested"
    AID_INSTRUCTED = "entraide.aid.instructed"
    AID_SCHEDULED = "entraide.aid.scheduled"
    AID_DECIDED = "entraide.aid.decided"
    AID_WITHDRAWN = "entraide.aid.withdrawn"
    AID_PAYMENT_CHANGED = "entraide.aid.payment_changed"
    LOAN_SET_UP = "entraide.aid.loan_set_up"
    LOAN_INCIDENT_RECORDED = "entraide.aid.loan_incident"
    BUDGET_LINE_CREATED = "entraide.budget_line.created"


class Subject(StrEnum):
    """What the CloudEvents `subject` (the aggregate id) of an event is."""

    DOSSIER = "dossier"
    PERSON = "person"
    REFERRAL = "referral"
    APPOINTMENT = "appointment"
    PROGRAMME = "programme"
    SIGNAL = "signal"
    AID_REQUEST = "aid_request"
    BUDGET_LINE = "budget_line"


@dataclass(frozen=True)
class EventSpec:
    type: EventType
    message: builtins.type[Message]
    subject: Subject


def _spec(event_type: EventType, message: type[Message], subject: Subject) -> tuple[EventType, EventSpec]:
    return event_type, EventSpec(event_type, message, subject)


_E, _S = EventType, Subject
CATALOGUE: dict[EventType, EventSpec] = dict(
    [
        _spec(_E.DOSSIER_OPENED, events_pb2.DossierOpened, _S.DOSSIER),
        _spec(_E.DOSSIER_STAGE_CHANGED, events_pb2.DossierStageChanged, _S.DOSSIER),
        _spec(_E.ECOUTE_COMPLETED, events_pb2.EcouteCompleted, _S.DOSSIER),
        _spec(_E.INTERVIEW_RECORDED, events_pb2.InterviewRecorded, _S.DOSSIER),
        _spec(_E.FOLLOW_UP_RECORDED, events_pb2.FollowUpRecorded, _S.DOSSIER),
        _spec(_E.DOSSIER_ESCALATED, events_pb2.DossierEscalated, _S.DOSSIER),
        _spec(_E.SUIVI_REMINDER, events_pb2.SuiviReminder, _S.DOSSIER),
        _spec(_E.CLOSURE_PROPOSED, events_pb2.ClosureProposed, _S.DOSSIER),
        _spec(_E.DOSSIER_CLOSED, events_pb2.DossierClosed, _S.DOSSIER),
        _spec(_E.DOSSIER_REOPENED, events_pb2.DossierReopened, _S.DOSSIER),
        _spec(_E.DOSSIER_ASSIGNED, events_pb2.DossierAssigned, _S.DOSSIER),
        _spec(_E.PERSON_CREATED, events_pb2.PersonCreated, _S.PERSON),
        _spec(_E.PERSONS_MERGED, events_pb2.PersonsMerged, _S.PERSON),
        _spec(_E.PERSON_RECTIFIED, events_pb2.PersonRectified, _S.PERSON),
        _spec(_E.PERSON_ANONYMISED, events_pb2.PersonAnonymised, _S.PERSON),
        _spec(_E.CONSENT_RECORDED, events_pb2.ConsentRecorded, _S.PERSON),
        _spec(_E.CONSENT_REVOKED, events_pb2.ConsentRevoked, _S.PERSON),
        _spec(_E.REFERRAL_STATUS_CHANGED, events_pb2.ReferralStatusChanged, _S.REFERRAL),
        _spec(_E.APPOINTMENT_BOOKED, events_pb2.AppointmentBooked, _S.APPOINTMENT),
        _spec(_E.APPOINTMENT_MOVED, events_pb2.AppointmentMoved, _S.APPOINTMENT),
        _spec(_E.APPOINTMENT_CANCELLED, events_pb2.AppointmentCancelled, _S.APPOINTMENT),
        _spec(_E.ATTENDANCE_RECORDED, events_pb2.AttendanceRecorded, _S.APPOINTMENT),
        _spec(_E.PARTICIPANT_ENROLLED, events_pb2.ParticipantEnrolled, _S.PROGRAMME),
        _spec(_E.ENROLMENT_CHANGED, events_pb2.EnrolmentChanged, _S.PROGRAMME),
        _spec(_E.GROUP_SESSION_HELD, events_pb2.GroupSessionHeld, _S.PROGRAMME),
        _spec(_E.GOAL_CHANGED, events_pb2.GoalChanged, _S.PROGRAMME),
        _spec(_E.PARTICIPANT_OUTCOME_RECORDED, events_pb2.ParticipantOutcomeRecorded, _S.PROGRAMME),
        _spec(_E.SIGNAL_SUBMITTED, events_pb2.SignalSubmitted, _S.SIGNAL),
        _spec(_E.SIGNAL_QUALIFIED, events_pb2.SignalQualified, _S.SIGNAL),
        _spec(_E.SIGNAL_ESCALATED, events_pb2.SignalEscalated, _S.SIGNAL),
        _spec(_E.AID_REQUESTED, events_pb2.AidRequested, _S.AID_REQUEST),
        _spec(_E.AID_INSTRUCTED, events_pb2.AidInstructed, _S.AID_REQUEST),
        _spec(_E.AID_SCHEDULED, events_pb2.AidScheduled, _S.AID_REQUEST),
        _spec(_E.AID_DECIDED, events_pb2.AidDecided, _S.AID_REQUEST),
        _spec(_E.AID_WITHDRAWN, events_pb2.AidWithdrawn, _S.AID_REQUEST),
        _spec(_E.AID_PAYMENT_CHANGED, events_pb2.AidPaymentChanged, _S.AID_REQUEST),
        _spec(_E.LOAN_SET_UP, events_pb2.LoanSetUp, _S.AID_REQUEST),
        _spec(_E.LOAN_INCIDENT_RECORDED, events_pb2.LoanIncidentRecorded, _S.AID_REQUEST),
        _spec(_E.BUDGET_LINE_CREATED, events_pb2.BudgetLineCreated, _S.BUDGET_LINE),
    ]
)
# Messages of events.proto that are parts of several events, never an event themselves.
EVENT_PARTS: frozenset[type[Message]] = frozenset({events_pb2.AppointmentPlace})
DOSSIER_EVENTS = frozenset(t for t, spec in CATALOGUE.items() if spec.subject is Subject.DOSSIER)
# The ce-type → message pairing as JetStream consumers and partners see it.
BY_MESSAGE: dict[str, EventType] = {spec.message.DESCRIPTOR.full_name: t for t, spec in CATALOGUE.items()}


def spec_of(event_type: str) -> EventSpec:
    """The catalogue entry of a ce-type; KeyError for a type it does not know."""
    return CATALOGUE[EventType(event_type)]


def short_name(event_type: str) -> str:
    """The type without its prefix: the NATS subject's tail (`dossier.opened`)."""
    return event_type.removeprefix(TYPE_PREFIX)
