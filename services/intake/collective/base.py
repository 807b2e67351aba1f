"""What every collective handler shares: its dependencies, the lookups that answer
NOT_FOUND / PERMISSION_DENIED / FAILED_PRECONDITION in French, and the events written
with the change, in its transaction, to intake's outbox."""

from __future__ import annotations

import asyncpg
from google.protobuf.message import Message

from domain.collective import EnrolmentStatus, ProgrammeStatus
from domain.events import EventType
from domain.labels_fr import ENROLMENT_STATUS_LABELS
from kernel import auth, outbox
from kernel.db import Connection, ScopedPool
from kernel.errors import FailedPrecondition, NotFound, PermissionDenied
from kernel.events import new_event, step_event_id
from kernel.reference import ReferenceData
from services.intake.collective import store
from services.intake.schema import SCHEMA

SOURCE = "entraide/intake"


def programme_key(programme_id: str) -> str:
    """The name event ids derive from (with the change's number)."""
    return f"programme-{programme_id}"


async def emit(
    conn: Connection, event_type: EventType, programme_id: str, seq: int, payload: Message, part: str = ""
) -> None:
    """The event of change `seq` of the programme (its id derives from them: a retried
    change writes nothing twice). `part` tells apart two events of one type in a change."""
    event = new_event(
        event_type,
        SOURCE,
        programme_id,
        payload,
        event_id=step_event_id(programme_key(programme_id), f"{seq}/{event_type}/{part}"),
    )
    await outbox.write(conn, SCHEMA, event)


def not_enrolled(status: str, what_fr: str) -> FailedPrecondition:
    label = ENROLMENT_STATUS_LABELS.get(status, status)
    return FailedPrecondition(
        f"the person is not enrolled (status {status})",
        fr=f"Cette personne n'est pas inscrite au programme (elle est « {label} ») : {what_fr}.",
        reason="NOT_ENROLLED",
        field="enrolment_id",
    )


class CollectiveBase:
    pool: ScopedPool
    reference: ReferenceData

    async def programme_row(
        self, conn: Connection, programme_id: str, for_update: bool = False, field: str = "programme_id"
    ) -> asyncpg.Record:
        territory = await store.programme_territory(conn, programme_id)
        if territory is None:
            raise NotFound(
                "no programme with this id",
                fr="Aucun programme ne porte cet identifiant : vérifiez-le (liste : ListProgrammes).",
                reason="PROGRAMME_NOT_FOUND",
                field=field,
            )
        if not auth.current().covers(territory):
            raise PermissionDenied(
                "this programme belongs to a commune you are not assigned to",
                fr="Ce programme relève d'une commune qui ne fait pas partie de vos communes d'intervention.",
                reason="TERRITORY_NOT_ASSIGNED",
            )
        row = await store.programme(conn, programme_id, for_update=for_update)
        assert row is not None  # the caller covers its commune: row-level security shows it
        return row

    @staticmethod
    def refuse_closed(programme: asyncpg.Record) -> None:
        if programme["status"] == ProgrammeStatus.CLOSED:
            raise FailedPrecondition(
                "the programme is closed",
                fr=f"Le programme « {programme['name']} » est clôturé : il ne change plus.",
                reason="PROGRAMME_CLOSED",
            )

    async def enrolment_row(self, conn: Connection, enrolment_id: str) -> asyncpg.Record:
        """The enrolment, through its programme's commune (NOT_FOUND when the caller
        sees neither)."""
        row = await store.enrolment(conn, enrolment_id)
        if row is None:
            raise NotFound(
                "no enrolment with this id",
                fr="Aucune inscription ne porte cet identifiant : vérifiez-le (liste : GetProgramme).",
                reason="ENROLMENT_NOT_FOUND",
                field="enrolment_id",
            )
        return row

    async def locked_enrolment(
        self, conn: Connection, enrolment_id: str
    ) -> tuple[asyncpg.Record, asyncpg.Record]:
        """(programme locked, enrolment) for a change of the enrolment."""
        programme_id = await store.enrolment_programme(conn, enrolment_id)
        if programme_id is None:
            await self.enrolment_row(conn, enrolment_id)
        assert programme_id is not None
        programme = await self.programme_row(conn, programme_id, for_update=True)
        return programme, await self.enrolment_row(conn, enrolment_id)

    @staticmethod
    def require_enrolled(enrolment: asyncpg.Record, what_fr: str) -> None:
        if enrolment["status"] != EnrolmentStatus.ENROLLED:
            raise not_enrolled(enrolment["status"], what_fr)
