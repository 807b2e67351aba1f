"""A loan's row as its AidService message, with the repayment schedule computed from it."""

from __future__ import annotations

import asyncpg
from entraide.v1 import aides_pb2

from domain.aides import loan_schedule
from kernel.reference import ReferenceData


def loan_message(
    row: asyncpg.Record, incidents: list[asyncpg.Record], reference: ReferenceData
) -> aides_pb2.Loan:
    schedule = loan_schedule(row["amount_cents"], row["annual_rate_bp"], row["months"], row["first_due"])
    return aides_pb2.Loan(
        loan_id=str(row["loan_id"]),
        aid_request_id=str(row["aid_request_id"]),
        bank=row["bank"],
        bank_label=reference.loan_banks.get(row["bank"], row["bank"]),
        amount_cents=row["amount_cents"],
        months=row["months"],
        annual_rate_bp=row["annual_rate_bp"],
        first_due=row["first_due"].isoformat(),
        schedule=[
            aides_pb2.Instalment(
                number=i.number,
                due=i.due.isoformat(),
                payment_cents=i.payment_cents,
                principal_cents=i.principal_cents,
                interest_cents=i.interest_cents,
                remaining_cents=i.remaining_cents,
            )
            for i in schedule
        ],
        total_interest_cents=sum(i.interest_cents for i in schedule),
        status=row["status"],
        incidents=[
            aides_pb2.LoanIncident(
                day=n["day"].isoformat(),
                kind=n["kind"],
                instalment_number=n["instalment_number"],
                amount_cents=n["amount_cents"],
                note=n["note"],
                recorded_by=n["recorded_by"],
            )
            for n in incidents
        ],
    )
