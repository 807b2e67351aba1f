"""Rows of the aid tables as AidService messages (money stays in cents)."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
from entraide.v1 import aides_pb2

from domain.aides import eligible
from kernel.reference import AidTypeRef, ReferenceData
from kernel.timestamps import to_timestamp


def aid_type_message(ref: AidTypeRef) -> aides_pb2.AidType:
    return aides_pb2.AidType(
        code=ref.code,
        label=ref.label,
        nature=ref.nature.value,
        ceiling_per_request_cents=ref.ceiling_per_request_cents,
        ceiling_per_household_year_cents=ref.ceiling_per_household_year_cents,
        scale=ref.scale.value,
        threshold_cents=ref.threshold_cents,
    )


def eligibility(row: asyncpg.Record, reference: ReferenceData) -> str:
    ref = reference.aid_types.get(row["aid_type"])
    if ref is None:
        return ""
    value = {
        "reste_a_vivre": row["reste_a_vivre_cents"],
        "quotient_familial": row["quotient_familial_cents"],
    }.get(ref.scale.value)
    verdict = eligible(ref.scale, value, ref.threshold_cents or None)
    return "" if verdict is None else ("yes" if verdict else "no")


def person_label(row: asyncpg.Record) -> str:
    return " ".join(part for part in (row.get("first_name"), row.get("last_name")) if part)


def payment_message(row: asyncpg.Record, label: str = "", aid_type: str = "") -> aides_pb2.Payment:
    message = aides_pb2.Payment(
        payment_id=str(row["payment_id"]),
        aid_request_id=str(row["aid_request_id"]),
        territory=row["territory"],
        amount_cents=row["amount_cents"],
        mode=row["mode"],
        payee_kind=row["payee_kind"],
        payee_name=row["payee_name"],
        status=row["status"],
        reference=row["reference"],
        cancel_reason=row["cancel_reason"],
        due_at=to_timestamp(row["due_at"]),
        person_label=label,
        aid_type=aid_type,
    )
    if row["paid_at"] is not None:
        message.paid_at.CopyFrom(to_timestamp(row["paid_at"]))
    return message


def decision_message(row: asyncpg.Record) -> aides_pb2.Decision | None:
    if row["decision"] is None:
        return None
    message = aides_pb2.Decision(
        decision=row["decision"],
        channel=row["decision_channel"] or "",
        amount_granted_cents=row["amount_granted_cents"],
        refusal_reason=row["refusal_reason"],
        reasons=row["decision_reasons"],
        members=list(row["decision_members"]),
        commission_id=str(row["commission_id"] or ""),
        budget_line_id=str(row["budget_line_id"] or ""),
        override_reason=row["override_reason"],
        decided_by=row["decided_by"],
    )
    if row["decided_at"] is not None:
        message.decided_at.CopyFrom(to_timestamp(row["decided_at"]))
    return message


def aid_request_message(
    row: asyncpg.Record,
    reference: ReferenceData,
    payments: Sequence[asyncpg.Record] = (),
    household_granted: int = 0,
) -> aides_pb2.AidRequest:
    message = aides_pb2.AidRequest(
        aid_request_id=str(row["aid_request_id"]),
        dossier_id=str(row["dossier_id"]),
        person_id=str(row["person_id"]),
        territory=row["territory"],
        aid_type=row["aid_type"],
        status=row["status"],
        amount_asked_cents=row["amount_asked_cents"],
        reason=row["reason"],
        budget=aides_pb2.HouseholdBudget(
            resources_cents=row["resources_cents"],
            charges_cents=row["charges_cents"],
            adults=row["adults"],
            children=row["children"],
        ),
        reste_a_vivre_cents=row["reste_a_vivre_cents"],
        quotient_familial_cents=row["quotient_familial_cents"],
        eligible=eligibility(row, reference),
        missing_documents=list(row["missing_documents"]),
        instruction_note=row["instruction_note"],
        commission_id=str(row["commission_id"] or ""),
        payments=[payment_message(p) for p in payments if p["aid_request_id"] == row["aid_request_id"]],
        household_granted_this_year_cents=household_granted,
        created_at=to_timestamp(row["created_at"]),
        updated_at=to_timestamp(row["updated_at"]),
        created_by=row["created_by"],
    )
    decision = decision_message(row)
    if decision is not None:
        message.decision.CopyFrom(decision)
    return message


def budget_line_message(row: asyncpg.Record) -> aides_pb2.BudgetLine:
    return aides_pb2.BudgetLine(
        budget_line_id=str(row["budget_line_id"]),
        territory=row["territory"],
        year=row["year"],
        label=row["label"],
        aid_types=list(row["aid_types"]),
        envelope_cents=row["envelope_cents"],
        committed_cents=row["committed_cents"],
        paid_cents=row["paid_cents"],
        remaining_cents=row["envelope_cents"] - row["committed_cents"],
    )


def commission_message(row: asyncpg.Record, agenda: Sequence[asyncpg.Record] = ()) -> aides_pb2.Commission:
    items = []
    for item in agenda:
        entry = aides_pb2.AgendaItem(
            aid_request_id=str(item["aid_request_id"]),
            dossier_id=str(item["dossier_id"]),
            person_label=person_label(item),
            aid_type=item["aid_type"],
            amount_asked_cents=item["amount_asked_cents"],
            reste_a_vivre_cents=item["reste_a_vivre_cents"],
            status=item["status"],
        )
        decision = decision_message(item)
        if decision is not None:
            entry.decision.CopyFrom(decision)
        items.append(entry)
    return aides_pb2.Commission(
        commission_id=str(row["commission_id"]),
        territory=row["territory"],
        day=row["day"].isoformat(),
        starts_at=row["starts_at"].strftime("%H:%M"),
        place=row["place"],
        members=list(row["members"]),
        status=row["status"],
        agenda=items,
    )
