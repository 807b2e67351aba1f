"""Persons, households and consents: intake's tables and the domain rules on them.

Functions that change state take a connection inside the caller's transaction and
write their outbox event in it. Events carry ids and codes only, never personal data.

Duplicates: same last and first name (case, accents and punctuation ignored) with the
same birth date, or the same phone number (the rule is written once, as the database
function `possible_duplicate`); those of the caller's communes are listed, those
elsewhere only counted.
A merged person stays readable (with `merged_into`) but takes no new household,
consent or dossier; persons once merged into the duplicate follow it to the kept one,
so `merged_into` always points at a person that is not merged.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from datetime import UTC, date, datetime

import asyncpg
from entraide.v1 import events_pb2

from domain.events import EventType
from domain.vocabulary import ConsentKind
from kernel import outbox
from kernel.db import Connection
from kernel.errors import AlreadyExists, FailedPrecondition, NotFound
from kernel.events import new_event
from kernel.timestamps import to_timestamp
from services.intake.people_validation import Merge, NewConsent, NewHousehold, NewPerson, Revocation
from services.intake.schema import SCHEMA

SOURCE = "entraide/intake"
MAX_DUPLICATES = 20

# Letters NFKD does not decompose.
_LIGATURES = str.maketrans(
    {"œ": "oe", "Œ": "oe", "æ": "ae", "Æ": "ae", "ø": "o", "Ø": "o", "ł": "l", "Ł": "l"}
)
_NOT_ALNUM = re.compile(r"[^0-9a-z]+")


# ---------------------------------------------------------------- normalisation


def fold(text: str) -> str:
    """Case-, accent- and punctuation-insensitive form: "Lefèvre-Œuvray" → "lefevre oeuvray"."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_LIGATURES))
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _NOT_ALNUM.sub(" ", stripped.casefold()).strip()


def name_key(last_name: str, first_name: str) -> str:
    return f"{fold(last_name)}|{fold(first_name)}"


def _uuid_or_none(raw: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw)
    except (ValueError, TypeError, AttributeError):
        return None


# ---------------------------------------------------------------- lookups used by other code


async def person_territory(conn: Connection, person_id: str) -> str | None:
    """Whatever the caller's territories (for a clear PERMISSION_DENIED)."""
    territory: str | None = await conn.fetchval(f"SELECT {SCHEMA}.person_territory($1)", person_id)
    return territory


async def person_exists(conn: Connection, person_id: str) -> bool:
    """True when `person_id` is a person that was not merged into another one (a merged
    person takes no new dossier: use its `merged_into`)."""
    parsed = _uuid_or_none(person_id)
    if parsed is None:
        return False
    value = await conn.fetchval(
        f"SELECT EXISTS (SELECT 1 FROM {SCHEMA}.persons WHERE person_id = $1 AND merged_into IS NULL)",
        parsed,
    )
    return bool(value)


async def current_person_id(conn: Connection, person_id: str) -> str | None:
    """The id to use for this person now: its own, or the one it was merged into; None
    when unknown. For writers racing a merge (e.g. a dossier insert after OpenDossier's
    check): `merged_into` always points at a person that is not merged."""
    parsed = _uuid_or_none(person_id)
    if parsed is None:
        return None
    value = await conn.fetchval(
        f"SELECT coalesce(merged_into, person_id) FROM {SCHEMA}.persons WHERE person_id = $1", parsed
    )
    return str(value) if value is not None else None


async def household_exists(conn: Connection, household_id: str) -> bool:
    parsed = _uuid_or_none(household_id)
    if parsed is None:
        return False
    value = await conn.fetchval(
        f"SELECT EXISTS (SELECT 1 FROM {SCHEMA}.households WHERE household_id = $1)", parsed
    )
    return bool(value)


async def consent_covers(conn: Connection, person_id: str, partner_id: str, data: list[str]) -> bool:
    """True when one unrevoked consent or legal basis of this person (or of the person it
    was merged into) for this partner covers every requested data category."""
    parsed = _uuid_or_none(person_id)
    if parsed is None:
        return False
    value = await conn.fetchval(
        f"""SELECT EXISTS (
                SELECT 1
                  FROM {SCHEMA}.consents c
                 WHERE c.person_id = (SELECT coalesce(p.merged_into, p.person_id)
                                        FROM {SCHEMA}.persons p WHERE p.person_id = $1)
                   AND c.partner_id = $2
                   AND c.revoked_at IS NULL
                   AND c.data_scope @> $3::text[])""",
        parsed,
        partner_id,
        list(dict.fromkeys(data)),
    )
    return bool(value)


# ---------------------------------------------------------------- persons


async def get_person(conn: Connection, person_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT * FROM {SCHEMA}.persons WHERE person_id = $1", uuid.UUID(person_id))


async def household_ids(conn: Connection, person_id: str) -> list[str]:
    rows = await conn.fetch(
        f"SELECT household_id FROM {SCHEMA}.household_members WHERE person_id = $1 ORDER BY household_id",
        uuid.UUID(person_id),
    )
    return [str(row["household_id"]) for row in rows]


async def possible_duplicates(conn: Connection, person: asyncpg.Record) -> list[asyncpg.Record]:
    """Other unmerged persons with the same name key and birth date, or the same phone."""
    return await duplicates_of(
        conn, person["name_key"], person["birth_date"], person["phone"], other_than=person["person_id"]
    )


async def duplicates_of(
    conn: Connection,
    key: str | None,
    birth_date: date | None,
    phone: str | None,
    other_than: uuid.UUID | None = None,
) -> list[asyncpg.Record]:
    """The possible duplicates the caller may see (its communes, by row-level security)
    of a person with this name key, birth date and phone: the rule is the database's
    `possible_duplicate` (migration 006), CreatePerson's and CheckPossibleDuplicates'."""
    return await conn.fetch(
        f"""SELECT *
              FROM {SCHEMA}.persons p
             WHERE {SCHEMA}.possible_duplicate(p, $2, $3, $4)
               AND p.person_id IS DISTINCT FROM $1
             ORDER BY created_at, person_id
             LIMIT {MAX_DUPLICATES}""",
        other_than,
        key,
        birth_date,
        phone,
    )


async def duplicates_elsewhere(
    conn: Connection, key: str | None, birth_date: date | None, phone: str | None
) -> int:
    """How many possible duplicates (same rule) live outside the caller's communes: a
    count only, through a SECURITY DEFINER function."""
    count = await conn.fetchval(
        f"SELECT {SCHEMA}.duplicates_elsewhere($1, $2, $3, NULL)", key, birth_date, phone
    )
    return int(count or 0)


async def search_persons(
    conn: Connection,
    territories: list[str],
    words: list[str],
    birth_date: date | None,
    phone: str | None,
    include_merged: bool,
    limit: int,
) -> list[asyncpg.Record]:
    """Persons of these communes matching every criterion given: each folded word begins
    a word of the folded "last first" name (name_key is "last|first", words separated
    by single spaces), same birth date, same normalised phone; never anonymised ones.
    By name, then birth date; `limit` rows at most."""
    return await conn.fetch(
        f"""SELECT *
              FROM {SCHEMA}.persons p
             WHERE p.territory = ANY($1::text[])
               AND p.anonymised_at IS NULL
               AND ($5 OR p.merged_into IS NULL)
               AND NOT EXISTS (
                   SELECT 1 FROM unnest($2::text[]) w
                    WHERE strpos(' ' || replace(p.name_key, '|', ' '), ' ' || w) = 0)
               AND ($3::date IS NULL OR p.birth_date = $3)
               AND ($4::text IS NULL OR p.phone = $4)
             ORDER BY p.name_key, p.birth_date NULLS LAST, p.person_id
             LIMIT $6""",
        territories,
        words,
        birth_date,
        phone,
        include_merged,
        limit,
    )


def _same_person_request(row: asyncpg.Record, new: NewPerson) -> bool:
    return (
        row["first_name"],
        row["last_name"],
        row["birth_date"],
        row["phone"],
        row["email"],
        row["address_commune"],
        row["address_line"],
    ) == (
        new.first_name,
        new.last_name,
        new.birth_date,
        new.phone,
        new.email,
        new.address_commune,
        new.address_line,
    )


async def create_person(conn: Connection, new: NewPerson) -> tuple[asyncpg.Record, bool]:
    """Inserts the person and its person.created event; on a retried request id, returns
    the person it created with False. Runs inside the caller's transaction."""
    now = datetime.now(UTC)
    row = await conn.fetchrow(
        f"""INSERT INTO {SCHEMA}.persons
                (person_id, territory, request_id, first_name, last_name, name_key, birth_date,
                 phone, email, address_commune, address_line, created_at, updated_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)
            ON CONFLICT (territory, request_id) DO NOTHING
            RETURNING *""",
        uuid.uuid4(),
        new.territory,
        new.request_id,
        new.first_name,
        new.last_name,
        name_key(new.last_name, new.first_name),
        new.birth_date,
        new.phone,
        new.email,
        new.address_commune,
        new.address_line,
        now,
    )
    if row is None:
        existing = await conn.fetchrow(
            f"SELECT * FROM {SCHEMA}.persons WHERE territory = $1 AND request_id = $2",
            new.territory,
            new.request_id,
        )
        if existing is None:  # pragma: no cover - the conflicting row cannot vanish (no deletes)
            raise AlreadyExists(
                "this request_id is in use; retry",
                fr="Cette demande est déjà en cours d'enregistrement : réessayez dans un instant.",
                reason="REQUEST_ID_REUSED",
                field="request_id",
            )
        if not _same_person_request(existing, new):
            raise AlreadyExists(
                "this request_id already created a different person; use a new request_id",
                fr="Cet identifiant de demande a déjà servi à enregistrer une autre personne :"
                " recommencez avec un nouvel identifiant de demande.",
                reason="REQUEST_ID_REUSED",
                field="request_id",
            )
        return existing, False
    person_id = str(row["person_id"])
    payload = events_pb2.PersonCreated(person_id=person_id, territory=new.territory, at=to_timestamp(now))
    await outbox.write(
        conn, SCHEMA, new_event(EventType.PERSON_CREATED, SOURCE, person_id, payload, time=now)
    )
    return row, True


async def merge_persons(conn: Connection, merge: Merge) -> asyncpg.Record:
    """Merges the duplicate into the kept person: household links, consents and dossiers
    move over, the duplicate is marked merged. Merging again the same pair changes
    nothing. Runs inside the caller's transaction; returns the kept person."""
    keep_id, duplicate_id = uuid.UUID(merge.keep_id), uuid.UUID(merge.duplicate_id)
    # Locked in id order: two merges of the same pair never deadlock.
    rows = await conn.fetch(
        f"""SELECT * FROM {SCHEMA}.persons WHERE person_id = ANY($1::uuid[])
             ORDER BY person_id FOR UPDATE""",
        [keep_id, duplicate_id],
    )
    by_id = {row["person_id"]: row for row in rows}
    keep, duplicate = by_id.get(keep_id), by_id.get(duplicate_id)
    if keep is None:
        raise NotFound(
            "keep_id: no person with this id",
            fr="Aucune personne ne porte l'identifiant de la personne à conserver.",
            reason="PERSON_NOT_FOUND",
            field="keep_id",
        )
    if duplicate is None:
        raise NotFound(
            "duplicate_id: no person with this id",
            fr="Aucune personne ne porte l'identifiant du doublon.",
            reason="PERSON_NOT_FOUND",
            field="duplicate_id",
        )
    if keep["merged_into"] is not None:
        raise FailedPrecondition(
            f"the person to keep was itself merged into {keep['merged_into']}; merge into that person",
            fr=f"La personne à conserver a elle-même été fusionnée avec la fiche « {keep['merged_into']} » :"
            " fusionnez plutôt le doublon dans cette fiche-là.",
            reason="PERSON_MERGED",
            field="keep_id",
        )
    if duplicate["merged_into"] == keep_id:
        return keep  # already done: a retried merge
    if duplicate["merged_into"] is not None:
        raise FailedPrecondition(
            f"the duplicate was already merged into another person ({duplicate['merged_into']})",
            fr=f"Le doublon a déjà été fusionné avec une autre fiche (« {duplicate['merged_into']} »).",
            reason="PERSON_MERGED",
            field="duplicate_id",
        )
    now = datetime.now(UTC)
    await conn.execute(
        f"""INSERT INTO {SCHEMA}.household_members (household_id, person_id)
            SELECT household_id, $1 FROM {SCHEMA}.household_members WHERE person_id = $2
            ON CONFLICT DO NOTHING""",
        keep_id,
        duplicate_id,
    )
    await conn.execute(f"DELETE FROM {SCHEMA}.household_members WHERE person_id = $1", duplicate_id)
    await conn.execute(
        f"UPDATE {SCHEMA}.consents SET person_id = $1 WHERE person_id = $2", keep_id, duplicate_id
    )
    await conn.execute(
        f"UPDATE {SCHEMA}.dossiers SET person_id = $1 WHERE person_id = $2", keep_id, duplicate_id
    )
    # Persons merged earlier into the duplicate now point at the kept person.
    await conn.execute(
        f"UPDATE {SCHEMA}.persons SET merged_into = $1, updated_at = $3 WHERE merged_into = $2",
        keep_id,
        duplicate_id,
        now,
    )
    await conn.execute(
        f"""UPDATE {SCHEMA}.persons
               SET merged_into = $1, merged_by = $3, merged_at = $4, updated_at = $4
             WHERE person_id = $2""",
        keep_id,
        duplicate_id,
        merge.agent,
        now,
    )
    kept = await conn.fetchrow(
        f"UPDATE {SCHEMA}.persons SET updated_at = $2 WHERE person_id = $1 RETURNING *", keep_id, now
    )
    assert kept is not None
    payload = events_pb2.PersonsMerged(
        keep_id=str(keep_id), merged_id=str(duplicate_id), territory=keep["territory"], at=to_timestamp(now)
    )
    await outbox.write(
        conn, SCHEMA, new_event(EventType.PERSONS_MERGED, SOURCE, str(keep_id), payload, time=now)
    )
    return kept


async def _lock_active_persons(conn: Connection, ids: list[str], field: str) -> list[asyncpg.Record]:
    """Locks (FOR SHARE) these persons against a concurrent merge; NotFound for unknown
    ids, FailedPrecondition for merged ones."""
    parsed = [uuid.UUID(i) for i in ids]
    rows = await conn.fetch(
        f"""SELECT person_id, territory, merged_into FROM {SCHEMA}.persons
             WHERE person_id = ANY($1::uuid[]) ORDER BY person_id FOR SHARE""",
        parsed,
    )
    found = {row["person_id"] for row in rows}
    missing = [str(p) for p in parsed if p not in found]
    if missing:
        raise NotFound(
            f"{field}: no person with id {', '.join(missing[:5])}",
            fr=f"Aucune personne ne porte l'identifiant {', '.join(f'« {m} »' for m in missing[:5])}.",
            reason="PERSON_NOT_FOUND",
            field=field,
        )
    merged = [row for row in rows if row["merged_into"] is not None]
    if merged:
        raise FailedPrecondition(
            f"{field}: person {merged[0]['person_id']} was merged into {merged[0]['merged_into']};"
            " use that person instead",
            fr=f"La fiche « {merged[0]['person_id']} » a été fusionnée avec la fiche"
            f" « {merged[0]['merged_into']} » : utilisez plutôt cette dernière.",
            reason="PERSON_MERGED",
            field=field,
        )
    by_id = {row["person_id"]: row for row in rows}
    return [by_id[p] for p in parsed]


# ---------------------------------------------------------------- households


async def create_household(conn: Connection, new: NewHousehold) -> str:
    """Creates the household with its members; returns its id. Runs inside the caller's
    transaction (events.proto defines no household event: none is written)."""
    await _lock_active_persons(conn, new.member_ids, "member_ids")
    household_id = uuid.uuid4()
    await conn.execute(
        f"INSERT INTO {SCHEMA}.households (household_id, territory, created_at) VALUES ($1, $2, $3)",
        household_id,
        new.territory,
        datetime.now(UTC),
    )
    await conn.executemany(
        f"INSERT INTO {SCHEMA}.household_members (household_id, person_id) VALUES ($1, $2)",
        [(household_id, uuid.UUID(member)) for member in new.member_ids],
    )
    return str(household_id)


async def get_household(conn: Connection, household_id: str) -> tuple[asyncpg.Record, list[str]] | None:
    row = await conn.fetchrow(
        f"SELECT * FROM {SCHEMA}.households WHERE household_id = $1", uuid.UUID(household_id)
    )
    if row is None:
        return None
    members = await conn.fetch(
        f"SELECT person_id FROM {SCHEMA}.household_members WHERE household_id = $1 ORDER BY person_id",
        row["household_id"],
    )
    return row, [str(m["person_id"]) for m in members]


# ---------------------------------------------------------------- consents


async def record_consent(conn: Connection, new: NewConsent) -> asyncpg.Record:
    """Records the consent (or legal basis) and its consent.recorded event. Runs inside
    the caller's transaction."""
    (person,) = await _lock_active_persons(conn, [new.person_id], "person_id")
    if new.dossier_id is not None:
        found = await conn.fetchval(
            f"SELECT EXISTS (SELECT 1 FROM {SCHEMA}.dossiers WHERE dossier_id = $1)",
            uuid.UUID(new.dossier_id),
        )
        if not found:
            raise NotFound(
                "dossier_id: no dossier with this id",
                fr="Aucun dossier ne porte cet identifiant.",
                reason="DOSSIER_NOT_FOUND",
                field="dossier_id",
            )
    now = datetime.now(UTC)
    row = await conn.fetchrow(
        f"""INSERT INTO {SCHEMA}.consents
                (consent_id, territory, person_id, dossier_id, partner_id, data_scope, kind,
                 channel, legal_basis, agent, recorded_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
            RETURNING *""",
        uuid.uuid4(),
        person["territory"],
        person["person_id"],
        uuid.UUID(new.dossier_id) if new.dossier_id else None,
        new.partner_id,
        new.data_scope,
        new.kind,
        new.channel,
        new.legal_basis,
        new.agent,
        now,
    )
    assert row is not None
    payload = events_pb2.ConsentRecorded(
        consent_id=str(row["consent_id"]),
        person_id=new.person_id,
        partner_id=new.partner_id,
        kind=new.kind,
        at=to_timestamp(now),
    )
    await outbox.write(
        conn, SCHEMA, new_event(EventType.CONSENT_RECORDED, SOURCE, new.person_id, payload, time=now)
    )
    return row


async def revoke_consent(conn: Connection, revocation: Revocation) -> asyncpg.Record:
    """Records the person's withdrawal of a consent and its consent.revoked event, with
    the scopes the person's other consents for that partner still cover. Inside the
    caller's transaction. A consent already withdrawn is answered unchanged."""
    row = await conn.fetchrow(
        f"SELECT * FROM {SCHEMA}.consents WHERE consent_id = $1 FOR UPDATE", uuid.UUID(revocation.consent_id)
    )
    if row is None:
        raise NotFound(
            "consent_id: no consent with this id",
            fr="Aucun consentement ne porte cet identifiant.",
            reason="CONSENT_NOT_FOUND",
            field="consent_id",
        )
    if row["kind"] != ConsentKind.CONSENT:
        raise FailedPrecondition(
            "a legal basis is not a consent: it cannot be withdrawn by the person",
            fr="Ce partage repose sur une base légale, pas sur le consentement de la personne :"
            " il ne se retire pas. Un responsable peut y mettre fin.",
            reason="NOT_A_CONSENT",
        )
    if row["revoked_at"] is not None:
        return row
    now = datetime.now(UTC)
    revoked = await conn.fetchrow(
        f"""UPDATE {SCHEMA}.consents SET revoked_at = $2, revoked_by = $3, revocation_channel = $4
             WHERE consent_id = $1 RETURNING *""",
        row["consent_id"],
        now,
        revocation.agent,
        revocation.channel,
    )
    assert revoked is not None
    remaining = await conn.fetch(
        f"""SELECT data_scope FROM {SCHEMA}.consents
             WHERE person_id = $1 AND partner_id = $2 AND revoked_at IS NULL
             ORDER BY consent_id""",
        row["person_id"],
        row["partner_id"],
    )
    dossiers = await conn.fetch(
        f"SELECT dossier_id, territory FROM {SCHEMA}.person_dossiers($1)",
        row["person_id"],
    )
    payload = events_pb2.ConsentRevoked(
        consent_id=str(row["consent_id"]),
        person_id=str(row["person_id"]),
        partner_id=row["partner_id"],
        at=to_timestamp(now),
        remaining=[events_pb2.ConsentRevoked.Scope(categories=r["data_scope"]) for r in remaining],
        dossier_ids=[str(d["dossier_id"]) for d in dossiers],
        territories=sorted({d["territory"] for d in dossiers} | {row["territory"]}),
        agent=revocation.agent,
    )
    event = new_event(EventType.CONSENT_REVOKED, SOURCE, str(row["person_id"]), payload, time=now)
    await outbox.write(conn, SCHEMA, event)
    return revoked


async def list_consents(conn: Connection, person_id: str) -> list[asyncpg.Record]:
    """The consents of this person, newest first; for a merged person, those of the
    person it was merged into (where its consents moved). NotFound for an unknown id."""
    person = await get_person(conn, person_id)
    if person is None:
        raise NotFound(
            "person_id: no person with this id",
            fr="Aucune personne ne porte cet identifiant.",
            reason="PERSON_NOT_FOUND",
            field="person_id",
        )
    owner = person["merged_into"] or person["person_id"]
    return await conn.fetch(
        f"""SELECT * FROM {SCHEMA}.consents WHERE person_id = $1
             ORDER BY recorded_at DESC, consent_id""",
        owner,
    )
