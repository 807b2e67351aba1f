"""SubmitSignal's and QualifySignal's checks: every fault at once, each naming its
field in French (kernel.errors.InvalidArgument.of). Phone and e-mail are checked and
normalised as CreatePerson does (services.intake.people_validation)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg
from entraide.v1 import intake_pb2, signals_pb2

from domain.signals import MAX_DESCRIPTION, QUALIFIED, SignalStatus
from kernel.errors import InvalidArgument, Violation
from kernel.reference import ReferenceData
from services.intake import people_validation as people
from services.intake.validation import territory_violation

SIGNAL_ID_NAMESPACE = uuid.UUID("0b7c52d4-9e61-4f0a-8d3e-6a1f27c94b58")
ATTEMPT_ID_NAMESPACE = uuid.UUID("5d9e3a10-2c47-4b8f-b1e6-93a0f4c7d2e1")
FIELD_REQUIRED = "FIELD_REQUIRED"
STATUS_LABELS_HINT = "contacted, unreachable, declined, not_relevant"


@dataclass(frozen=True)
class NewSignal:
    territory: str
    first_name: str | None
    last_name: str | None
    phone: str | None
    email: str | None
    address_line: str | None
    description: str
    consent_to_contact: bool
    request_id: str


def derived_id(namespace: uuid.UUID, *parts: str) -> str:
    """A row's id: the same for every repeat of a request, random without a request id
    (the last part)."""
    if not parts[-1]:
        return str(uuid.uuid4())
    return str(uuid.uuid5(namespace, "\x00".join(parts)))


def _description(problems: list[Violation], raw: str) -> str:
    text = raw.strip()
    if not text:
        problems.append(
            Violation(
                "description",
                "description is required: a few words on the situation",
                "Décrivez la situation en quelques mots (la description est obligatoire).",
                FIELD_REQUIRED,
            )
        )
        return ""
    if len(text) > MAX_DESCRIPTION:
        problems.append(
            Violation(
                "description",
                f"description is at most {MAX_DESCRIPTION} characters (got {len(text)})",
                f"La description fait au plus {MAX_DESCRIPTION} caractères (reçu : {len(text)}) :"
                " raccourcissez-la, l'agent rappellera pour le détail.",
                "TOO_LONG",
            )
        )
        return ""
    # Line breaks are fine in a description; other control characters are not.
    if people.has_control_characters(text.replace("\n", " ").replace("\r", " ")):
        problems.append(
            Violation(
                "description",
                "description must not contain control characters",
                "Caractères de contrôle refusés dans la description : retirez-les.",
                "CONTROL_CHARACTERS",
            )
        )
        return ""
    return text


def new_signal(request: signals_pb2.SubmitSignalRequest, reference: ReferenceData) -> NewSignal:
    problems: list[Violation] = []
    found = territory_violation(request.territory, reference)
    if found is not None:
        problems.append(found)
    first_name = people.check_text(
        problems, "first_name", request.first_name, people.MAX_NAME_LENGTH, required=False
    )
    last_name = people.check_text(
        problems, "last_name", request.last_name, people.MAX_NAME_LENGTH, required=False
    )
    phone = people.check_phone(problems, request.phone)
    email = people.check_email(problems, request.email)
    address_line = people.check_text(
        problems, "address_line", request.address_line, people.MAX_ADDRESS_LINE_LENGTH, required=False
    )
    given = [request.first_name, request.last_name, request.phone, request.email, request.address_line]
    if not any(value.strip() for value in given):
        problems.append(
            Violation(
                "last_name",
                "give at least one of a name, a phone number, an e-mail address or an address",
                "Indiquez au moins un moyen de retrouver la personne : son nom, son téléphone,"
                " son adresse électronique ou son adresse.",
                "IDENTITY_REQUIRED",
            )
        )
    description = _description(problems, request.description)
    if problems:
        raise InvalidArgument.of(problems)
    return NewSignal(
        territory=request.territory,
        first_name=first_name,
        last_name=last_name,
        phone=phone,
        email=email,
        address_line=address_line,
        description=description,
        consent_to_contact=request.consent_to_contact,
        request_id=request.request_id,
    )


def signal_id(raw: str) -> str:
    return people.parse_id("signal_id", raw, "signal")


def qualified_status(raw: str) -> SignalStatus:
    if raw in QUALIFIED:
        return SignalStatus(raw)
    raise InvalidArgument(
        f"status must be one of {STATUS_LABELS_HINT}, got {raw[:40]!r}",
        fr="Indiquez la qualification du signalement : personne contactée (contacted), injoignable"
        " (unreachable), refus de la personne (declined) ou sans objet (not_relevant).",
        reason=FIELD_REQUIRED if not raw else "UNKNOWN_STATUS",
        field="status",
    )


def person_request(row: asyncpg.Record) -> intake_pb2.CreatePersonRequest:
    """The person created from a signal's identity (living in the signal's commune): its
    request id derives from the signal, so a retried qualification finds the person."""
    return intake_pb2.CreatePersonRequest(
        request_id=f"signal-{row['signal_id']}",
        territory=row["territory"],
        first_name=row["first_name"] or "",
        last_name=row["last_name"] or "",
        phone=row["phone"] or "",
        email=row["email"] or "",
        address_commune=row["territory"],
        address_line=row["address_line"] or "",
    )


def dossier_request_id(signal_id: str) -> str:
    """One dossier per signal, whoever qualifies it and however often it is retried."""
    return f"signal-{signal_id}"
