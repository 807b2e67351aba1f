"""The partner portal: the referrals a partner organisation received ("Orientations
reçues") and, for one referral, what the partner may see of it and its answers
(acknowledge, accept, reject, start, complete, fail).

The referral service scopes everything to the organisation of the signed-in agent's
token (a partner reads and answers only its own referrals, never a dossier) and decides
every change; this module renders what it answers and posts the partner's forms, one
service call each. A refusal is shown next to the form's fields, the typed values kept,
with the same request id (posting a form twice is one answer).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode

import grpc
from entraide.v1 import intake_pb2, referral_pb2
from starlette.responses import Response
from starlette.routing import Route

from domain.referral import TRANSITIONS as REFERRAL_ACTIONS
from domain.vocabulary import REFERRAL_STATUSES, REFERRAL_TERMINAL
from kernel.auth import Role
from services.console.templating import date_fr
from services.console.web import (
    FORM_CODES,
    FormErrors,
    Page,
    code_of,
    form_errors,
    messages,
    new_request_id,
    not_found,
    page_route,
    query,
    read_by_path_id,
)

LIST_URL = "/partenaire"
# The fields a partner's form may carry (named as ReferralActionRequest's fields).
ACTION_FIELDS = ("reason", "outcome", "comment")


@dataclass(frozen=True)
class PartnerAction:
    """One answer of the partner: its path under /partenaire/orientations/{id}/, the
    referral workflow's action (which statuses it applies to), the RPC it calls, the
    fields its form has, and its French words."""

    slug: str
    action: str
    rpc: str
    fields: tuple[str, ...]
    title: str
    button: str
    done: str
    hint: str = ""
    danger: bool = False

    def applies_to(self, status: str) -> bool:
        return status in REFERRAL_ACTIONS[self.action][0]


ACTIONS: tuple[PartnerAction, ...] = (
    PartnerAction(
        "accuse-reception",
        "acknowledge",
        "AcknowledgeReferral",
        (),
        "Accuser réception",
        "Accuser réception de l'orientation",
        "Vous avez accusé réception de l'orientation : le CCAS en est informé.",
        hint="Le CCAS sait ainsi que vous avez reçu la demande ; vous l'accepterez ou la refuserez ensuite.",
    ),
    PartnerAction(
        "acceptation",
        "accept",
        "AcceptReferral",
        (),
        "Accepter",
        "Accepter l'orientation",
        "Vous avez accepté l'orientation : le CCAS en est informé.",
    ),
    PartnerAction(
        "refus",
        "reject",
        "RejectReferral",
        ("reason", "comment"),
        "Refuser",
        "Refuser l'orientation",
        "Vous avez refusé l'orientation : le CCAS en est informé.",
        danger=True,
    ),
    PartnerAction(
        "demarrage",
        "start",
        "StartReferral",
        (),
        "Démarrer l'accompagnement",
        "Démarrer l'accompagnement",
        "L'accompagnement a démarré : le CCAS en est informé.",
    ),
    PartnerAction(
        "fin",
        "complete",
        "CompleteReferral",
        ("outcome", "comment"),
        "Terminer",
        "Terminer l'orientation",
        "L'orientation est terminée : le CCAS connaît son issue.",
    ),
    PartnerAction(
        "echec",
        "fail",
        "FailReferral",
        ("reason", "comment"),
        "Signaler un échec",
        "Signaler l'échec de l'orientation",
        "L'échec de l'orientation a été signalé au CCAS.",
        danger=True,
    ),
)
BY_SLUG = {a.slug: a for a in ACTIONS}
DONE = {a.slug: a.done for a in ACTIONS}

Values = dict[str, str]


@dataclass
class Refusal:
    """A form the service refused: shown again with its errors and what was typed."""

    form: str
    errors: FormErrors
    values: Values
    request_id: str
    anchors: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Choices:
    """The French labels of the partner's choices (ListReferenceData)."""

    reasons: list[tuple[str, str]]
    outcomes: list[tuple[str, str]]


def _partners_only(page: Page) -> None:
    """The portal is the partners' (an agent reads referrals on the dossier page)."""
    if page.session.agent.role is not Role.PARTENAIRE:
        raise not_found()


def referral_url(referral_id: str) -> str:
    return f"{LIST_URL}/orientations/{quote(referral_id, safe='')}"


# ---------------------------------------------------------------------------- the list
async def received(page: Page) -> Response:
    """GET /partenaire: the referrals received, the newest first, by status on demand."""
    _partners_only(page)
    status = query(page.request, "statut")
    errors = FormErrors()
    try:
        reply = await page.calls.referral.ListMyReferrals(referral_pb2.ListMyReferralsRequest(status=status))
        referrals = sorted(reply.referrals, key=lambda r: r.created_at.ToNanoseconds(), reverse=True)
    except grpc.RpcError as error:
        if code_of(error) not in FORM_CODES:
            raise
        errors = form_errors(error)
        if "status" in errors.fields:  # the filter's field on this page
            errors.fields = {"statut": errors.fields["status"]}
        referrals = []
    to_answer = sum(1 for r in referrals if r.status not in REFERRAL_TERMINAL)
    return page.render(
        "partner_list.html",
        status=400 if errors else 200,
        title=f"Orientations reçues ({len(referrals)})",
        referrals=referrals,
        to_answer=to_answer,
        statuses=REFERRAL_STATUSES,
        chosen=status,
        errors=errors,
        referral_url=referral_url,
        terminal=REFERRAL_TERMINAL,
    )


# ------------------------------------------------------------------------ one referral
def _referral_id(page: Page) -> str:
    return str(page.request.path_params["referral_id"])


async def _referral(page: Page, referral_id: str) -> referral_pb2.Referral:
    referral: referral_pb2.Referral = await read_by_path_id(
        page.calls.referral.GetReferral(referral_pb2.GetReferralRequest(referral_id=referral_id))
    )
    return referral


async def _choices(page: Page) -> Choices:
    data: intake_pb2.ReferenceData = await page.calls.intake.ListReferenceData(
        intake_pb2.ListReferenceDataRequest()
    )
    return Choices(
        reasons=[(item.code, item.label) for item in data.referral_reasons],
        outcomes=[(item.code, item.label) for item in data.referral_outcomes],
    )


def _anchors(refusal: Refusal, shown: bool) -> dict[str, str]:
    """Where the error summary's links go: the field when its form is on the page."""
    action = BY_SLUG[refusal.form]
    form = f"form-{refusal.form}" if shown else "reponse"
    return {
        name: f"{refusal.form}-{name}" if shown and name in action.fields else form
        for name in refusal.errors.fields
    }


async def render_referral(page: Page, referral_id: str, refusal: Refusal | None = None) -> Response:
    referral, choices = await asyncio.gather(_referral(page, referral_id), _choices(page))
    forms = [a for a in ACTIONS if a.applies_to(referral.status)]
    values: dict[str, Values] = {}
    request_ids = {a.slug: new_request_id() for a in forms}
    if refusal is not None:
        values[refusal.form] = refusal.values
        if refusal.request_id:
            request_ids[refusal.form] = refusal.request_id
        refusal.anchors = _anchors(refusal, any(a.slug == refusal.form for a in forms))
    person = referral.person if referral.HasField("person") else None
    return page.render(
        "partner_referral.html",
        status=400 if refusal is not None else 200,
        title=f"Orientation reçue le {date_fr(referral.created_at)}",
        referral=referral,
        person=person,
        forms=forms,
        values=values,
        request_ids=request_ids,
        refusal=refusal,
        done=messages(DONE, page.request) if refusal is None else "",
        choices=choices,
        me=page.agent_id,
        base=referral_url(referral.referral_id),
        list_url=LIST_URL,
    )


async def referral_page(page: Page) -> Response:
    """GET /partenaire/orientations/{referral_id}."""
    _partners_only(page)
    return await render_referral(page, _referral_id(page))


def _posted(page: Page, action: PartnerAction) -> Values:
    return {name: page.field(name) for name in action.fields}


def action_route(action: PartnerAction) -> Route:
    """POST /partenaire/orientations/{referral_id}/<slug>: the call, then the referral's
    page with a confirmation (post/redirect/get), or the page again with the refusal
    next to the form's fields (status 400)."""

    async def handler(page: Page) -> Response:
        _partners_only(page)
        referral_id = _referral_id(page)
        posted = _posted(page, action)
        request = referral_pb2.ReferralActionRequest(
            referral_id=referral_id, request_id=page.field("request_id"), **posted
        )
        try:
            await getattr(page.calls.referral, action.rpc)(request)
        except grpc.RpcError as error:
            if code_of(error) not in FORM_CODES:
                raise
            if (
                code_of(error) is grpc.StatusCode.INVALID_ARGUMENT
                and "referral_id" in form_errors(error).fields
            ):
                raise not_found() from None
            refusal = Refusal(action.slug, form_errors(error), posted, page.field("request_id"))
            return await render_referral(page, referral_id, refusal)
        return page.redirect(f"{referral_url(referral_id)}?{urlencode({'fait': action.slug})}")

    return page_route(
        "/partenaire/orientations/{referral_id}/" + action.slug,
        handler,
        methods=("POST",),
        name=f"partner_{action.action}",
    )


ROUTES = [
    page_route(LIST_URL, received, name="partner_referrals"),
    page_route("/partenaire/orientations/{referral_id}", referral_page, name="partner_referral"),
    *(action_route(action) for action in ACTIONS),
]
