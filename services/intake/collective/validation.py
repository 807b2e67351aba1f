"""Checks on what CollectiveService callers send: each field at fault named, in French
(one INVALID_ARGUMENT naming every field to correct). The single-field checks are the
planning's (services.intake.planning.validation)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, time

from entraide.v1 import collective_pb2

from domain.collective import (
    DEFAULT_CAPACITY,
    MAX_CAPACITY,
    MIN_CAPACITY,
    GoalStatus,
    ParticipantOutcome,
    SessionPresence,
)
from domain.labels_fr import GOAL_STATUS_LABELS, PARTICIPANT_OUTCOME_LABELS, SESSION_PRESENCE_LABELS
from kernel.errors import Violation
from kernel.reference import ReferenceData, Site
from services.intake.planning.validation import (
    FIELD_REQUIRED,
    _hours,
    fail,
    parse_day,
    parse_uuid,
    room_of,
    site_of,
    text,
    violation,
)
from services.intake.validation import territory_violation

# Row ids derive from (territory, request id): a retried request finds its row.
PROGRAMME_ID_NAMESPACE = uuid.UUID("6b0e2f3a-9c41-4d57-8e2a-1f7c5d3b9a60")
SESSION_ID_NAMESPACE = uuid.UUID("c4a97e15-2d3b-4f60-9b81-7e5a0c2d4f13")
ENROLMENT_ID_NAMESPACE = uuid.UUID("0d5f8b2c-6e14-4a93-b7c0-3a9e1f6d2b48")
GOAL_ID_NAMESPACE = uuid.UUID("9e3c1a7b-4f20-4d8e-a615-5b2d7c0e8f91")
MAX_NAME = 200
MAX_AIM = 500
MAX_FACILITATORS = 10
MAX_NOTE = 2000
MAX_SHEET = MAX_CAPACITY


@dataclass(frozen=True)
class Place:
    site: str
    room: str
    place: str


def _place(
    request: collective_pb2.CreateProgrammeRequest | collective_pb2.AddSessionRequest,
    territory: str,
    reference: ReferenceData,
    found: list[Violation],
    required: bool,
) -> Place:
    """A site of the programme's commune (and a room of it, optional), or a free place."""
    place = text("place", request.place, "le lieu", found, MAX_NAME, required=False)
    site: Site | None = None
    if request.site:
        site = site_of("site", request.site, reference, [territory] if territory else [], found)
    elif request.room:
        found.append(
            violation(
                "room", "room needs a site", "Indiquez le site de la salle, ou un lieu libre.", FIELD_REQUIRED
            )
        )
    elif required and not place:
        found.append(
            violation(
                "site",
                "site (a site code) or place (a free place name) is required",
                "Indiquez le site (liste des sites : ListSites) ou le nom d'un lieu.",
                FIELD_REQUIRED,
            )
        )
    room = room_of("room", request.room, site, found) if site is not None and request.room else ""
    return Place(site.code if site is not None else "", room, place)


def capacity_of(field: str, raw: int, default: int, found: list[Violation], limit: int = MAX_CAPACITY) -> int:
    if raw == 0:
        return default
    if not MIN_CAPACITY <= raw <= limit:
        found.append(
            violation(
                field,
                f"{field} must lie between {MIN_CAPACITY} and {limit}",
                f"La capacité ({raw}) doit être comprise entre {MIN_CAPACITY} et {limit} places.",
                "OUT_OF_RANGE",
            )
        )
    return raw


@dataclass(frozen=True)
class NewProgramme:
    territory: str
    name: str
    aim: str
    partner_id: str
    partner_name: str
    facilitators: list[dict[str, str]]
    place: Place
    rhythm: str
    first_day: date
    last_day: date
    capacity: int


def new_programme(request: collective_pb2.CreateProgrammeRequest, reference: ReferenceData) -> NewProgramme:
    found: list[Violation] = []
    bad_territory = territory_violation(request.territory, reference)
    if bad_territory is not None:
        found.append(bad_territory)
    territory = "" if bad_territory is not None else request.territory
    name = text("name", request.name, "le nom du programme", found, MAX_NAME, required=True)
    aim = text("aim", request.aim, "l'objectif du programme", found, MAX_AIM, required=False)
    partner_id = text("partner_id", request.partner_id, "l'identifiant du partenaire", found, MAX_NAME, False)
    partner_name = text("partner_name", request.partner_name, "le nom du partenaire", found, MAX_NAME, False)
    if partner_id and not partner_name:
        found.append(
            violation(
                "partner_name",
                "partner_name is required with partner_id",
                "Indiquez le nom de l'association partenaire.",
                FIELD_REQUIRED,
            )
        )
    facilitators: list[dict[str, str]] = []
    if len(request.facilitators) > MAX_FACILITATORS:
        found.append(
            violation(
                "facilitators",
                f"at most {MAX_FACILITATORS} facilitators",
                f"Un programme compte au plus {MAX_FACILITATORS} animateurs.",
                "TOO_MANY",
            )
        )
    for n, f in enumerate(request.facilitators[:MAX_FACILITATORS]):
        label = text(f"facilitators[{n}].label", f.label, "le nom de l'animateur", found, MAX_NAME, True)
        agent = text(
            f"facilitators[{n}].agent_id", f.agent_id, "l'identifiant de l'agent", found, MAX_NAME, False
        )
        facilitators.append({"agent_id": agent, "label": label})
    place = _place(request, territory, reference, found, required=True) if territory else Place("", "", "")
    rhythm = text("rhythm", request.rhythm, "le rythme des séances", found, MAX_NAME, required=False)
    first = parse_day("first_day", request.first_day, found)
    last = parse_day("last_day", request.last_day, found)
    if first is not None and last is not None and last < first:
        found.append(
            violation(
                "last_day",
                "last_day must not be before first_day",
                f"Le dernier jour ({request.last_day}) est avant le premier ({request.first_day}).",
                "ENDS_BEFORE_STARTS",
            )
        )
    capacity = capacity_of("capacity", request.capacity, DEFAULT_CAPACITY, found)
    fail(found)
    assert first is not None and last is not None
    return NewProgramme(
        territory, name, aim, partner_id, partner_name, facilitators, place, rhythm, first, last, capacity
    )


@dataclass(frozen=True)
class NewSession:
    programme_id: str
    day: date
    starts_at: time
    ends_at: time
    place: Place
    capacity: int


def new_session(
    request: collective_pb2.AddSessionRequest,
    programme_territory: str,
    programme_capacity: int,
    first_day: date,
    last_day: date,
    reference: ReferenceData,
) -> NewSession:
    """A session of the programme: within its dates, at most its capacity (0: the
    programme's), at its place unless one is given."""
    found: list[Violation] = []
    day = parse_day("day", request.day, found)
    if day is not None and not first_day <= day <= last_day:
        found.append(
            violation(
                "day",
                "day is outside the programme's dates",
                f"Le jour {request.day} est hors des dates du programme"
                f" (du {first_day.isoformat()} au {last_day.isoformat()}).",
                "OUT_OF_RANGE",
            )
        )
    starts, ends = _hours("starts_at", "ends_at", request.starts_at, request.ends_at, found)
    place = _place(request, programme_territory, reference, found, required=False)
    if request.capacity > programme_capacity:
        found.append(
            violation(
                "capacity",
                f"capacity must not exceed the programme's ({programme_capacity})",
                f"La capacité de la séance ({request.capacity}) dépasse celle du programme"
                f" ({programme_capacity} places).",
                "OVER_CAPACITY",
            )
        )
        capacity = programme_capacity
    else:
        capacity = capacity_of("capacity", request.capacity, programme_capacity, found, programme_capacity)
    fail(found)
    assert day is not None and starts is not None and ends is not None
    return NewSession(request.programme_id, day, starts, ends, place, capacity)


def id_of(field: str, raw: str, what_fr: str) -> str:
    found: list[Violation] = []
    value = parse_uuid(field, raw, what_fr, found)
    fail(found)
    return value


@dataclass(frozen=True)
class Enrolling:
    programme_id: str
    person_id: str
    dossier_id: str


def enrolling(request: collective_pb2.EnrolRequest) -> Enrolling:
    found: list[Violation] = []
    programme_id = parse_uuid("programme_id", request.programme_id, "l'identifiant du programme", found)
    person_id = parse_uuid("person_id", request.person_id, "l'identifiant de la personne", found)
    dossier_id = parse_uuid("dossier_id", request.dossier_id, "l'identifiant du dossier", found)
    fail(found)
    return Enrolling(programme_id, person_id, dossier_id)


def presence_of(field: str, raw: str, found: list[Violation]) -> SessionPresence | None:
    try:
        return SessionPresence(raw)
    except ValueError:
        listed = ", ".join(f"« {p.value} » ({SESSION_PRESENCE_LABELS[p]})" for p in SessionPresence)
        found.append(
            violation(
                field,
                f"presence must be one of {', '.join(p.value for p in SessionPresence)}",
                f"Indiquez la présence : {listed}.",
                FIELD_REQUIRED if not raw else "UNKNOWN_PRESENCE",
            )
        )
        return None


def sheet(request: collective_pb2.RecordSessionAttendanceRequest) -> tuple[str, dict[str, SessionPresence]]:
    """(session id, enrolment id → presence): one line per participant."""
    found: list[Violation] = []
    session_id = parse_uuid("session_id", request.session_id, "l'identifiant de la séance", found)
    lines: dict[str, SessionPresence] = {}
    if not request.attendance:
        found.append(
            violation(
                "attendance",
                "attendance needs one entry per participant",
                "Le pointage compte une ligne par participant inscrit.",
                FIELD_REQUIRED,
            )
        )
    if len(request.attendance) > MAX_SHEET:
        found.append(
            violation(
                "attendance",
                f"at most {MAX_SHEET} entries",
                f"Un pointage compte au plus {MAX_SHEET} lignes.",
                "TOO_MANY",
            )
        )
    for n, line in enumerate(request.attendance[:MAX_SHEET]):
        enrolment = parse_uuid(
            f"attendance[{n}].enrolment_id", line.enrolment_id, "l'identifiant de l'inscription", found
        )
        presence = presence_of(f"attendance[{n}].presence", line.presence, found)
        if enrolment and enrolment in lines:
            found.append(
                violation(
                    f"attendance[{n}].enrolment_id",
                    "a participant appears twice on the sheet",
                    "Ce participant figure deux fois sur le pointage.",
                    "DUPLICATE_ENTRY",
                )
            )
        elif enrolment and presence is not None:
            lines[enrolment] = presence
    fail(found)
    return session_id, lines


def goal_status_of(raw: str, found: list[Violation]) -> GoalStatus | None:
    """None for an empty status (unchanged, or proposed for a new goal)."""
    if not raw:
        return None
    try:
        return GoalStatus(raw)
    except ValueError:
        listed = ", ".join(f"« {s.value} » ({GOAL_STATUS_LABELS[s]})" for s in GoalStatus)
        found.append(
            violation(
                "status",
                "unknown goal status",
                f"Le statut « {raw[:40]} » est inconnu : {listed}.",
                "UNKNOWN_STATUS",
            )
        )
        return None


@dataclass(frozen=True)
class GoalSetting:
    goal_id: str
    enrolment_id: str
    title: str
    status: GoalStatus | None


def goal_setting(request: collective_pb2.SetGoalRequest) -> GoalSetting:
    found: list[Violation] = []
    goal_id = (
        parse_uuid("goal_id", request.goal_id, "l'identifiant du projet", found) if request.goal_id else ""
    )
    enrolment_id = (
        parse_uuid("enrolment_id", request.enrolment_id, "l'identifiant de l'inscription", found)
        if request.enrolment_id or not request.goal_id
        else ""
    )
    title = text(
        "title", request.title, "l'intitulé du projet", found, MAX_NAME, required=not request.goal_id
    )
    status = goal_status_of(request.status, found)
    fail(found)
    return GoalSetting(goal_id, enrolment_id, title, status)


@dataclass(frozen=True)
class GoalNoteInput:
    goal_id: str
    day: date
    text: str


def goal_note(request: collective_pb2.AddGoalNoteRequest) -> GoalNoteInput:
    found: list[Violation] = []
    goal_id = parse_uuid("goal_id", request.goal_id, "l'identifiant du projet", found)
    day = parse_day("day", request.day, found)
    body = _note_text(request.text, found)
    fail(found)
    assert day is not None
    return GoalNoteInput(goal_id, day, body)


def _note_text(raw: str, found: list[Violation]) -> str:
    """Free text of up to 2000 characters; line breaks allowed, other control characters not."""
    value = raw.strip()
    if not value:
        found.append(violation("text", "text is required", "Écrivez la note de progression.", FIELD_REQUIRED))
        return ""
    if len(value) > MAX_NOTE or any((ord(c) < 32 and c not in "\n\t") or ord(c) == 127 for c in value):
        found.append(
            violation(
                "text",
                f"text is at most {MAX_NOTE} characters, without control characters",
                f"La note fait au plus {MAX_NOTE} caractères, sans caractère de contrôle.",
            )
        )
    return value


def outcome_of(raw: str) -> ParticipantOutcome:
    try:
        return ParticipantOutcome(raw)
    except ValueError:
        listed = ", ".join(f"« {o.value} » ({PARTICIPANT_OUTCOME_LABELS[o]})" for o in ParticipantOutcome)
        fail(
            [
                violation(
                    "outcome",
                    f"outcome must be one of {', '.join(o.value for o in ParticipantOutcome)}",
                    f"Indiquez la suite du parcours : {listed}.",
                    FIELD_REQUIRED if not raw else "UNKNOWN_OUTCOME",
                )
            ]
        )
        raise AssertionError("unreachable") from None
