"""Aid commissions: the sessions of the agent's communes (list, creation), a commission's
agenda (printable) with the requests to put on it and a decision form per request, and
its decision sheet (printable on A4: each request's decision, amount and reasons, the
members' signatures).

The agenda's rules (a request complete or postponed, the commission still planned), the
budget line and the ceilings are the aid service's; these pages translate.
"""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
from entraide.v1 import aides_pb2
from starlette.responses import Response

from domain.aides import AidRequestStatus, Decision, DecisionChannel, PayeeKind, PaymentMode
from services.console import web
from services.console.access_gate import require
from services.console.aid_forms import AID_DECIDERS, AID_READERS, NOT_ALLOWED, Typed, aid_errors, is_refusal
from services.console.aid_pages import FORM_INPUTS, FORM_RENAME, MULTI_INPUTS, decision_request
from services.console.dossier_page import Refusal, RequestIds
from services.console.planning_forms import today
from services.console.web import FormErrors, Page, new_request_id, page_route

DONE = {
    "creee": "La commission est prévue : inscrivez-y les demandes complètes.",
    "inscrite": "La demande est inscrite à l'ordre du jour.",
    "decision": "La décision est enregistrée.",
}
COMMISSION_INPUTS = ("territory", "day", "starts_at", "place", "members")
# The requests a commission may examine (the service checks it again).
TO_SCHEDULE = [AidRequestStatus.COMPLETE.value, AidRequestStatus.POSTPONED.value]
DECIDED_ON_SHEET = frozenset({AidRequestStatus.GRANTED, AidRequestStatus.REFUSED, AidRequestStatus.CLOSED})


def commission_id_of(page: Page) -> str:
    return str(page.request.path_params["commission_id"])


async def get_commission(page: Page, commission_id: str) -> aides_pb2.Commission:
    commission: aides_pb2.Commission = await web.read_by_path_id(
        page.calls.aides.GetCommission(aides_pb2.GetCommissionRequest(commission_id=commission_id))
    )
    return commission


# --- The list and the creation ---------------------------------------------------------------


async def commissions(page: Page) -> Response:
    require(page, AID_READERS, NOT_ALLOWED)
    past = web.query(page.request, "passees") == "1"
    from_day = f"{today().year - 2}-01-01" if past else today().isoformat()
    reply = await page.calls.aides.ListCommissions(aides_pb2.ListCommissionsRequest(from_day=from_day))
    return page.render(
        "aid_commissions.html",
        title="Commissions des aides",
        commissions=sorted(reply.commissions, key=lambda c: (c.day, c.starts_at), reverse=past),
        past=past,
    )


def commission_form(
    page: Page, values: dict[str, str], request_id: str, errors: FormErrors | None = None, status: int = 200
) -> Response:
    return page.render(
        "aid_commission_new.html",
        status=status,
        title="Prévoir une commission",
        values=values,
        request_id=request_id,
        errors=errors or FormErrors(),
        communes=sorted(page.session.agent.territories),
    )


async def new_commission(page: Page) -> Response:
    require(page, AID_READERS, NOT_ALLOWED)
    communes = sorted(page.session.agent.territories)
    values = {"territory": communes[0] if communes else "", "starts_at": "14:00"}
    return commission_form(page, values, new_request_id())


async def create_commission(page: Page) -> Response:
    require(page, AID_READERS, NOT_ALLOWED)
    values = {name: page.field(name) for name in COMMISSION_INPUTS}
    request_id = page.field("request_id") or new_request_id()
    try:
        created = await page.calls.aides.CreateCommission(
            aides_pb2.CreateCommissionRequest(
                territory=values["territory"],
                day=values["day"],
                starts_at=values["starts_at"],
                place=values["place"],
                members=[line.strip() for line in values["members"].splitlines() if line.strip()],
                request_id=request_id,
            )
        )
    except grpc.RpcError as error:
        if not is_refusal(error):
            raise
        return commission_form(page, values, request_id, aid_errors(error, COMMISSION_INPUTS), status=400)
    return page.redirect(f"/aides/commissions/{created.commission_id}?fait=creee")


# --- A commission's agenda and decisions -----------------------------------------------------


async def _to_schedule(page: Page, commission: aides_pb2.Commission) -> list[aides_pb2.AidRequest]:
    if commission.status != "planned":
        return []
    reply = await page.calls.aides.ListAidRequests(
        aides_pb2.ListAidRequestsRequest(
            territories=[commission.territory], statuses=TO_SCHEDULE, page_size=200
        )
    )
    on_agenda = {item.aid_request_id for item in commission.agenda}
    return [r for r in reply.aid_requests if r.aid_request_id not in on_agenda]


def _decision_defaults(commission: aides_pb2.Commission, item: aides_pb2.AgendaItem) -> dict[str, Any]:
    return {
        "decision": Decision.GRANTED.value,
        "channel": DecisionChannel.COMMISSION.value,
        "amount_granted": f"{item.amount_asked_cents // 100},{item.amount_asked_cents % 100:02d}",
        "members": list(commission.members),
        "payee_kind": PayeeKind.PERSON.value,
    }


async def render_commission(page: Page, commission_id: str, refusal: Refusal | None = None) -> Response:
    commission = await get_commission(page, commission_id)
    to_schedule, agents = await asyncio.gather(_to_schedule(page, commission), page.state.agents())
    values: dict[str, dict[str, Any]] = {
        f"decision-{item.aid_request_id}": _decision_defaults(commission, item) for item in commission.agenda
    }
    request_ids = RequestIds()
    if refusal is not None:
        values[refusal.form] = refusal.values
        if refusal.request_id:
            request_ids[refusal.form] = refusal.request_id
        inputs = FORM_INPUTS.get(refusal.form.split("-")[0], ())
        refusal.anchors = {
            name: f"{refusal.form}-{name}" if name in inputs else f"form-{refusal.form}"
            for name in refusal.errors.fields
        }
    agenda = sorted(commission.agenda, key=lambda i: i.person_label.lower())
    return page.render(
        "aid_commission_page.html",
        status=400 if refusal is not None else 200,
        title=f"Commission des aides du {commission.day}",
        commission=commission,
        agenda=agenda,
        undecided=[i for i in agenda if i.status == AidRequestStatus.SCHEDULED],
        to_schedule=to_schedule,
        total_asked=sum(i.amount_asked_cents for i in agenda),
        names={a.agent_id: a.display_name for a in agents},
        values=values,
        request_ids=request_ids,
        refusal=refusal,
        done=web.messages(DONE, page.request) if refusal is None else "",
        member_options=[(m, m) for m in commission.members],
        can_decide_urgent=page.session.agent.role in AID_DECIDERS,
        fixed_channel=DecisionChannel.COMMISSION.value,
        decisions=[(d.value, d.value) for d in Decision],
        channels=[c.value for c in DecisionChannel],
        modes=[m.value for m in PaymentMode],
        payee_kinds=[k.value for k in PayeeKind],
    )


async def show_commission(page: Page) -> Response:
    require(page, AID_READERS, NOT_ALLOWED)
    return await render_commission(page, commission_id_of(page))


def _posted(page: Page) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if page.form is not None:
        for name in page.form.keys():
            if name not in ("csrf_token", "request_id"):
                values[name] = page.fields(name) if name in MULTI_INPUTS else page.field(name)
    return values


async def schedule(page: Page) -> Response:
    require(page, AID_READERS, NOT_ALLOWED)
    commission_id = commission_id_of(page)
    try:
        await page.calls.aides.ScheduleAidRequest(
            aides_pb2.ScheduleAidRequestRequest(
                commission_id=commission_id,
                aid_request_id=page.field("aid_request_id"),
                request_id=page.field("request_id") or new_request_id(),
            )
        )
    except grpc.RpcError as error:
        if not is_refusal(error):
            raise
        errors = aid_errors(error, ("aid_request_id",))
        refusal = Refusal("inscription", errors, _posted(page), page.field("request_id"))
        return await render_commission(page, commission_id, refusal)
    return page.redirect(f"/aides/commissions/{commission_id}?fait=inscrite#ordre-du-jour")


async def decide(page: Page) -> Response:
    require(page, AID_READERS, NOT_ALLOWED)
    commission_id = commission_id_of(page)
    aid_request_id = str(page.request.path_params["aid_request_id"])
    commission = await get_commission(page, commission_id)
    if all(item.aid_request_id != aid_request_id for item in commission.agenda):
        raise web.not_found()
    form = f"decision-{aid_request_id}"
    typed = Typed()
    request = decision_request(page, aid_request_id, typed)
    errors = typed.refusal()
    if errors is None:
        try:
            await page.calls.aides.RecordDecision(request)
        except grpc.RpcError as error:
            if not is_refusal(error):
                raise
            errors = aid_errors(error, FORM_INPUTS["decision"], FORM_RENAME["decision"])
    if errors is not None:
        refusal = Refusal(form, errors, _posted(page), page.field("request_id"))
        return await render_commission(page, commission_id, refusal)
    return page.redirect(f"/aides/commissions/{commission_id}?fait=decision#demande-{aid_request_id}")


async def decision_sheet(page: Page) -> Response:
    """The commission's decision sheet (relevé de décisions), one A4 page to sign."""
    require(page, AID_READERS, NOT_ALLOWED)
    commission = await get_commission(page, commission_id_of(page))
    agenda = sorted(commission.agenda, key=lambda i: i.person_label.lower())
    granted = [i for i in agenda if i.decision.decision == Decision.GRANTED]
    return page.render(
        "aid_decision_sheet.html",
        title=f"Relevé de décisions — commission du {commission.day}",
        commission=commission,
        agenda=agenda,
        total_asked=sum(i.amount_asked_cents for i in agenda),
        total_granted=sum(i.decision.amount_granted_cents for i in granted),
        counts={d.value: sum(1 for i in agenda if i.decision.decision == d) for d in Decision},
    )


ROUTES = [
    page_route("/aides/commissions", commissions, name="aid_commissions"),
    page_route("/aides/commissions/nouvelle", new_commission, name="new_aid_commission"),
    page_route(
        "/aides/commissions/nouvelle", create_commission, methods=("POST",), name="create_aid_commission"
    ),
    page_route("/aides/commissions/{commission_id}", show_commission, name="aid_commission"),
    page_route("/aides/commissions/{commission_id}/releve", decision_sheet, name="aid_decision_sheet"),
    page_route(
        "/aides/commissions/{commission_id}/ordre-du-jour",
        schedule,
        methods=("POST",),
        name="aid_commission_schedule",
    ),
    page_route(
        "/aides/commissions/{commission_id}/decisions/{aid_request_id}",
        decide,
        methods=("POST",),
        name="aid_commission_decision",
    ),
]
