"""IntakeService handlers for persons, households and consents.

Not part of the dossier workflow: each call validates, then writes intake's tables and
its outbox event in one transaction. `PeopleHandlers` is a mixin of IntakeServicer,
which sets `pool` and `reference`.
"""

from __future__ import annotations

import asyncpg
from entraide.v1 import intake_pb2

from kernel import auth
from kernel.db import ScopedPool
from kernel.errors import NotFound, PermissionDenied
from kernel.grpc_server import Context
from kernel.reference import ReferenceData
from kernel.timestamps import to_timestamp
from services.intake import people_validation, person_search, persons


def person_message(row: asyncpg.Record, household_ids: list[str] | None = None) -> intake_pb2.Person:
    return intake_pb2.Person(
        person_id=str(row["person_id"]),
        territory=row["territory"],
        first_name=row["first_name"],
        last_name=row["last_name"],
        birth_date=row["birth_date"].isoformat() if row["birth_date"] else "",
        phone=row["phone"] or "",
        email=row["email"] or "",
        address_commune=row["address_commune"] or "",
        address_line=row["address_line"] or "",
        merged_into=str(row["merged_into"]) if row["merged_into"] else "",
        household_ids=household_ids or [],
    )


def consent_message(row: asyncpg.Record) -> intake_pb2.Consent:
    recorded_at = to_timestamp(row["recorded_at"])
    message = intake_pb2.Consent(
        consent_id=str(row["consent_id"]),
        person_id=str(row["person_id"]),
        dossier_id=str(row["dossier_id"]) if row["dossier_id"] else "",
        partner_id=row["partner_id"],
        data_scope=list(row["data_scope"]),
        kind=row["kind"],
        channel=row["channel"] or "",
        legal_basis=row["legal_basis"] or "",
        agent=row["agent"],
        recorded_at=recorded_at,
    )
    if row["revoked_at"] is not None:
        message.revoked_at.FromDatetime(row["revoked_at"])
        message.revoked_by = row["revoked_by"] or ""
        message.revocation_channel = row["revocation_channel"] or ""
    return message


class PeopleHandlers:
    """CreatePerson, GetPerson, SearchPersons, CheckPossibleDuplicates, MergePersons,
    CreateHousehold, RecordConsent, ListConsents."""

    pool: ScopedPool
    reference: ReferenceData

    async def _authorise_persons(self, person_ids: list[str]) -> None:
        """PERMISSION_DENIED for another territory's person (an unknown one is left to
        the domain code, which names the field in its NOT_FOUND)."""
        claims = auth.current()
        async with self.pool.acquire() as conn:
            for person_id in person_ids:
                territory = await persons.person_territory(conn, person_id)
                if territory is not None and not claims.covers(territory):
                    raise PermissionDenied(
                        "this person belongs to a territory you are not assigned to",
                        fr="Cette personne relève d'une commune qui ne fait pas partie de vos communes"
                        " d'intervention.",
                        reason="TERRITORY_NOT_ASSIGNED",
                    )

    async def CreatePerson(
        self, request: intake_pb2.CreatePersonRequest, context: Context
    ) -> intake_pb2.CreatePersonResponse:
        new = people_validation.new_person(request, self.reference)
        auth.current().require_territory(new.territory)
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                row, created = await persons.create_person(conn, new)
            duplicates = await persons.possible_duplicates(conn, row)
            households = await persons.household_ids(conn, str(row["person_id"]))
        return intake_pb2.CreatePersonResponse(
            person=person_message(row, households),
            possible_duplicates=[person_message(d) for d in duplicates],
            created=created,
        )

    async def GetPerson(self, request: intake_pb2.GetPersonRequest, context: Context) -> intake_pb2.Person:
        person_id = people_validation.parse_id("person_id", request.person_id, "person")
        await self._authorise_persons([person_id])
        async with self.pool.acquire() as conn:
            row = await persons.get_person(conn, person_id)
            if row is None:
                raise NotFound(
                    "person_id: no person with this id",
                    fr="Aucune personne ne porte cet identifiant.",
                    reason="PERSON_NOT_FOUND",
                    field="person_id",
                )
            households = await persons.household_ids(conn, person_id)
        return person_message(row, households)

    async def SearchPersons(
        self, request: intake_pb2.SearchPersonsRequest, context: Context
    ) -> intake_pb2.SearchPersonsResponse:
        search = person_search.person_search(request)
        territories = sorted(auth.current().territories)
        async with self.pool.acquire() as conn:
            rows = await persons.search_persons(
                conn,
                territories,
                search.words,
                search.birth_date,
                search.phone,
                search.include_merged,
                search.page_size + 1,
            )
        return intake_pb2.SearchPersonsResponse(
            persons=[person_message(r) for r in rows[: search.page_size]],
            truncated=len(rows) > search.page_size,
        )

    async def CheckPossibleDuplicates(
        self, request: intake_pb2.CheckPossibleDuplicatesRequest, context: Context
    ) -> intake_pb2.CheckPossibleDuplicatesResponse:
        probe = person_search.duplicate_probe(request, self.reference)
        auth.current().require_territory(probe.territory)
        async with self.pool.acquire() as conn:
            found = await persons.duplicates_of(conn, probe.name_key, probe.birth_date, probe.phone)
            elsewhere = await persons.duplicates_elsewhere(
                conn, probe.name_key, probe.birth_date, probe.phone
            )
        return intake_pb2.CheckPossibleDuplicatesResponse(
            duplicates=[person_message(r) for r in found], elsewhere_count=elsewhere
        )

    async def MergePersons(
        self, request: intake_pb2.MergePersonsRequest, context: Context
    ) -> intake_pb2.Person:
        request.agent = auth.acting_subject(request.agent)
        merge = people_validation.merge(request)
        await self._authorise_persons([merge.keep_id, merge.duplicate_id])
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                kept = await persons.merge_persons(conn, merge)
            households = await persons.household_ids(conn, merge.keep_id)
        return person_message(kept, households)

    async def CreateHousehold(
        self, request: intake_pb2.CreateHouseholdRequest, context: Context
    ) -> intake_pb2.Household:
        new = people_validation.new_household(request, self.reference)
        auth.current().require_territory(new.territory)
        await self._authorise_persons(new.member_ids)
        async with self.pool.acquire() as conn, conn.transaction():
            household_id = await persons.create_household(conn, new)
        return intake_pb2.Household(
            household_id=household_id, territory=new.territory, member_ids=new.member_ids
        )

    async def RecordConsent(
        self, request: intake_pb2.RecordConsentRequest, context: Context
    ) -> intake_pb2.Consent:
        request.agent = auth.acting_subject(request.agent)
        new = people_validation.new_consent(request, self.reference)
        await self._authorise_persons([new.person_id])
        async with self.pool.acquire() as conn, conn.transaction():
            row = await persons.record_consent(conn, new)
        return consent_message(row)

    async def RevokeConsent(
        self, request: intake_pb2.RevokeConsentRequest, context: Context
    ) -> intake_pb2.Consent:
        request.agent = auth.acting_subject(request.agent)
        revocation = people_validation.revocation(request)
        async with self.pool.acquire() as conn, conn.transaction():
            # Row-level security: a consent of another territory is not found.
            row = await persons.revoke_consent(conn, revocation)
        return consent_message(row)

    async def ListConsents(
        self, request: intake_pb2.ListConsentsRequest, context: Context
    ) -> intake_pb2.ListConsentsResponse:
        person_id = people_validation.parse_id("person_id", request.person_id, "person")
        await self._authorise_persons([person_id])
        async with self.pool.acquire() as conn:
            rows = await persons.list_consents(conn, person_id)
        return intake_pb2.ListConsentsResponse(consents=[consent_message(r) for r in rows])
