"""The projection's pure part: a batch of domain events folded in memory into one delta
per dossier, per referral, per appointment and per partner name (no I/O); the
collective actions' and signals' deltas fold in collective_fold.py, the aid events'
rows in aides_fold.py.

Every field of a delta merges commutatively (first time = the least, latest-at-wins
with a deterministic tie-break, counters add up), as its row's upsert does in `apply`:
any arrival order and any batch split of the same events give the same rows, so a
rebuild from the stream gives the live figures exactly.

Events are dispatched on their catalogued type (domain.events) and read as the
catalogue's message; a type reporting does not project changes nothing.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from entraide.v1 import events_pb2

from domain.events import EventType
from domain.planning import ATTENDANCE, AppointmentStatus, HostKind
from domain.vocabulary import REFERRAL_REMINDER, REFERRAL_STATUSES, STAGES, ReferralStatus, Stage
from kernel.events import Event
from kernel.timestamps import from_timestamp
from services.reporting.projection import aides_fold, collective_fold
from services.reporting.projection.aides_fold import AidFold
from services.reporting.projection.collective_fold import CollectiveFold

STAGE_RANK: dict[str, int] = {stage: rank for rank, stage in enumerate(STAGES)}
# The stages whose first time a dossier fact row keeps, and its column.
FIRST_TIME_COLUMNS: dict[str, str] = {
    Stage.ECOUTE: "ecoute_at",
    Stage.ORIENTATION: "orientation_at",
    Stage.SUIVI: "suivi_at",
}


def _min(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else min(a, b)


def _max(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else max(a, b)


def _person_id(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ValueError("person id is not a uuid") from None


Versioned = tuple[datetime, int, str]  # (at, tie-break rank, value): the greatest wins
# A partner's name as a referral event carries it: (from the `requested` event, at, name),
# the greatest wins. A referral's events all repeat the name read from the directory when
# it was requested, so its `requested` event dates that name exactly, while a later status
# (at, after the partner may have been renamed) would make an old name look new: names of
# `requested` events rank first, then the latest `at`, then the name (deterministic).
NameVersion = tuple[bool, datetime, str]


def _latest(a: Versioned | None, b: Versioned | None) -> Versioned | None:
    return b if a is None else a if b is None else max(a, b)


@dataclass
class DossierDelta:
    dossier_id: str
    territory: str = ""
    person_id: str | None = None
    site: str | None = None
    arrival_channel: str | None = None
    urgent: bool | None = None
    opened_at: datetime | None = None
    motifs: tuple[datetime, list[str]] | None = None
    stage: Versioned | None = None
    first: dict[str, datetime] = field(default_factory=dict)
    closed: Versioned | None = None
    escalated_at: datetime | None = None
    reminder_at: datetime | None = None
    closure_proposed_at: datetime | None = None
    last_activity_at: datetime | None = None
    reopened: int = 0
    reminders: int = 0

    def touch(self, territory: str, at: datetime) -> None:
        self.territory = self.territory or territory
        self.last_activity_at = _max(self.last_activity_at, at)

    def set_motifs(self, at: datetime, motifs: list[str]) -> None:
        if motifs and (
            self.motifs is None or (at, ",".join(motifs)) > (self.motifs[0], ",".join(self.motifs[1]))
        ):
            self.motifs = (at, motifs)

    def set_stage(self, at: datetime, stage: str) -> None:
        self.stage = _latest(self.stage, (at, STAGE_RANK.get(stage, 0), stage))
        column = FIRST_TIME_COLUMNS.get(stage)
        if column:
            self.first[column] = _min(self.first.get(column), at) or at


@dataclass
class ReferralDelta:
    referral_id: str
    dossier_id: str = ""
    partner_id: str = ""
    territory: str = ""
    motif: str = ""
    status: tuple[int, datetime, str, str, str] | None = None  # sequence, at, status, outcome, reason
    first: dict[str, datetime] = field(default_factory=dict)
    reminders: int = 0
    reminder_at: datetime | None = None


# An appointment's place and time as one booking or move carries it: (version, at,
# territory, site, room, permanence_id, host_kind, partner_id, partner_name, category,
# starts_at, ends_at); the greatest wins (the latest version, then the latest `at`, then
# the place itself: deterministic). A booking is version 0, a move carries its version.
Placement = tuple[int, datetime, str, str, str, str, str, str, str, str, datetime, datetime]
BOOKED_VERSION = 0
# An appointment's status: (at, rank, status), the greatest wins. At equal times the
# status further along an appointment's life wins (a walk-in's check-in over its booking).
APPOINTMENT_STATUS_RANK: dict[str, int] = {
    AppointmentStatus.BOOKED: 0,
    AppointmentStatus.ARRIVED: 1,
    AppointmentStatus.SEEN: 2,
    AppointmentStatus.NO_SHOW: 3,
    AppointmentStatus.NO_SHOW_EXCUSED: 4,
    AppointmentStatus.CANCELLED: 5,
}
HostName = tuple[datetime, str]  # (at of the carrying event, name): the greatest wins
_HOST_KINDS = frozenset(HostKind)


@dataclass
class AppointmentDelta:
    appointment_id: str
    territory: str = ""  # of any event; the placement's territory wins when one is known
    place: Placement | None = None
    status: Versioned | None = None
    walk_in: bool = False
    booked_at: datetime | None = None

    def set_place(self, place: Placement) -> None:
        if self.place is None or place > self.place:
            self.place = place

    def set_status(self, at: datetime, status: str) -> None:
        self.status = _latest(self.status, (at, APPOINTMENT_STATUS_RANK[status], status))


@dataclass
class Fold:
    dossiers: dict[str, DossierDelta] = field(default_factory=dict)
    referrals: dict[str, ReferralDelta] = field(default_factory=dict)
    merges: list[tuple[str, str]] = field(default_factory=list)  # (merged person, kept person)
    partner_names: dict[str, NameVersion] = field(default_factory=dict)  # the greatest per partner
    appointments: dict[str, AppointmentDelta] = field(default_factory=dict)
    host_names: dict[str, HostName] = field(default_factory=dict)  # hosting partners, the greatest
    collective: CollectiveFold = field(default_factory=CollectiveFold)  # sessions, enrolments, signals
    aides: AidFold = field(default_factory=AidFold)  # aid requests, decisions, payments, budget lines

    @property
    def persons(self) -> set[str]:
        """Person ids of the dossiers opened in this batch."""
        return {d.person_id for d in self.dossiers.values() if d.person_id}

    def dossier(self, dossier_id: str) -> DossierDelta:
        if not dossier_id:
            raise ValueError("dossier event without a dossier id")
        delta = self.dossiers.get(dossier_id)
        if delta is None:
            delta = self.dossiers[dossier_id] = DossierDelta(dossier_id)
        return delta

    def referral(self, referral_id: str) -> ReferralDelta:
        delta = self.referrals.get(referral_id)
        if delta is None:
            delta = self.referrals[referral_id] = ReferralDelta(referral_id)
        return delta

    def appointment(self, appointment_id: str, territory: str) -> AppointmentDelta:
        try:
            key = str(uuid.UUID(appointment_id))
        except ValueError:
            raise ValueError("appointment event without a uuid appointment id") from None
        delta = self.appointments.get(key)
        if delta is None:
            delta = self.appointments[key] = AppointmentDelta(key)
        delta.territory = delta.territory or territory
        return delta

    def add(self, event: Event) -> None:
        """Folds one event; raises ValueError for a malformed one (dead-lettered)."""
        handler = HANDLERS.get(event.type)
        if handler is not None:
            handler(self, event.payload())


def fold(events: Sequence[Event]) -> Fold:
    folded = Fold()
    for event in events:
        folded.add(event)
    return folded


def _dossier_opened(f: Fold, opened: events_pb2.DossierOpened) -> None:
    if not opened.motifs or not opened.territory:
        raise ValueError("dossier.opened without territory or motifs")
    at = from_timestamp(opened.opened_at)
    d = f.dossier(opened.dossier_id)
    d.touch(opened.territory, at)
    d.site, d.arrival_channel, d.urgent = opened.site, opened.arrival_channel, opened.urgent
    d.person_id = _person_id(opened.person_id) if opened.person_id else None
    d.opened_at = at
    d.set_motifs(at, list(opened.motifs))
    d.set_stage(at, Stage.RECEPTION)


def _stage_changed(f: Fold, changed: events_pb2.DossierStageChanged) -> None:
    at = from_timestamp(changed.at)
    d = f.dossier(changed.dossier_id)
    d.touch(changed.territory, at)
    d.set_stage(at, changed.to_stage)


def _ecoute_completed(f: Fold, ecoute: events_pb2.EcouteCompleted) -> None:
    at = from_timestamp(ecoute.at)
    d = f.dossier(ecoute.dossier_id)
    d.touch(ecoute.territory, at)
    d.set_motifs(at, list(ecoute.motifs))


def _dossier_closed(f: Fold, closed: events_pb2.DossierClosed) -> None:
    at = from_timestamp(closed.at)
    d = f.dossier(closed.dossier_id)
    d.touch(closed.territory, at)
    d.closed = _latest(d.closed, (at, 0, closed.outcome))
    d.set_stage(at, Stage.CLOTURE)


def _dossier_escalated(f: Fold, escalated: events_pb2.DossierEscalated) -> None:
    d = f.dossier(escalated.dossier_id)
    d.territory = d.territory or escalated.territory
    d.escalated_at = _min(d.escalated_at, from_timestamp(escalated.at))


def _dossier_reopened(f: Fold, reopened: events_pb2.DossierReopened) -> None:
    at = from_timestamp(reopened.at)
    d = f.dossier(reopened.dossier_id)
    d.touch(reopened.territory, at)
    d.reopened += 1


def _suivi_reminder(f: Fold, reminder: events_pb2.SuiviReminder) -> None:
    d = f.dossier(reminder.dossier_id)
    d.territory = d.territory or reminder.territory
    d.reminders += 1
    d.reminder_at = _max(d.reminder_at, from_timestamp(reminder.at))


def _closure_proposed(f: Fold, proposed: events_pb2.ClosureProposed) -> None:
    d = f.dossier(proposed.dossier_id)
    d.territory = d.territory or proposed.territory
    d.closure_proposed_at = _max(d.closure_proposed_at, from_timestamp(proposed.at))


def _interview_recorded(f: Fold, interview: events_pb2.InterviewRecorded) -> None:
    f.dossier(interview.dossier_id).touch(interview.territory, from_timestamp(interview.at))


def _follow_up_recorded(f: Fold, follow_up: events_pb2.FollowUpRecorded) -> None:
    f.dossier(follow_up.dossier_id).touch(follow_up.territory, from_timestamp(follow_up.at))


def _dossier_assigned(f: Fold, assigned: events_pb2.DossierAssigned) -> None:
    f.dossier(assigned.dossier_id).touch(assigned.territory, from_timestamp(assigned.at))


def _referral_status_changed(f: Fold, data: events_pb2.ReferralStatusChanged) -> None:
    if not data.referral_id or not data.status:
        raise ValueError("referral.status_changed without referral id or status")
    r = f.referral(data.referral_id)
    r.dossier_id = r.dossier_id or data.dossier_id
    r.partner_id = r.partner_id or data.partner_id
    r.territory = r.territory or data.territory
    r.motif = r.motif or data.motif
    at = from_timestamp(data.at)
    if data.partner_id and data.partner_name:
        name = (data.status == ReferralStatus.REQUESTED, at, data.partner_name)
        known = f.partner_names.get(data.partner_id)
        if known is None or name > known:
            f.partner_names[data.partner_id] = name
    if data.status == REFERRAL_REMINDER:
        r.reminders += 1
        r.reminder_at = _max(r.reminder_at, at)
        return
    if data.status in REFERRAL_STATUSES:
        r.first[data.status] = _min(r.first.get(data.status), at) or at
    candidate = (data.sequence, at, data.status, data.outcome, data.reason)
    if r.status is None or candidate > r.status:
        r.status = candidate


def _persons_merged(f: Fold, merged: events_pb2.PersonsMerged) -> None:
    f.merges.append((_person_id(merged.merged_id), _person_id(merged.keep_id)))


def _placement(f: Fold, place: events_pb2.AppointmentPlace, version: int, at: datetime) -> Placement:
    if not place.territory or not place.site or not place.HasField("starts_at"):
        raise ValueError("appointment place without territory, site or start")
    if place.host_kind not in _HOST_KINDS:
        raise ValueError("appointment place with an unknown host kind")
    if place.host_kind == HostKind.PARTENAIRE and place.partner_id and place.partner_name:
        name = (at, place.partner_name)
        known = f.host_names.get(place.partner_id)
        if known is None or name > known:
            f.host_names[place.partner_id] = name
    starts_at = from_timestamp(place.starts_at)
    ends_at = from_timestamp(place.ends_at) if place.HasField("ends_at") else starts_at
    return (
        version,
        at,
        place.territory,
        place.site,
        place.room,
        place.permanence_id,
        place.host_kind,
        place.partner_id,
        place.partner_name,
        place.category,
        starts_at,
        ends_at,
    )


def _appointment_booked(f: Fold, booked: events_pb2.AppointmentBooked) -> None:
    at = from_timestamp(booked.at)
    a = f.appointment(booked.appointment_id, booked.place.territory)
    a.set_place(_placement(f, booked.place, BOOKED_VERSION, at))
    a.booked_at = _min(a.booked_at, at)
    a.walk_in = a.walk_in or booked.walk_in
    # A walk-in is booked and checked in at once.
    a.set_status(at, AppointmentStatus.ARRIVED if booked.walk_in else AppointmentStatus.BOOKED)


def _appointment_moved(f: Fold, moved: events_pb2.AppointmentMoved) -> None:
    at = from_timestamp(moved.at)
    a = f.appointment(moved.appointment_id, moved.place.territory)
    a.set_place(_placement(f, moved.place, moved.version, at))
    # Booked again at its new time: what was recorded for the old time no longer holds.
    a.set_status(at, AppointmentStatus.BOOKED)


def _appointment_cancelled(f: Fold, cancelled: events_pb2.AppointmentCancelled) -> None:
    a = f.appointment(cancelled.appointment_id, cancelled.territory)
    a.set_status(from_timestamp(cancelled.at), AppointmentStatus.CANCELLED)


def _attendance_recorded(f: Fold, attendance: events_pb2.AttendanceRecorded) -> None:
    if attendance.status not in ATTENDANCE:
        raise ValueError("attendance_recorded with a status that is not an attendance")
    a = f.appointment(attendance.appointment_id, attendance.territory)
    a.set_status(from_timestamp(attendance.at), attendance.status)


Handler = Callable[[Fold, Any], None]


def _collective(handler: Callable[[CollectiveFold, Any], None]) -> Handler:
    """A collective_fold handler on the batch's collective part; it keeps the handler's
    annotations (the catalogue's message it reads)."""

    @functools.wraps(handler)
    def on_fold(f: Fold, message: Any) -> None:
        handler(f.collective, message)

    return on_fold


def _aides(handler: Callable[[AidFold, Any], None]) -> Handler:
    """An aides_fold handler on the batch's aid part (annotations kept, as _collective)."""

    @functools.wraps(handler)
    def on_fold(f: Fold, message: Any) -> None:
        handler(f.aides, message)

    return on_fold


# What each projected type does to the fold; its handler takes the catalogue's message
# of the type (`Event.payload()`). Every dossier event is projected (DOSSIER_EVENTS).
HANDLERS: Mapping[str, Handler] = {
    EventType.DOSSIER_OPENED: _dossier_opened,
    EventType.DOSSIER_STAGE_CHANGED: _stage_changed,
    EventType.ECOUTE_COMPLETED: _ecoute_completed,
    EventType.DOSSIER_CLOSED: _dossier_closed,
    EventType.DOSSIER_ESCALATED: _dossier_escalated,
    EventType.DOSSIER_REOPENED: _dossier_reopened,
    EventType.SUIVI_REMINDER: _suivi_reminder,
    EventType.CLOSURE_PROPOSED: _closure_proposed,
    EventType.INTERVIEW_RECORDED: _interview_recorded,
    EventType.FOLLOW_UP_RECORDED: _follow_up_recorded,
    EventType.DOSSIER_ASSIGNED: _dossier_assigned,
    EventType.REFERRAL_STATUS_CHANGED: _referral_status_changed,
    EventType.PERSONS_MERGED: _persons_merged,
    EventType.APPOINTMENT_BOOKED: _appointment_booked,
    EventType.APPOINTMENT_MOVED: _appointment_moved,
    EventType.APPOINTMENT_CANCELLED: _appointment_cancelled,
    EventType.ATTENDANCE_RECORDED: _attendance_recorded,
    EventType.PARTICIPANT_ENROLLED: _collective(collective_fold.participant_enrolled),
    EventType.ENROLMENT_CHANGED: _collective(collective_fold.enrolment_changed),
    EventType.GROUP_SESSION_HELD: _collective(collective_fold.session_held),
    EventType.GOAL_CHANGED: _collective(collective_fold.goal_changed),
    EventType.PARTICIPANT_OUTCOME_RECORDED: _collective(collective_fold.outcome_recorded),
    EventType.SIGNAL_SUBMITTED: _collective(collective_fold.signal_submitted),
    EventType.SIGNAL_QUALIFIED: _collective(collective_fold.signal_qualified),
    EventType.SIGNAL_ESCALATED: _collective(collective_fold.signal_escalated),
    EventType.AID_REQUESTED: _aides(aides_fold.aid_requested),
    EventType.AID_DECIDED: _aides(aides_fold.aid_decided),
    EventType.AID_WITHDRAWN: _aides(aides_fold.aid_withdrawn),
    EventType.AID_PAYMENT_CHANGED: _aides(aides_fold.payment_changed),
    EventType.LOAN_SET_UP: _aides(aides_fold.loan_set_up),
    EventType.LOAN_INCIDENT_RECORDED: _aides(aides_fold.loan_incident),
    EventType.BUDGET_LINE_CREATED: _aides(aides_fold.budget_line_created),
}
