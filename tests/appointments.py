"""Rows of persons, contact preferences and appointments written directly (as the
planning service writes them), for the tests of the messages to people."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from kernel.db import Pool

TERRITORY = "55029"
SITE, ROOM = "ccas-bar-le-duc", "bureau-1"
# What an appointment is about and with whom: never in a message.
MOTIF = "violences"
HOST_LABEL = "France Victimes 55"
HOST_CATEGORY = "aide_aux_victimes"


async def insert_person(
    pool: Pool,
    *,
    email: str = "",
    phone: str = "",
    consent: bool | None = True,
    channel: str = "email",
    opted_out: bool = False,
    territory: str = TERRITORY,
) -> str:
    """A person and, unless `consent` is None (never asked), their contact preferences."""
    person_id = str(uuid.uuid4())
    now = datetime.now(UTC)
    async with pool.acquire() as conn:
        await conn.execute(
            """INSERT INTO intake.persons (person_id, territory, request_id, first_name, last_name, name_key,
                                           phone, email, created_at, updated_at)
               VALUES ($1, $2, $3, 'Camille', 'Essai', 'essai|camille', $4, $5, $6, $6)""",
            person_id,
            territory,
            uuid.uuid4().hex,
            phone or None,
            email or None,
            now,
        )
        if consent is not None:
            await conn.execute(
                """INSERT INTO intake.contact_preferences
                       (person_id, territory, consent, channel, opted_out, updated_by, updated_at)
                   VALUES ($1, $2, $3, $4, $5, 'agent-martin', $6)""",
                person_id,
                territory,
                consent,
                channel,
                opted_out,
                now,
            )
    return person_id


async def insert_appointment(
    pool: Pool,
    person_id: str,
    starts_at: datetime,
    *,
    minutes: int = 30,
    territory: str = TERRITORY,
    site: str = SITE,
    room: str = ROOM,
    dossier_id: str | None = None,
) -> str:
    appointment_id = str(uuid.uuid4())
    now = datetime.now(UTC)
    async with pool.acquire() as conn:
        await conn.execute(
            """INSERT INTO intake.appointments
                   (appointment_id, territory, site, room, host_kind, host_id, host_label, host_category,
                    person_id, dossier_id, motif, starts_at, ends_at, status, version, booked_by, booked_at,
                    updated_at)
               VALUES ($1, $2, $3, $4, 'partenaire', 'france-victimes-55', $5, $6, $7, $8, $9, $10, $11,
                       'booked', 1, 'agent-martin', $12, $12)""",
            appointment_id,
            territory,
            site,
            room,
            HOST_LABEL,
            HOST_CATEGORY,
            person_id,
            dossier_id,
            MOTIF,
            starts_at,
            starts_at + timedelta(minutes=minutes),
            now,
        )
    return appointment_id
