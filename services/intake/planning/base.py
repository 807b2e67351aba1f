"""What every planning handler shares: its dependencies, the caller's checks on
permanences, appointments and persons, and the refusals they answer."""

from __future__ import annotations

import asyncpg
from temporalio.client import Client

from domain.permanences import Clash
from kernel import auth
from kernel.auth import Role
from kernel.db import Connection, ScopedPool
from kernel.errors import FailedPrecondition, NotFound, PermissionDenied
from kernel.reference import ReferenceData, Site
from services.intake import persons
from services.intake.planning import store
from services.intake.planning.convert import day_fr, hours_fr, rule_fr
from workflows.contracts import AppointmentTimers


class PlanningBase:
    pool: ScopedPool
    temporal: Client
    reference: ReferenceData
    timers: AppointmentTimers

    @staticmethod
    def own_host() -> str:
        """A partner reads its own permanences only (its partner id is their host id)."""
        claims = auth.current()
        return (claims.partner_id or " ") if claims.role is Role.PARTENAIRE else ""

    async def permanence(
        self, conn: Connection, permanence_id: str, field: str = "permanence_id"
    ) -> tuple[asyncpg.Record, list[asyncpg.Record]]:
        """NOT_FOUND for no such permanence, PERMISSION_DENIED for another commune's."""
        territory = await store.permanence_territory(conn, permanence_id)
        if territory is None:
            raise NotFound(
                "no permanence with this id",
                fr="Aucune permanence ne porte cet identifiant : vérifiez-le (liste : ListPermanences).",
                reason="PERMANENCE_NOT_FOUND",
                field=field,
            )
        if not auth.current().covers(territory):
            raise PermissionDenied(
                "this permanence belongs to a commune you are not assigned to",
                fr="Cette permanence relève d'une commune qui ne fait pas partie de vos communes"
                " d'intervention.",
                reason="TERRITORY_NOT_ASSIGNED",
            )
        found = await store.get_permanence(conn, permanence_id)
        assert found is not None  # the caller covers its commune: row-level security shows it
        host = self.own_host()
        if host and found[0]["host_id"] != host:
            raise PermissionDenied(
                "a partner reads its own permanences only",
                fr="Cette permanence n'est pas celle de votre structure.",
                reason="NOT_YOUR_PERMANENCE",
            )
        return found

    async def appointment_row(
        self, conn: Connection, appointment_id: str, for_update: bool = False
    ) -> asyncpg.Record:
        territory = await store.appointment_territory(conn, appointment_id)
        if territory is None:
            raise NotFound(
                "no appointment with this id",
                fr="Aucun rendez-vous ne porte cet identifiant : vérifiez-le.",
                reason="APPOINTMENT_NOT_FOUND",
                field="appointment_id",
            )
        if not auth.current().covers(territory):
            raise PermissionDenied(
                "this appointment belongs to a commune you are not assigned to",
                fr="Ce rendez-vous relève d'une commune qui ne fait pas partie de vos communes"
                " d'intervention.",
                reason="TERRITORY_NOT_ASSIGNED",
            )
        row = await store.get_appointment(conn, appointment_id, for_update=for_update)
        assert row is not None
        return row

    async def person(self, conn: Connection, person_id: str) -> asyncpg.Record:
        """The person (not merged into another), of one of the caller's communes."""
        territory = await persons.person_territory(conn, person_id)
        if territory is not None and not auth.current().covers(territory):
            raise PermissionDenied(
                "this person belongs to a territory you are not assigned to",
                fr="Cette personne relève d'une commune qui ne fait pas partie de vos communes"
                " d'intervention.",
                reason="TERRITORY_NOT_ASSIGNED",
            )
        row = await store.person_contact(conn, person_id) if territory is not None else None
        if row is None or row["merged_into"] is not None:
            raise NotFound(
                "no person with this person_id (or it was merged into another one)",
                fr="Aucune personne ne porte cet identifiant (ou sa fiche a été fusionnée avec une autre) :"
                " vérifiez l'identifiant de la personne.",
                reason="PERSON_NOT_FOUND",
                field="person_id",
            )
        return row

    async def reload(self, conn: Connection, appointment_id: str) -> asyncpg.Record:
        row = await store.get_appointment(conn, appointment_id)
        assert row is not None
        return row

    def site(self, code: str) -> Site:
        site = self.reference.sites.get(code)
        assert site is not None, "rows name sites of the reference data"
        return site


def room_taken(clash: Clash, other: asyncpg.Record, site: Site, room: str) -> FailedPrecondition:
    """The refusal naming the permanence already in the room, its day and hours, and
    the first day the two would meet."""
    room_label = room_of_site(site, room)
    theirs = clash.theirs
    if theirs.extra:
        when = f"séance supplémentaire {hours_fr(theirs.starts_at.time(), theirs.ends_at.time())}"
    else:
        when = rule_fr(other)
    return FailedPrecondition(
        f"room {room} of site {site.code} is taken by permanence {other['permanence_id']}"
        f" on {clash.day.isoformat()}"
        f" ({theirs.starts_at.strftime('%H:%M')}-{theirs.ends_at.strftime('%H:%M')})",
        fr=f"La salle « {room_label} » ({site.label}) est déjà occupée par la permanence"
        f" « {other['host_label']} » ({when}) : premier jour en conflit le {day_fr(clash.day)}."
        " Choisissez une autre salle, d'autres horaires ou d'autres jours.",
        reason="ROOM_TAKEN",
    )


def room_of_site(site: Site, code: str) -> str:
    room = site.room(code)
    return room.label if room is not None else code
