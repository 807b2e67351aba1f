"""The money of the CCAS's aid: the payments to make (mark paid with the accounting
reference, or cancelled with a reason — a responsable) and the budget lines of a year
(envelope, committed, paid, remaining; a responsable creates them).

Totals, the line's exactness and who may do what are the aid service's; amounts are
typed in euros (domain.money) and shown the French way.
"""

from __future__ import annotations

from typing import Any

import grpc
from entraide.v1 import aides_pb2
from starlette.responses import Response

from domain.aides import PaymentStatus
from domain.labels_fr import PAYMENT_STATUS_LABELS
from services.console import web
from services.console.access_gate import require
from services.console.aid_forms import (
    AID_DECIDERS,
    AID_READERS,
    NOT_ALLOWED,
    NOT_RESPONSABLE,
    Typed,
    aid_errors,
    aid_types,
    is_refusal,
)
from services.console.planning_forms import today
from services.console.web import FormErrors, Page, new_request_id, page_route

DONE = {
    "paye": "Le paiement est enregistré comme payé.",
    "annule": "Le paiement est annulé : le montant revient sur la ligne budgétaire.",
    "ligne": "La ligne budgétaire est créée.",
}
PAYMENT_INPUTS = ("status", "reference", "cancel_reason")
LINE_INPUTS = ("territory", "year", "label", "aid_types", "envelope")
LINE_RENAME = {"envelope_cents": "envelope"}


# --- Payments to make ---------------------------------------------------------------------


async def payments_page(
    page: Page,
    *,
    refused: str = "",
    errors: FormErrors | None = None,
    values: dict[str, str] | None = None,
    request_id: str = "",
    status: int = 200,
) -> Response:
    asked = web.query(page.request, "statut") or PaymentStatus.TO_PAY.value
    statuses = [asked] if asked in set(PaymentStatus) else [PaymentStatus.TO_PAY.value]
    reply = await page.calls.aides.ListPayments(
        aides_pb2.ListPaymentsRequest(statuses=statuses, page_size=500)
    )
    payments = sorted(reply.payments, key=lambda p: (p.due_at.seconds, p.person_label.lower()))
    return page.render(
        "aid_payments.html",
        status=status,
        title="Paiements à faire" if statuses[0] == PaymentStatus.TO_PAY else "Paiements des aides",
        payments=payments,
        total=sum(p.amount_cents for p in payments),
        asked=statuses[0],
        status_options=[(s.value, PAYMENT_STATUS_LABELS[s].capitalize()) for s in PaymentStatus],
        can_pay=page.session.agent.role in AID_DECIDERS,
        refused=refused,
        errors=errors or FormErrors(),
        values=values or {},
        request_id=request_id,
        new_request_id=new_request_id,
        done=web.messages(DONE, page.request),
    )


async def payments(page: Page) -> Response:
    require(page, AID_READERS, NOT_ALLOWED)
    return await payments_page(page)


async def record_payment(page: Page) -> Response:
    require(page, AID_DECIDERS, NOT_RESPONSABLE)
    payment_id = str(page.request.path_params["payment_id"])
    status = page.field("status")
    values = {name: page.field(name) for name in PAYMENT_INPUTS}
    request_id = page.field("request_id") or new_request_id()
    try:
        await page.calls.aides.RecordPayment(
            aides_pb2.RecordPaymentRequest(
                payment_id=payment_id,
                status=status,
                reference=values["reference"] if status == PaymentStatus.PAID else "",
                cancel_reason=values["cancel_reason"] if status == PaymentStatus.CANCELLED else "",
                request_id=request_id,
            )
        )
    except grpc.RpcError as error:
        if web.code_of(error) is grpc.StatusCode.NOT_FOUND:
            raise web.not_found() from None
        if not is_refusal(error):
            raise
        return await payments_page(
            page,
            refused=f"{payment_id}-{status}",
            errors=aid_errors(error, PAYMENT_INPUTS),
            values=values,
            request_id=request_id,
            status=400,
        )
    back = page.field("retour")
    done = "paye" if status == PaymentStatus.PAID else "annule"
    if back.startswith("/aides/demandes/") and "//" not in back:
        return page.redirect(f"{back}?fait=paiement#paiements")
    return page.redirect(f"/aides/paiements?fait={done}")


# --- Budget lines -----------------------------------------------------------------------


def _year(text: str) -> int:
    try:
        year = int(text)
    except ValueError:
        return today().year
    return year if 2000 <= year <= 2100 else today().year


async def budget_page(
    page: Page,
    *,
    errors: FormErrors | None = None,
    values: dict[str, Any] | None = None,
    request_id: str = "",
    status: int = 200,
) -> Response:
    asked = str(values.get("year", "")) if values else web.query(page.request, "annee")
    year = _year(asked or str(today().year))
    reply = await page.calls.aides.ListBudgetLines(aides_pb2.ListBudgetLinesRequest(year=year))
    lines = sorted(reply.budget_lines, key=lambda line: (line.territory, line.label.lower()))
    communes = sorted(page.session.agent.territories)
    defaults: dict[str, Any] = {
        "territory": communes[0] if communes else "",
        "year": str(year),
        "aid_types": [],
    }
    return page.render(
        "aid_budget.html",
        status=status,
        title=f"Lignes budgétaires des aides {year}",
        year=year,
        years=[year - 1, year + 1],
        lines=lines,
        totals={
            "envelope": sum(line.envelope_cents for line in lines),
            "committed": sum(line.committed_cents for line in lines),
            "paid": sum(line.paid_cents for line in lines),
            "remaining": sum(line.remaining_cents for line in lines),
        },
        can_create=page.session.agent.role in AID_DECIDERS,
        communes=communes,
        types=await aid_types(page),
        errors=errors or FormErrors(),
        values=values or defaults,
        request_id=request_id or new_request_id(),
        done=web.messages(DONE, page.request),
    )


async def budget(page: Page) -> Response:
    require(page, AID_READERS, NOT_ALLOWED)
    return await budget_page(page)


async def create_line(page: Page) -> Response:
    require(page, AID_DECIDERS, NOT_RESPONSABLE)
    values: dict[str, Any] = {name: page.field(name) for name in LINE_INPUTS}
    values["aid_types"] = page.fields("aid_types")
    request_id = page.field("request_id") or new_request_id()
    typed = Typed()
    envelope = typed.cents("envelope", values["envelope"])
    year = typed.count("year", values["year"])
    errors = typed.refusal()
    if errors is None:
        try:
            created = await page.calls.aides.CreateBudgetLine(
                aides_pb2.CreateBudgetLineRequest(
                    territory=values["territory"],
                    year=year,
                    label=values["label"],
                    aid_types=values["aid_types"],
                    envelope_cents=envelope,
                    request_id=request_id,
                )
            )
        except grpc.RpcError as error:
            if not is_refusal(error):
                raise
            errors = aid_errors(error, LINE_INPUTS, LINE_RENAME)
        else:
            return page.redirect(f"/aides/budget?annee={created.year}&fait=ligne")
    return await budget_page(page, errors=errors, values=values, request_id=request_id, status=400)


ROUTES = [
    page_route("/aides/paiements", payments, name="aid_payments"),
    page_route("/aides/paiements/{payment_id}", record_payment, methods=("POST",), name="aid_record_payment"),
    page_route("/aides/budget", budget, name="aid_budget"),
    page_route("/aides/budget", create_line, methods=("POST",), name="aid_create_budget_line"),
]
