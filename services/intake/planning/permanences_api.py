"""PlanningService handlers for sites, permanences, the week planning, the calendar
feed and free slots. A permanence (or an extra session) is placed only after the room
is locked and checked against every permanence already there (domain.permanences):
a clash is FAILED_PRECONDITION ROOM_TAKEN and nothing is written."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta

import asyncpg
from entraide.v1 import planning_pb2

from domain import permanences
from domain.permanences import Busy, Permanence, Session, paris
from domain.planning import PARIS, ExceptionKind
from kernel import auth
from kernel.db import Connection
from kernel.errors import AlreadyExists, FailedPrecondition, PermissionDenied, Violation
from kernel.grpc_server import Context
from kernel.timestamps import to_timestamp
from services.intake.planning import calendar, store, validation
from services.intake.planning.base import PlanningBase, room_of_site, room_taken
from services.intake.planning.convert import day_fr, host_message, permanence_message, site_message
from services.intake.planning.validation import PERMANENCE_ID_NAMESPACE, derived_id, utc_now

Rows = list[tuple[asyncpg.Record, list[asyncpg.Record]]]


def _booked_count(booked: list[asyncpg.Record], pid: str, session: Session) -> int:
    return sum(
        1
        for b in booked
        if str(b["permanence_id"]) == pid and session.starts_at <= b["starts_at"] < session.ends_at
    )


def _asked(row: asyncpg.Record) -> tuple[object, ...]:
    """What a create asked, as its row holds it (a retry must ask the same)."""
    return (row["site"], row["room"], row["host_kind"], row["host_id"], row["weekday"], row["starts_at"])


def _asked_of(new: validation.NewPermanence) -> tuple[object, ...]:
    return (new.site.code, new.room, new.host.kind.value, new.host.id, new.rule.weekday, new.rule.starts_at)


class PermanenceHandlers(PlanningBase):
    async def ListSites(
        self, request: planning_pb2.ListSitesRequest, context: Context
    ) -> planning_pb2.ListSitesResponse:
        claims = auth.current()
        wanted = (
            [t for t in request.territories if claims.covers(t)]
            if request.territories
            else claims.territories
        )
        return planning_pb2.ListSitesResponse(
            sites=[site_message(s) for s in self.reference.sites_of(wanted)]
        )

    async def CreatePermanence(
        self, request: planning_pb2.CreatePermanenceRequest, context: Context
    ) -> planning_pb2.PlannedPermanence:
        claims = auth.current()
        new = validation.new_permanence(request, self.reference, claims.territories)
        permanence_id = derived_id(PERMANENCE_ID_NAMESPACE, new.territory, request.request_id)
        async with self.pool.acquire() as conn, conn.transaction():
            await store.lock(conn, store.room_key(new.site.code, new.room))
            found = await store.get_permanence(conn, permanence_id)
            if found is None:  # else: a retry of a create that committed
                others = await store.room_permanences(conn, new.site.code, new.room)
                clash = permanences.first_clash(
                    Permanence(new.rule, (), permanence_id), [store.permanence_of(r, c) for r, c in others]
                )
                if clash is not None:
                    other = next(r for r, _ in others if str(r["permanence_id"]) == clash.other)
                    raise room_taken(clash, other, new.site, new.room)
                host = new.host
                await store.insert_permanence(
                    conn,
                    permanence_id,
                    new.territory,
                    new.site.code,
                    new.room,
                    (host.kind.value, host.id, host.label, host.category),
                    new.rule,
                    new.slot_minutes,
                    claims.subject,
                    utc_now(),
                )
                found = await store.get_permanence(conn, permanence_id)
                assert found is not None
            elif _asked(found[0]) != _asked_of(new):
                raise AlreadyExists(
                    "this request_id already placed a different permanence; use a new request_id",
                    fr="Cet identifiant de demande a déjà servi à placer une autre permanence :"
                    " recommencez avec un nouvel identifiant de demande.",
                    reason="REQUEST_ID_REUSED",
                    field="request_id",
                )
        return permanence_message(*found)

    async def AddPermanenceException(
        self, request: planning_pb2.AddPermanenceExceptionRequest, context: Context
    ) -> planning_pb2.PlannedPermanence:
        permanence_id = validation.parse_id(
            "permanence_id", request.permanence_id, "l'identifiant de la permanence"
        )
        change = validation.new_change(request.exception)
        claims = auth.current()
        async with self.pool.acquire() as conn, conn.transaction():
            row, changes = await self.permanence(conn, permanence_id)
            site = self.site(row["site"])
            await store.lock(conn, store.room_key(row["site"], row["room"]))
            permanence = store.permanence_of(row, changes)
            same = next((c for c in permanence.changes if (c.kind, c.day) == (change.kind, change.day)), None)
            if same is not None:
                if same == change:
                    return permanence_message(row, changes)  # a repeat: already recorded
                raise FailedPrecondition(
                    "this permanence already has an exception of this kind on this day",
                    fr=f"Cette permanence a déjà une exception de ce type le {day_fr(change.day)} :"
                    " elle ne peut pas être remplacée.",
                    reason="EXCEPTION_EXISTS",
                    field="exception.date",
                )
            rule = permanence.rule
            if change.day < rule.first_day or (rule.last_day is not None and change.day > rule.last_day):
                raise FailedPrecondition(
                    "the exception's day is outside the permanence's first and last days",
                    fr=f"Le {day_fr(change.day)} est en dehors des dates de la permanence"
                    f" (à partir du {day_fr(rule.first_day)}"
                    + (f", jusqu'au {day_fr(rule.last_day)}" if rule.last_day else "")
                    + ").",
                    reason="OUTSIDE_PERMANENCE",
                    field="exception.date",
                )
            if change.kind is ExceptionKind.EXTRA:
                assert change.starts_at is not None and change.ends_at is not None
                session = Session(
                    change.day, paris(change.day, change.starts_at), paris(change.day, change.ends_at), True
                )
                others = await store.room_permanences(conn, row["site"], row["room"])
                clash = permanences.extra_clash(session, [store.permanence_of(r, c) for r, c in others])
                if clash is not None:
                    other = next(r for r, _ in others if str(r["permanence_id"]) == clash.other)
                    raise room_taken(clash, other, site, row["room"])
            else:
                if change.kind is ExceptionKind.CANCELLED and not any(
                    True for _ in permanences.rule_days(rule, change.day, change.day)
                ):
                    raise FailedPrecondition(
                        "the permanence holds no session on this day",
                        fr=f"La permanence n'a pas de séance le {day_fr(change.day)} :"
                        " il n'y a rien à annuler.",
                        reason="NO_SESSION",
                        field="exception.date",
                    )
                await self._refuse_booked(conn, permanence, permanence_id, change.day, change.until)
            await store.insert_change(
                conn, permanence_id, row["territory"], change, claims.subject, utc_now()
            )
            found = await store.get_permanence(conn, permanence_id)
            assert found is not None
        return permanence_message(*found)

    async def _refuse_booked(
        self, conn: Connection, permanence: Permanence, permanence_id: str, first: date, last: date
    ) -> None:
        """A session closed while appointments are booked in it: moved or cancelled first
        (a person must never come to a closed door without being told)."""
        rule = permanence.rule
        taken = 0
        for day in permanences.rule_days(rule, first, last):
            start, end = paris(day, rule.starts_at), paris(day, rule.ends_at)
            taken += len(await store.taken_intervals(conn, permanence_id, start, end))
        if taken:
            raise FailedPrecondition(
                f"{taken} appointment(s) are booked in the sessions to close",
                fr=f"{taken} rendez-vous {'sont pris' if taken > 1 else 'est pris'} dans les séances"
                " à fermer : déplacez-les ou annulez-les d'abord.",
                reason="APPOINTMENTS_BOOKED",
            )

    async def EndPermanence(
        self, request: planning_pb2.EndPermanenceRequest, context: Context
    ) -> planning_pb2.PlannedPermanence:
        permanence_id = validation.parse_id(
            "permanence_id", request.permanence_id, "l'identifiant de la permanence"
        )
        last_day = validation.last_day_of(request.last_day)
        async with self.pool.acquire() as conn, conn.transaction():
            row, changes = await self.permanence(conn, permanence_id)
            await store.lock(conn, store.room_key(row["site"], row["room"]))
            if row["last_day"] == last_day:
                return permanence_message(row, changes)
            if last_day < row["first_day"]:
                raise FailedPrecondition(
                    "last_day is before the permanence's first day",
                    fr=f"La permanence commence le {day_fr(row['first_day'])} :"
                    " elle ne peut pas finir avant.",
                    reason="ENDS_BEFORE_STARTS",
                    field="last_day",
                )
            if row["last_day"] is not None and last_day > row["last_day"]:
                raise FailedPrecondition(
                    "a permanence ends earlier, never later (create a new one to extend it)",
                    fr=f"La permanence finit déjà le {day_fr(row['last_day'])} : pour la prolonger,"
                    " créez une nouvelle permanence (la salle sera vérifiée).",
                    reason="CANNOT_EXTEND",
                    field="last_day",
                )
            after = paris(last_day + timedelta(days=1), time(0, 0))
            later = await store.taken_intervals(conn, permanence_id, after, after + timedelta(days=3660))
            if later:
                raise FailedPrecondition(
                    f"{len(later)} appointment(s) are booked after the new last day",
                    fr=f"{len(later)} rendez-vous {'sont pris' if len(later) > 1 else 'est pris'} après le"
                    f" {day_fr(last_day)} : déplacez-les ou annulez-les d'abord.",
                    reason="APPOINTMENTS_BOOKED",
                    field="last_day",
                )
            await store.end_permanence(conn, permanence_id, last_day)
            found = await store.get_permanence(conn, permanence_id)
            assert found is not None
        return permanence_message(*found)

    async def ListPermanences(
        self, request: planning_pb2.ListPermanencesRequest, context: Context
    ) -> planning_pb2.ListPermanencesResponse:
        host_id = self._host_filter(request.host_id)
        async with self.pool.acquire() as conn:
            rows = await store.list_permanences(
                conn, self._territories(request.territories), request.site, request.room, host_id
            )
        return planning_pb2.ListPermanencesResponse(permanences=[permanence_message(r, c) for r, c in rows])

    async def GetWeekPlanning(
        self, request: planning_pb2.GetWeekPlanningRequest, context: Context
    ) -> planning_pb2.WeekPlanning:
        found: list[Violation] = []
        site = validation.site_of("site", request.site, self.reference, auth.current().territories, found)
        day = validation.parse_day("day", request.day, found)
        validation.fail(found)
        assert site is not None and day is not None
        monday = permanences.week_start(day)
        sunday = monday + timedelta(days=6)
        host_id = self.own_host()
        async with self.pool.acquire() as conn:
            rows = await store.list_permanences(conn, [site.territory], site.code, "", host_id)
            start, end = paris(monday, time(0, 0)), paris(sunday + timedelta(days=1), time(0, 0))
            booked = await store.booked_in(conn, [r["permanence_id"] for r, _ in rows], start, end)
        rooms = [r.code for r in site.rooms]
        sessions: list[planning_pb2.Session] = []
        closures: list[planning_pb2.Closure] = []
        for row, changes in rows:
            permanence = store.permanence_of(row, changes)
            pid = str(row["permanence_id"])
            for session in permanences.sessions(permanence, monday, sunday):
                sessions.append(
                    planning_pb2.Session(
                        permanence_id=pid,
                        room=row["room"],
                        host=host_message(row),
                        day=session.day.isoformat(),
                        starts_at=to_timestamp(session.starts_at),
                        ends_at=to_timestamp(session.ends_at),
                        extra=session.extra,
                        booked=_booked_count(booked, pid, session),
                    )
                )
            for closure in permanences.closures(permanence, monday, sunday):
                closures.append(
                    planning_pb2.Closure(
                        permanence_id=pid,
                        room=row["room"],
                        host=host_message(row),
                        day=closure.day.isoformat(),
                        kind=closure.change.kind.value,
                        reason=closure.change.reason,
                    )
                )

        def room_order(room: str) -> int:
            return rooms.index(room) if room in rooms else len(rooms)

        sessions.sort(key=lambda s: (s.day, room_order(s.room), s.starts_at.seconds, s.permanence_id))
        closures.sort(key=lambda c: (c.day, room_order(c.room), c.permanence_id))
        return planning_pb2.WeekPlanning(
            site=site_message(site), week_start=monday.isoformat(), sessions=sessions, closures=closures
        )

    async def ExportCalendar(
        self, request: planning_pb2.ExportCalendarRequest, context: Context
    ) -> planning_pb2.CalendarDocument:
        claims = auth.current()
        found: list[Violation] = []
        if request.host_id and (request.site or request.room):
            found.append(
                validation.violation(
                    "host_id",
                    "give either site and room, or host_id",
                    "Exportez le calendrier d'une salle (site et salle) ou d'une permanence (host_id),"
                    " pas les deux.",
                    "CONFLICTING_FIELDS",
                )
            )
            validation.fail(found)
        if request.host_id:
            host_id = self._host_filter(request.host_id)
            async with self.pool.acquire() as conn:
                rows = await store.list_permanences(conn, sorted(claims.territories), "", "", host_id)
            label = rows[0][0]["host_label"] if rows else host_id
            name, file = f"Permanences – {label}", calendar.filename(host_id)
        else:
            site = validation.site_of("site", request.site, self.reference, claims.territories, found)
            room = validation.room_of("room", request.room, site, found)
            validation.fail(found)
            assert site is not None
            async with self.pool.acquire() as conn:
                rows = await store.list_permanences(conn, [site.territory], site.code, room, self.own_host())
            name = f"Permanences – {site.label} – {room_of_site(site, room)}"
            file = calendar.filename(site.code, room)
        return planning_pb2.CalendarDocument(
            content_type="text/calendar",
            filename=file,
            content=calendar.document(name, rows, self.reference),
        )

    async def ListSlots(
        self, request: planning_pb2.ListSlotsRequest, context: Context
    ) -> planning_pb2.ListSlotsResponse:
        permanence_id = validation.parse_id(
            "permanence_id", request.permanence_id, "l'identifiant de la permanence"
        )
        start, end = validation.day_range(request.from_day, request.to_day)
        async with self.pool.acquire() as conn:
            row, changes = await self.permanence(conn, permanence_id)
            taken = await store.taken_intervals(
                conn,
                permanence_id,
                paris(start, time(0, 0)),
                paris(end + timedelta(days=1), time(0, 0)),
            )
        permanence = store.permanence_of(row, changes)
        free = permanences.free_slots(
            permanence, row["slot_minutes"], start, end, Busy(taken), datetime.now(PARIS)
        )
        return planning_pb2.ListSlotsResponse(
            slots=[
                planning_pb2.Slot(starts_at=to_timestamp(s.starts_at), ends_at=to_timestamp(s.ends_at))
                for s in free
            ]
        )

    # ---- plumbing --------------------------------------------------------------------
    @staticmethod
    def _territories(wanted: Iterable[str]) -> list[str]:
        claims = auth.current()
        asked = list(wanted)
        return sorted(t for t in asked if claims.covers(t)) if asked else sorted(claims.territories)

    def _host_filter(self, asked: str) -> str:
        """The host a partner may read is its own; other roles filter as they ask."""
        own = self.own_host()
        if own and asked and asked != own:
            raise PermissionDenied(
                "a partner reads its own permanences only",
                fr="Vous ne pouvez consulter que les permanences de votre structure.",
                reason="NOT_YOUR_PERMANENCE",
                field="host_id",
            )
        return own or asked
