"""AidService: budget lines (an envelope per year for a group of aid types) and the
payments to make. A payment paid adds to its line's paid total, a payment cancelled
gives its amount back to the line; both under the line's row lock. A granted request
whose payments are all paid or cancelled is closed."""

from __future__ import annotations

from datetime import UTC, datetime

from entraide.v1 import aides_pb2, events_pb2

from domain.aides import AidRequestStatus, PaymentStatus
from domain.events import EventType
from domain.labels_fr import PAYMENT_STATUS_LABELS
from domain.money import format_euros
from domain.planning import PARIS
from kernel import auth, idempotency
from kernel.errors import FailedPrecondition, PermissionDenied
from kernel.grpc_server import Context
from kernel.timestamps import to_timestamp
from services.intake.aides import store, validation
from services.intake.aides.base import AidBase, emit, not_found
from services.intake.aides.convert import budget_line_message, payment_message, person_label
from services.intake.caseload import caller_territories
from services.intake.schema import SCHEMA
from workflows.contracts import aid_request_workflow_id


class BudgetHandlers(AidBase):
    async def CreateBudgetLine(
        self, request: aides_pb2.CreateBudgetLineRequest, context: Context
    ) -> aides_pb2.BudgetLine:
        made = validation.new_line(request, self.reference)
        claims = auth.current()
        if not claims.covers(made.territory):
            raise PermissionDenied(
                "this commune is not one of yours",
                fr="Cette commune ne fait pas partie de vos communes d'intervention.",
                reason="TERRITORY_NOT_ASSIGNED",
                field="territory",
            )
        line_id = validation.derived_id(
            validation.BUDGET_LINE_NAMESPACE, claims.subject, made.territory, request.request_id
        )
        now = datetime.now(UTC)
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                # One line per aid type, commune and year: taken under a lock of the three.
                await conn.execute(
                    "SELECT pg_advisory_xact_lock(hashtext($1))", f"budget-line/{made.territory}/{made.year}"
                )
                created = await store.insert(
                    conn,
                    "budget_lines",
                    {
                        "budget_line_id": line_id,
                        "territory": made.territory,
                        "year": made.year,
                        "label": made.label,
                        "aid_types": made.aid_types,
                        "envelope_cents": made.envelope_cents,
                        "created_by": claims.subject,
                        "created_at": now,
                        "request_key": f"create/{line_id}",
                    },
                    "budget_line_id",
                )
                if created:
                    taken = await conn.fetch(
                        f"""SELECT t.aid_type, l.label FROM {SCHEMA}.budget_line_types t
                              JOIN {SCHEMA}.budget_lines l ON l.budget_line_id = t.budget_line_id
                             WHERE t.territory = $1 AND t.year = $2 AND t.aid_type = ANY($3::text[])""",
                        made.territory,
                        made.year,
                        made.aid_types,
                    )
                    if taken:
                        names = ", ".join(
                            f"« {self.reference.aid_types[t['aid_type']].label} » (ligne « {t['label']} »)"
                            for t in taken
                        )
                        raise FailedPrecondition(
                            "an aid type is on another line this year",
                            fr=f"Déjà sur une autre ligne de {made.year} : {names}.",
                            reason="AID_TYPE_ON_ANOTHER_LINE",
                            field="aid_types",
                        )
                    await conn.executemany(
                        f"""INSERT INTO {SCHEMA}.budget_line_types (territory, year, aid_type, budget_line_id)
                            VALUES ($1, $2, $3, $4)""",
                        [(made.territory, made.year, t, line_id) for t in made.aid_types],
                    )
                    await emit(
                        conn,
                        EventType.BUDGET_LINE_CREATED,
                        line_id,
                        f"budget-line-{line_id}",
                        events_pb2.BudgetLineCreated(
                            budget_line_id=line_id,
                            territory=made.territory,
                            year=made.year,
                            label=made.label,
                            aid_types=made.aid_types,
                            envelope_cents=made.envelope_cents,
                            at=to_timestamp(now),
                        ),
                        now,
                    )
            row = await store.budget_line(conn, line_id)
        assert row is not None
        return budget_line_message(row)

    async def ListBudgetLines(
        self, request: aides_pb2.ListBudgetLinesRequest, context: Context
    ) -> aides_pb2.ListBudgetLinesResponse:
        territories = caller_territories(list(request.territories))
        year = request.year or datetime.now(PARIS).year
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                f"""SELECT * FROM {SCHEMA}.budget_lines WHERE territory = ANY($1::text[]) AND year = $2
                     ORDER BY territory, label""",
                territories,
                year,
            )
        return aides_pb2.ListBudgetLinesResponse(budget_lines=[budget_line_message(r) for r in rows])

    async def ListPayments(
        self, request: aides_pb2.ListPaymentsRequest, context: Context
    ) -> aides_pb2.ListPaymentsResponse:
        territories = caller_territories(list(request.territories))
        statuses = [s for s in request.statuses if s in PAYMENT_STATUS_LABELS] or [PaymentStatus.TO_PAY.value]
        page = min(max(request.page_size or 100, 1), 500)
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                f"""SELECT pay.*, r.aid_type, p.first_name, p.last_name FROM {SCHEMA}.payments pay
                      JOIN {SCHEMA}.aid_requests r ON r.aid_request_id = pay.aid_request_id
                      LEFT JOIN {SCHEMA}.persons p ON p.person_id = r.person_id
                     WHERE pay.territory = ANY($1::text[]) AND pay.status = ANY($2::text[])
                     ORDER BY pay.due_at, pay.payment_id LIMIT $3""",
                territories,
                statuses,
                page,
            )
        return aides_pb2.ListPaymentsResponse(
            payments=[payment_message(r, person_label(r), r["aid_type"]) for r in rows]
        )

    async def RecordPayment(
        self, request: aides_pb2.RecordPaymentRequest, context: Context
    ) -> aides_pb2.Payment:
        payment_id = validation.id_of("payment_id", request.payment_id, "l'identifiant du paiement")
        made = validation.payment_outcome(request)
        key = idempotency.key_of(request, "aid-payment")
        now = datetime.now(UTC)
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                payment = await conn.fetchrow(
                    f"SELECT * FROM {SCHEMA}.payments WHERE payment_id = $1 FOR UPDATE", payment_id
                )
                if payment is None:
                    raise not_found("ce paiement", "payment_id")
                if not (key and payment["request_key"] == key):
                    if payment["status"] != PaymentStatus.TO_PAY:
                        label = PAYMENT_STATUS_LABELS[PaymentStatus(payment["status"])]
                        raise FailedPrecondition(
                            f"the payment is {payment['status']} already",
                            fr=f"Ce paiement est déjà « {label} ».",
                            reason="PAYMENT_DONE",
                            field="payment_id",
                        )
                    row = await self.request_row(conn, str(payment["aid_request_id"]), for_update=True)
                    await store.update(
                        conn,
                        "payments",
                        "payment_id",
                        payment["payment_id"],
                        {
                            "status": made.status.value,
                            "reference": made.reference,
                            "cancel_reason": made.cancel_reason,
                            "paid_at": now if made.status is PaymentStatus.PAID else None,
                            "version": payment["version"] + 1,
                            "updated_at": now,
                            "request_key": key or None,
                        },
                    )
                    if payment["budget_line_id"] is not None:
                        line = await store.budget_line(conn, str(payment["budget_line_id"]), for_update=True)
                        assert line is not None
                        change = (
                            {"paid_cents": line["paid_cents"] + payment["amount_cents"]}
                            if made.status is PaymentStatus.PAID
                            else {
                                "committed_cents": max(line["committed_cents"] - payment["amount_cents"], 0)
                            }
                        )
                        await store.update(
                            conn, "budget_lines", "budget_line_id", line["budget_line_id"], change
                        )
                    aid_request_id = str(row["aid_request_id"])
                    await emit(
                        conn,
                        EventType.AID_PAYMENT_CHANGED,
                        aid_request_id,
                        f"{aid_request_workflow_id(aid_request_id)}/payment/{payment_id}"
                        f"/{payment['version'] + 1}",
                        events_pb2.AidPaymentChanged(
                            payment_id=payment_id,
                            aid_request_id=aid_request_id,
                            territory=row["territory"],
                            aid_type=row["aid_type"],
                            budget_line_id=str(payment["budget_line_id"] or ""),
                            amount_cents=payment["amount_cents"],
                            mode=payment["mode"],
                            status=made.status.value,
                            at=to_timestamp(now),
                            sequence=payment["version"] + 1,
                        ),
                        now,
                    )
                    still = await conn.fetchval(
                        f"""SELECT count(*) FROM {SCHEMA}.payments
                             WHERE aid_request_id = $1 AND status = 'to_pay'""",
                        row["aid_request_id"],
                    )
                    done_word = "payée" if made.status is PaymentStatus.PAID else "annulée"
                    summary = f"Aide {done_word} : {format_euros(payment['amount_cents'])}"
                    values: dict[str, object] = {}
                    if not still and row["status"] == AidRequestStatus.GRANTED:
                        values["status"] = AidRequestStatus.CLOSED.value
                    await self.changed(
                        conn,
                        row,
                        values=values,
                        change=f"payment_{made.status.value}",
                        actor=auth.current().subject,
                        at=now,
                        request_key="",
                        summary=summary,
                    )
                    values.get("status", row["status"])
            updated = await conn.fetchrow(
                f"SELECT * FROM {SCHEMA}.payments WHERE payment_id = $1", payment_id
            )
        assert updated is not None
        await self.tell_current(str(updated["aid_request_id"]), context)
        return payment_message(updated)
