"""The aid RPCs' checks: every fault at once, each naming its field in French
(kernel.errors.InvalidArgument.of). Amounts are integer cents: positive, at most
domain.money.MAX_CENTS."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, time

from entraide.v1 import aides_pb2

from domain.aides import MAX_REASON, Decision, DecisionChannel, PayeeKind, PaymentMode, PaymentStatus
from domain.money import MAX_CENTS, format_euros
from kernel.errors import InvalidArgument, Violation
from kernel.reference import AidTypeRef, ReferenceData
from services.intake import people_validation as people
from services.intake.validation import territory_violation

AID_REQUEST_NAMESPACE = uuid.UUID("3c8a61f2-5b0d-4e27-9d4a-7f1e20c8b593")
COMMISSION_NAMESPACE = uuid.UUID("8e2f4b17-0c6a-4d93-a1b5-62d9e07f3c48")
BUDGET_LINE_NAMESPACE = uuid.UUID("d41a7c09-3e85-4b62-8f1d-05b9c6e2a774")
PAYMENT_NAMESPACE = uuid.UUID("61b0e3d8-9a27-4c5f-b84e-1d7f3a0c95e2")
REQUIRED = "FIELD_REQUIRED"
MAX_MEMBERS = 20
MAX_ADULTS = 10
MAX_CHILDREN = 20


def derived_id(namespace: uuid.UUID, *parts: str) -> str:
    """A row's id: the same for every repeat of a request, random without a request id."""
    if not parts[-1]:
        return str(uuid.uuid4())
    return str(uuid.uuid5(namespace, "\x00".join(parts)))


def id_of(field: str, raw: str, what_fr: str) -> str:
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise InvalidArgument(
            f"{field} is not an id",
            fr=f"{what_fr.capitalize()} n'est pas un identifiant valide.",
            reason="INVALID_ID",
            field=field,
        ) from None


def _text(
    problems: list[Violation], field: str, raw: str, what_fr: str, *, required: bool, limit: int
) -> str:
    text = raw.strip()
    if not text:
        if required:
            problems.append(Violation(field, f"{field} is required", f"Indiquez {what_fr}.", REQUIRED))
        return ""
    if len(text) > limit:
        problems.append(
            Violation(
                field,
                f"{field} is at most {limit} characters (got {len(text)})",
                f"{what_fr.capitalize()} fait au plus {limit} caractères (reçu : {len(text)}).",
                "TOO_LONG",
            )
        )
        return ""
    if people.has_control_characters(text.replace("\n", " ").replace("\r", " ")):
        problems.append(
            Violation(
                field,
                f"{field} has control characters",
                f"Caractères de contrôle refusés dans {what_fr}.",
                "CONTROL_CHARACTERS",
            )
        )
        return ""
    return text


def _cents(problems: list[Violation], field: str, value: int, what_fr: str, *, positive: bool = True) -> int:
    if (positive and value <= 0) or value < 0 or value > MAX_CENTS:
        low = "supérieur à 0" if positive else "positif ou nul"
        problems.append(
            Violation(
                field,
                f"{field} must be {'> 0' if positive else '>= 0'} and <= {MAX_CENTS} cents (got {value})",
                f"{what_fr.capitalize()} doit être {low} et au plus {format_euros(MAX_CENTS)}"
                f" (reçu : {format_euros(value)}).",
                "OUT_OF_RANGE",
            )
        )
    return value


def aid_type(problems: list[Violation], raw: str, reference: ReferenceData) -> AidTypeRef | None:
    found = reference.aid_types.get(raw)
    if found is None:
        known = ", ".join(sorted(reference.aid_types))
        problems.append(
            Violation(
                "aid_type",
                f"unknown aid type {raw!r} (known: {known})",
                f"Type d'aide inconnu « {raw} » : choisissez un type d'aide de la liste.",
                "UNKNOWN_AID_TYPE" if raw else REQUIRED,
            )
        )
    return found


@dataclass(frozen=True)
class Budget:
    resources_cents: int
    charges_cents: int
    adults: int
    children: int


def budget(problems: list[Violation], raw: aides_pb2.HouseholdBudget) -> Budget:
    _cents(
        problems, "budget.resources_cents", raw.resources_cents, "le montant des ressources", positive=False
    )
    _cents(problems, "budget.charges_cents", raw.charges_cents, "le montant des charges", positive=False)
    if not 1 <= raw.adults <= MAX_ADULTS:
        problems.append(
            Violation(
                "budget.adults",
                f"adults is 1 to {MAX_ADULTS} (got {raw.adults})",
                f"Le foyer compte de 1 à {MAX_ADULTS} adultes (reçu : {raw.adults}).",
                "OUT_OF_RANGE",
            )
        )
    if not 0 <= raw.children <= MAX_CHILDREN:
        problems.append(
            Violation(
                "budget.children",
                f"children is 0 to {MAX_CHILDREN} (got {raw.children})",
                f"Le foyer compte de 0 à {MAX_CHILDREN} enfants (reçu : {raw.children}).",
                "OUT_OF_RANGE",
            )
        )
    return Budget(raw.resources_cents, raw.charges_cents, raw.adults, raw.children)


@dataclass(frozen=True)
class NewRequest:
    dossier_id: str
    aid_type: AidTypeRef
    amount_asked_cents: int
    reason: str
    budget: Budget


def new_request(request: aides_pb2.CreateAidRequestRequest, reference: ReferenceData) -> NewRequest:
    dossier_id = id_of("dossier_id", request.dossier_id, "l'identifiant du dossier")
    problems: list[Violation] = []
    kind = aid_type(problems, request.aid_type, reference)
    amount = _cents(problems, "amount_asked_cents", request.amount_asked_cents, "le montant demandé")
    reason = _text(
        problems, "reason", request.reason, "le motif de la demande", required=True, limit=MAX_REASON
    )
    if not request.HasField("budget"):
        problems.append(
            Violation(
                "budget", "budget is required", "Indiquez les ressources et charges du foyer.", REQUIRED
            )
        )
        household = Budget(0, 0, 1, 0)
    else:
        household = budget(problems, request.budget)
    if problems:
        raise InvalidArgument.of(problems)
    assert kind is not None
    return NewRequest(dossier_id, kind, amount, reason, household)


@dataclass(frozen=True)
class Instruction:
    complete: bool
    missing: list[str]
    note: str
    budget: Budget | None


def instruction(request: aides_pb2.RecordInstructionRequest, reference: ReferenceData) -> Instruction:
    problems: list[Violation] = []
    missing = list(dict.fromkeys(request.missing_documents))
    for i, code in enumerate(missing):
        if code not in reference.document_kinds:
            problems.append(
                Violation(
                    f"missing_documents[{i}]",
                    f"unknown document kind {code!r}",
                    f"Pièce inconnue « {code} » : choisissez dans la liste des pièces.",
                    "UNKNOWN_DOCUMENT_KIND",
                )
            )
    if request.complete and missing:
        problems.append(
            Violation(
                "missing_documents",
                "a complete request has no missing document",
                "Une demande complète n'a pas de pièce manquante : retirez-les ou indiquez « incomplète ».",
                "CONTRADICTORY",
            )
        )
    if not request.complete and not missing:
        problems.append(
            Violation(
                "missing_documents",
                "an incomplete request lists the missing documents",
                "Indiquez les pièces manquantes d'une demande incomplète.",
                REQUIRED,
            )
        )
    note = _text(problems, "note", request.note, "la note d'instruction", required=False, limit=MAX_REASON)
    household = budget(problems, request.budget) if request.HasField("budget") else None
    if problems:
        raise InvalidArgument.of(problems)
    return Instruction(request.complete, missing, note, household)


@dataclass(frozen=True)
class NewCommission:
    territory: str
    day: date
    starts_at: time
    place: str
    members: list[str]


def new_commission(request: aides_pb2.CreateCommissionRequest, reference: ReferenceData) -> NewCommission:
    problems: list[Violation] = []
    bad = territory_violation(request.territory, reference)
    if bad is not None:
        problems.append(bad)
    day = _day(problems, "day", request.day, "la date de la commission")
    starts = _time(problems, "starts_at", request.starts_at or "14:00")
    place = _text(problems, "place", request.place, "le lieu", required=False, limit=200)
    members = [m.strip() for m in request.members if m.strip()]
    if not members:
        problems.append(
            Violation(
                "members",
                "a commission has members",
                "Indiquez les membres de la commission (au moins un).",
                REQUIRED,
            )
        )
    elif len(members) > MAX_MEMBERS or any(len(m) > 200 for m in members):
        problems.append(
            Violation(
                "members",
                f"at most {MAX_MEMBERS} members of 200 characters",
                f"Au plus {MAX_MEMBERS} membres, de 200 caractères chacun.",
                "TOO_LONG",
            )
        )
    if problems:
        raise InvalidArgument.of(problems)
    assert day is not None and starts is not None
    return NewCommission(request.territory, day, starts, place, members)


def _day(problems: list[Violation], field: str, raw: str, what_fr: str) -> date | None:
    try:
        return date.fromisoformat(raw)
    except ValueError:
        problems.append(
            Violation(
                field,
                f"{field} is a date YYYY-MM-DD (got {raw!r})",
                f"Indiquez {what_fr} au format AAAA-MM-JJ.",
                "INVALID_DATE" if raw else REQUIRED,
            )
        )
        return None


def _time(problems: list[Violation], field: str, raw: str) -> time | None:
    try:
        return time.fromisoformat(raw)
    except ValueError:
        problems.append(
            Violation(
                field, f"{field} is HH:MM (got {raw!r})", "Indiquez l'heure au format HH:MM.", "INVALID_TIME"
            )
        )
        return None


@dataclass(frozen=True)
class DecisionInput:
    decision: Decision
    channel: DecisionChannel
    amount_granted_cents: int
    refusal_reason: str
    reasons: str
    members: list[str]
    budget_line_id: str
    override_reason: str
    mode: PaymentMode | None
    payee_kind: PayeeKind
    payee_name: str


def decision(request: aides_pb2.RecordDecisionRequest, reference: ReferenceData) -> DecisionInput:
    problems: list[Violation] = []
    try:
        made = Decision(request.decision)
    except ValueError:
        problems.append(
            Violation(
                "decision",
                f"decision is granted, postponed or refused (got {request.decision!r})",
                "Choisissez la décision : accordée, ajournée ou refusée.",
                "INVALID_DECISION" if request.decision else REQUIRED,
            )
        )
        made = Decision.POSTPONED
    try:
        channel = DecisionChannel(request.channel or DecisionChannel.COMMISSION)
    except ValueError:
        problems.append(
            Violation(
                "channel",
                f"channel is commission or urgent (got {request.channel!r})",
                "La décision est prise en commission ou en urgence.",
                "INVALID_CHANNEL",
            )
        )
        channel = DecisionChannel.COMMISSION
    amount = request.amount_granted_cents
    if made is Decision.GRANTED:
        _cents(problems, "amount_granted_cents", amount, "le montant accordé")
    elif amount:
        problems.append(
            Violation(
                "amount_granted_cents",
                "only a granted aid has an amount",
                "Seule une aide accordée a un montant : laissez-le vide.",
                "CONTRADICTORY",
            )
        )
    refusal = request.refusal_reason
    if made is Decision.REFUSED and refusal not in reference.aid_refusal_reasons:
        problems.append(
            Violation(
                "refusal_reason",
                f"unknown refusal reason {refusal!r}",
                "Choisissez le motif du refus dans la liste.",
                "UNKNOWN_REFUSAL_REASON" if refusal else REQUIRED,
            )
        )
    if made is not Decision.REFUSED and refusal:
        problems.append(
            Violation(
                "refusal_reason",
                "only a refusal has a refusal reason",
                "Seul un refus a un motif de refus.",
                "CONTRADICTORY",
            )
        )
    reasons = _text(
        problems,
        "reasons",
        request.reasons,
        "les motifs de la décision",
        required=made is not Decision.GRANTED,
        limit=MAX_REASON,
    )
    members = [m.strip() for m in request.members if m.strip()]
    line = (
        id_of("budget_line_id", request.budget_line_id, "la ligne budgétaire")
        if request.budget_line_id
        else ""
    )
    override = _text(
        problems,
        "override_reason",
        request.override_reason,
        "la raison du dépassement",
        required=False,
        limit=500,
    )
    mode: PaymentMode | None = None
    payee = PayeeKind.PERSON
    payee_name = ""
    if request.HasField("payment"):
        if request.payment.mode:
            try:
                mode = PaymentMode(request.payment.mode)
            except ValueError:
                problems.append(
                    Violation(
                        "payment.mode",
                        f"unknown payment mode {request.payment.mode!r}",
                        "Mode de paiement inconnu.",
                        "INVALID_MODE",
                    )
                )
        if request.payment.payee_kind:
            try:
                payee = PayeeKind(request.payment.payee_kind)
            except ValueError:
                problems.append(
                    Violation(
                        "payment.payee_kind",
                        "payee is person or third_party",
                        "Le bénéficiaire du paiement est la personne ou un tiers.",
                        "INVALID_PAYEE",
                    )
                )
        payee_name = _text(
            problems,
            "payment.payee_name",
            request.payment.payee_name,
            "le nom du tiers",
            required=payee is PayeeKind.THIRD_PARTY,
            limit=200,
        )
    if problems:
        raise InvalidArgument.of(problems)
    return DecisionInput(
        made, channel, amount, refusal, reasons, members, line, override, mode, payee, payee_name
    )


@dataclass(frozen=True)
class NewLine:
    territory: str
    year: int
    label: str
    aid_types: list[str]
    envelope_cents: int


def new_line(request: aides_pb2.CreateBudgetLineRequest, reference: ReferenceData) -> NewLine:
    problems: list[Violation] = []
    bad = territory_violation(request.territory, reference)
    if bad is not None:
        problems.append(bad)
    if not 2000 <= request.year <= 2100:
        problems.append(
            Violation(
                "year",
                f"year is 2000 to 2100 (got {request.year})",
                "Indiquez l'année de la ligne budgétaire (2000 à 2100).",
                "OUT_OF_RANGE",
            )
        )
    label = _text(problems, "label", request.label, "le libellé de la ligne", required=True, limit=200)
    types = list(dict.fromkeys(request.aid_types))
    if not types:
        problems.append(
            Violation(
                "aid_types",
                "a line covers at least one aid type",
                "Choisissez au moins un type d'aide pour cette ligne.",
                REQUIRED,
            )
        )
    for i, code in enumerate(types):
        if code not in reference.aid_types:
            problems.append(
                Violation(
                    f"aid_types[{i}]",
                    f"unknown aid type {code!r}",
                    f"Type d'aide inconnu « {code} ».",
                    "UNKNOWN_AID_TYPE",
                )
            )
    _cents(problems, "envelope_cents", request.envelope_cents, "l'enveloppe", positive=False)
    if problems:
        raise InvalidArgument.of(problems)
    return NewLine(request.territory, request.year, label, types, request.envelope_cents)


@dataclass(frozen=True)
class PaymentOutcome:
    status: PaymentStatus
    reference: str
    cancel_reason: str


def payment_outcome(request: aides_pb2.RecordPaymentRequest) -> PaymentOutcome:
    problems: list[Violation] = []
    try:
        status = PaymentStatus(request.status)
        if status is PaymentStatus.TO_PAY:
            raise ValueError
    except ValueError:
        problems.append(
            Violation(
                "status",
                "status is paid or cancelled",
                "Indiquez si le paiement est fait ou annulé.",
                "INVALID_STATUS",
            )
        )
        status = PaymentStatus.PAID
    reference = _text(
        problems, "reference", request.reference, "la référence du mandat", required=False, limit=100
    )
    reason = _text(
        problems,
        "cancel_reason",
        request.cancel_reason,
        "la raison de l'annulation",
        required=status is PaymentStatus.CANCELLED,
        limit=500,
    )
    if problems:
        raise InvalidArgument.of(problems)
    return PaymentOutcome(status, reference, reason)
