"""The vocabulary of permanences, appointments and the messages sent to people.

Pure: codes only (the French labels are in domain.labels_fr). docs/planning.md
describes the rules in words.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

# Every time a person reads (a permanence's hours, an appointment) is Paris time;
# instants are stored and compared in UTC.
PARIS = ZoneInfo("Europe/Paris")


class HostKind(StrEnum):
    """Who holds a permanence or an appointment."""

    PARTENAIRE = "partenaire"
    ELU = "elu"
    AGENT = "agent"


class Recurrence(StrEnum):
    WEEKLY = "weekly"
    FORTNIGHTLY = "fortnightly"


class ExceptionKind(StrEnum):
    """A change to a permanence's recurring sessions."""

    # One session not held (the partner is away...).
    CANCELLED = "cancelled"
    # Closed from `date` to `until` inclusive (a public holiday, the summer closure).
    HOLIDAY = "holiday"
    # A one-off session outside the rule, with its own hours.
    EXTRA = "extra"


class AppointmentStatus(StrEnum):
    BOOKED = "booked"
    CANCELLED = "cancelled"
    # Checked in at reception ("arrivé"), then seen by the host.
    ARRIVED = "arrived"
    SEEN = "seen"
    NO_SHOW = "no_show"
    # Did not come but warned, or had a reason the agent accepts.
    NO_SHOW_EXCUSED = "no_show_excused"


# What an agent may record about an appointment once it is due.
ATTENDANCE = (
    AppointmentStatus.ARRIVED,
    AppointmentStatus.SEEN,
    AppointmentStatus.NO_SHOW,
    AppointmentStatus.NO_SHOW_EXCUSED,
)
# Statuses that count as a visit in the activity figures.
VISITED = frozenset({AppointmentStatus.ARRIVED, AppointmentStatus.SEEN})
NO_SHOWS = frozenset({AppointmentStatus.NO_SHOW, AppointmentStatus.NO_SHOW_EXCUSED})
# After these nothing more is recorded (a no-show may still be corrected to seen).
FINAL = frozenset({AppointmentStatus.CANCELLED, AppointmentStatus.SEEN})


class AppointmentChangeKind(StrEnum):
    """What a row of an appointment's history records (intake.appointment_changes.change)."""

    BOOKED = "booked"
    MOVED = "moved"
    CANCELLED = "cancelled"
    ATTENDANCE = "attendance"


class ContactChannel(StrEnum):
    """How a person agreed to be reminded of appointments."""

    SMS = "sms"
    EMAIL = "email"


class MessageKind(StrEnum):
    CONFIRMATION = "confirmation"
    REMINDER = "reminder"
    SECOND_REMINDER = "second_reminder"
    MOVED = "moved"
    CANCELLATION = "cancellation"


class MessageStatus(StrEnum):
    # Waiting for the sender (or for its next attempt after a failure).
    PENDING = "pending"
    # Claimed by a sender; a sender that dies leaves it to be claimed again.
    SENDING = "sending"
    SENT = "sent"
    # Given up after the last attempt: a task for the agent.
    FAILED = "failed"
    # Not sent because the appointment moved or was cancelled before.
    SUPERSEDED = "superseded"


DEFAULT_SLOT = timedelta(minutes=30)
MAX_APPOINTMENT = timedelta(hours=4)
DEFAULT_REMINDER = timedelta(hours=48)
# After the end of an appointment with nothing recorded, the workflow proposes a no-show.
DEFAULT_NO_SHOW_GRACE = timedelta(minutes=30)
