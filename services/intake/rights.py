"""Rights of the person (RGPD) on intake's tables: access (export), rectification,
erasure (anonymisation). Also used by the retention job (services/intake/retention.py).

Functions that change state take a connection inside the caller's transaction and
write their outbox event in it; events carry ids and codes only, never personal data.

A person and the records merged into it are one person: the export gathers them, and
anonymising any of them anonymises them all (a duplicate keeps its own identity fields
otherwise).

Anonymisation erases identity, contact and free text and keeps codes, so that the
bilan's figures (reporting.dossier_facts, fed by dossier events) do not move:
- persons: first and last name "ANONYME", name_key "anonyme", birth date, phone,
  e-mail and address line NULL; territory and commune of residence (a statistical
  code) kept; `anonymised_at` set;
- dossiers of the person: codes kept (territory, site, motifs, channel, urgency,
  stage, outcome, agent), `anonymised_at` set;
- notes of those dossiers: body '' and `erased_at` set (author, kind and time stay);
- collective actions of those dossiers: goals' titles and progress notes '' and
  `erased_at` set, the titles quoted in the dossier timeline replaced (attendance,
  statuses and outcomes stay);
- signals that led to the person: identity, contact and description erased,
  `anonymised_at` set (commune, signaller, dates and qualification stay);
- consents (legal trace: partner, scope, agent, legal ground) and household links kept.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

import asyncpg
from entraide.v1 import events_pb2, intake_pb2

from domain.events import EventType
from kernel import outbox
from kernel.db import Connection
from kernel.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied, Violation
from kernel.events import new_event
from kernel.reference import ReferenceData
from kernel.timestamps import to_timestamp
from services.intake import people_validation, persons
from services.intake.collective import erasure as collective_erasure
from services.intake.documents import store as document_store

# The field checks of CreatePerson, shared so that a rectified person passes the same
# rules as a created one.
from services.intake.people_validation import (
    MAX_ADDRESS_LINE_LENGTH,
    check_email,
    check_name,
    check_phone,
    check_text,
)
from services.intake.schema import SCHEMA
from services.intake.signals import store as signal_store

SOURCE = "entraide/intake"
EXPORT_FORMAT = "entraide.person-export/1"
ANONYMOUS_NAME = "ANONYME"
ANONYMOUS_NAME_KEY = "anonyme"
MAX_REASON_LENGTH = 500
RECTIFIABLE = (
    "first_name",
    "last_name",
    "birth_date",
    "phone",
    "email",
    "address_commune",
    "address_line",
)


# ---------------------------------------------------------------- validation


@dataclass(frozen=True)
class Rectification:
    person_id: str
    # Only the fields to change (column → new value).
    changes: dict[str, Any]


def rectification(request: intake_pb2.RectifyPersonRequest, reference: ReferenceData) -> Rectification:
    """The fields to change, checked with CreatePerson's rules; an empty field keeps
    its value. Messages never quote the personal values sent."""
    person_id = people_validation.parse_id("person_id", request.person_id, "person")
    problems: list[Violation] = []
    changes: dict[str, Any] = {}
    if request.first_name.strip():
        changes["first_name"] = check_name(problems, "first_name", request.first_name)
    if request.last_name.strip():
        changes["last_name"] = check_name(problems, "last_name", request.last_name)
    if request.birth_date.strip():
        changes["birth_date"] = people_validation.parse_birth_date(problems, request.birth_date.strip())
    if request.phone.strip():
        changes["phone"] = check_phone(problems, request.phone)
    if request.email.strip():
        changes["email"] = check_email(problems, request.email)
    commune = request.address_commune.strip()
    if commune:
        found = people_validation.commune_violation(commune, reference)
        if found is not None:
            problems.append(found)
        changes["address_commune"] = commune
    if request.address_line.strip():
        changes["address_line"] = check_text(
            problems, "address_line", request.address_line, MAX_ADDRESS_LINE_LENGTH, required=False
        )
    reason(problems, request.reason)
    if problems:
        raise InvalidArgument.of(problems)
    if not changes:
        raise InvalidArgument(
            "give at least one field to rectify: " + ", ".join(RECTIFIABLE),
            fr="Indiquez au moins une donnée à rectifier : prénom, nom, date de naissance, téléphone,"
            " adresse électronique, commune de résidence ou adresse.",
            reason="NOTHING_TO_RECTIFY",
        )
    return Rectification(person_id=person_id, changes=changes)


def reason(problems: list[Violation], raw: str) -> str | None:
    """The optional reason of a rights request (not stored: it may quote the person)."""
    return check_text(problems, "reason", raw, MAX_REASON_LENGTH, required=False)


def anonymisation_request(request: intake_pb2.AnonymisePersonRequest) -> str:
    person_id = people_validation.parse_id("person_id", request.person_id, "person")
    problems: list[Violation] = []
    reason(problems, request.reason)
    if problems:
        raise InvalidArgument.of(problems)
    return person_id


# ---------------------------------------------------------------- helpers


def _plain(value: Any) -> Any:
    """A database value as JSON: ids and times as strings, arrays as lists."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _record(row: asyncpg.Record, without: Iterable[str] = ()) -> dict[str, Any]:
    skipped = set(without)
    return {key: _plain(value) for key, value in row.items() if key not in skipped}


async def _identity_group(conn: Connection, person_id: str, *, lock: bool) -> list[asyncpg.Record]:
    """The person (resolved to the one it was merged into, if any) first, then the
    records merged into it. NotFound for an unknown id."""
    requested = uuid.UUID(person_id)
    canonical = await conn.fetchval(
        f"SELECT coalesce(merged_into, person_id) FROM {SCHEMA}.persons WHERE person_id = $1", requested
    )
    if canonical is None:
        raise NotFound(
            "person_id: no person with this id",
            fr="Aucune personne ne porte cet identifiant.",
            reason="PERSON_NOT_FOUND",
            field="person_id",
        )
    rows = await conn.fetch(
        f"""SELECT * FROM {SCHEMA}.persons WHERE person_id = $1 OR merged_into = $1
             ORDER BY person_id {"FOR UPDATE" if lock else ""}""",
        canonical,
    )
    group = sorted(rows, key=lambda row: row["person_id"] != canonical)
    if not group or group[0]["person_id"] != canonical:
        raise PermissionDenied(
            "this person was merged into a person of a territory you are not assigned to",
            fr="Cette fiche a été fusionnée avec celle d'une personne d'une commune qui ne fait pas partie"
            " de vos communes d'intervention.",
            reason="TERRITORY_NOT_ASSIGNED",
        )
    return group


# ---------------------------------------------------------------- access (export)


async def export_person(conn: Connection, person_id: str, *, now: datetime | None = None) -> str:
    """Everything intake holds about a person, as a JSON document: identity (and the
    records merged into it), households, consents, dossiers with their timeline and
    every note (private ones too: the connection must be scoped with all_notes), and
    referrals. Read it inside one repeatable-read transaction for a consistent view."""
    group = await _identity_group(conn, person_id, lock=False)
    ids = [row["person_id"] for row in group]
    households = await conn.fetch(
        f"""SELECT h.*, array(SELECT m2.person_id FROM {SCHEMA}.household_members m2
                               WHERE m2.household_id = h.household_id ORDER BY m2.person_id) AS member_ids
              FROM {SCHEMA}.households h
             WHERE h.household_id IN (SELECT m.household_id FROM {SCHEMA}.household_members m
                                       WHERE m.person_id = ANY($1::uuid[]))
             ORDER BY h.created_at, h.household_id""",
        ids,
    )
    consents = await conn.fetch(
        f"""SELECT * FROM {SCHEMA}.consents WHERE person_id = ANY($1::uuid[])
             ORDER BY recorded_at, consent_id""",
        ids,
    )
    dossiers = await conn.fetch(
        f"""SELECT * FROM {SCHEMA}.dossiers WHERE person_id = ANY($1::uuid[])
             ORDER BY opened_at, dossier_id""",
        ids,
    )
    dossier_ids = [row["dossier_id"] for row in dossiers]
    timeline = await conn.fetch(
        f"""SELECT * FROM {SCHEMA}.dossier_timeline WHERE dossier_id = ANY($1::uuid[])
             ORDER BY dossier_id, step""",
        dossier_ids,
    )
    notes = await conn.fetch(
        f"SELECT * FROM {SCHEMA}.notes WHERE dossier_id = ANY($1::uuid[]) ORDER BY dossier_id, step",
        dossier_ids,
    )
    participation = await collective_erasure.participation(conn, ids)
    aid_requests = await conn.fetch(
        f"""SELECT * FROM {SCHEMA}.aid_requests WHERE person_id = ANY($1::uuid[])
             ORDER BY created_at, aid_request_id""",
        ids,
    )
    aid_payments = await conn.fetch(
        f"""SELECT * FROM {SCHEMA}.payments WHERE aid_request_id = ANY($1::uuid[])
             ORDER BY created_at, payment_id""",
        [r["aid_request_id"] for r in aid_requests],
    )
    documents = await conn.fetch(
        f"""SELECT document_id, owner_kind, owner_id, kind, media_type, size_bytes, uploaded_by, uploaded_at,
                   delete_after, deleted_at
              FROM {SCHEMA}.documents
             WHERE (owner_kind = 'person' AND owner_id = ANY($1::uuid[]))
                OR (owner_kind = 'dossier' AND owner_id = ANY($2::uuid[]))
                OR (owner_kind = 'aid_request' AND owner_id = ANY($3::uuid[]))
             ORDER BY uploaded_at, document_id""",
        ids,
        [row["dossier_id"] for row in dossiers],
        [r["aid_request_id"] for r in aid_requests],
    )
    signals = await signal_store.of_persons(conn, ids)
    exported_dossiers = []
    for dossier in dossiers:
        exported = _record(dossier)
        exported["timeline"] = [
            _record(t, without=("dossier_id", "territory"))
            for t in timeline
            if t["dossier_id"] == dossier["dossier_id"]
        ]
        exported["notes"] = [
            _record(n, without=("dossier_id", "territory"))
            for n in notes
            if n["dossier_id"] == dossier["dossier_id"]
        ]
        exported_dossiers.append(exported)
    document = {
        "format": EXPORT_FORMAT,
        "exported_at": (now or datetime.now(UTC)).isoformat(),
        "requested_person_id": person_id,
        "person": _record(group[0]),
        "merged_records": [_record(row) for row in group[1:]],
        "households": [_record(h) for h in households],
        "consents": [_record(c) for c in consents],
        "dossiers": exported_dossiers,
        "collective": _collective(participation),
        "signals": [_record(row, without=("request_key",)) for row in signals],
        "aid_requests": [
            {
                **_record(r, without=("request_key",)),
                "payments": [
                    _record(p, without=("request_key",))
                    for p in aid_payments
                    if p["aid_request_id"] == r["aid_request_id"]
                ],
            }
            for r in aid_requests
        ],
        # What each supporting document is (its bytes: GetDocumentContent, logged).
        "documents": [_record(d) for d in documents],
        # Referrals (orientations to partners) are not built yet: the referral service
        # holds none. Kept in the document so its shape does not change when they come.
        "referrals": [],
    }
    return json.dumps(document, ensure_ascii=False, indent=2)


def _collective(participation: collective_erasure.Participation) -> list[dict[str, Any]]:
    """Each enrolment with its attendance and its goals (each with its notes)."""
    exported = []
    for enrolment in participation.enrolments:
        item = _record(enrolment, without=("request_key",))
        key = enrolment["enrolment_id"]
        item["attendance"] = [
            _record(a, without=("enrolment_id",))
            for a in participation.attendance
            if a["enrolment_id"] == key
        ]
        goals = []
        for goal in participation.goals:
            if goal["enrolment_id"] != key:
                continue
            exported_goal = _record(goal, without=("enrolment_id", "request_key"))
            exported_goal["notes"] = [
                _record(n, without=("goal_id", "territory"))
                for n in participation.notes
                if n["goal_id"] == goal["goal_id"]
            ]
            goals.append(exported_goal)
        item["goals"] = goals
        exported.append(item)
    return exported


# ---------------------------------------------------------------- rectification


async def rectify_person(conn: Connection, rectification: Rectification) -> asyncpg.Record:
    """Applies the changes and writes person.rectified (ids only). A merged or
    anonymised person is not rectified (FailedPrecondition). Runs inside the caller's
    transaction; returns the person."""
    row = await conn.fetchrow(
        f"SELECT * FROM {SCHEMA}.persons WHERE person_id = $1 FOR UPDATE", uuid.UUID(rectification.person_id)
    )
    if row is None:
        raise NotFound(
            "person_id: no person with this id",
            fr="Aucune personne ne porte cet identifiant.",
            reason="PERSON_NOT_FOUND",
            field="person_id",
        )
    if row["merged_into"] is not None:
        raise FailedPrecondition(
            f"this person was merged into {row['merged_into']}: rectify that person instead",
            fr=f"Cette fiche a été fusionnée avec la fiche « {row['merged_into']} » :"
            " rectifiez plutôt la fiche conservée.",
            reason="PERSON_MERGED",
        )
    if row["anonymised_at"] is not None:
        raise FailedPrecondition(
            "this person was anonymised: there is no identity left to rectify",
            fr="Cette personne a été anonymisée : il ne reste aucune donnée d'identité à rectifier.",
            reason="PERSON_ANONYMISED",
        )
    changes = {k: v for k, v in rectification.changes.items() if row[k] != v}
    if not changes:
        return row  # already as requested: nothing written
    first_name = changes.get("first_name", row["first_name"])
    last_name = changes.get("last_name", row["last_name"])
    now = datetime.now(UTC)
    columns = [*changes, "name_key", "updated_at"]
    values = [*changes.values(), persons.name_key(last_name, first_name), now]
    assignments = ", ".join(f"{column} = ${i}" for i, column in enumerate(columns, start=2))
    updated = await conn.fetchrow(
        f"UPDATE {SCHEMA}.persons SET {assignments} WHERE person_id = $1 RETURNING *",
        row["person_id"],
        *values,
    )
    assert updated is not None
    payload = events_pb2.PersonRectified(
        person_id=str(row["person_id"]), territory=row["territory"], at=to_timestamp(now)
    )
    await outbox.write(
        conn,
        SCHEMA,
        new_event(EventType.PERSON_RECTIFIED, SOURCE, str(row["person_id"]), payload, time=now),
    )
    return updated


# ---------------------------------------------------------------- anonymisation


@dataclass(frozen=True)
class Anonymised:
    person_id: str
    # The person's dossiers (all marked anonymised) and the notes erased by this call.
    dossiers: int
    notes: int


async def erase_dossiers(conn: Connection, dossier_ids: Sequence[uuid.UUID], at: datetime) -> int:
    """Erases the notes' bodies and the collective actions' goals of these dossiers and
    marks the dossiers anonymised (codes kept); returns the number of notes erased now.
    The connection must see every note (all_notes scope). Runs inside the caller's
    transaction."""
    if not dossier_ids:
        return 0
    status = await conn.execute(
        f"""UPDATE {SCHEMA}.notes SET body = '', erased_at = $2
             WHERE dossier_id = ANY($1::uuid[]) AND (erased_at IS NULL OR body <> '')""",
        list(dossier_ids),
        at,
    )
    await conn.execute(
        f"""UPDATE {SCHEMA}.dossiers SET anonymised_at = $2
             WHERE dossier_id = ANY($1::uuid[]) AND anonymised_at IS NULL""",
        list(dossier_ids),
        at,
    )
    await collective_erasure.erase_dossiers(conn, dossier_ids, at)
    # The aid requests' free text (amounts, codes and decisions stay for the bilan).
    await conn.execute(
        f"""UPDATE {SCHEMA}.aid_requests SET reason = '', instruction_note = '', decision_reasons = ''
             WHERE dossier_id = ANY($1::uuid[]) AND (reason <> '' OR instruction_note <> ''
                   OR decision_reasons <> '')""",
        list(dossier_ids),
    )
    await conn.execute(
        f"""UPDATE {SCHEMA}.loan_incidents i SET note = '' FROM {SCHEMA}.loans l
              JOIN {SCHEMA}.aid_requests r ON r.aid_request_id = l.aid_request_id
             WHERE i.loan_id = l.loan_id AND r.dossier_id = ANY($1::uuid[]) AND i.note <> ''""",
        list(dossier_ids),
    )
    return int(status.rsplit(" ", 1)[-1])


async def anonymise_person(conn: Connection, person_id: str, *, at: datetime | None = None) -> Anonymised:
    """Anonymises the person, the records merged into it, its dossiers' free text and
    the signals that led to it, and writes person.anonymised (ids only). Anonymising
    again erases what was added since (a later note) and otherwise changes nothing. The
    connection must see every note (all_notes scope) of every territory the person's
    dossiers are in. Runs inside the caller's transaction."""
    now = at or datetime.now(UTC)
    group = await _identity_group(conn, person_id, lock=True)
    canonical = group[0]
    ids = [row["person_id"] for row in group]
    identified = [row["person_id"] for row in group if row["anonymised_at"] is None]
    if identified:
        await conn.execute(
            f"""UPDATE {SCHEMA}.persons
                   SET first_name = $2, last_name = $2, name_key = $3, birth_date = NULL, phone = NULL,
                       email = NULL, address_line = NULL, anonymised_at = $4, updated_at = $4
                 WHERE person_id = ANY($1::uuid[])""",
            identified,
            ANONYMOUS_NAME,
            ANONYMOUS_NAME_KEY,
            now,
        )
    dossiers = await conn.fetch(
        f"""SELECT dossier_id, anonymised_at FROM {SCHEMA}.dossiers WHERE person_id = ANY($1::uuid[])
             ORDER BY dossier_id FOR UPDATE""",
        ids,
    )
    dossier_ids = [row["dossier_id"] for row in dossiers]
    notes = await erase_dossiers(conn, dossier_ids, now)
    signals = await signal_store.erase_of_persons(conn, ids, now)
    # Supporting documents: their data keys erased now, their files at the next purge.
    await document_store.shred_owned(conn, now, persons=ids, dossiers=dossier_ids)
    newly = any(row["anonymised_at"] is None for row in dossiers)
    if identified or notes or signals or newly:
        payload = events_pb2.PersonAnonymised(
            person_id=str(canonical["person_id"]),
            territory=canonical["territory"],
            at=to_timestamp(now),
            dossiers=[str(d) for d in dossier_ids],
        )
        await outbox.write(
            conn,
            SCHEMA,
            new_event(EventType.PERSON_ANONYMISED, SOURCE, str(canonical["person_id"]), payload, time=now),
        )
    return Anonymised(person_id=str(canonical["person_id"]), dossiers=len(dossier_ids), notes=notes)
