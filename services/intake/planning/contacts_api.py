"""PlanningService handlers for how a person agreed to be contacted about appointments,
and the persons' outbox as a responsable reads it (the sender, services/intake/notices,
writes it)."""

from __future__ import annotations

import asyncpg
from entraide.v1 import planning_pb2

from domain.planning import ContactChannel, MessageStatus
from kernel import auth
from kernel.errors import FailedPrecondition, InvalidArgument, Violation
from kernel.grpc_server import Context
from kernel.timestamps import to_timestamp
from services.intake.planning import store, validation
from services.intake.planning.base import PlanningBase
from services.intake.planning.convert import message_message
from services.intake.planning.validation import utc_now


class ContactHandlers(PlanningBase):
    async def SetContactPreferences(
        self, request: planning_pb2.SetContactPreferencesRequest, context: Context
    ) -> planning_pb2.ContactPreferences:
        person_id = validation.parse_id("person_id", request.person_id, "l'identifiant de la personne")
        # A channel is chosen to be contacted; without consent (or opted out) it may be left empty.
        reachable = request.consent and not request.opted_out
        channel = validation.channel_of(request.channel) if request.channel or reachable else None
        claims = auth.current()
        async with self.pool.acquire() as conn, conn.transaction():
            person = await self.person(conn, person_id)
            if reachable:
                if channel is ContactChannel.SMS and not person["phone"]:
                    raise FailedPrecondition(
                        "the person has no phone number for SMS",
                        fr="La fiche de la personne n'a pas de numéro de téléphone :"
                        " ajoutez-le (rectification) ou choisissez le courriel.",
                        reason="CONTACT_MISSING",
                        field="channel",
                    )
                if channel is ContactChannel.EMAIL and not person["email"]:
                    raise FailedPrecondition(
                        "the person has no e-mail address",
                        fr="La fiche de la personne n'a pas d'adresse électronique :"
                        " ajoutez-la (rectification) ou choisissez le SMS.",
                        reason="CONTACT_MISSING",
                        field="channel",
                    )
            row = await store.set_contact_preferences(
                conn,
                person_id,
                person["territory"],
                request.consent,
                channel.value if channel is not None else "",
                request.opted_out,
                claims.subject,
                utc_now(),
            )
        return _preferences(row)

    async def GetContactPreferences(
        self, request: planning_pb2.GetContactPreferencesRequest, context: Context
    ) -> planning_pb2.ContactPreferences:
        person_id = validation.parse_id("person_id", request.person_id, "l'identifiant de la personne")
        async with self.pool.acquire() as conn:
            await self.person(conn, person_id)
            row = await store.get_contact_preferences(conn, person_id)
        # No row: the person was never asked, and nothing is sent.
        return _preferences(row) if row is not None else planning_pb2.ContactPreferences(person_id=person_id)

    async def ListPersonMessages(
        self, request: planning_pb2.ListPersonMessagesRequest, context: Context
    ) -> planning_pb2.ListPersonMessagesResponse:
        claims = auth.current()
        found: list[Violation] = []
        if request.site:
            validation.site_of("site", request.site, self.reference, claims.territories, found)
        appointment_id = ""
        if request.appointment_id:
            appointment_id = validation.parse_uuid(
                "appointment_id", request.appointment_id, "l'identifiant du rendez-vous", found
            )
        validation.fail(found)
        if request.status and request.status not in set(MessageStatus):
            raise InvalidArgument(
                f"status is one of {', '.join(MessageStatus)}",
                fr=f"L'état « {request.status[:40]} » est inconnu : {', '.join(MessageStatus)}.",
                reason="UNKNOWN_STATUS",
                field="status",
            )
        limit = validation.message_limit(request.limit)
        async with self.pool.acquire() as conn:
            rows = await store.person_messages(
                conn, sorted(claims.territories), request.site, appointment_id or None, request.status, limit
            )
        return planning_pb2.ListPersonMessagesResponse(messages=[message_message(r) for r in rows])


def _preferences(row: asyncpg.Record) -> planning_pb2.ContactPreferences:
    return planning_pb2.ContactPreferences(
        person_id=str(row["person_id"]),
        consent=row["consent"],
        channel=row["channel"],
        opted_out=row["opted_out"],
        updated_at=to_timestamp(row["updated_at"]),
        updated_by=row["updated_by"],
    )
