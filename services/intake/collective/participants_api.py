"""CollectiveService handlers for the participants: enrol (or the waiting list),
withdraw (the first waiting takes the place), goals and their notes, outcomes. Each
change runs with the programme row locked (no two enrolments take the last place),
writes its rows, its programme_changes row, its events and the participant's dossier
timeline entries in one transaction with intake's outbox."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

import asyncpg
from entraide.v1 import collective_pb2, events_pb2

from domain.collective import EnrolmentStatus, GoalStatus, ProgrammeStatus
from domain.events import EventType
from domain.labels_fr import ENROLMENT_STATUS_LABELS, GOAL_STATUS_LABELS
from kernel import auth, idempotency
from kernel.db import Connection
from kernel.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from kernel.grpc_server import Context
from kernel.timestamps import to_timestamp
from services.intake import persons
from services.intake.collective import store, validation
from services.intake.collective.base import emit
from services.intake.collective.convert import enrolment_message, goal_message, positions
from services.intake.collective.programmes_api import ProgrammeHandlers, request_key
from services.intake.collective.rules import (
    ENDED,
    INITIAL_GOAL_STATUSES,
    ChangeKind,
    EntryKind,
    goal_change_allowed,
    goal_entry_key,
    goal_summary,
    placement,
)
from services.intake.planning.validation import derived_id, utc_now
from services.intake.schema import SCHEMA


class ParticipantHandlers(ProgrammeHandlers):
    # ---- enrolment ---------------------------------------------------------------------
    async def _person_and_dossier(self, conn: Connection, person_id: str, dossier_id: str) -> asyncpg.Record:
        """The dossier (of this person, both of the caller's communes)."""
        claims = auth.current()
        territory = await persons.person_territory(conn, person_id)
        if territory is not None and not claims.covers(territory):
            raise PermissionDenied(
                "this person belongs to a territory you are not assigned to",
                fr="Cette personne relève d'une commune qui ne fait pas partie de vos communes"
                " d'intervention.",
                reason="TERRITORY_NOT_ASSIGNED",
            )
        if territory is None or not await persons.person_exists(conn, person_id):
            raise NotFound(
                "no person with this person_id (or it was merged into another one)",
                fr="Aucune personne ne porte cet identifiant (ou sa fiche a été fusionnée avec une autre) :"
                " vérifiez l'identifiant de la personne.",
                reason="PERSON_NOT_FOUND",
                field="person_id",
            )
        dossier_territory = await conn.fetchval(f"SELECT {SCHEMA}.dossier_territory($1::uuid)", dossier_id)
        if dossier_territory is not None and not claims.covers(dossier_territory):
            raise PermissionDenied(
                "this dossier belongs to a territory you are not assigned to",
                fr="Ce dossier relève d'une commune qui ne fait pas partie de vos communes d'intervention.",
                reason="TERRITORY_NOT_ASSIGNED",
            )
        dossier = await store.dossier(conn, dossier_id)
        if dossier is None:
            raise NotFound(
                "no dossier with this id",
                fr="Aucun dossier ne porte cet identifiant : vérifiez l'identifiant du dossier.",
                reason="DOSSIER_NOT_FOUND",
                field="dossier_id",
            )
        if str(dossier["person_id"] or "") != person_id:
            raise FailedPrecondition(
                "the dossier is not this person's",
                fr="Ce dossier n'est pas celui de cette personne : inscrivez la personne avec son"
                " propre dossier.",
                reason="DOSSIER_OF_ANOTHER_PERSON",
                field="dossier_id",
            )
        return dossier

    async def _enrolment_reply(self, conn: Connection, enrolment_id: str) -> collective_pb2.Enrolment:
        row = await self.enrolment_row(conn, enrolment_id)
        order = positions(await store.enrolments(conn, str(row["programme_id"])))
        return enrolment_message(row, order.get(row["arrival"], 0))

    async def Enrol(self, request: collective_pb2.EnrolRequest, context: Context) -> collective_pb2.Enrolment:
        wanted = validation.enrolling(request)
        if not request.consent:
            raise FailedPrecondition(
                "the person's consent to take part is required",
                fr="La personne doit avoir donné son accord pour participer : recueillez son consentement"
                " avant de l'inscrire.",
                reason="CONSENT_MISSING",
                field="consent",
            )
        claims = auth.current()
        now = utc_now()
        async with self.pool.acquire() as conn:
            await self._person_and_dossier(conn, wanted.person_id, wanted.dossier_id)
            async with conn.transaction():
                programme = await self.programme_row(conn, wanted.programme_id, for_update=True)
                territory = programme["territory"]
                enrolment_id = derived_id(validation.ENROLMENT_ID_NAMESPACE, territory, request.request_id)
                if await store.enrolment(conn, enrolment_id) is None:
                    self.refuse_closed(programme)
                    already = await store.on_list(conn, wanted.programme_id, wanted.person_id)
                    if already is not None:
                        label = ENROLMENT_STATUS_LABELS[already["status"]]
                        raise FailedPrecondition(
                            "the person is already on this programme's list",
                            fr=f"Cette personne est déjà sur la liste du programme (« {label} »).",
                            reason="ALREADY_ENROLLED",
                            field="person_id",
                        )
                    status = placement(
                        programme["capacity"], await store.count_enrolled(conn, wanted.programme_id)
                    )
                    await store.insert(
                        conn,
                        "enrolments",
                        {
                            "enrolment_id": enrolment_id,
                            "programme_id": wanted.programme_id,
                            "territory": territory,
                            "person_id": wanted.person_id,
                            "dossier_id": wanted.dossier_id,
                            "consent_at": now,
                            "status": status.value,
                            "arrival": await store.next_arrival(conn, wanted.programme_id),
                            "enrolled_by": claims.subject,
                            "enrolled_at": now,
                            "updated_at": now,
                            "request_key": request_key(territory, request.request_id, enrolment_id),
                        },
                        "enrolment_id",
                    )
                    seq = await store.insert_change(
                        conn, wanted.programme_id, territory, ChangeKind.ENROLLED, claims.subject, now, None
                    )
                    enrolled = events_pb2.ParticipantEnrolled(
                        programme_id=wanted.programme_id,
                        enrolment_id=enrolment_id,
                        territory=territory,
                        person_id=wanted.person_id,
                        waiting=status is EnrolmentStatus.WAITING,
                        at=to_timestamp(now),
                    )
                    await emit(conn, EventType.PARTICIPANT_ENROLLED, wanted.programme_id, seq, enrolled)
            return await self._enrolment_reply(conn, enrolment_id)

    async def Withdraw(
        self, request: collective_pb2.WithdrawRequest, context: Context
    ) -> collective_pb2.Enrolment:
        enrolment_id = validation.id_of(
            "enrolment_id", request.enrolment_id, "l'identifiant de l'inscription"
        )
        key = idempotency.key_of(request, "Withdraw") or None
        claims = auth.current()
        now = utc_now()
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                programme, enrolment = await self.locked_enrolment(conn, enrolment_id)
                status = EnrolmentStatus(enrolment["status"])
                if status is not EnrolmentStatus.WITHDRAWN and not await store.change_done(conn, key):
                    if status is EnrolmentStatus.COMPLETED:
                        raise FailedPrecondition(
                            "the participant completed the programme",
                            fr="Cette personne a terminé le programme : son inscription ne change plus.",
                            reason="ENROLMENT_ENDED",
                            field="enrolment_id",
                        )
                    programme_id = str(programme["programme_id"])
                    seq = await store.insert_change(
                        conn,
                        programme_id,
                        programme["territory"],
                        ChangeKind.WITHDRAWN,
                        claims.subject,
                        now,
                        key,
                    )
                    await self.change_enrolment(
                        conn, programme, enrolment, EnrolmentStatus.WITHDRAWN, seq, now
                    )
                    if status is EnrolmentStatus.ENROLLED and programme["status"] == ProgrammeStatus.OPEN:
                        # The place freed goes to the first on the waiting list.
                        first = await store.first_waiting(conn, programme_id)
                        if first is not None:
                            await self.change_enrolment(
                                conn, programme, first, EnrolmentStatus.ENROLLED, seq, now
                            )
            return await self._enrolment_reply(conn, enrolment_id)

    # ---- goals -------------------------------------------------------------------------
    async def _goals_reply(
        self, conn: Connection, rows: Sequence[asyncpg.Record]
    ) -> list[collective_pb2.Goal]:
        by_goal: dict[str, list[asyncpg.Record]] = defaultdict(list)
        for note in await store.notes(conn, [r["goal_id"] for r in rows]):
            by_goal[str(note["goal_id"])].append(note)
        return [goal_message(r, by_goal) for r in rows]

    async def _goal_row(self, conn: Connection, goal_id: str) -> asyncpg.Record:
        row = await store.goal(conn, goal_id)
        if row is None:
            raise NotFound(
                "no goal with this id",
                fr="Aucun projet ne porte cet identifiant : vérifiez-le (liste : ListGoals).",
                reason="GOAL_NOT_FOUND",
                field="goal_id",
            )
        return row

    async def _goal_timeline(
        self,
        conn: Connection,
        programme: asyncpg.Record,
        enrolment: asyncpg.Record,
        goal: asyncpg.Record,
        now: datetime,
        key: str | None,
    ) -> None:
        """The goal's state in the participant's dossier timeline, and its GoalChanged."""
        await store.put_timeline_entry(
            conn,
            str(enrolment["dossier_id"]),
            goal_entry_key(str(goal["goal_id"]), goal["version"]),
            str(programme["programme_id"]),
            EntryKind.GOAL,
            auth.current().subject,
            now,
            goal_summary(goal["title"], GoalStatus(goal["status"])),
        )
        changed = events_pb2.GoalChanged(
            programme_id=str(programme["programme_id"]),
            enrolment_id=str(enrolment["enrolment_id"]),
            goal_id=str(goal["goal_id"]),
            territory=programme["territory"],
            status=goal["status"],
            at=to_timestamp(now),
            sequence=goal["version"],
        )
        seq = await store.insert_change(
            conn,
            str(programme["programme_id"]),
            programme["territory"],
            ChangeKind.GOAL_SET,
            auth.current().subject,
            now,
            key,
        )
        await emit(conn, EventType.GOAL_CHANGED, str(programme["programme_id"]), seq, changed)

    async def SetGoal(self, request: collective_pb2.SetGoalRequest, context: Context) -> collective_pb2.Goal:
        wanted = validation.goal_setting(request)
        now = utc_now()
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                goal_id = (
                    await self._new_goal(conn, request, wanted, now)
                    if not wanted.goal_id
                    else await self._change_goal(conn, request, wanted, now)
                )
            row = await self._goal_row(conn, goal_id)
            return (await self._goals_reply(conn, [row]))[0]

    async def _new_goal(
        self,
        conn: Connection,
        request: collective_pb2.SetGoalRequest,
        wanted: validation.GoalSetting,
        now: datetime,
    ) -> str:
        programme, enrolment = await self.locked_enrolment(conn, wanted.enrolment_id)
        goal_id = derived_id(validation.GOAL_ID_NAMESPACE, programme["territory"], request.request_id)
        if await store.goal(conn, goal_id) is not None:
            return goal_id
        status = wanted.status or GoalStatus.PROPOSED
        if status not in INITIAL_GOAL_STATUSES:
            raise InvalidArgument(
                "a goal is set as proposed or under_way",
                fr="Un projet se fixe « proposé » ou « en cours » : son issue s'enregistre ensuite.",
                reason="INVALID_INITIAL_STATUS",
                field="status",
            )
        self.refuse_closed(programme)
        self.require_enrolled(enrolment, "un projet se fixe avec un participant inscrit")
        await store.insert(
            conn,
            "goals",
            {
                "goal_id": goal_id,
                "enrolment_id": wanted.enrolment_id,
                "programme_id": str(programme["programme_id"]),
                "territory": programme["territory"],
                "title": wanted.title,
                "status": status.value,
                "created_by": auth.current().subject,
                "created_at": now,
                "updated_at": now,
                "request_key": request_key(programme["territory"], request.request_id, goal_id),
            },
            "goal_id",
        )
        goal = await store.goal(conn, goal_id)
        assert goal is not None
        await self._goal_timeline(conn, programme, enrolment, goal, now, None)
        return goal_id

    async def _change_goal(
        self,
        conn: Connection,
        request: collective_pb2.SetGoalRequest,
        wanted: validation.GoalSetting,
        now: datetime,
    ) -> str:
        found = await self._goal_row(conn, wanted.goal_id)
        if wanted.enrolment_id and wanted.enrolment_id != str(found["enrolment_id"]):
            raise InvalidArgument(
                "enrolment_id is not the goal's",
                fr="Ce projet n'est pas celui de cette inscription : laissez l'inscription vide.",
                reason="ENROLMENT_MISMATCH",
                field="enrolment_id",
            )
        key = idempotency.key_of(request, "SetGoal") or None
        programme, enrolment = await self.locked_enrolment(conn, str(found["enrolment_id"]))
        goal = await store.goal(conn, wanted.goal_id, for_update=True)
        assert goal is not None
        if await store.change_done(conn, key):
            return wanted.goal_id
        current = GoalStatus(goal["status"])
        status = wanted.status or current
        title = wanted.title or goal["title"]
        if status is current and title == goal["title"]:
            return wanted.goal_id
        self.refuse_closed(programme)
        self.require_enrolled(enrolment, "ses projets ne changent plus")
        if not goal_change_allowed(current, status):
            raise FailedPrecondition(
                f"goal status {status.value} cannot follow {current.value}",
                fr=f"Le projet est « {GOAL_STATUS_LABELS[current]} » : il ne peut pas passer à"
                f" « {GOAL_STATUS_LABELS[status]} » (un projet atteint ou abandonné se rouvre « en cours »).",
                reason="GOAL_TRANSITION_NOT_ALLOWED",
                field="status",
            )
        await store.update(
            conn,
            "goals",
            "goal_id",
            wanted.goal_id,
            {"title": title, "status": status.value, "version": goal["version"] + 1, "updated_at": now},
        )
        changed = await store.goal(conn, wanted.goal_id)
        assert changed is not None
        if status is not current:
            await self._goal_timeline(conn, programme, enrolment, changed, now, key)
        else:
            # A new title only: nothing for other services (events carry codes only).
            await store.insert_change(
                conn,
                str(programme["programme_id"]),
                programme["territory"],
                ChangeKind.GOAL_SET,
                auth.current().subject,
                now,
                key,
            )
        return wanted.goal_id

    async def AddGoalNote(
        self, request: collective_pb2.AddGoalNoteRequest, context: Context
    ) -> collective_pb2.Goal:
        wanted = validation.goal_note(request)
        key = idempotency.key_of(request, "AddGoalNote") or None
        claims = auth.current()
        now = utc_now()
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                found = await self._goal_row(conn, wanted.goal_id)
                programme, enrolment = await self.locked_enrolment(conn, str(found["enrolment_id"]))
                if not await store.change_done(conn, key):
                    self.refuse_closed(programme)
                    self.require_enrolled(enrolment, "ses projets ne changent plus")
                    await store.insert_note(
                        conn,
                        wanted.goal_id,
                        programme["territory"],
                        wanted.day,
                        wanted.text,
                        claims.subject,
                        now,
                    )
                    await store.insert_change(
                        conn,
                        str(programme["programme_id"]),
                        programme["territory"],
                        ChangeKind.GOAL_NOTE,
                        claims.subject,
                        now,
                        key,
                    )
            row = await self._goal_row(conn, wanted.goal_id)
            return (await self._goals_reply(conn, [row]))[0]

    async def ListGoals(
        self, request: collective_pb2.ListGoalsRequest, context: Context
    ) -> collective_pb2.ListGoalsResponse:
        if bool(request.enrolment_id) == bool(request.programme_id):
            raise InvalidArgument(
                "give either enrolment_id or programme_id",
                fr="Indiquez une inscription ou un programme (l'un des deux).",
                reason="CONFLICTING_FIELDS",
                field="enrolment_id",
            )
        async with self.pool.acquire() as conn:
            if request.enrolment_id:
                enrolment_id = validation.id_of(
                    "enrolment_id", request.enrolment_id, "l'identifiant de l'inscription"
                )
                enrolment = await self.enrolment_row(conn, enrolment_id)
                await self.programme_row(conn, str(enrolment["programme_id"]))
                rows = await store.goals(conn, enrolment_id=enrolment_id)
            else:
                programme_id = validation.id_of(
                    "programme_id", request.programme_id, "l'identifiant du programme"
                )
                await self.programme_row(conn, programme_id)
                rows = await store.goals(conn, programme_id=programme_id)
            return collective_pb2.ListGoalsResponse(goals=await self._goals_reply(conn, rows))

    # ---- outcome -----------------------------------------------------------------------
    async def RecordOutcome(
        self, request: collective_pb2.RecordOutcomeRequest, context: Context
    ) -> collective_pb2.Enrolment:
        enrolment_id = validation.id_of(
            "enrolment_id", request.enrolment_id, "l'identifiant de l'inscription"
        )
        outcome = validation.outcome_of(request.outcome)
        key = idempotency.key_of(request, "RecordOutcome") or None
        claims = auth.current()
        now = utc_now()
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                programme, enrolment = await self.locked_enrolment(conn, enrolment_id)
                status = EnrolmentStatus(enrolment["status"])
                if status is EnrolmentStatus.WAITING:
                    raise FailedPrecondition(
                        "a person on the waiting list has no outcome",
                        fr="Cette personne est sur liste d'attente : elle n'a pas participé au programme.",
                        reason="NOT_ENROLLED",
                        field="enrolment_id",
                    )
                assert status is EnrolmentStatus.ENROLLED or status in ENDED
                if enrolment["outcome"] != outcome.value and not await store.change_done(conn, key):
                    version = enrolment["outcome_version"] + 1
                    await store.update(
                        conn,
                        "enrolments",
                        "enrolment_id",
                        enrolment_id,
                        {"outcome": outcome.value, "outcome_version": version, "updated_at": now},
                    )
                    programme_id = str(programme["programme_id"])
                    seq = await store.insert_change(
                        conn,
                        programme_id,
                        programme["territory"],
                        ChangeKind.OUTCOME,
                        claims.subject,
                        now,
                        key,
                    )
                    recorded = events_pb2.ParticipantOutcomeRecorded(
                        programme_id=programme_id,
                        enrolment_id=enrolment_id,
                        territory=programme["territory"],
                        outcome=outcome.value,
                        at=to_timestamp(now),
                        sequence=version,
                    )
                    await emit(conn, EventType.PARTICIPANT_OUTCOME_RECORDED, programme_id, seq, recorded)
            return await self._enrolment_reply(conn, enrolment_id)
