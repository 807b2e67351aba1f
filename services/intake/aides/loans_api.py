"""AidService: the personal micro-credit of a granted request — the partner bank's
loan (amount, duration, rate, first due date) and its repayment schedule, computed by
domain.aides.loan_schedule from these (never stored twice); incidents in order."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import asyncpg
from entraide.v1 import aides_pb2, events_pb2

from domain.aides import (
    MAX_LOAN_MONTHS,
    AidNature,
    AidRequestStatus,
    LoanIncidentKind,
    LoanStatus,
)
from domain.events import EventType
from domain.labels_fr import LOAN_INCIDENT_LABELS
from domain.money import MAX_CENTS, format_euros
from kernel import auth, idempotency
from kernel.db import Connection
from kernel.errors import FailedPrecondition, InvalidArgument, Violation
from kernel.grpc_server import Context
from kernel.timestamps import to_timestamp
from services.intake.aides import store, validation
from services.intake.aides.base import AidBase, emit, not_found, wrong_status
from services.intake.aides.loans_view import loan_message
from services.intake.schema import SCHEMA
from workflows.contracts import aid_request_workflow_id

LOAN_NAMESPACE = uuid.UUID("a7e3c1d0-4b29-4f86-9c15-e08d2b6f7a31")
MAX_RATE_BP = 2000


def _day(raw: str, field: str, problems: list[Violation]) -> date | None:
    try:
        return date.fromisoformat(raw)
    except ValueError:
        problems.append(
            Violation(
                field,
                f"{field} is a date YYYY-MM-DD",
                "Indiquez la date au format AAAA-MM-JJ.",
                "INVALID_DATE" if raw else "FIELD_REQUIRED",
            )
        )
        return None


class LoanHandlers(AidBase):
    async def loan_of(self, conn: Connection, loan_id: str, for_update: bool = False) -> asyncpg.Record:
        lock = " FOR UPDATE" if for_update else ""
        row = await conn.fetchrow(
            f"SELECT * FROM {SCHEMA}.loans WHERE loan_id = $1{lock}", uuid.UUID(loan_id)
        )
        if row is None:
            raise not_found("ce microcrédit", "loan_id")
        return row

    async def incidents(self, conn: Connection, loan_id: object) -> list[asyncpg.Record]:
        return list(
            await conn.fetch(
                f"SELECT * FROM {SCHEMA}.loan_incidents WHERE loan_id = $1 ORDER BY seq", loan_id
            )
        )

    async def SetUpLoan(self, request: aides_pb2.SetUpLoanRequest, context: Context) -> aides_pb2.Loan:
        aid_request_id = validation.id_of(
            "aid_request_id", request.aid_request_id, "l'identifiant de la demande"
        )
        problems: list[Violation] = []
        if request.bank not in self.reference.loan_banks:
            problems.append(
                Violation(
                    "bank",
                    f"unknown bank {request.bank!r}",
                    "Choisissez la banque partenaire dans la liste.",
                    "UNKNOWN_BANK" if request.bank else "FIELD_REQUIRED",
                )
            )
        if not 0 < request.amount_cents <= MAX_CENTS:
            problems.append(
                Violation("amount_cents", "amount_cents > 0", "Indiquez le montant du prêt.", "OUT_OF_RANGE")
            )
        if not 1 <= request.months <= MAX_LOAN_MONTHS:
            problems.append(
                Violation(
                    "months",
                    f"months is 1 to {MAX_LOAN_MONTHS}",
                    f"La durée du prêt est de 1 à {MAX_LOAN_MONTHS} mois.",
                    "OUT_OF_RANGE",
                )
            )
        if not 0 <= request.annual_rate_bp <= MAX_RATE_BP:
            problems.append(
                Violation(
                    "annual_rate_bp",
                    f"annual_rate_bp is 0 to {MAX_RATE_BP}",
                    "Le taux annuel est compris entre 0 et 20 %.",
                    "OUT_OF_RANGE",
                )
            )
        first_due = _day(request.first_due, "first_due", problems)
        if problems:
            raise InvalidArgument.of(problems)
        assert first_due is not None
        claims = auth.current()
        now = datetime.now(UTC)
        loan_id = validation.derived_id(LOAN_NAMESPACE, aid_request_id)
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                row = await self.request_row(conn, aid_request_id, for_update=True)
                existing = await conn.fetchrow(
                    f"SELECT * FROM {SCHEMA}.loans WHERE aid_request_id = $1", row["aid_request_id"]
                )
                if existing is None:
                    ref = self.reference.aid_types[row["aid_type"]]
                    if ref.nature is not AidNature.LOAN:
                        raise FailedPrecondition(
                            "not a micro-credit",
                            fr=f"« {ref.label} » n'est pas un microcrédit.",
                            reason="NOT_A_LOAN",
                            field="aid_request_id",
                        )
                    if row["status"] != AidRequestStatus.GRANTED:
                        raise wrong_status(row["status"], "mettre en place le prêt (il doit être accordé)")
                    if request.amount_cents > row["amount_granted_cents"]:
                        raise FailedPrecondition(
                            "over the amount granted",
                            fr="Le prêt dépasse le montant accordé"
                            f" ({format_euros(row['amount_granted_cents'])}).",
                            reason="OVER_GRANTED",
                            field="amount_cents",
                        )
                    await store.insert(
                        conn,
                        "loans",
                        {
                            "loan_id": loan_id,
                            "aid_request_id": row["aid_request_id"],
                            "territory": row["territory"],
                            "bank": request.bank,
                            "amount_cents": request.amount_cents,
                            "months": request.months,
                            "annual_rate_bp": request.annual_rate_bp,
                            "first_due": first_due,
                            "status": LoanStatus.REPAYING.value,
                            "created_by": claims.subject,
                            "created_at": now,
                            "request_key": f"loan/{aid_request_id}",
                        },
                        "loan_id",
                    )
                    await emit(
                        conn,
                        EventType.LOAN_SET_UP,
                        aid_request_id,
                        f"{aid_request_workflow_id(aid_request_id)}/loan",
                        events_pb2.LoanSetUp(
                            loan_id=loan_id,
                            aid_request_id=aid_request_id,
                            territory=row["territory"],
                            bank=request.bank,
                            amount_cents=request.amount_cents,
                            months=request.months,
                            annual_rate_bp=request.annual_rate_bp,
                            at=to_timestamp(now),
                        ),
                        now,
                    )
                    bank = self.reference.loan_banks[request.bank]
                    await self.changed(
                        conn,
                        row,
                        values={"status": AidRequestStatus.CLOSED.value},
                        change="loan_set_up",
                        actor=claims.subject,
                        at=now,
                        request_key="",
                        summary=f"Microcrédit mis en place : {format_euros(request.amount_cents)} sur"
                        f" {request.months} mois ({bank})",
                    )
            loan = await self.loan_of(conn, loan_id)
            incidents = await self.incidents(conn, loan["loan_id"])
        await self.tell_current(aid_request_id, context)
        return loan_message(loan, incidents, self.reference)

    async def RecordLoanIncident(
        self, request: aides_pb2.RecordLoanIncidentRequest, context: Context
    ) -> aides_pb2.Loan:
        loan_id = validation.id_of("loan_id", request.loan_id, "l'identifiant du microcrédit")
        problems: list[Violation] = []
        day = _day(request.day, "day", problems)
        try:
            kind = LoanIncidentKind(request.kind)
        except ValueError:
            problems.append(
                Violation(
                    "kind",
                    f"unknown incident kind {request.kind!r}",
                    "Choisissez le type d'incident.",
                    "INVALID_KIND",
                )
            )
            kind = LoanIncidentKind.LATE
        if not 0 <= request.amount_cents <= MAX_CENTS:
            problems.append(
                Violation("amount_cents", "amount_cents >= 0", "Le montant est positif.", "OUT_OF_RANGE")
            )
        note = request.note.strip()
        if len(note) > 1000:
            problems.append(
                Violation(
                    "note",
                    "note is at most 1000 characters",
                    "La note fait au plus 1 000 caractères.",
                    "TOO_LONG",
                )
            )
        if problems:
            raise InvalidArgument.of(problems)
        assert day is not None
        key = idempotency.key_of(request, "loan-incident")
        now = datetime.now(UTC)
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                loan = await self.loan_of(conn, loan_id, for_update=True)
                done = key and await conn.fetchval(
                    f"SELECT 1 FROM {SCHEMA}.loan_incidents WHERE request_key = $1", key
                )
                if not done:
                    if not 0 <= request.instalment_number <= loan["months"]:
                        raise InvalidArgument(
                            "instalment_number out of the schedule",
                            fr=f"Ce prêt compte {loan['months']} échéances.",
                            reason="OUT_OF_RANGE",
                            field="instalment_number",
                        )
                    seq = loan["version"]
                    await conn.execute(
                        f"""INSERT INTO {SCHEMA}.loan_incidents (loan_id, seq, territory, day, kind,
                                instalment_number, amount_cents, note, recorded_by, at, request_key)
                            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)""",
                        loan["loan_id"],
                        seq,
                        loan["territory"],
                        day,
                        kind.value,
                        request.instalment_number,
                        request.amount_cents,
                        note,
                        auth.current().subject,
                        now,
                        key or None,
                    )
                    status = (
                        LoanStatus.REPAID.value
                        if kind is LoanIncidentKind.EARLY_REPAYMENT
                        else loan["status"]
                    )
                    await store.update(
                        conn, "loans", "loan_id", loan["loan_id"], {"version": seq + 1, "status": status}
                    )
                    aid_request_id = str(loan["aid_request_id"])
                    await emit(
                        conn,
                        EventType.LOAN_INCIDENT_RECORDED,
                        aid_request_id,
                        f"{aid_request_workflow_id(aid_request_id)}/loan-incident/{seq}",
                        events_pb2.LoanIncidentRecorded(
                            loan_id=loan_id,
                            aid_request_id=aid_request_id,
                            territory=loan["territory"],
                            kind=kind.value,
                            amount_cents=request.amount_cents,
                            at=to_timestamp(now),
                            sequence=seq,
                        ),
                        now,
                    )
                    request_row = await store.aid_request(conn, aid_request_id)
                    assert request_row is not None
                    await store.put_timeline(
                        conn,
                        request_row["dossier_id"],
                        f"{aid_request_id}:loan:{seq}",
                        aid_request_id,
                        loan["territory"],
                        "aid_loan_incident",
                        auth.current().subject,
                        now,
                        f"Microcrédit : {LOAN_INCIDENT_LABELS[kind]} ({day.strftime('%d/%m/%Y')})",
                    )
            loan = await self.loan_of(conn, loan_id)
            incidents = await self.incidents(conn, loan["loan_id"])
        return loan_message(loan, incidents, self.reference)
