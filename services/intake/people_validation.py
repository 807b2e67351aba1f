"""Checks on persons, households and consents requests, with messages a person understands.

Messages never quote what the caller sent for personal fields (names, phone, e-mail,
address): only what is wrong with it.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from entraide.v1 import intake_pb2

from domain.vocabulary import ConsentChannel, ConsentKind
from kernel.errors import FailedPrecondition, InvalidArgument, Violation
from kernel.reference import ReferenceData
from services.intake.validation import (
    REFERENTIEL,
    capitalised,
    invalid,
    number,
    quoted,
    request_id_violation,
    territory_violation,
)

_BIRTH_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_PHONE_CHARS = re.compile(r"^\+?[0-9 .]+$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$")
_PARTNER_ID = re.compile(r"^[a-z0-9_-]{1,63}$")

MAX_NAME_LENGTH = 100
MAX_EMAIL_LENGTH = 254
MAX_ADDRESS_LINE_LENGTH = 200
MAX_AGENT_LENGTH = 100
MAX_LEGAL_BASIS_LENGTH = 200
MAX_HOUSEHOLD_MEMBERS = 30
MIN_PHONE_DIGITS = 10
MAX_PHONE_DIGITS = 15
EARLIEST_BIRTH_DATE = date(1900, 1, 1)
CONSENT_KINDS: tuple[str, ...] = tuple(ConsentKind)
CONSENT_CHANNELS: tuple[str, ...] = tuple(ConsentChannel)


@dataclass(frozen=True)
class NewPerson:
    request_id: str
    territory: str
    first_name: str
    last_name: str
    birth_date: date | None
    phone: str | None
    email: str | None
    address_commune: str | None
    address_line: str | None


@dataclass(frozen=True)
class NewHousehold:
    territory: str
    member_ids: list[str]


@dataclass(frozen=True)
class Merge:
    keep_id: str
    duplicate_id: str
    agent: str


@dataclass(frozen=True)
class NewConsent:
    person_id: str
    dossier_id: str | None
    partner_id: str
    data_scope: list[str]
    kind: str
    channel: str | None
    legal_basis: str | None
    agent: str


@dataclass(frozen=True)
class Revocation:
    consent_id: str
    channel: str
    agent: str


def has_control_characters(text: str) -> bool:
    """Control, format, surrogate, private-use or unassigned characters."""
    if text.isprintable():  # the common case, in C: printable text has none of them
        return False
    return any(unicodedata.category(ch).startswith("C") for ch in text)


# French names of the fields, as a person reads them.
FIELD_LABELS = {
    "person_id": "l'identifiant de la personne",
    "consent_id": "l'identifiant du consentement",
    "keep_id": "l'identifiant de la personne à conserver",
    "duplicate_id": "l'identifiant du doublon",
    "member_ids": "l'identifiant d'un membre du foyer",
    "dossier_id": "l'identifiant du dossier",
    "first_name": "le prénom",
    "last_name": "le nom",
    "address_line": "l'adresse",
    "legal_basis": "la base légale",
    "reason": "le motif de la demande",
    "agent": "l'agent qui enregistre",
}


def label(field: str) -> str:
    return FIELD_LABELS.get(field, f"le champ {field}")


def parse_id(field: str, raw: str, what: str) -> str:
    """A UUID in canonical form, or InvalidArgument naming the field."""
    if not raw:
        raise invalid(
            field, f"{field} is required: the {what}'s id", f"Indiquez {label(field)}.", "FIELD_REQUIRED"
        )
    try:
        if len(raw) > 36:
            raise ValueError(raw)
        return str(uuid.UUID(raw))
    except ValueError:
        raise invalid(
            field,
            f"{field} must be a {what} id (a UUID), got {len(raw)} characters that are not one",
            f"{capitalised(label(field))} n'est pas valable : il compte 36 caractères, copiez-le en entier.",
            "INVALID_ID",
        ) from None


def normalise_phone(raw: str) -> str:
    """French numbers as 10 national digits ("+33 6 12 34 56 78" → "0612345678"),
    others as "+" and their digits. Assumes the characters were already checked."""
    digits = re.sub(r"[^0-9]", "", raw)
    international = raw.startswith("+")
    if not international and digits.startswith("00"):
        digits, international = digits[2:], True
    if international:
        if digits.startswith("33") and len(digits) == 11:
            return "0" + digits[2:]
        return "+" + digits
    return digits


def check_text(
    problems: list[Violation],
    field: str,
    value: str,
    max_length: int,
    *,
    required: bool,
    what: str = "",
    what_fr: str = "",
) -> str | None:
    text = value.strip()
    if not text:
        if required:
            problems.append(
                Violation(
                    field,
                    f"{field} is required" + (f" ({what})" if what else ""),
                    f"Indiquez {label(field)}" + (f" ({what_fr})" if what_fr else "") + ".",
                    "FIELD_REQUIRED",
                )
            )
        return None
    if len(text) > max_length:
        problems.append(
            Violation(
                field,
                f"{field} is at most {max_length} characters (got {len(text)})",
                f"Texte trop long pour {label(field)} : {number(max_length)} caractères au plus"
                f" (reçu : {number(len(text))}).",
                "TOO_LONG",
            )
        )
        return None
    if has_control_characters(text):
        problems.append(
            Violation(
                field,
                f"{field} must not contain control characters (tabs, line breaks...)",
                f"Caractères de contrôle refusés dans {label(field)} (tabulations, retours à la ligne…) :"
                " retirez-les.",
                "CONTROL_CHARACTERS",
            )
        )
        return None
    return text


def check_name(problems: list[Violation], field: str, value: str) -> str:
    text = check_text(problems, field, value, MAX_NAME_LENGTH, required=True)
    if text is not None and not any(ch.isalnum() for ch in text):
        problems.append(
            Violation(
                field,
                f"{field} must contain at least one letter",
                f"{capitalised(label(field))} doit contenir au moins une lettre.",
                "INVALID_FORMAT",
            )
        )
        return ""
    return text or ""


def _check_territory(problems: list[Violation], territory: str, reference: ReferenceData) -> None:
    found = territory_violation(territory, reference, hint=" (see ListReferenceData)")
    if found is not None:
        problems.append(found)


def commune_violation(commune: str, reference: ReferenceData) -> Violation | None:
    """The commune of residence: a code of this deployment, or empty."""
    if not commune or commune in reference.territories:
        return None
    return Violation(
        "address_commune",
        f"address_commune {commune[:20]!r} is not a commune of this deployment (see ListReferenceData)",
        "La commune de résidence n'est pas une commune de ce déploiement : indiquez son code INSEE"
        f" (liste des communes : {REFERENTIEL}).",
        "UNKNOWN_TERRITORY",
    )


def _today_somewhere() -> date:
    # The latest calendar date anywhere (UTC+14): a baby born "today" in any French
    # territory is never refused as born in the future.
    return (datetime.now(UTC) + timedelta(hours=14)).date()


def parse_birth_date(problems: list[Violation], raw: str) -> date | None:
    if not raw:
        return None

    def refuse(message: str, fr: str, reason: str) -> None:
        problems.append(Violation("birth_date", message, fr, reason))

    if not _BIRTH_DATE.match(raw):
        refuse(
            "birth_date must be a date written YYYY-MM-DD (for example 1984-03-27)",
            "La date de naissance s'écrit AAAA-MM-JJ (par exemple 1984-03-27).",
            "INVALID_FORMAT",
        )
        return None
    try:
        parsed = date.fromisoformat(raw)
    except ValueError:
        refuse(
            "birth_date is not a calendar date (check the month and the day)",
            "La date de naissance n'existe pas au calendrier : vérifiez le mois et le jour.",
            "INVALID_DATE",
        )
        return None
    if parsed > _today_somewhere():
        refuse(
            "birth_date cannot be in the future",
            "La date de naissance ne peut pas être dans le futur.",
            "DATE_IN_FUTURE",
        )
        return None
    if parsed < EARLIEST_BIRTH_DATE:
        refuse(
            "birth_date cannot be before 1900-01-01",
            "La date de naissance ne peut pas être antérieure au 1er janvier 1900.",
            "DATE_TOO_EARLY",
        )
        return None
    return parsed


def check_phone(problems: list[Violation], raw: str) -> str | None:
    text = raw.strip()
    if not text:
        return None
    if len(text) > 40 or not _PHONE_CHARS.match(text):
        problems.append(
            Violation(
                "phone",
                "phone may only contain digits, spaces, dots and a leading +",
                "Le numéro de téléphone ne peut contenir que des chiffres, des espaces, des points"
                " et un + au début.",
                "INVALID_FORMAT",
            )
        )
        return None
    phone = normalise_phone(text)
    digits = len(phone.lstrip("+"))
    if not MIN_PHONE_DIGITS <= digits <= MAX_PHONE_DIGITS:
        problems.append(
            Violation(
                "phone",
                f"phone must have {MIN_PHONE_DIGITS} to {MAX_PHONE_DIGITS} digits (got {digits} digits)",
                f"Le numéro de téléphone compte {MIN_PHONE_DIGITS} à {MAX_PHONE_DIGITS} chiffres"
                f" (reçu : {digits}).",
                "INVALID_FORMAT",
            )
        )
        return None
    return phone


def check_email(problems: list[Violation], raw: str) -> str | None:
    text = raw.strip()
    if not text:
        return None
    if len(text) > MAX_EMAIL_LENGTH:
        problems.append(
            Violation(
                "email",
                f"email is at most {MAX_EMAIL_LENGTH} characters (got {len(text)})",
                f"L'adresse électronique fait au plus {MAX_EMAIL_LENGTH} caractères (reçu : {len(text)}).",
                "TOO_LONG",
            )
        )
        return None
    if has_control_characters(text) or not _EMAIL.match(text):
        problems.append(
            Violation(
                "email",
                "email must look like name@example.fr",
                "L'adresse électronique doit ressembler à nom@exemple.fr.",
                "INVALID_FORMAT",
            )
        )
        return None
    local, _, domain = text.rpartition("@")
    return f"{local}@{domain.lower()}"


def _check_agent(problems: list[Violation], raw: str) -> str:
    return (
        check_text(
            problems,
            "agent",
            raw,
            MAX_AGENT_LENGTH,
            required=True,
            what="who records it",
            what_fr="son identifiant",
        )
        or ""
    )


def new_person(request: intake_pb2.CreatePersonRequest, reference: ReferenceData) -> NewPerson:
    problems: list[Violation] = []
    found = request_id_violation(request.request_id)
    if found is not None:
        problems.append(found)
    _check_territory(problems, request.territory, reference)
    first_name = check_name(problems, "first_name", request.first_name)
    last_name = check_name(problems, "last_name", request.last_name)
    birth_date = parse_birth_date(problems, request.birth_date.strip())
    phone = check_phone(problems, request.phone)
    email = check_email(problems, request.email)
    commune = request.address_commune.strip()
    found = commune_violation(commune, reference)
    if found is not None:
        problems.append(found)
    address_line = check_text(
        problems, "address_line", request.address_line, MAX_ADDRESS_LINE_LENGTH, required=False
    )
    if problems:
        raise InvalidArgument.of(problems)
    return NewPerson(
        request_id=request.request_id,
        territory=request.territory,
        first_name=first_name,
        last_name=last_name,
        birth_date=birth_date,
        phone=phone,
        email=email,
        address_commune=commune or None,
        address_line=address_line,
    )


def merge(request: intake_pb2.MergePersonsRequest) -> Merge:
    keep_id = parse_id("keep_id", request.keep_id, "person")
    duplicate_id = parse_id("duplicate_id", request.duplicate_id, "person")
    problems: list[Violation] = []
    agent = _check_agent(problems, request.agent)
    if problems:
        raise InvalidArgument.of(problems)
    if keep_id == duplicate_id:
        raise FailedPrecondition(
            "keep_id and duplicate_id are the same person: nothing to merge",
            fr="La personne à conserver et le doublon sont la même fiche : il n'y a rien à fusionner.",
            reason="NOTHING_TO_MERGE",
            field="duplicate_id",
        )
    return Merge(keep_id=keep_id, duplicate_id=duplicate_id, agent=agent)


def new_household(request: intake_pb2.CreateHouseholdRequest, reference: ReferenceData) -> NewHousehold:
    problems: list[Violation] = []
    _check_territory(problems, request.territory, reference)
    if not request.member_ids:
        problems.append(
            Violation(
                "member_ids",
                "member_ids needs at least one person (see CreatePerson)",
                "Indiquez au moins un membre du foyer : une personne déjà enregistrée"
                " (commande `entraide personne creer`).",
                "FIELD_REQUIRED",
            )
        )
    elif len(request.member_ids) > MAX_HOUSEHOLD_MEMBERS:
        problems.append(
            Violation(
                "member_ids",
                f"a household has at most {MAX_HOUSEHOLD_MEMBERS} members",
                f"Un foyer compte au plus {MAX_HOUSEHOLD_MEMBERS} membres.",
                "TOO_MANY_MEMBERS",
            )
        )
    if problems:
        raise InvalidArgument.of(problems)
    members = [parse_id("member_ids", raw, "person") for raw in request.member_ids]
    return NewHousehold(territory=request.territory, member_ids=list(dict.fromkeys(members)))


def new_consent(request: intake_pb2.RecordConsentRequest, reference: ReferenceData) -> NewConsent:
    person_id = parse_id("person_id", request.person_id, "person")
    dossier_id = parse_id("dossier_id", request.dossier_id, "dossier") if request.dossier_id else None
    problems: list[Violation] = []

    def refuse(field: str, message: str, fr: str, reason: str) -> None:
        problems.append(Violation(field, message, fr, reason))

    if not request.partner_id:
        refuse(
            "partner_id",
            "partner_id is required: the partner the consent covers",
            "Indiquez le partenaire avec qui la personne accepte le partage (voir `entraide partenaires`).",
            "FIELD_REQUIRED",
        )
    elif not _PARTNER_ID.match(request.partner_id):
        refuse(
            "partner_id",
            "partner_id must be 1 to 63 characters among lower-case letters, digits, '_' and '-'",
            "L'identifiant du partenaire s'écrit avec 1 à 63 minuscules, chiffres, « _ » ou « - »"
            " (par exemple « caf-meuse » : voir `entraide partenaires`).",
            "INVALID_FORMAT",
        )
    scopes = sorted(reference.consent_data_scopes)
    scope = list(dict.fromkeys(request.data_scope))
    if not scope:
        refuse(
            "data_scope",
            "data_scope needs at least one data category: " + ", ".join(scopes),
            f"Indiquez au moins une catégorie de données à partager : {quoted(scopes)}.",
            "FIELD_REQUIRED",
        )
    unknown = [s[:40] for s in scope if s not in reference.consent_data_scopes]
    if unknown:
        refuse(
            "data_scope",
            f"unknown data_scope category(ies): {', '.join(unknown[:5])} (known: {', '.join(scopes)})",
            f"Catégorie de données inconnue : {quoted(unknown[:5])}"
            f" (catégories possibles : {quoted(scopes)}).",
            "UNKNOWN_DATA_SCOPE",
        )
    kind = request.kind
    if kind not in CONSENT_KINDS:
        refuse(
            "kind",
            f"kind must be 'consent' or 'legal_basis', got {kind[:20]!r}"
            if kind
            else "kind is required: 'consent' (the person agreed) or 'legal_basis'",
            "Indiquez s'il s'agit d'un consentement de la personne (« consent »)"
            " ou d'une base légale (« legal_basis »).",
            "INVALID_CHOICE" if kind else "FIELD_REQUIRED",
        )
    channel: str | None = request.channel or None
    if channel is not None and channel not in CONSENT_CHANNELS:
        refuse(
            "channel",
            f"channel must be oral, written or electronic, got {channel[:20]!r}",
            "Le consentement se donne à l'oral (« oral »), par écrit (« written »)"
            " ou par voie électronique (« electronic »).",
            "INVALID_CHOICE",
        )
    elif channel is None and kind == "consent":
        refuse(
            "channel",
            "channel is required for a consent: how it was given (oral, written, electronic)",
            "Indiquez comment la personne a donné son consentement : à l'oral, par écrit"
            " ou par voie électronique.",
            "FIELD_REQUIRED",
        )
    legal_basis = check_text(
        problems,
        "legal_basis",
        request.legal_basis,
        MAX_LEGAL_BASIS_LENGTH,
        required=kind == "legal_basis",
        what="the legal ground, e.g. 'CASF L.226-2-2'",
        what_fr="le fondement juridique, par exemple « CASF L.226-2-2 »",
    )
    if kind == "consent" and legal_basis is not None:
        refuse(
            "legal_basis",
            "legal_basis is only for kind 'legal_basis'; a consent has none",
            "Une base légale ne s'indique que pour un partage fondé sur la loi :"
            " un consentement de la personne n'en a pas, laissez-la vide.",
            "UNEXPECTED_FIELD",
        )
    agent = _check_agent(problems, request.agent)
    if problems:
        raise InvalidArgument.of(problems)
    return NewConsent(
        person_id=person_id,
        dossier_id=dossier_id,
        partner_id=request.partner_id,
        data_scope=scope,
        kind=kind,
        channel=channel,
        legal_basis=legal_basis,
        agent=agent,
    )


def revocation(request: intake_pb2.RevokeConsentRequest) -> Revocation:
    consent_id = parse_id("consent_id", request.consent_id, "consent")
    problems: list[Violation] = []
    if request.channel not in CONSENT_CHANNELS:
        problems.append(
            Violation(
                "channel",
                "channel is how the person withdrew the consent: oral, written or electronic",
                "Indiquez comment la personne a retiré son consentement : à l'oral (« oral »),"
                " par écrit (« written ») ou par voie électronique (« electronic »).",
                "INVALID_CHOICE" if request.channel else "FIELD_REQUIRED",
            )
        )
    agent = _check_agent(problems, request.agent)
    if problems:
        raise InvalidArgument.of(problems)
    return Revocation(consent_id, request.channel, agent)
