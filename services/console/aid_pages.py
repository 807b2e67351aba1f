"""The CCAS's aid requests: the requests of the agent's communes, the request form of a
dossier with the household's budget (the reste à vivre and quotient familial estimated
on the form, computed by the aid service once the request is made), and a request's
page: its budget and eligibility, the instruction, its place on a commission's agenda,
the decision (by the commission, or urgent by a responsable), its payments, the
decision letter as PDF, a micro-credit's loan with its schedule and incidents, the
request's supporting documents, the withdrawal.

Ceilings, the budget line, the statuses and who may do what are the aid service's;
these pages translate between forms and the API. Amounts are typed in euros
(domain.money) and sent in cents.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

import grpc
from entraide.v1 import aides_pb2, intake_pb2
from starlette.responses import Response

from domain import aides as rules
from domain.aides import (
    AidNature,
    AidRequestStatus,
    Decision,
    DecisionChannel,
    DocumentOwner,
    LoanIncidentKind,
    PayeeKind,
    PaymentMode,
)
from domain.labels_fr import AID_STATUS_LABELS
from kernel.auth import Role
from kernel.reference import ReferenceData
from services.console import web
from services.console.access_gate import require
from services.console.aid_dossier import documents_of
from services.console.aid_forms import (
    AID_DECIDERS,
    AID_READERS,
    NOT_ALLOWED,
    Typed,
    aid_errors,
    aid_types,
    euros_value,
    get_request,
    is_refusal,
)
from services.console.documents_pages import read_upload, upload_request
from services.console.dossier_page import Refusal, RequestIds
from services.console.planning_forms import today
from services.console.web import FormErrors, Page, new_request_id, page_route

DONE = {
    "cree": "La demande d'aide est enregistrée : le reste à vivre et le quotient familial sont calculés.",
    "instruction": "L'instruction est enregistrée.",
    "inscrite": "La demande est inscrite à l'ordre du jour de la commission.",
    "decision": "La décision est enregistrée.",
    "retrait": "La demande est retirée.",
    "pret": "Le microcrédit est mis en place : son échéancier est ci-dessous.",
    "incident": "L'incident de remboursement est enregistré.",
    "piece": "La pièce justificative est ajoutée à la demande.",
    "piece-supprimee": "La pièce justificative est supprimée.",
    "paiement": "Le paiement est enregistré.",
}
REQUEST_INPUTS = ("aid_type", "amount_asked", "reason", "resources", "charges", "adults", "children")
BUDGET_RENAME = {
    "budget_resources": "resources",
    "budget_charges": "charges",
    "budget_adults": "adults",
    "budget_children": "children",
    "amount_asked_cents": "amount_asked",
    "budget": "resources",
}
# The inputs of each form of a request's page (the error summary links to them).
FORM_INPUTS: dict[str, tuple[str, ...]] = {
    "instruction": ("complete", "missing_documents", "note", "resources", "charges", "adults", "children"),
    "inscription": ("commission_id",),
    "decision": (
        "decision",
        "channel",
        "amount_granted",
        "refusal_reason",
        "reasons",
        "members",
        "other_members",
        "override_reason",
        "mode",
        "payee_kind",
        "payee_name",
    ),
    "retrait": ("reason",),
    "pret": ("bank", "amount", "months", "annual_rate", "first_due"),
    "incident": ("day", "kind", "instalment_number", "amount", "note"),
    "piece": ("kind", "content"),
}
FORM_RENAME: dict[str, dict[str, str]] = {
    "instruction": BUDGET_RENAME,
    "decision": {
        "payment_mode": "mode",
        "payment_payee_kind": "payee_kind",
        "payment_payee_name": "payee_name",
    },
    "pret": {"annual_rate_bp": "annual_rate", "amount_cents": "amount"},
    "incident": {"amount_cents": "amount"},
    "piece": {"owner_id": "kind", "owner_kind": "kind"},
}
MULTI_INPUTS = frozenset({"missing_documents", "members"})
# Statuses a request may still be instructed, put on an agenda, decided or withdrawn in.
INSTRUCTABLE = frozenset({AidRequestStatus.SUBMITTED, AidRequestStatus.INCOMPLETE, AidRequestStatus.COMPLETE})
SCHEDULABLE = frozenset({AidRequestStatus.COMPLETE, AidRequestStatus.POSTPONED})
DECIDABLE = frozenset({AidRequestStatus.COMPLETE, AidRequestStatus.SCHEDULED, AidRequestStatus.POSTPONED})
WITHDRAWABLE = frozenset(
    {
        AidRequestStatus.SUBMITTED,
        AidRequestStatus.INCOMPLETE,
        AidRequestStatus.COMPLETE,
        AidRequestStatus.SCHEDULED,
        AidRequestStatus.POSTPONED,
    }
)
LETTER_STATUSES = frozenset(
    {AidRequestStatus.GRANTED, AidRequestStatus.REFUSED, AidRequestStatus.POSTPONED, AidRequestStatus.CLOSED}
)
LIST_STATUSES = [s.value for s in AidRequestStatus]


def request_id_of(page: Page) -> str:
    return str(page.request.path_params["aid_request_id"])


def request_url(aid_request_id: str, done: str = "", anchor: str = "") -> str:
    url = f"/aides/demandes/{quote(aid_request_id, safe='')}"
    return url + (f"?fait={done}" if done else "") + (f"#{anchor}" if anchor else "")


# --- The requests of the agent's communes -------------------------------------------------


async def requests_list(page: Page) -> Response:
    require(page, AID_READERS, NOT_ALLOWED)
    asked = web.query(page.request, "statut")
    statuses = [asked] if asked in LIST_STATUSES else []
    reply = await page.calls.aides.ListAidRequests(
        aides_pb2.ListAidRequestsRequest(statuses=statuses, page_size=200)
    )
    return page.render(
        "aid_list.html",
        title="Demandes d'aide",
        requests=sorted(reply.aid_requests, key=lambda r: r.created_at.seconds, reverse=True),
        status_options=[(s.value, AID_STATUS_LABELS[s].capitalize()) for s in AidRequestStatus],
        asked=statuses[0] if statuses else "",
    )


# --- The request form of a dossier ----------------------------------------------------------


def estimate(values: dict[str, str]) -> dict[str, str] | None:
    """The reste à vivre and quotient familial of the typed budget, with the rule the aid
    service applies (domain.aides); None when the budget cannot be read yet."""
    typed = Typed()
    resources = typed.cents("resources", values.get("resources", ""))
    charges = typed.cents("charges", values.get("charges", ""))
    adults = typed.count("adults", values.get("adults", ""), 1)
    children = typed.count("children", values.get("children", ""), 0)
    if typed.errors or adults < 1 or children < 0:
        return None
    return {
        "reste_a_vivre": str(rules.reste_a_vivre(resources, charges, adults + children)),
        "quotient_familial": str(rules.quotient_familial(resources, adults, children)),
        "persons": str(adults + children),
    }


async def dossier_for_form(page: Page) -> intake_pb2.Dossier:
    dossier_id = str(page.request.path_params["dossier_id"])
    dossier: intake_pb2.Dossier = await web.read_by_path_id(
        page.calls.intake.GetDossier(intake_pb2.GetDossierRequest(dossier_id=dossier_id))
    )
    return dossier


async def request_form(
    page: Page,
    dossier: intake_pb2.Dossier,
    values: dict[str, str],
    request_id: str,
    errors: FormErrors | None = None,
    computed: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    types = await aid_types(page)
    return page.render(
        "aid_request_new.html",
        status=status,
        title="Nouvelle demande d'aide",
        dossier=dossier,
        values=values,
        request_id=request_id,
        errors=errors or FormErrors(),
        computed=computed,
        types=types,
    )


async def new_request(page: Page) -> Response:
    require(page, AID_READERS, NOT_ALLOWED)
    dossier = await dossier_for_form(page)
    values = {"adults": "1", "children": "0", "aid_type": web.query(page.request, "type")}
    return await request_form(page, dossier, values, new_request_id())


async def create_request(page: Page) -> Response:
    require(page, AID_READERS, NOT_ALLOWED)
    dossier = await dossier_for_form(page)
    values = {name: page.field(name) for name in REQUEST_INPUTS}
    request_id = page.field("request_id") or new_request_id()
    typed = Typed()
    amount = typed.cents("amount_asked", values["amount_asked"])
    resources = typed.cents("resources", values["resources"])
    charges = typed.cents("charges", values["charges"])
    adults = typed.count("adults", values["adults"])
    children = typed.count("children", values["children"])
    if page.field("calcul"):
        # « Calculer » : the estimate only, nothing is recorded.
        return await request_form(page, dossier, values, request_id, typed.refusal(), estimate(values))
    refused = typed.refusal()
    if refused:
        return await request_form(page, dossier, values, request_id, refused, status=400)
    try:
        created = await page.calls.aides.CreateAidRequest(
            aides_pb2.CreateAidRequestRequest(
                dossier_id=dossier.dossier_id,
                aid_type=values["aid_type"],
                amount_asked_cents=amount,
                reason=values["reason"],
                budget=aides_pb2.HouseholdBudget(
                    resources_cents=resources, charges_cents=charges, adults=adults, children=children
                ),
                request_id=request_id,
            )
        )
    except grpc.RpcError as error:
        if not is_refusal(error):
            raise
        errors = aid_errors(error, REQUEST_INPUTS, BUDGET_RENAME)
        return await request_form(page, dossier, values, request_id, errors, estimate(values), status=400)
    return page.redirect(request_url(created.aid_request_id, "cree"))


# --- A request's page -------------------------------------------------------------------


async def _person_label(page: Page, person_id: str) -> str:
    if not person_id:
        return ""
    try:
        person = await page.calls.intake.GetPerson(intake_pb2.GetPersonRequest(person_id=person_id))
    except grpc.RpcError as error:
        if web.code_of(error) in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED):
            return ""
        raise
    return f"{person.first_name} {person.last_name}".strip()


async def _commissions(page: Page, territory: str) -> list[aides_pb2.Commission]:
    reply = await page.calls.aides.ListCommissions(
        aides_pb2.ListCommissionsRequest(territories=[territory], from_day=today().isoformat())
    )
    return sorted((c for c in reply.commissions if c.status == "planned"), key=lambda c: (c.day, c.starts_at))


async def _commission(page: Page, commission_id: str) -> aides_pb2.Commission | None:
    if not commission_id:
        return None
    try:
        commission: aides_pb2.Commission = await page.calls.aides.GetCommission(
            aides_pb2.GetCommissionRequest(commission_id=commission_id)
        )
    except grpc.RpcError as error:
        if web.code_of(error) in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED):
            return None
        raise
    return commission


def _defaults(
    request: aides_pb2.AidRequest, commission: aides_pb2.Commission | None, role: Role
) -> dict[str, dict[str, Any]]:
    budget = request.budget
    channel = (
        DecisionChannel.COMMISSION.value
        if request.status == AidRequestStatus.SCHEDULED or role not in AID_DECIDERS
        else DecisionChannel.URGENT.value
    )
    return {
        "instruction": {
            "complete": "complete",
            "missing_documents": list(request.missing_documents),
            "note": request.instruction_note,
            "resources": euros_value(budget.resources_cents),
            "charges": euros_value(budget.charges_cents),
            "adults": str(budget.adults or 1),
            "children": str(budget.children),
        },
        "decision": {
            "decision": Decision.GRANTED.value,
            "channel": channel,
            "amount_granted": euros_value(request.amount_asked_cents),
            "members": list(commission.members) if commission is not None else [],
            "payee_kind": PayeeKind.PERSON.value,
        },
        "pret": {
            "amount": euros_value(request.decision.amount_granted_cents or request.amount_asked_cents),
            "months": "36",
            "annual_rate": "4,5",
        },
        "incident": {"day": today().isoformat(), "kind": LoanIncidentKind.LATE.value},
    }


def _anchors(refusal: Refusal) -> dict[str, str]:
    inputs = FORM_INPUTS.get(refusal.form.split("-")[0], ())
    return {
        name: f"{refusal.form}-{name}" if name in inputs else f"form-{refusal.form}"
        for name in refusal.errors.fields
    }


async def render_request(page: Page, aid_request_id: str, refusal: Refusal | None = None) -> Response:
    request = await get_request(page, aid_request_id)
    role = page.session.agent.role
    status = request.status
    commission, commissions, documents, person, agents = await asyncio.gather(
        _commission(page, request.commission_id or request.decision.commission_id),
        _commissions(page, request.territory) if status in SCHEDULABLE else asyncio.sleep(0, []),
        documents_of(page, DocumentOwner.AID_REQUEST.value, request.aid_request_id),
        _person_label(page, request.person_id),
        page.state.agents(),
    )
    reference = page.state.jinja.globals["reference"]
    assert isinstance(reference, ReferenceData)
    aid_type = reference.aid_types.get(request.aid_type)
    is_loan = aid_type is not None and aid_type.nature is AidNature.LOAN
    values = _defaults(request, commission, role)
    request_ids = RequestIds()
    if refusal is not None:
        values[refusal.form] = refusal.values
        if refusal.request_id:
            request_ids[refusal.form] = refusal.request_id
        refusal.anchors = _anchors(refusal)
    done = DONE.get(web.query(page.request, "fait")) if refusal is None else None
    title = "Demande d'aide" + (f" de {person}" if person else "")
    return page.render(
        "aid_request_page.html",
        status=400 if refusal is not None else 200,
        title=title,
        r=request,
        aid_type=aid_type,
        is_loan=is_loan,
        person_label=person,
        commission=commission,
        commissions=commissions,
        member_options=[(m, m) for m in commission.members] if commission is not None else [],
        documents=documents,
        names={a.agent_id: a.display_name for a in agents},
        values=values,
        request_ids=request_ids,
        refusal=refusal,
        done=done,
        can_decide_urgent=role in AID_DECIDERS,
        can_pay=role in AID_DECIDERS,
        instructable=status in INSTRUCTABLE,
        schedulable=status in SCHEDULABLE,
        decidable=status in DECIDABLE,
        withdrawable=status in WITHDRAWABLE,
        letter=status in LETTER_STATUSES and request.HasField("decision"),
        loan_to_set_up=is_loan
        and status in (AidRequestStatus.GRANTED, AidRequestStatus.CLOSED)
        and not request.HasField("loan"),
        decisions=[(d.value, d.value) for d in Decision],
        channels=[c.value for c in DecisionChannel],
        modes=[m.value for m in PaymentMode],
        payee_kinds=[k.value for k in PayeeKind],
        incident_kinds=[k.value for k in LoanIncidentKind],
    )


async def show_request(page: Page) -> Response:
    require(page, AID_READERS, NOT_ALLOWED)
    return await render_request(page, request_id_of(page))


def _posted(page: Page) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if page.form is None:
        return values
    for name in page.form.keys():
        if name in ("csrf_token", "request_id"):
            continue
        values[name] = page.fields(name) if name in MULTI_INPUTS else page.field(name)
    return values


async def _refused(page: Page, form: str, errors: FormErrors) -> Response:
    refusal = Refusal(form, errors, _posted(page), page.field("request_id"))
    return await render_request(page, request_id_of(page), refusal)


async def _act(
    page: Page, form: str, done: str, anchor: str, call: Any, typed: Typed | None = None
) -> Response:
    """Runs the form's call, then the request's page (post/redirect/get), or the page
    again with the refusal next to the form's fields."""
    if typed is not None and typed.refusal():
        refused = typed.refusal()
        assert refused is not None
        return await _refused(page, form, refused)
    try:
        await call
    except grpc.RpcError as error:
        if not is_refusal(error):
            raise
        return await _refused(page, form, aid_errors(error, FORM_INPUTS[form], FORM_RENAME.get(form)))
    return page.redirect(request_url(request_id_of(page), done, anchor))


def _request_id(page: Page) -> str:
    return page.field("request_id") or new_request_id()


async def instruct(page: Page) -> Response:
    require(page, AID_READERS, NOT_ALLOWED)
    typed = Typed()
    budget = aides_pb2.HouseholdBudget(
        resources_cents=typed.cents("resources", page.field("resources")),
        charges_cents=typed.cents("charges", page.field("charges")),
        adults=typed.count("adults", page.field("adults"), 1),
        children=typed.count("children", page.field("children")),
    )
    call = page.calls.aides.RecordInstruction(
        aides_pb2.RecordInstructionRequest(
            aid_request_id=request_id_of(page),
            complete=page.field("complete") == "complete",
            missing_documents=page.fields("missing_documents")
            if page.field("complete") != "complete"
            else [],
            note=page.field("note"),
            budget=budget,
            request_id=_request_id(page),
        )
    )
    return await _act(page, "instruction", "instruction", "instruction", call, typed)


async def schedule(page: Page) -> Response:
    require(page, AID_READERS, NOT_ALLOWED)
    call = page.calls.aides.ScheduleAidRequest(
        aides_pb2.ScheduleAidRequestRequest(
            commission_id=page.field("commission_id"),
            aid_request_id=request_id_of(page),
            request_id=_request_id(page),
        )
    )
    return await _act(page, "inscription", "inscrite", "commission", call)


def decision_request(page: Page, aid_request_id: str, typed: Typed) -> aides_pb2.RecordDecisionRequest:
    """The decision form (on a request's page or a commission's sheet) as the API's request."""
    decision = page.field("decision")
    channel = page.field("channel") or DecisionChannel.COMMISSION.value
    members = page.fields("members") + [
        line.strip() for line in page.field("other_members").splitlines() if line.strip()
    ]
    if channel == DecisionChannel.URGENT and not members:
        members = [page.session.agent.display_name]
    granted = decision == Decision.GRANTED
    request = aides_pb2.RecordDecisionRequest(
        aid_request_id=aid_request_id,
        decision=decision,
        channel=channel,
        amount_granted_cents=typed.cents("amount_granted", page.field("amount_granted")) if granted else 0,
        refusal_reason=page.field("refusal_reason") if decision == Decision.REFUSED else "",
        reasons=page.field("reasons"),
        members=members,
        override_reason=page.field("override_reason") if granted else "",
        request_id=_request_id(page),
    )
    if granted:
        third_party = page.field("payee_kind") == PayeeKind.THIRD_PARTY
        request.payment.CopyFrom(
            aides_pb2.PaymentSpec(
                mode=page.field("mode"),
                payee_kind=page.field("payee_kind"),
                payee_name=page.field("payee_name") if third_party else "",
            )
        )
    return request


async def decide(page: Page) -> Response:
    require(page, AID_READERS, NOT_ALLOWED)
    typed = Typed()
    call = page.calls.aides.RecordDecision(decision_request(page, request_id_of(page), typed))
    return await _act(page, "decision", "decision", "decision", call, typed)


async def withdraw(page: Page) -> Response:
    require(page, AID_READERS, NOT_ALLOWED)
    call = page.calls.aides.WithdrawAidRequest(
        aides_pb2.WithdrawAidRequestRequest(
            aid_request_id=request_id_of(page), reason=page.field("reason"), request_id=_request_id(page)
        )
    )
    return await _act(page, "retrait", "retrait", "resume", call)


async def set_up_loan(page: Page) -> Response:
    require(page, AID_READERS, NOT_ALLOWED)
    typed = Typed()
    call = page.calls.aides.SetUpLoan(
        aides_pb2.SetUpLoanRequest(
            aid_request_id=request_id_of(page),
            bank=page.field("bank"),
            amount_cents=typed.cents("amount", page.field("amount")),
            months=typed.count("months", page.field("months")),
            annual_rate_bp=typed.rate_bp("annual_rate", page.field("annual_rate")),
            first_due=page.field("first_due"),
            request_id=_request_id(page),
        )
    )
    return await _act(page, "pret", "pret", "pret", call, typed)


async def record_incident(page: Page) -> Response:
    require(page, AID_READERS, NOT_ALLOWED)
    request = await get_request(page, request_id_of(page))
    typed = Typed()
    call = page.calls.aides.RecordLoanIncident(
        aides_pb2.RecordLoanIncidentRequest(
            loan_id=request.loan.loan_id,
            day=page.field("day"),
            kind=page.field("kind"),
            instalment_number=typed.count("instalment_number", page.field("instalment_number")),
            amount_cents=typed.cents("amount", page.field("amount")),
            note=page.field("note"),
            request_id=_request_id(page),
        )
    )
    return await _act(page, "incident", "incident", "pret", call, typed)


async def letter(page: Page) -> Response:
    require(page, AID_READERS, NOT_ALLOWED)
    document = await web.read_by_path_id(
        page.calls.aides.GetDecisionLetter(
            aides_pb2.GetDecisionLetterRequest(aid_request_id=request_id_of(page))
        )
    )
    name = document.filename if document.filename.endswith(".pdf") else "decision-aide.pdf"
    safe = "".join(c for c in name if c.isalnum() or c in "-_.") or "decision-aide.pdf"
    return Response(
        content=document.pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{safe}"', "Cache-Control": "no-store"},
    )


async def upload(page: Page) -> Response:
    """A supporting document on the request (DocumentService.UploadDocument)."""
    require(page, AID_READERS, NOT_ALLOWED)
    aid_request_id = request_id_of(page)
    content, too_large = await read_upload(page)
    if too_large:
        return await _refused(page, "piece", too_large)
    try:
        await upload_request(page, DocumentOwner.AID_REQUEST.value, aid_request_id, content)
    except grpc.RpcError as error:
        if not is_refusal(error):
            raise
        return await _refused(page, "piece", aid_errors(error, FORM_INPUTS["piece"], FORM_RENAME["piece"]))
    return page.redirect(request_url(aid_request_id, "piece", "pieces"))


ROUTES = [
    page_route("/aides", requests_list, name="aid_requests"),
    page_route("/dossiers/{dossier_id}/aides/nouvelle", new_request, name="new_aid_request"),
    page_route(
        "/dossiers/{dossier_id}/aides/nouvelle", create_request, methods=("POST",), name="create_aid_request"
    ),
    page_route("/aides/demandes/{aid_request_id}", show_request, name="aid_request"),
    page_route("/aides/demandes/{aid_request_id}/courrier", letter, name="aid_letter"),
    page_route(
        "/aides/demandes/{aid_request_id}/instruction", instruct, methods=("POST",), name="aid_instruction"
    ),
    page_route(
        "/aides/demandes/{aid_request_id}/inscription", schedule, methods=("POST",), name="aid_schedule"
    ),
    page_route("/aides/demandes/{aid_request_id}/decision", decide, methods=("POST",), name="aid_decision"),
    page_route("/aides/demandes/{aid_request_id}/retrait", withdraw, methods=("POST",), name="aid_withdraw"),
    page_route("/aides/demandes/{aid_request_id}/pret", set_up_loan, methods=("POST",), name="aid_loan"),
    page_route(
        "/aides/demandes/{aid_request_id}/incident", record_incident, methods=("POST",), name="aid_incident"
    ),
    page_route("/aides/demandes/{aid_request_id}/pieces", upload, methods=("POST",), name="aid_upload"),
]
