"""CollectiveService handlers for programmes and their sessions: create, read, list,
add a session, record (or correct) a session's attendance sheet, close. Each change
writes its rows, a programme_changes row and its events in one transaction with
intake's outbox; a retry finds the row its request id derived (or the change its
request key marked) and writes nothing again."""

from __future__ import annotations

from datetime import datetime

import asyncpg
from entraide.v1 import collective_pb2, events_pb2

from domain.collective import EnrolmentStatus, ProgrammeStatus, SessionPresence
from domain.events import EventType
from domain.labels_fr import ENROLMENT_STATUS_LABELS
from domain.planning import PARIS
from kernel import auth, idempotency
from kernel.db import Connection
from kernel.errors import FailedPrecondition, NotFound, PermissionDenied
from kernel.grpc_server import Context
from kernel.timestamps import to_timestamp
from services.intake.collective import store, validation
from services.intake.collective.base import CollectiveBase, emit
from services.intake.collective.convert import programme_message, session_message
from services.intake.collective.rules import (
    ON_THE_LIST,
    ChangeKind,
    EntryKind,
    session_entry_key,
    session_summary,
    sheet_counts,
)
from services.intake.planning.validation import derived_id, fail, utc_now
from services.intake.validation import territory_violation


def request_key(territory: str, request_id: str, row_id: str) -> str:
    """A created row's idempotency key: territory + request id, else its random id."""
    # A commune's INSEE code holds no ":" (and PostgreSQL text no NUL).
    return f"{territory}:{request_id}" if request_id else f"random:{row_id}"


def session_start(row: asyncpg.Record) -> datetime:
    return datetime.combine(row["day"], row["starts_at"], PARIS)


class ProgrammeHandlers(CollectiveBase):
    async def CreateProgramme(
        self, request: collective_pb2.CreateProgrammeRequest, context: Context
    ) -> collective_pb2.Programme:
        made = validation.new_programme(request, self.reference)
        claims = auth.current()
        if not claims.covers(made.territory):
            raise PermissionDenied(
                "this commune is not one of yours",
                fr="Cette commune ne fait pas partie de vos communes d'intervention.",
                reason="TERRITORY_NOT_ASSIGNED",
                field="territory",
            )
        now = utc_now()
        programme_id = derived_id(validation.PROGRAMME_ID_NAMESPACE, made.territory, request.request_id)
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                created = await store.insert(
                    conn,
                    "programmes",
                    {
                        "programme_id": programme_id,
                        "territory": made.territory,
                        "name": made.name,
                        "aim": made.aim,
                        "partner_id": made.partner_id,
                        "partner_name": made.partner_name,
                        "facilitators": made.facilitators,
                        "site": made.place.site,
                        "room": made.place.room,
                        "place": made.place.place,
                        "rhythm": made.rhythm,
                        "first_day": made.first_day,
                        "last_day": made.last_day,
                        "capacity": made.capacity,
                        "status": ProgrammeStatus.OPEN.value,
                        "created_by": claims.subject,
                        "created_at": now,
                        "updated_at": now,
                        "request_key": request_key(made.territory, request.request_id, programme_id),
                    },
                    "programme_id",
                )
                if created:
                    await store.insert_change(
                        conn, programme_id, made.territory, ChangeKind.CREATED, claims.subject, now, None
                    )
            row = await self.programme_row(conn, programme_id)
        return programme_message(row)

    async def GetProgramme(
        self, request: collective_pb2.GetProgrammeRequest, context: Context
    ) -> collective_pb2.Programme:
        programme_id = validation.id_of("programme_id", request.programme_id, "l'identifiant du programme")
        async with self.pool.acquire() as conn:
            row = await self.programme_row(conn, programme_id)
            sessions = await store.sessions(conn, programme_id)
            enrolments = await store.enrolments(conn, programme_id)
        return programme_message(row, sessions, enrolments)

    async def ListProgrammes(
        self, request: collective_pb2.ListProgrammesRequest, context: Context
    ) -> collective_pb2.ListProgrammesResponse:
        claims = auth.current()
        wanted = list(request.territories) or list(claims.territories)
        for n, territory in enumerate(wanted):
            bad = territory_violation(territory, self.reference, field=f"territories[{n}]")
            if bad is not None:
                fail([bad])
            if not claims.covers(territory):
                raise PermissionDenied(
                    "this commune is not one of yours",
                    fr="Cette commune ne fait pas partie de vos communes d'intervention.",
                    reason="TERRITORY_NOT_ASSIGNED",
                    field=f"territories[{n}]",
                )
        async with self.pool.acquire() as conn:
            rows = await store.programmes(conn, wanted, request.include_closed)
        return collective_pb2.ListProgrammesResponse(programmes=[programme_message(r) for r in rows])

    async def AddSession(
        self, request: collective_pb2.AddSessionRequest, context: Context
    ) -> collective_pb2.GroupSession:
        programme_id = validation.id_of("programme_id", request.programme_id, "l'identifiant du programme")
        claims = auth.current()
        now = utc_now()
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                programme = await self.programme_row(conn, programme_id, for_update=True)
                session_id = derived_id(
                    validation.SESSION_ID_NAMESPACE, programme["territory"], request.request_id
                )
                if await store.session(conn, session_id) is None:
                    self.refuse_closed(programme)
                    made = validation.new_session(
                        request,
                        programme["territory"],
                        programme["capacity"],
                        programme["first_day"],
                        programme["last_day"],
                        self.reference,
                    )
                    place = made.place
                    if not (place.site or place.place):
                        place = validation.Place(programme["site"], programme["room"], programme["place"])
                    await store.insert(
                        conn,
                        "group_sessions",
                        {
                            "session_id": session_id,
                            "programme_id": programme_id,
                            "territory": programme["territory"],
                            "day": made.day,
                            "starts_at": made.starts_at,
                            "ends_at": made.ends_at,
                            "site": place.site,
                            "room": place.room,
                            "place": place.place,
                            "capacity": made.capacity,
                            "created_by": claims.subject,
                            "created_at": now,
                            "request_key": request_key(
                                programme["territory"], request.request_id, session_id
                            ),
                        },
                        "session_id",
                    )
                    await store.insert_change(
                        conn,
                        programme_id,
                        programme["territory"],
                        ChangeKind.SESSION_ADDED,
                        claims.subject,
                        now,
                        None,
                    )
            row = await store.session(conn, session_id)
        assert row is not None
        return session_message(row)

    async def _session(self, conn: Connection, session_id: str, for_update: bool) -> asyncpg.Record:
        row = await store.session(conn, session_id)
        if row is None:
            raise NotFound(
                "no session with this id",
                fr="Aucune séance ne porte cet identifiant : vérifiez-le (liste : GetProgramme).",
                reason="SESSION_NOT_FOUND",
                field="session_id",
            )
        if for_update:
            await self.programme_row(conn, str(row["programme_id"]), for_update=True)
            row = await store.session(conn, session_id, for_update=True)
            assert row is not None
        return row

    async def GetSession(
        self, request: collective_pb2.GetSessionRequest, context: Context
    ) -> collective_pb2.GroupSession:
        session_id = validation.id_of("session_id", request.session_id, "l'identifiant de la séance")
        async with self.pool.acquire() as conn:
            row = await self._session(conn, session_id, for_update=False)
            sheet = await store.sheet(conn, session_id)
        return session_message(row, sheet)

    async def RecordSessionAttendance(
        self, request: collective_pb2.RecordSessionAttendanceRequest, context: Context
    ) -> collective_pb2.GroupSession:
        session_id, lines = validation.sheet(request)
        key = idempotency.key_of(request, "RecordSessionAttendance") or None
        claims = auth.current()
        now = utc_now()
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                session = await self._session(conn, session_id, for_update=True)
                programme_id = str(session["programme_id"])
                if not await store.change_done(conn, key):
                    programme = await self.programme_row(conn, programme_id)
                    self.refuse_closed(programme)
                    before = {str(r["enrolment_id"]): r for r in await store.sheet(conn, session_id)}
                    enrolments = {
                        str(e["enrolment_id"]): e for e in await store.enrolments(conn, programme_id)
                    }
                    self._check_sheet(session, lines, before, enrolments, now)
                    if not session["held"] or {e: r["presence"] for e, r in before.items()} != lines:
                        await self._record_sheet(
                            conn, programme, session, lines, before, enrolments, key, now
                        )
                    elif key is not None:
                        await store.insert_change(
                            conn,
                            programme_id,
                            programme["territory"],
                            ChangeKind.ATTENDANCE,
                            claims.subject,
                            now,
                            key,
                        )
            row = await store.session(conn, session_id)
            sheet = await store.sheet(conn, session_id)
        assert row is not None
        return session_message(row, sheet)

    @staticmethod
    def _check_sheet(
        session: asyncpg.Record,
        lines: dict[str, SessionPresence],
        before: dict[str, asyncpg.Record],
        enrolments: dict[str, asyncpg.Record],
        now: datetime,
    ) -> None:
        day = session["day"]
        if now.astimezone(PARIS).date() < day:
            raise FailedPrecondition(
                "attendance is recorded from the session's day on",
                fr=f"La séance est le {day.isoformat()} : le pointage se fait à partir de ce jour-là.",
                reason="NOT_YET_DUE",
                field="session_id",
            )
        for n, enrolment_id in enumerate(lines):
            enrolment = enrolments.get(enrolment_id)
            if enrolment is None:
                raise FailedPrecondition(
                    "no enrolment of this programme with this id",
                    fr="Cette ligne du pointage ne correspond à aucune personne inscrite au programme.",
                    reason="NOT_ENROLLED",
                    field=f"attendance[{n}].enrolment_id",
                )
            if enrolment["status"] not in ON_THE_LIST and enrolment_id not in before:
                label = ENROLMENT_STATUS_LABELS.get(enrolment["status"], enrolment["status"])
                raise FailedPrecondition(
                    f"enrolment {enrolment_id} is {enrolment['status']}, not enrolled",
                    fr=f"Une personne du pointage n'est pas inscrite au programme (elle est « {label} ») :"
                    " seuls les participants inscrits sont pointés.",
                    reason="NOT_ENROLLED",
                    field=f"attendance[{n}].enrolment_id",
                )
        if len(lines) > session["capacity"]:
            raise FailedPrecondition(
                "more participants than the session's places",
                fr=f"Le pointage compte {len(lines)} participants pour {session['capacity']} places"
                " à cette séance.",
                reason="SESSION_OVER_CAPACITY",
                field="attendance",
            )

    async def _record_sheet(
        self,
        conn: Connection,
        programme: asyncpg.Record,
        session: asyncpg.Record,
        lines: dict[str, SessionPresence],
        before: dict[str, asyncpg.Record],
        enrolments: dict[str, asyncpg.Record],
        key: str | None,
        now: datetime,
    ) -> None:
        claims = auth.current()
        programme_id = str(programme["programme_id"])
        session_id = str(session["session_id"])
        territory = programme["territory"]
        await store.replace_sheet(
            conn, session_id, territory, {e: p.value for e, p in lines.items()}, claims.subject, now
        )
        version = session["version"] + 1
        await store.update(
            conn, "group_sessions", "session_id", session_id, {"held": True, "version": version}
        )
        seq = await store.insert_change(
            conn, programme_id, territory, ChangeKind.ATTENDANCE, claims.subject, now, key
        )
        at = session_start(session)
        entry_key = session_entry_key(session_id)
        for enrolment_id, presence in lines.items():
            await store.put_timeline_entry(
                conn,
                str(enrolments[enrolment_id]["dossier_id"]),
                entry_key,
                programme_id,
                EntryKind.SESSION,
                claims.subject,
                at,
                session_summary(programme["name"], session["day"], presence),
            )
        for enrolment_id, old in before.items():
            if enrolment_id not in lines:
                await store.delete_timeline_entry(conn, str(old["dossier_id"]), entry_key)
        counts = sheet_counts(lines.values())
        held = events_pb2.GroupSessionHeld(
            programme_id=programme_id,
            session_id=session_id,
            territory=territory,
            at=to_timestamp(at),
            capacity=session["capacity"],
            expected=counts.expected,
            present=counts.present,
            absent=counts.absent,
            excused=counts.excused,
            sequence=version,
        )
        await emit(conn, EventType.GROUP_SESSION_HELD, programme_id, seq, held)

    async def CloseProgramme(
        self, request: collective_pb2.CloseProgrammeRequest, context: Context
    ) -> collective_pb2.Programme:
        programme_id = validation.id_of("programme_id", request.programme_id, "l'identifiant du programme")
        claims = auth.current()
        now = utc_now()
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                programme = await self.programme_row(conn, programme_id, for_update=True)
                if programme["status"] != ProgrammeStatus.CLOSED:
                    territory = programme["territory"]
                    seq = await store.insert_change(
                        conn, programme_id, territory, ChangeKind.CLOSED, claims.subject, now, None
                    )
                    for enrolment in await store.enrolments(conn, programme_id):
                        status = {
                            EnrolmentStatus.ENROLLED: EnrolmentStatus.COMPLETED,
                            # The list ends with the programme.
                            EnrolmentStatus.WAITING: EnrolmentStatus.WITHDRAWN,
                        }.get(EnrolmentStatus(enrolment["status"]))
                        if status is None:
                            continue
                        await self.change_enrolment(conn, programme, enrolment, status, seq, now)
                    await store.update(
                        conn,
                        "programmes",
                        "programme_id",
                        programme_id,
                        {"status": ProgrammeStatus.CLOSED.value, "closed_at": now, "updated_at": now},
                    )
            row = await self.programme_row(conn, programme_id)
            sessions = await store.sessions(conn, programme_id)
            enrolments = await store.enrolments(conn, programme_id)
        return programme_message(row, sessions, enrolments)

    async def change_enrolment(
        self,
        conn: Connection,
        programme: asyncpg.Record,
        enrolment: asyncpg.Record,
        status: EnrolmentStatus,
        seq: int,
        now: datetime,
    ) -> None:
        """The enrolment's new status and its EnrolmentChanged (sequence = its version)."""
        enrolment_id = str(enrolment["enrolment_id"])
        version = enrolment["version"] + 1
        await store.update(
            conn,
            "enrolments",
            "enrolment_id",
            enrolment_id,
            {"status": status.value, "version": version, "updated_at": now},
        )
        changed = events_pb2.EnrolmentChanged(
            programme_id=str(programme["programme_id"]),
            enrolment_id=enrolment_id,
            territory=programme["territory"],
            status=status.value,
            at=to_timestamp(now),
            sequence=version,
        )
        await emit(
            conn, EventType.ENROLMENT_CHANGED, str(programme["programme_id"]), seq, changed, enrolment_id
        )
