"""IntakeService handlers for the rights of the person (RGPD): ExportPerson (access),
RectifyPerson (rectification), AnonymisePerson (erasure on request).

`RightsHandlers` is a mixin of IntakeServicer, which sets `pool` and `reference`.
Only a responsable may call them (services/intake/access.py); the gRPC layer writes
the access log. The caller must be assigned to the person's territory.

- The export is read through a system connection limited to the caller's territories
  but seeing every note, private ones included: the right of access covers everything
  held about the person.
- Anonymisation erases through a system connection over every territory of the
  deployment: it discloses nothing, and must not leave the person's name or notes in
  a dossier opened in another commune.
"""

from __future__ import annotations

from entraide.v1 import intake_pb2

from kernel import auth
from kernel.db import ScopedPool, system_scope
from kernel.errors import NotFound, PermissionDenied
from kernel.grpc_server import Context
from kernel.reference import ReferenceData
from services.intake import people_validation, persons, rights
from services.intake.people_api import person_message


class RightsHandlers:
    """ExportPerson, RectifyPerson, AnonymisePerson."""

    pool: ScopedPool
    reference: ReferenceData

    async def _authorise_person_rights(self, person_id: str) -> None:
        """NOT_FOUND for an unknown person, PERMISSION_DENIED for another territory's."""
        async with self.pool.acquire() as conn:
            territory = await persons.person_territory(conn, person_id)
        if territory is None:
            raise NotFound(
                "person_id: no person with this id",
                fr="Aucune personne ne porte cet identifiant.",
                reason="PERSON_NOT_FOUND",
                field="person_id",
            )
        if not auth.current().covers(territory):
            raise PermissionDenied(
                "this person belongs to a territory you are not assigned to",
                fr="Cette personne relève d'une commune qui ne fait pas partie de vos communes"
                " d'intervention.",
                reason="TERRITORY_NOT_ASSIGNED",
            )

    async def ExportPerson(
        self, request: intake_pb2.ExportPersonRequest, context: Context
    ) -> intake_pb2.PersonExport:
        person_id = people_validation.parse_id("person_id", request.person_id, "person")
        await self._authorise_person_rights(person_id)
        territories = auth.current().territories
        async with system_scope(self.pool.pool, territories, all_notes=True) as conn:
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                document = await rights.export_person(conn, person_id)
        return intake_pb2.PersonExport(person_id=person_id, json=document)

    async def RectifyPerson(
        self, request: intake_pb2.RectifyPersonRequest, context: Context
    ) -> intake_pb2.Person:
        rectification = rights.rectification(request, self.reference)
        await self._authorise_person_rights(rectification.person_id)
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                row = await rights.rectify_person(conn, rectification)
            households = await persons.household_ids(conn, rectification.person_id)
        return person_message(row, households)

    async def AnonymisePerson(
        self, request: intake_pb2.AnonymisePersonRequest, context: Context
    ) -> intake_pb2.AnonymisePersonResponse:
        person_id = rights.anonymisation_request(request)
        await self._authorise_person_rights(person_id)
        async with system_scope(self.pool.pool, self.reference.territories, all_notes=True) as conn:
            async with conn.transaction():
                done = await rights.anonymise_person(conn, person_id)
        return intake_pb2.AnonymisePersonResponse(
            person_id=done.person_id, dossiers=done.dossiers, notes=done.notes
        )
