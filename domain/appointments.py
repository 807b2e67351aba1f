"""What may be recorded about an appointment, and when (pure).

An appointment is booked, then moved or cancelled while it is booked; from its day on,
the agent records what happened: arrived (checked in at reception), seen, no-show or
excused no-show. Seen and cancelled are final; a no-show may be corrected (the person
came late, or the excuse arrived), an arrival becomes seen. docs/planning.md says it in
words.
"""

from __future__ import annotations

from datetime import date

from domain.planning import AppointmentStatus

_S = AppointmentStatus
# Attendance recorded from each status (the same status again changes nothing).
ATTENDANCE_FROM: dict[AppointmentStatus, frozenset[AppointmentStatus]] = {
    _S.BOOKED: frozenset({_S.ARRIVED, _S.SEEN, _S.NO_SHOW, _S.NO_SHOW_EXCUSED}),
    _S.ARRIVED: frozenset({_S.SEEN}),
    _S.NO_SHOW: frozenset({_S.ARRIVED, _S.SEEN, _S.NO_SHOW_EXCUSED}),
    _S.NO_SHOW_EXCUSED: frozenset({_S.ARRIVED, _S.SEEN, _S.NO_SHOW}),
    _S.SEEN: frozenset(),
    _S.CANCELLED: frozenset(),
}


def attendance_allowed(current: AppointmentStatus, wanted: AppointmentStatus) -> bool:
    return wanted in ATTENDANCE_FROM[current]


def attendance_due(appointment_day: date, today: date) -> bool:
    """Attendance is recorded from the appointment's day (Paris) on, never before."""
    return today >= appointment_day


def changeable(current: AppointmentStatus) -> bool:
    """Moved or cancelled only while booked (nothing recorded yet)."""
    return current is AppointmentStatus.BOOKED
