"""PlanningService handlers for appointments: book, move, cancel, record attendance,
read. Each change writes the appointment's row, a row of its history and its event in
one transaction with intake's outbox, then tells the appointment's workflow (started
at booking with id `appointment_workflow_id`; updates with ids derived from the
request). A retry after the row was written finds it (the appointment's id derives
from territory + request id, a change's request key is stored with it) and sends the
same start or update again."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta

import asyncpg
from entraide.v1 import events_pb2, planning_pb2
from google.protobuf.message import Message

from domain.appointments import attendance_allowed, attendance_due, changeable
from domain.events import EventType
from domain.labels_fr import APPOINTMENT_STATUS_LABELS
from domain.permanences import session_at
from domain.planning import DEFAULT_SLOT, PARIS, AppointmentChangeKind, AppointmentStatus, HostKind
from kernel import auth, idempotency, outbox
from kernel.auth import CASE_ROLES
from kernel.db import Connection
from kernel.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, Violation
from kernel.events import new_event, step_event_id
from kernel.grpc_server import Context, remaining
from kernel.timestamps import to_timestamp
from services.intake.planning import store, validation
from services.intake.planning import workflows as appointment_workflows
from services.intake.planning.base import PlanningBase
from services.intake.planning.convert import appointment_message, day_fr, hours_fr
from services.intake.planning.validation import APPOINTMENT_ID_NAMESPACE, derived_id, utc_now
from services.intake.schema import SCHEMA
from workflows.contracts import (
    APPOINTMENT_ATTENDANCE_UPDATE,
    APPOINTMENT_CANCEL_UPDATE,
    APPOINTMENT_RESCHEDULE_UPDATE,
    AppointmentChange,
    appointment_workflow_id,
)

SOURCE = "entraide/intake"


@dataclass(frozen=True)
class Place:
    """Where and with whom an appointment is: a permanence's slot, or an agent at a site."""

    territory: str
    site: str
    room: str
    permanence_id: str
    host_kind: str
    host_id: str
    host_label: str
    host_category: str
    starts_at: datetime
    ends_at: datetime


def place_message(row: asyncpg.Record) -> events_pb2.AppointmentPlace:
    """Codes only: the partner's id and name for a partner's permanence (the bilan's
    figures by partner), never the person, the motif or an agent's name."""
    partner = row["host_kind"] == HostKind.PARTENAIRE
    return events_pb2.AppointmentPlace(
        territory=row["territory"],
        site=row["site"],
        room=row["room"],
        permanence_id=str(row["permanence_id"] or ""),
        host_kind=row["host_kind"],
        partner_id=row["host_id"] if partner else "",
        partner_name=row["host_label"] if partner else "",
        category=row["host_category"],
        starts_at=to_timestamp(row["starts_at"]),
        ends_at=to_timestamp(row["ends_at"]),
    )


async def _event(
    conn: Connection, event_type: EventType, appointment_id: str, seq: int, payload: Message
) -> None:
    event = new_event(
        event_type,
        SOURCE,
        appointment_id,
        payload,
        event_id=step_event_id(appointment_workflow_id(appointment_id), f"{seq}/{event_type}"),
    )
    await outbox.write(conn, SCHEMA, event)


def _slot_taken(starts_at: datetime, ends_at: datetime, agent: bool) -> FailedPrecondition:
    local_start, local_end = starts_at.astimezone(PARIS), ends_at.astimezone(PARIS)
    when = f"le {day_fr(local_start.date())} {hours_fr(local_start.time(), local_end.time())}"
    if agent:
        return FailedPrecondition(
            "the agent already has an appointment at this time",
            fr=f"L'agent a déjà un rendez-vous {when} : choisissez un autre horaire.",
            reason="AGENT_BUSY",
            field="starts_at",
        )
    return FailedPrecondition(
        "this slot is taken",
        fr=f"Le créneau {when} est déjà pris : choisissez un autre créneau (liste : ListSlots).",
        reason="SLOT_TAKEN",
        field="starts_at",
    )


def request_id_reused() -> AlreadyExists:
    return AlreadyExists(
        "this request_id already booked a different appointment; use a new request_id",
        fr="Cet identifiant de demande a déjà servi à prendre un autre rendez-vous :"
        " recommencez avec un nouvel identifiant de demande.",
        reason="REQUEST_ID_REUSED",
        field="request_id",
    )


class AppointmentHandlers(PlanningBase):
    # ---- where an appointment can be -------------------------------------------------
    async def _at_permanence(
        self,
        conn: Connection,
        permanence_id: str,
        starts_at: datetime,
        duration: timedelta | None,
        walk_in: bool,
        field: str = "permanence_id",
    ) -> Place:
        """The place of a slot of the permanence: starts_at inside a session held, on a
        slot's start (a walk-in is received when it comes), and within the session."""
        row, changes = await self.permanence(conn, permanence_id, field)
        length = duration or timedelta(minutes=row["slot_minutes"])
        ends_at = starts_at + length
        permanence = store.permanence_of(row, changes)
        session = session_at(permanence, starts_at, ends_at)
        if session is None and walk_in:
            # A person received during a session, near its end: their visit ends with it.
            session = session_at(permanence, starts_at, starts_at + timedelta(minutes=1))
            ends_at = min(ends_at, session.ends_at) if session is not None else ends_at
        local = starts_at.astimezone(PARIS)
        if session is None:
            raise FailedPrecondition(
                "starts_at (and its duration) is not inside a session of this permanence",
                fr=f"La permanence « {row['host_label']} » ne tient pas de séance le {day_fr(local.date())}"
                f" à {local.strftime('%H:%M')} pour cette durée (créneaux libres : ListSlots).",
                reason="NO_SESSION",
                field="starts_at",
            )
        offset = (starts_at - session.starts_at).total_seconds()
        if not walk_in and offset % (row["slot_minutes"] * 60):
            raise FailedPrecondition(
                "starts_at is not the start of a slot",
                fr=f"À cette permanence, les créneaux durent {row['slot_minutes']} minutes à partir de"
                f" {session.starts_at.strftime('%H:%M')} : {local.strftime('%H:%M')} n'en est pas le début"
                " (créneaux libres : ListSlots).",
                reason="NOT_A_SLOT",
                field="starts_at",
            )
        return Place(
            row["territory"],
            row["site"],
            row["room"],
            permanence_id,
            row["host_kind"],
            row["host_id"],
            row["host_label"],
            row["host_category"],
            starts_at,
            ends_at,
        )

    def _with_agent(
        self, agent_id: str, site_code: str, starts_at: datetime, duration: timedelta | None
    ) -> Place:
        found: list[Violation] = []
        site = validation.site_of("site", site_code, self.reference, auth.current().territories, found)
        validation.fail(found)
        assert site is not None
        claims = auth.current()
        label = claims.name if agent_id == claims.subject and claims.name else agent_id
        category = "ccas" if "ccas" in self.reference.partner_categories else ""
        return Place(
            site.territory,
            site.code,
            "",
            "",
            HostKind.AGENT.value,
            agent_id,
            label,
            category,
            starts_at,
            starts_at + (duration or DEFAULT_SLOT),
        )

    async def _refuse_overlap(self, conn: Connection, place: Place, appointment_id: str) -> None:
        agent = place.host_id if place.host_kind == HostKind.AGENT else None
        await store.lock(conn, store.host_key(place.host_kind, place.host_id))
        if place.permanence_id and await store.overlapping(
            conn,
            permanence_id=place.permanence_id,
            agent_id=None,
            starts_at=place.starts_at,
            ends_at=place.ends_at,
            other_than=appointment_id,
        ):
            raise _slot_taken(place.starts_at, place.ends_at, agent=False)
        if agent is not None and await store.overlapping(
            conn,
            permanence_id=None,
            agent_id=agent,
            starts_at=place.starts_at,
            ends_at=place.ends_at,
            other_than=appointment_id,
        ):
            raise _slot_taken(place.starts_at, place.ends_at, agent=True)

    # ---- booking ---------------------------------------------------------------------
    async def BookAppointment(
        self, request: planning_pb2.BookAppointmentRequest, context: Context
    ) -> planning_pb2.Appointment:
        now = utc_now()
        booking = validation.booking(request, self.reference, now)
        assert booking.starts_at is not None
        claims = auth.current()
        async with self.pool.acquire() as conn:
            await self.person(conn, booking.person_id)
            if booking.permanence_id:
                place = await self._at_permanence(
                    conn, booking.permanence_id, booking.starts_at, booking.duration, booking.walk_in
                )
                if booking.site_code and booking.site_code != place.site:
                    raise InvalidArgument(
                        "site is not the permanence's site (leave it empty)",
                        fr="Le site indiqué n'est pas celui de la permanence : laissez-le vide.",
                        reason="SITE_MISMATCH",
                        field="site",
                    )
            else:
                place = self._with_agent(
                    booking.agent_id, booking.site_code, booking.starts_at, booking.duration
                )
            if booking.walk_in and booking.starts_at.astimezone(PARIS).date() != now.astimezone(PARIS).date():
                raise InvalidArgument(
                    "a walk-in is recorded on its day",
                    fr="Un passage sans rendez-vous s'enregistre le jour même.",
                    reason="WALK_IN_NOT_TODAY",
                    field="starts_at",
                )
            appointment_id = derived_id(APPOINTMENT_ID_NAMESPACE, place.territory, request.request_id)
            async with conn.transaction():
                if await store.get_appointment(conn, appointment_id) is None:
                    await self._book(conn, appointment_id, place, booking, claims.subject, now)
            row = await self.reload(conn, appointment_id)
        if (str(row["person_id"]), row["booked_by"], row["walk_in"]) != (
            booking.person_id,
            claims.subject,
            booking.walk_in,
        ) or (not booking.walk_in and row["version"] == 1 and row["starts_at"] != place.starts_at):
            raise request_id_reused()
        await appointment_workflows.start(self.temporal, row, self.timers, remaining(context))
        return appointment_message(row, with_person=True)

    async def _book(
        self,
        conn: Connection,
        appointment_id: str,
        place: Place,
        booking: validation.Booking,
        actor: str,
        now: datetime,
    ) -> None:
        if booking.dossier_id:
            exists, person_id = await store.dossier_person(conn, booking.dossier_id)
            if not exists:
                raise NotFound(
                    "no dossier with this id",
                    fr="Aucun dossier ne porte cet identifiant : vérifiez l'identifiant du dossier.",
                    reason="DOSSIER_NOT_FOUND",
                    field="dossier_id",
                )
            if person_id != booking.person_id:
                raise FailedPrecondition(
                    "the dossier is not this person's",
                    fr="Ce dossier n'est pas celui de cette personne.",
                    reason="DOSSIER_OF_ANOTHER_PERSON",
                    field="dossier_id",
                )
        if not booking.walk_in:
            # A walk-in is here: received even in a taken slot (the host fits them in).
            await self._refuse_overlap(conn, place, appointment_id)
        status = AppointmentStatus.ARRIVED if booking.walk_in else AppointmentStatus.BOOKED
        await store.insert_appointment(
            conn,
            {
                "appointment_id": appointment_id,
                "territory": place.territory,
                "site": place.site,
                "room": place.room,
                "permanence_id": place.permanence_id or None,
                "host_kind": place.host_kind,
                "host_id": place.host_id,
                "host_label": place.host_label,
                "host_category": place.host_category,
                "person_id": booking.person_id,
                "dossier_id": booking.dossier_id or None,
                "motif": booking.motif,
                "starts_at": place.starts_at,
                "ends_at": place.ends_at,
                "status": status.value,
                "version": 1,
                "walk_in": booking.walk_in,
                "booked_by": actor,
                "booked_at": now,
                "updated_at": now,
            },
        )
        row = await store.get_appointment(conn, appointment_id)
        assert row is not None
        seq = await store.insert_change_row(
            conn,
            appointment_id,
            place.territory,
            AppointmentChangeKind.BOOKED,
            AppointmentStatus.BOOKED.value,
            place.starts_at,
            place.ends_at,
            actor,
            now,
            None,
        )
        booked = events_pb2.AppointmentBooked(
            appointment_id=appointment_id,
            place=place_message(row),
            at=to_timestamp(now),
            walk_in=booking.walk_in,
        )
        await _event(conn, EventType.APPOINTMENT_BOOKED, appointment_id, seq, booked)
        if booking.walk_in:
            seq = await store.insert_change_row(
                conn,
                appointment_id,
                place.territory,
                AppointmentChangeKind.ATTENDANCE,
                status.value,
                place.starts_at,
                place.ends_at,
                actor,
                now,
                None,
            )
            arrived = events_pb2.AttendanceRecorded(
                appointment_id=appointment_id,
                territory=place.territory,
                status=status.value,
                at=to_timestamp(now),
            )
            await _event(conn, EventType.ATTENDANCE_RECORDED, appointment_id, seq, arrived)

    # ---- changes -----------------------------------------------------------------------
    @staticmethod
    def _refuse_unchangeable(row: asyncpg.Record, what_fr: str) -> None:
        status = AppointmentStatus(row["status"])
        if changeable(status):
            return
        if status is AppointmentStatus.CANCELLED:
            raise FailedPrecondition(
                "the appointment is cancelled",
                fr=f"Ce rendez-vous est annulé : il ne peut plus être {what_fr}.",
                reason="APPOINTMENT_CANCELLED",
            )
        raise FailedPrecondition(
            "the appointment's attendance is recorded",
            fr="La présence à ce rendez-vous est déjà enregistrée"
            f" (« {APPOINTMENT_STATUS_LABELS[status]} ») : il ne peut plus être {what_fr}.",
            reason="APPOINTMENT_ATTENDED",
        )

    async def MoveAppointment(
        self, request: planning_pb2.MoveAppointmentRequest, context: Context
    ) -> planning_pb2.Appointment:
        now = utc_now()
        move = validation.move(request, now)
        key = idempotency.key_of(request, "MoveAppointment") or None
        claims = auth.current()
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                row = await self.appointment_row(conn, move.appointment_id, for_update=True)
                if key is None or await store.change_by_request(conn, key) is None:
                    self._refuse_unchangeable(row, "déplacé")
                    target = move.permanence_id or (str(row["permanence_id"]) if row["permanence_id"] else "")
                    if target:
                        field = "permanence_id" if move.permanence_id else "appointment_id"
                        duration = move.duration or (
                            None if move.permanence_id else row["ends_at"] - row["starts_at"]
                        )
                        place = await self._at_permanence(
                            conn, target, move.starts_at, duration, False, field
                        )
                    else:
                        place = self._with_agent(
                            row["host_id"],
                            row["site"],
                            move.starts_at,
                            move.duration or row["ends_at"] - row["starts_at"],
                        )
                        place = replace(
                            place, host_label=row["host_label"], host_category=row["host_category"]
                        )
                    if place.territory != row["territory"]:
                        raise FailedPrecondition(
                            "an appointment moves within its commune",
                            fr="Un rendez-vous se déplace dans sa commune :"
                            " annulez-le et prenez-en un autre.",
                            reason="OTHER_COMMUNE",
                            field="permanence_id",
                        )
                    await self._refuse_overlap(conn, place, move.appointment_id)
                    version = row["version"] + 1
                    await store.update_appointment(
                        conn,
                        move.appointment_id,
                        {
                            "site": place.site,
                            "room": place.room,
                            "permanence_id": place.permanence_id or None,
                            "host_kind": place.host_kind,
                            "host_id": place.host_id,
                            "host_label": place.host_label,
                            "host_category": place.host_category,
                            "starts_at": place.starts_at,
                            "ends_at": place.ends_at,
                            "version": version,
                            "no_show_proposed_at": None,
                            "updated_at": now,
                        },
                    )
                    seq = await store.insert_change_row(
                        conn,
                        move.appointment_id,
                        row["territory"],
                        AppointmentChangeKind.MOVED,
                        row["status"],
                        place.starts_at,
                        place.ends_at,
                        claims.subject,
                        now,
                        key,
                    )
                    moved_row = await store.get_appointment(conn, move.appointment_id)
                    assert moved_row is not None
                    moved = events_pb2.AppointmentMoved(
                        appointment_id=move.appointment_id,
                        place=place_message(moved_row),
                        at=to_timestamp(now),
                        version=version,
                    )
                    await _event(conn, EventType.APPOINTMENT_MOVED, move.appointment_id, seq, moved)
            row = await self.reload(conn, move.appointment_id)
        schedule = appointment_workflows.schedule_of(row)
        await appointment_workflows.update(
            self.temporal,
            move.appointment_id,
            APPOINTMENT_RESCHEDULE_UPDATE,
            AppointmentChange(schedule=schedule),
            key or f"{APPOINTMENT_RESCHEDULE_UPDATE}-{move.appointment_id}-{schedule.version}",
            remaining(context),
        )
        return appointment_message(row, with_person=True)

    async def CancelAppointment(
        self, request: planning_pb2.CancelAppointmentRequest, context: Context
    ) -> planning_pb2.Appointment:
        appointment_id = validation.parse_id(
            "appointment_id", request.appointment_id, "l'identifiant du rendez-vous"
        )
        key = idempotency.key_of(request, "CancelAppointment") or None
        now = utc_now()
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                row = await self.appointment_row(conn, appointment_id, for_update=True)
                already = row["status"] == AppointmentStatus.CANCELLED
                if not already and (key is None or await store.change_by_request(conn, key) is None):
                    self._refuse_unchangeable(row, "annulé")
                    await store.update_appointment(
                        conn, appointment_id, {"status": AppointmentStatus.CANCELLED.value, "updated_at": now}
                    )
                    seq = await store.insert_change_row(
                        conn,
                        appointment_id,
                        row["territory"],
                        AppointmentChangeKind.CANCELLED,
                        AppointmentStatus.CANCELLED.value,
                        row["starts_at"],
                        row["ends_at"],
                        auth.current().subject,
                        now,
                        key,
                    )
                    cancelled = events_pb2.AppointmentCancelled(
                        appointment_id=appointment_id,
                        territory=row["territory"],
                        at=to_timestamp(now),
                        by_person=request.by_person,
                    )
                    await _event(conn, EventType.APPOINTMENT_CANCELLED, appointment_id, seq, cancelled)
            row = await self.reload(conn, appointment_id)
        await appointment_workflows.update(
            self.temporal,
            appointment_id,
            APPOINTMENT_CANCEL_UPDATE,
            AppointmentChange(by_person=request.by_person),
            key or f"{APPOINTMENT_CANCEL_UPDATE}-{appointment_id}",
            remaining(context),
        )
        return appointment_message(row, with_person=True)

    async def RecordAttendance(
        self, request: planning_pb2.RecordAttendanceRequest, context: Context
    ) -> planning_pb2.Appointment:
        found: list[Violation] = []
        appointment_id = validation.parse_uuid(
            "appointment_id", request.appointment_id, "l'identifiant du rendez-vous", found
        )
        validation.fail(found)
        wanted = validation.attendance_status(request.status)
        key = idempotency.key_of(request, "RecordAttendance") or None
        now = utc_now()
        seq = 0
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                row = await self.appointment_row(conn, appointment_id, for_update=True)
                current = AppointmentStatus(row["status"])
                done = key is not None and await store.change_by_request(conn, key) is not None
                if not done and current is not wanted:
                    self._refuse_attendance(row, current, wanted, now)
                    await store.update_appointment(
                        conn, appointment_id, {"status": wanted.value, "updated_at": now}
                    )
                    seq = await store.insert_change_row(
                        conn,
                        appointment_id,
                        row["territory"],
                        AppointmentChangeKind.ATTENDANCE,
                        wanted.value,
                        row["starts_at"],
                        row["ends_at"],
                        auth.current().subject,
                        now,
                        key,
                    )
                    recorded = events_pb2.AttendanceRecorded(
                        appointment_id=appointment_id,
                        territory=row["territory"],
                        status=wanted.value,
                        at=to_timestamp(now),
                    )
                    await _event(conn, EventType.ATTENDANCE_RECORDED, appointment_id, seq, recorded)
            row = await self.reload(conn, appointment_id)
        await appointment_workflows.update(
            self.temporal,
            appointment_id,
            APPOINTMENT_ATTENDANCE_UPDATE,
            AppointmentChange(status=row["status"]),
            # Without a request id, a new update each time (a status may come back: no-show,
            # excused, no-show again), never one Temporal would answer from a former one.
            key or f"{APPOINTMENT_ATTENDANCE_UPDATE}-{appointment_id}-{uuid.uuid4()}",
            remaining(context),
        )
        return appointment_message(row, with_person=True)

    @staticmethod
    def _refuse_attendance(
        row: asyncpg.Record, current: AppointmentStatus, wanted: AppointmentStatus, now: datetime
    ) -> None:
        if current is AppointmentStatus.CANCELLED:
            raise FailedPrecondition(
                "the appointment is cancelled",
                fr="Ce rendez-vous est annulé : aucune présence ne s'y enregistre.",
                reason="APPOINTMENT_CANCELLED",
            )
        day = row["starts_at"].astimezone(PARIS).date()
        if not attendance_due(day, now.astimezone(PARIS).date()):
            raise FailedPrecondition(
                "attendance is recorded from the appointment's day on",
                fr=f"Le rendez-vous est le {day_fr(day)} : la présence s'enregistre à partir de ce jour-là.",
                reason="NOT_YET_DUE",
            )
        if not attendance_allowed(current, wanted):
            raise FailedPrecondition(
                f"attendance {wanted.value} cannot follow {current.value}",
                fr=f"Le rendez-vous est « {APPOINTMENT_STATUS_LABELS[current]} » : il ne peut plus être"
                f" noté « {APPOINTMENT_STATUS_LABELS[wanted]} ».",
                reason="ATTENDANCE_NOT_ALLOWED",
                field="status",
            )

    # ---- reads -------------------------------------------------------------------------
    async def GetAppointment(
        self, request: planning_pb2.GetAppointmentRequest, context: Context
    ) -> planning_pb2.Appointment:
        appointment_id = validation.parse_id(
            "appointment_id", request.appointment_id, "l'identifiant du rendez-vous"
        )
        async with self.pool.acquire() as conn:
            row = await self.appointment_row(conn, appointment_id)
        return appointment_message(row, with_person=auth.current().role in CASE_ROLES)

    async def ListAppointments(
        self, request: planning_pb2.ListAppointmentsRequest, context: Context
    ) -> planning_pb2.ListAppointmentsResponse:
        claims = auth.current()
        if request.person_id and (request.site or request.day):
            raise InvalidArgument(
                "give either site and day, or person_id",
                fr="Listez les rendez-vous d'un site et d'un jour, ou ceux d'une personne : pas les deux.",
                reason="CONFLICTING_FIELDS",
                field="person_id",
            )
        async with self.pool.acquire() as conn:
            if request.person_id:
                person_id = validation.parse_id(
                    "person_id", request.person_id, "l'identifiant de la personne"
                )
                await self.person(conn, person_id)
                rows = await store.person_appointments(conn, person_id)
            else:
                found: list[Violation] = []
                site = validation.site_of("site", request.site, self.reference, claims.territories, found)
                day = validation.parse_day("day", request.day, found)
                validation.fail(found)
                assert site is not None and day is not None
                start = datetime.combine(day, time(0, 0), tzinfo=PARIS)
                end = datetime.combine(day + timedelta(days=1), time(0, 0), tzinfo=PARIS)
                rows = await store.site_day_appointments(conn, site.code, start, end)
        with_person = claims.role in CASE_ROLES
        return planning_pb2.ListAppointmentsResponse(
            appointments=[appointment_message(r, with_person) for r in rows]
        )
