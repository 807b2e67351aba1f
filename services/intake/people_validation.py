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

from kernel.errors import FailedPrecondition, InvalidArgument
from kernel.reference import ReferenceData

_REQUEST_ID = re.compile(r"^[\x21-\x7e]{1,100}$")
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
CONSENT_KINDS = ("consent", "legal_basis")
CONSENT_CHANNELS = ("oral", "written", "electronic")


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


def has_control_characters(text: str) -> bool:
    """Control, format, surrogate, private-use or unassigned characters."""
    return any(unicodedata.category(ch).startswith("C") for ch in text)


def parse_id(field: str, raw: str, what: str) -> str:
    """A UUID in canonical form, or InvalidArgument naming the field."""
    if not raw:
        raise InvalidArgument(f"{field} is required: the {what}'s id")
    try:
        if len(raw) > 36:
            raise ValueError(raw)
        return str(uuid.UUID(raw))
    except ValueError:
        raise InvalidArgument(
            f"{field} must be a {what} id (a UUID), got {len(raw)} characters that are not one"
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


def _check_text(
    problems: list[str], field: str, value: str, max_length: int, *, required: bool, what: str = ""
) -> str | None:
    text = value.strip()
    if not text:
        if required:
            problems.append(f"{field} is required" + (f" ({what})" if what else ""))
        return None
    if len(text) > max_length:
        problems.append(f"{field} is at most {max_length} characters (got {len(text)})")
        return None
    if has_control_characters(text):
        problems.append(f"{field} must not contain control characters (tabs, line breaks...)")
        return None
    return text


def _check_name(problems: list[str], field: str, value: str) -> str:
    text = _check_text(problems, field, value, MAX_NAME_LENGTH, required=True)
    if text is not None and not any(ch.isalnum() for ch in text):
        problems.append(f"{field} must contain at least one letter")
        return ""
    return text or ""


def _check_territory(problems: list[str], territory: str, reference: ReferenceData) -> None:
    if territory not in reference.territories:
        problems.append(
            f"territory {territory[:20]!r} is not a commune of this deployment (see ListReferenceData)"
            if territory
            else "territory (the commune's INSEE code) is required"
        )


def _today_somewhere() -> date:
    # The latest calendar date anywhere (UTC+14): a baby born "today" in any French
    # territory is never refused as born in the future.
    return (datetime.now(UTC) + timedelta(hours=14)).date()


def parse_birth_date(problems: list[str], raw: str) -> date | None:
    if not raw:
        return None
    if not _BIRTH_DATE.match(raw):
        problems.append("birth_date must be a date written YYYY-MM-DD (for example 1984-03-27)")
        return None
    try:
        parsed = date.fromisoformat(raw)
    except ValueError:
        problems.append("birth_date is not a calendar date (check the month and the day)")
        return None
    if parsed > _today_somewhere():
        problems.append("birth_date cannot be in the future")
        return None
    if parsed < EARLIEST_BIRTH_DATE:
        problems.append("birth_date cannot be before 1900-01-01")
        return None
    return parsed


def _check_phone(problems: list[str], raw: str) -> str | None:
    text = raw.strip()
    if not text:
        return None
    if len(text) > 40 or not _PHONE_CHARS.match(text):
        problems.append("phone may only contain digits, spaces, dots and a leading +")
        return None
    phone = normalise_phone(text)
    digits = len(phone.lstrip("+"))
    if not MIN_PHONE_DIGITS <= digits <= MAX_PHONE_DIGITS:
        problems.append(
            f"phone must have {MIN_PHONE_DIGITS} to {MAX_PHONE_DIGITS} digits (got {digits} digits)"
        )
        return None
    return phone


def _check_email(problems: list[str], raw: str) -> str | None:
    text = raw.strip()
    if not text:
        return None
    if len(text) > MAX_EMAIL_LENGTH:
        problems.append(f"email is at most {MAX_EMAIL_LENGTH} characters (got {len(text)})")
        return None
    if has_control_characters(text) or not _EMAIL.match(text):
        problems.append("email must look like name@example.fr")
        return None
    local, _, domain = text.rpartition("@")
    return f"{local}@{domain.lower()}"


def _check_agent(problems: list[str], raw: str) -> str:
    return _check_text(problems, "agent", raw, MAX_AGENT_LENGTH, required=True, what="who records it") or ""


def new_person(request: intake_pb2.CreatePersonRequest, reference: ReferenceData) -> NewPerson:
    problems: list[str] = []
    if not _REQUEST_ID.match(request.request_id):
        problems.append("request_id is required: 1 to 100 printable characters without spaces")
    _check_territory(problems, request.territory, reference)
    first_name = _check_name(problems, "first_name", request.first_name)
    last_name = _check_name(problems, "last_name", request.last_name)
    birth_date = parse_birth_date(problems, request.birth_date.strip())
    phone = _check_phone(problems, request.phone)
    email = _check_email(problems, request.email)
    commune = request.address_commune.strip()
    if commune and commune not in reference.territories:
        problems.append(
            f"address_commune {commune[:20]!r} is not a commune of this deployment (see ListReferenceData)"
        )
    address_line = _check_text(
        problems, "address_line", request.address_line, MAX_ADDRESS_LINE_LENGTH, required=False
    )
    if problems:
        raise InvalidArgument("; ".join(problems))
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
    problems: list[str] = []
    agent = _check_agent(problems, request.agent)
    if problems:
        raise InvalidArgument("; ".join(problems))
    if keep_id == duplicate_id:
        raise FailedPrecondition("keep_id and duplicate_id are the same person: nothing to merge")
    return Merge(keep_id=keep_id, duplicate_id=duplicate_id, agent=agent)


def new_household(request: intake_pb2.CreateHouseholdRequest, reference: ReferenceData) -> NewHousehold:
    problems: list[str] = []
    _check_territory(problems, request.territory, reference)
    if not request.member_ids:
        problems.append("member_ids needs at least one person (see CreatePerson)")
    elif len(request.member_ids) > MAX_HOUSEHOLD_MEMBERS:
        problems.append(f"a household has at most {MAX_HOUSEHOLD_MEMBERS} members")
    if problems:
        raise InvalidArgument("; ".join(problems))
    members = [parse_id("member_ids", raw, "person") for raw in request.member_ids]
    return NewHousehold(territory=request.territory, member_ids=list(dict.fromkeys(members)))


def new_consent(request: intake_pb2.RecordConsentRequest, reference: ReferenceData) -> NewConsent:
    person_id = parse_id("person_id", request.person_id, "person")
    dossier_id = parse_id("dossier_id", request.dossier_id, "dossier") if request.dossier_id else None
    problems: list[str] = []
    if not request.partner_id:
        problems.append("partner_id is required: the partner the consent covers")
    elif not _PARTNER_ID.match(request.partner_id):
        problems.append("partner_id must be 1 to 63 characters among lower-case letters, digits, '_' and '-'")
    scope = list(dict.fromkeys(request.data_scope))
    if not scope:
        problems.append(
            "data_scope needs at least one data category: " + ", ".join(sorted(reference.consent_data_scopes))
        )
    unknown = [s[:40] for s in scope if s not in reference.consent_data_scopes]
    if unknown:
        problems.append(
            f"unknown data_scope category(ies): {', '.join(unknown[:5])}"
            f" (known: {', '.join(sorted(reference.consent_data_scopes))})"
        )
    kind = request.kind
    if kind not in CONSENT_KINDS:
        problems.append(
            f"kind must be 'consent' or 'legal_basis', got {kind[:20]!r}"
            if kind
            else "kind is required: 'consent' (the person agreed) or 'legal_basis'"
        )
    channel: str | None = request.channel or None
    if channel is not None and channel not in CONSENT_CHANNELS:
        problems.append(f"channel must be oral, written or electronic, got {channel[:20]!r}")
    elif channel is None and kind == "consent":
        problems.append("channel is required for a consent: how it was given (oral, written, electronic)")
    legal_basis = _check_text(
        problems,
        "legal_basis",
        request.legal_basis,
        MAX_LEGAL_BASIS_LENGTH,
        required=kind == "legal_basis",
        what="the legal ground, e.g. 'CASF L.226-2-2'",
    )
    if kind == "consent" and legal_basis is not None:
        problems.append("legal_basis is only for kind 'legal_basis'; a consent has none")
    agent = _check_agent(problems, request.agent)
    if problems:
        raise InvalidArgument("; ".join(problems))
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
