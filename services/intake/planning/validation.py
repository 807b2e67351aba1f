"""Checks on what planning callers send: each field at fault named, in French.

Every check collects its violations so that one answer names every field to correct
(INVALID_ARGUMENT with one BadRequest violation per field)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from entraide.v1 import planning_pb2

from domain.permanences import MAX_HOLIDAY_DAYS, Change, PermanenceRule
from domain.planning import (
    ATTENDANCE,
    DEFAULT_SLOT,
    MAX_APPOINTMENT,
    AppointmentStatus,
    ContactChannel,
    ExceptionKind,
    HostKind,
    Recurrence,
)
from kernel.errors import InvalidArgument, Violation
from kernel.reference import ReferenceData, Site
from kernel.timestamps import optional_datetime

_HHMM = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")
_DAY = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_CODE = re.compile(r"^[\x21-\x7e]{1,200}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Days a person may plan: far enough for any permanence, near enough for date arithmetic.
FIRST_PLANNED_DAY = date(2000, 1, 1)
LAST_PLANNED_DAY = date(2199, 12, 31)
MAX_LABEL = 200
MAX_REASON = 200
MIN_SLOT_MINUTES = 5
MAX_SLOT_MINUTES = 240
MAX_SLOT_RANGE_DAYS = 62
# A booking further ahead than this is a typing mistake.
BOOKING_HORIZON = timedelta(days=2 * 365)
# A booking a few minutes late (the form was open) is still a booking.
BOOKING_GRACE = timedelta(minutes=10)
MAX_MESSAGES = 500
DEFAULT_MESSAGES = 100
# Row ids derive from (territory, request id): a retried request finds its row.
PERMANENCE_ID_NAMESPACE = uuid.UUID("3f1c6a2e-57d4-4a7b-9f0e-2b6d8c4a1e90")
APPOINTMENT_ID_NAMESPACE = uuid.UUID("8a2e4c71-0b9d-4f36-a5e8-71c3d9f20b5a")

FIELD_REQUIRED = "FIELD_REQUIRED"
INVALID_FORMAT = "INVALID_FORMAT"


def derived_id(namespace: uuid.UUID, territory: str, request_id: str) -> str:
    """The row's id: derived from territory + request id, random without a request id."""
    if not request_id:
        return str(uuid.uuid4())
    return str(uuid.uuid5(namespace, f"{territory}\x00{request_id}"))


def fail(violations: list[Violation]) -> None:
    if violations:
        raise InvalidArgument.of(violations)


def violation(field: str, message: str, fr: str, reason: str = INVALID_FORMAT) -> Violation:
    return Violation(field, message, fr, reason)


def _short(raw: str) -> str:
    return raw[:40]


# ---- single fields -------------------------------------------------------------------
def parse_uuid(field: str, raw: str, what_fr: str, found: list[Violation]) -> str:
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        if not raw:
            found.append(violation(field, f"{field} is required", f"Indiquez {what_fr}.", FIELD_REQUIRED))
        else:
            found.append(
                violation(
                    field,
                    f"{field} must be an id (a UUID)",
                    f"{what_fr[:1].upper()}{what_fr[1:]} n'est pas un identifiant valable :"
                    " il compte 36 caractères, copiez-le en entier.",
                    "INVALID_ID",
                )
            )
        return ""


def parse_id(field: str, raw: str, what_fr: str) -> str:
    found: list[Violation] = []
    value = parse_uuid(field, raw, what_fr, found)
    fail(found)
    return value


def parse_day(field: str, raw: str, found: list[Violation], required: bool = True) -> date | None:
    if not raw:
        if required:
            found.append(
                violation(
                    field,
                    f"{field} is required (YYYY-MM-DD)",
                    "Indiquez le jour (AAAA-MM-JJ).",
                    FIELD_REQUIRED,
                )
            )
        return None
    try:
        if not _DAY.match(raw):
            raise ValueError
        day = date.fromisoformat(raw)
    except ValueError:
        found.append(
            violation(
                field,
                f"{field} must be a day YYYY-MM-DD, got {_short(raw)!r}",
                f"Le jour « {_short(raw)} » n'est pas une date au format AAAA-MM-JJ"
                " (par exemple 2027-01-12).",
            )
        )
        return None
    if not FIRST_PLANNED_DAY <= day <= LAST_PLANNED_DAY:
        found.append(
            violation(
                field,
                f"{field} must lie between 2000 and 2199",
                f"Le jour « {raw} » est hors des dates prévues (2000 à 2199).",
                "OUT_OF_RANGE",
            )
        )
        return None
    return day


def parse_hour(field: str, raw: str, found: list[Violation]) -> time | None:
    match = _HHMM.match(raw)
    if match is None:
        if not raw:
            found.append(
                violation(
                    field,
                    f"{field} is required (HH:MM)",
                    "Indiquez l'heure (HH:MM, par exemple 09:30).",
                    FIELD_REQUIRED,
                )
            )
        else:
            found.append(
                violation(
                    field,
                    f"{field} must be an hour HH:MM, got {_short(raw)!r}",
                    f"L'heure « {_short(raw)} » n'est pas au format HH:MM (par exemple 09:30 ou 14:00).",
                )
            )
        return None
    return time(int(match.group(1)), int(match.group(2)))


def _hours(
    start_field: str, end_field: str, starts: str, ends: str, found: list[Violation]
) -> tuple[time | None, time | None]:
    start = parse_hour(start_field, starts, found)
    end = parse_hour(end_field, ends, found)
    if start is not None and end is not None and end <= start:
        found.append(
            violation(
                end_field,
                f"{end_field} must be after {start_field}",
                f"L'heure de fin ({ends}) doit être après l'heure de début ({starts}).",
                "ENDS_BEFORE_STARTS",
            )
        )
        return start, None
    return start, end


def text(field: str, raw: str, what_fr: str, found: list[Violation], limit: int, required: bool) -> str:
    value = raw.strip()
    if not value:
        if required:
            found.append(violation(field, f"{field} is required", f"Indiquez {what_fr}.", FIELD_REQUIRED))
        return ""
    if len(value) > limit or _CONTROL.search(value):
        found.append(
            violation(
                field,
                f"{field} is at most {limit} characters, without control characters",
                f"{what_fr[:1].upper()}{what_fr[1:]} fait au plus {limit} caractères,"
                " sans caractère de contrôle.",
            )
        )
        return ""
    return value


def site_of(
    field: str, raw: str, reference: ReferenceData, territories: Iterable[str], found: list[Violation]
) -> Site | None:
    """A site of the caller's communes (another commune's reads as unknown: its rooms
    are not the caller's to plan)."""
    site = reference.sites.get(raw)
    if site is not None and site.territory in set(territories):
        return site
    if not raw:
        found.append(
            violation(
                field,
                f"{field} is required (a site code)",
                "Indiquez le site (liste des sites : ListSites).",
                FIELD_REQUIRED,
            )
        )
    else:
        found.append(
            violation(
                field,
                f"site {_short(raw)!r} is not a site of your communes (see ListSites)",
                f"Le site « {_short(raw)} » n'est pas un site de vos communes (liste des sites : ListSites).",
                "UNKNOWN_SITE",
            )
        )
    return None


def room_of(field: str, raw: str, site: Site | None, found: list[Violation]) -> str:
    if site is None:
        return ""
    if site.room(raw) is not None:
        return raw
    rooms = ", ".join(f"« {r.code} »" for r in site.rooms) or "aucune"
    if not raw:
        found.append(
            violation(
                field,
                f"{field} is required (a room of the site)",
                f"Indiquez la salle ({rooms}).",
                FIELD_REQUIRED,
            )
        )
    else:
        found.append(
            violation(
                field,
                f"room {_short(raw)!r} is not a room of site {site.code}",
                f"La salle « {_short(raw)} » n'existe pas au site « {site.label} » (salles : {rooms}).",
                "UNKNOWN_ROOM",
            )
        )
    return ""


# ---- permanences ---------------------------------------------------------------------
@dataclass(frozen=True)
class HostSpec:
    kind: HostKind
    id: str
    label: str
    category: str


@dataclass(frozen=True)
class NewPermanence:
    site: Site
    room: str
    host: HostSpec
    rule: PermanenceRule
    slot_minutes: int

    @property
    def territory(self) -> str:
        return self.site.territory


def host_of(message: planning_pb2.Host, reference: ReferenceData, found: list[Violation]) -> HostSpec | None:
    kinds = ", ".join(f"« {k.value} »" for k in HostKind)
    try:
        kind: HostKind | None = HostKind(message.kind)
    except ValueError:
        kind = None
        found.append(
            violation(
                "host.kind",
                f"host.kind is one of {', '.join(HostKind)}",
                f"Le type de permanence « {_short(message.kind)} » est inconnu : {kinds}."
                if message.kind
                else f"Indiquez qui tient la permanence : {kinds}.",
                "UNKNOWN_HOST_KIND" if message.kind else FIELD_REQUIRED,
            )
        )
    host_id = message.id.strip()
    if not _CODE.match(host_id):
        found.append(
            violation(
                "host.id",
                "host.id is 1 to 200 printable characters without spaces (the partner id or the subject)",
                "Indiquez l'identifiant de qui tient la permanence (l'identifiant du partenaire ou de"
                " l'agent, sans espace)."
                if not host_id
                else "L'identifiant de qui tient la permanence fait au plus 200 caractères,"
                " sans espace ni accent.",
                FIELD_REQUIRED if not host_id else INVALID_FORMAT,
            )
        )
    label = text("host.label", message.label, "le nom affiché de la permanence", found, MAX_LABEL, True)
    category = message.category.strip()
    if category and category not in reference.partner_categories:
        found.append(
            violation(
                "host.category",
                f"unknown partner category {_short(category)!r} (reference data partner_categories)",
                f"La catégorie de partenaire « {_short(category)} » est inconnue"
                f" (catégories : {', '.join(reference.partner_categories)}).",
                "UNKNOWN_PARTNER_CATEGORY",
            )
        )
    elif not category and kind is HostKind.PARTENAIRE:
        found.append(
            violation(
                "host.category",
                "host.category is required for a partner",
                "Indiquez la catégorie du partenaire"
                f" (catégories : {', '.join(reference.partner_categories)}).",
                FIELD_REQUIRED,
            )
        )
    elif not category and kind is not None:
        # Élus and agents fall in their own category when the deployment declares one.
        category = {HostKind.ELU: "elus", HostKind.AGENT: "ccas"}.get(kind, "")
        category = category if category in reference.partner_categories else ""
    if kind is None or not _CODE.match(host_id) or not label:
        return None
    return HostSpec(kind, host_id, label, category)


def slot_minutes_of(raw: int, found: list[Violation]) -> int:
    if raw == 0:
        return int(DEFAULT_SLOT.total_seconds() // 60)
    if not MIN_SLOT_MINUTES <= raw <= MAX_SLOT_MINUTES:
        found.append(
            violation(
                "slot_minutes",
                f"slot_minutes is {MIN_SLOT_MINUTES} to {MAX_SLOT_MINUTES} (0: 30)",
                f"La durée d'un créneau est de {MIN_SLOT_MINUTES} à {MAX_SLOT_MINUTES} minutes"
                " (0 pour 30 minutes).",
                "OUT_OF_RANGE",
            )
        )
        return 0
    return raw


def new_permanence(
    request: planning_pb2.CreatePermanenceRequest, reference: ReferenceData, territories: Iterable[str]
) -> NewPermanence:
    found: list[Violation] = []
    site = site_of("site", request.site, reference, territories, found)
    room = room_of("room", request.room, site, found)
    host = host_of(request.host, reference, found)
    recurrence: Recurrence | None
    try:
        recurrence = Recurrence(request.recurrence or Recurrence.WEEKLY)
    except ValueError:
        recurrence = None
        found.append(
            violation(
                "recurrence",
                f"recurrence is one of {', '.join(Recurrence)}",
                f"La fréquence « {_short(request.recurrence)} » est inconnue : « weekly » (chaque semaine)"
                " ou « fortnightly » (une semaine sur deux).",
                "UNKNOWN_RECURRENCE",
            )
        )
    weekday = request.weekday
    if not 1 <= weekday <= 7:
        found.append(
            violation(
                "weekday",
                "weekday is the ISO weekday, 1 (Monday) to 7 (Sunday)",
                "Le jour de la semaine va de 1 (lundi) à 7 (dimanche).",
                "OUT_OF_RANGE",
            )
        )
    starts, ends = _hours("starts_at", "ends_at", request.starts_at, request.ends_at, found)
    first = parse_day("first_day", request.first_day, found)
    last = parse_day("last_day", request.last_day, found, required=False)
    if first is not None and last is not None and last < first:
        found.append(
            violation(
                "last_day",
                "last_day must not be before first_day",
                f"Le dernier jour ({request.last_day}) est avant le premier ({request.first_day}).",
                "ENDS_BEFORE_STARTS",
            )
        )
    if (
        first is not None
        and recurrence is Recurrence.FORTNIGHTLY
        and 1 <= weekday <= 7
        and first.isoweekday() != weekday
    ):
        found.append(
            violation(
                "first_day",
                "a fortnightly permanence's first_day is a day of session (its weekday)",
                "Pour une permanence une semaine sur deux, le premier jour doit être un jour de séance"
                " (le jour de la semaine indiqué) : il fixe les semaines où elle a lieu.",
                "FIRST_DAY_NOT_SESSION",
            )
        )
    slot = slot_minutes_of(request.slot_minutes, found)
    if starts is not None and ends is not None and slot:
        length = (datetime.combine(date.min, ends) - datetime.combine(date.min, starts)).total_seconds() // 60
        if slot > length:
            found.append(
                violation(
                    "slot_minutes",
                    "slot_minutes is longer than the session",
                    f"Un créneau de {slot} minutes ne tient pas dans la séance ({int(length)} minutes).",
                    "SLOT_LONGER_THAN_SESSION",
                )
            )
    fail(found)
    assert site is not None and host is not None and recurrence is not None
    assert starts is not None and ends is not None and first is not None
    rule = PermanenceRule(weekday, recurrence, first, last, starts, ends)
    return NewPermanence(site, room, host, rule, slot)


def new_change(message: planning_pb2.PermanenceException) -> Change:
    found: list[Violation] = []
    kind: ExceptionKind | None
    try:
        kind = ExceptionKind(message.kind)
    except ValueError:
        kind = None
        found.append(
            violation(
                "exception.kind",
                f"exception.kind is one of {', '.join(ExceptionKind)}",
                "Le type d'exception est « cancelled » (séance annulée), « holiday » (fermeture)"
                " ou « extra » (séance supplémentaire).",
                "UNKNOWN_EXCEPTION_KIND" if message.kind else FIELD_REQUIRED,
            )
        )
    day = parse_day("exception.date", message.date, found)
    until = day
    starts: time | None = None
    ends: time | None = None
    if kind is ExceptionKind.HOLIDAY:
        until = parse_day("exception.until", message.until, found, required=False) or day
        if day is not None and until is not None:
            if until < day:
                found.append(
                    violation(
                        "exception.until",
                        "exception.until must not be before exception.date",
                        "Le dernier jour de fermeture est avant le premier.",
                        "ENDS_BEFORE_STARTS",
                    )
                )
            elif (until - day).days >= MAX_HOLIDAY_DAYS:
                found.append(
                    violation(
                        "exception.until",
                        f"a holiday lasts at most {MAX_HOLIDAY_DAYS} days (end the permanence instead)",
                        f"Une fermeture dure au plus {MAX_HOLIDAY_DAYS} jours :"
                        " pour plus, mettez fin à la permanence.",
                        "OUT_OF_RANGE",
                    )
                )
    elif kind is ExceptionKind.EXTRA:
        starts, ends = _hours(
            "exception.starts_at", "exception.ends_at", message.starts_at, message.ends_at, found
        )
    reason = text("exception.reason", message.reason, "le motif de l'exception", found, MAX_REASON, False)
    fail(found)
    assert kind is not None and day is not None and until is not None
    return Change(kind, day, until if kind is ExceptionKind.HOLIDAY else day, starts, ends, reason)


def last_day_of(raw: str) -> date:
    found: list[Violation] = []
    day = parse_day("last_day", raw, found)
    fail(found)
    assert day is not None
    return day


def day_range(from_raw: str, to_raw: str) -> tuple[date, date]:
    found: list[Violation] = []
    start = parse_day("from_day", from_raw, found)
    end = parse_day("to_day", to_raw, found)
    if start is not None and end is not None:
        if end < start:
            found.append(
                violation(
                    "to_day",
                    "to_day must not be before from_day",
                    "Le dernier jour est avant le premier.",
                    "ENDS_BEFORE_STARTS",
                )
            )
        elif (end - start).days > MAX_SLOT_RANGE_DAYS:
            found.append(
                violation(
                    "to_day",
                    f"from_day and to_day are at most {MAX_SLOT_RANGE_DAYS} days apart",
                    f"Les créneaux se consultent sur {MAX_SLOT_RANGE_DAYS} jours au plus.",
                    "OUT_OF_RANGE",
                )
            )
    fail(found)
    assert start is not None and end is not None
    return start, end


# ---- appointments --------------------------------------------------------------------
@dataclass(frozen=True)
class Booking:
    person_id: str
    permanence_id: str
    agent_id: str
    site_code: str
    starts_at: datetime | None
    duration: timedelta | None  # None: the permanence's slot
    dossier_id: str
    motif: str
    walk_in: bool


def duration_of(raw: int, found: list[Violation]) -> timedelta | None:
    if raw == 0:
        return None
    limit = int(MAX_APPOINTMENT.total_seconds() // 60)
    if not MIN_SLOT_MINUTES <= raw <= limit:
        found.append(
            violation(
                "duration_minutes",
                f"duration_minutes is {MIN_SLOT_MINUTES} to {limit} (0: the slot's length)",
                f"La durée d'un rendez-vous est de {MIN_SLOT_MINUTES} à {limit} minutes"
                " (0 pour la durée d'un créneau).",
                "OUT_OF_RANGE",
            )
        )
    return timedelta(minutes=raw)


def starts_at_of(message: object, found: list[Violation], now: datetime, walk_in: bool) -> datetime | None:
    starts = optional_datetime(message, "starts_at")  # type: ignore[arg-type]
    if starts is None:
        if walk_in:
            return now.replace(second=0, microsecond=0)
        found.append(
            violation(
                "starts_at", "starts_at is required", "Indiquez l'heure du rendez-vous.", FIELD_REQUIRED
            )
        )
        return None
    if not walk_in and starts < now - BOOKING_GRACE:
        found.append(
            violation(
                "starts_at",
                "starts_at is in the past",
                "L'heure du rendez-vous est déjà passée : choisissez un créneau à venir.",
                "IN_THE_PAST",
            )
        )
        return None
    if starts > now + BOOKING_HORIZON:
        found.append(
            violation(
                "starts_at",
                "starts_at is more than two years ahead",
                "Un rendez-vous se prend au plus deux ans à l'avance.",
                "OUT_OF_RANGE",
            )
        )
        return None
    return starts


def motif_of(raw: str, reference: ReferenceData, found: list[Violation]) -> str:
    if raw and raw not in reference.motifs:
        found.append(
            violation(
                "motif",
                f"unknown motif {_short(raw)!r} (see ListReferenceData)",
                f"Motif inconnu : « {_short(raw)} » (liste des motifs : `entraide referentiel`).",
                "UNKNOWN_MOTIF",
            )
        )
        return ""
    return raw


def booking(request: planning_pb2.BookAppointmentRequest, reference: ReferenceData, now: datetime) -> Booking:
    found: list[Violation] = []
    person_id = parse_uuid("person_id", request.person_id, "l'identifiant de la personne", found)
    permanence_id = ""
    agent_id = request.agent_id.strip()
    if request.permanence_id and agent_id:
        found.append(
            violation(
                "agent_id",
                "give either permanence_id or agent_id, not both",
                "Le rendez-vous est pris soit à une permanence, soit avec un agent : pas les deux.",
                "CONFLICTING_FIELDS",
            )
        )
    elif request.permanence_id:
        permanence_id = parse_uuid(
            "permanence_id", request.permanence_id, "l'identifiant de la permanence", found
        )
    elif not agent_id:
        found.append(
            violation(
                "permanence_id",
                "permanence_id (or agent_id with site) is required",
                "Indiquez la permanence du rendez-vous, ou l'agent qui reçoit et son site.",
                FIELD_REQUIRED,
            )
        )
    elif not _CODE.match(agent_id) or len(agent_id) > 100:
        found.append(
            violation(
                "agent_id",
                "agent_id is 1 to 100 printable characters without spaces",
                "L'identifiant de l'agent fait au plus 100 caractères, sans espace ni accent.",
            )
        )
    if agent_id and not request.site and not request.permanence_id:
        found.append(
            violation(
                "site",
                "site is required with agent_id",
                "Indiquez le site où l'agent reçoit.",
                FIELD_REQUIRED,
            )
        )
    starts = starts_at_of(request, found, now, request.walk_in)
    duration = duration_of(request.duration_minutes, found)
    dossier_id = ""
    if request.dossier_id:
        dossier_id = parse_uuid("dossier_id", request.dossier_id, "l'identifiant du dossier", found)
    motif = motif_of(request.motif, reference, found)
    fail(found)
    return Booking(
        person_id, permanence_id, agent_id, request.site, starts, duration, dossier_id, motif, request.walk_in
    )


@dataclass(frozen=True)
class Move:
    appointment_id: str
    starts_at: datetime
    duration: timedelta | None
    permanence_id: str


def move(request: planning_pb2.MoveAppointmentRequest, now: datetime) -> Move:
    found: list[Violation] = []
    appointment_id = parse_uuid(
        "appointment_id", request.appointment_id, "l'identifiant du rendez-vous", found
    )
    starts = starts_at_of(request, found, now, walk_in=False)
    duration = duration_of(request.duration_minutes, found)
    permanence_id = ""
    if request.permanence_id:
        permanence_id = parse_uuid(
            "permanence_id", request.permanence_id, "l'identifiant de la permanence", found
        )
    fail(found)
    assert starts is not None
    return Move(appointment_id, starts, duration, permanence_id)


def attendance_status(raw: str) -> AppointmentStatus:
    if raw in ATTENDANCE:
        return AppointmentStatus(raw)
    raise InvalidArgument(
        f"status is one of {', '.join(ATTENDANCE)}",
        fr="La présence s'enregistre ainsi : « arrived » (arrivé), « seen » (reçu), « no_show » (absent)"
        " ou « no_show_excused » (absent excusé).",
        reason=FIELD_REQUIRED if not raw else "UNKNOWN_STATUS",
        field="status",
    )


def day_of(field: str, raw: str) -> date:
    found: list[Violation] = []
    day = parse_day(field, raw, found)
    fail(found)
    assert day is not None
    return day


def channel_of(raw: str) -> ContactChannel:
    try:
        return ContactChannel(raw)
    except ValueError:
        raise InvalidArgument(
            f"channel is one of {', '.join(ContactChannel)}",
            fr="Indiquez le moyen de contact : « sms » ou « email »."
            if not raw
            else f"Le moyen de contact « {_short(raw)} » est inconnu : « sms » ou « email ».",
            reason=FIELD_REQUIRED if not raw else "UNKNOWN_CHANNEL",
            field="channel",
        ) from None


def message_limit(raw: int) -> int:
    if raw == 0:
        return DEFAULT_MESSAGES
    if not 1 <= raw <= MAX_MESSAGES:
        raise InvalidArgument(
            f"limit is 1 to {MAX_MESSAGES} (0: {DEFAULT_MESSAGES})",
            fr=f"Le nombre de messages demandés va de 1 à {MAX_MESSAGES}.",
            reason="OUT_OF_RANGE",
            field="limit",
        )
    return raw


def utc_now() -> datetime:
    return datetime.now(UTC)
