"""A partner answers one referral through the signed link of its e-mail, without an
account (as DORA's partners do): GET /lien/{token} shows the referral and the answers
its status allows, POST /lien/{token}/reponse records one, then /lien/{token}/merci.

These routes have no session (pages.PUBLIC_ROUTES): the console calls the referral
service with its own token (role service), and the service decides everything (the
link's signature, expiry, revocation and use, the partner's view, the workflow's
rules, the access log). CSRF without a session: a double-submit token, a random
cookie set by the page (SameSite=Strict, HttpOnly, path /lien) and the same value in
each form, compared in constant time. The token is a credential: never logged.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from urllib.parse import quote

import grpc
from entraide.v1 import intake_pb2, referral_pb2
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from kernel import rich_status
from kernel.logs import get_logger
from services.console.backend import AgentCalls
from services.console.state import ConsoleState
from services.console.web import (
    FORM_CODES,
    FormErrors,
    PageFailure,
    failure_page,
    form_errors,
    new_request_id,
    rpc_failure,
)

log = get_logger("console")
COOKIE = "entraide_lien"
COOKIE_PATH = "/lien"
CSRF_FIELD = "link_csrf"
_COOKIE_VALUE = re.compile(r"^[A-Za-z0-9_-]{32,64}$")
_TOKEN = re.compile(r"^[A-Za-z0-9._-]{1,200}$")
# The link's refusals: the page a person reads, its status (gone, or never existed).
GONE_TITLES = {
    "LINK_USED": (410, "Ce lien a déjà servi"),
    "LINK_EXPIRED": (410, "Ce lien a expiré"),
    "LINK_REVOKED": (410, "Ce lien a été désactivé"),
    "LINK_INVALID": (404, "Ce lien n'est pas valable"),
}
INVALID_FR = (
    "Ce lien n'est pas valable : vérifiez qu'il a été copié en entier depuis le courriel reçu,"
    " ou demandez un nouveau lien au CCAS."
)
FORM_REFUSED = PageFailure(
    403,
    "Formulaire refusé",
    "Ce formulaire a expiré ou ne vient pas de cette page : rouvrez le lien reçu par courriel,"
    " puis recommencez.",
)


@dataclass(frozen=True)
class Answer:
    """One answer form: its action (AnswerReferralByLink), button, and fields."""

    action: str
    label: str
    legend: str
    reason: str = ""  # the label of its reason select, when it takes a reason
    outcome: bool = False
    comment: bool = False
    secondary: bool = False


ANSWERS = {
    a.action: a
    for a in (
        Answer("acknowledge", "Accuser réception", "Vous avez bien reçu cette orientation"),
        Answer("accept", "Accepter", "Vous prenez en charge cette orientation"),
        Answer("reject", "Refuser", "Vous ne pouvez pas prendre en charge cette orientation",
               reason="Raison du refus", comment=True, secondary=True),
        Answer("start", "Démarrer l'accompagnement", "L'accompagnement de la personne commence"),
        Answer("complete", "Terminer", "L'accompagnement est terminé", outcome=True, comment=True),
        Answer("fail", "Signaler un échec", "L'accompagnement n'a pas pu aboutir",
               reason="Raison de l'échec", comment=True, secondary=True),
    )
}  # fmt: skip
# The answers each status allows (the referral workflow's rules; the service decides).
BY_STATUS = {
    "requested": ("acknowledge", "reject"),
    "received": ("accept", "reject"),
    "accepted": ("start", "fail"),
    "in_progress": ("complete", "fail"),
}


@dataclass
class Refused:
    """An answer the service refused: its form again, with the errors and what was typed."""

    action: str
    errors: FormErrors
    values: dict[str, str] = field(default_factory=dict)


def _state(request: Request) -> ConsoleState:
    state: ConsoleState = request.app.state.console
    return state


def service_calls(state: ConsoleState) -> AgentCalls:
    """The services as the console itself, for the link RPCs only."""
    return state.backend.as_console()


def link_url(token: str, suffix: str = "") -> str:
    return f"/lien/{quote(token, safe='')}{suffix}"


def _token(request: Request) -> str:
    token = str(request.path_params["token"])
    if not _TOKEN.match(token):
        raise PageFailure(404, GONE_TITLES["LINK_INVALID"][1], INVALID_FR)
    return token


def _link_failure(error: grpc.RpcError) -> PageFailure:
    """The link's own refusals get their page (410 gone, 404 never valid); the rest, the
    console's usual French pages."""
    described = rich_status.describe(error)
    found = GONE_TITLES.get(described.reason)
    if found is not None:
        status, title = found
        return PageFailure(status, title, described.fr)
    return rpc_failure(error)


def _cookie_value(request: Request) -> str:
    sent = request.cookies.get(COOKIE, "")
    return sent if _COOKIE_VALUE.match(sent) else secrets.token_urlsafe(32)


def _with_cookie(state: ConsoleState, response: Response, value: str) -> Response:
    response.set_cookie(
        COOKIE,
        value,
        httponly=True,
        samesite="strict",
        secure=state.settings.secure_cookies,
        path=COOKIE_PATH,
    )
    return response


def _gone(state: ConsoleState, request: Request, failure: PageFailure) -> Response:
    return state.render(
        request,
        "link_gone.html",
        failure.status,
        session=None,
        title=failure.title,
        message=failure.message,
    )


async def _choices(calls: AgentCalls) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    request = intake_pb2.ListReferenceDataRequest()
    data: intake_pb2.ReferenceData = await calls.intake.ListReferenceData(request)
    return (
        [(item.code, item.label) for item in data.referral_reasons],
        [(item.code, item.label) for item in data.referral_outcomes],
    )


async def _render(
    state: ConsoleState,
    request: Request,
    calls: AgentCalls,
    token: str,
    refused: Refused | None = None,
) -> Response:
    """The referral as its partner sees it, and the answers its status allows."""
    referral: referral_pb2.Referral = await calls.referral.ReadReferralByLink(
        referral_pb2.ReadReferralByLinkRequest(link_token=token)
    )
    reasons, outcomes = await _choices(calls)
    cookie = _cookie_value(request)
    answers = [ANSWERS[a] for a in BY_STATUS.get(referral.status, ())]
    response = state.render(
        request,
        "link_referral.html",
        (400 if refused.errors.fields else 409) if refused is not None else 200,
        session=None,
        title="Orientation à traiter",
        referral=referral,
        answers=answers,
        reasons=reasons,
        outcomes=outcomes,
        action_url=link_url(token, "/reponse"),
        link_csrf=cookie,
        request_ids={a.action: new_request_id() for a in answers},
        refused=refused,
    )
    return _with_cookie(state, response, cookie)


async def link_page(request: Request) -> Response:
    """GET /lien/{token}"""
    state = _state(request)
    try:
        token = _token(request)
        return await _render(state, request, service_calls(state), token)
    except PageFailure as failure:
        return _gone(state, request, failure)
    except grpc.RpcError as error:
        return _gone(state, request, _link_failure(error))


def _field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


async def answer(request: Request) -> Response:
    """POST /lien/{token}/reponse: one answer, then the thank-you page (post/redirect/get)."""
    state = _state(request)
    try:
        token = _token(request)
    except PageFailure as failure:
        return _gone(state, request, failure)
    form = await request.form()
    sent, cookie = _field(form, CSRF_FIELD), request.cookies.get(COOKIE, "")
    if not cookie or not sent or not secrets.compare_digest(sent.encode(), cookie.encode()):
        log.warning("link answer refused: missing or wrong double-submit token", extra={"path": "/lien"})
        return failure_page(state, request, FORM_REFUSED, None)
    action = _field(form, "action")
    values = {name: _field(form, name) for name in ("reason", "outcome", "comment")}
    calls = service_calls(state)
    try:
        await calls.referral.AnswerReferralByLink(
            referral_pb2.AnswerReferralByLinkRequest(
                link_token=token,
                action=action,
                reason=values["reason"],
                outcome=values["outcome"],
                comment=values["comment"],
                request_id=_field(form, "request_id")[:100],
            )
        )
    except grpc.RpcError as error:
        described = rich_status.describe(error)
        if described.reason in GONE_TITLES or described.code not in FORM_CODES:
            return _gone(state, request, _link_failure(error))
        # Refused by the service (a missing reason, a status that changed meanwhile): the
        # page again, the errors next to the fields, what was typed kept.
        try:
            return await _render(state, request, calls, token, Refused(action, form_errors(error), values))
        except grpc.RpcError as again:
            return _gone(state, request, _link_failure(again))
    log.info("referral answered through a link", extra={"action": action if action in ANSWERS else ""})
    target = link_url(token, "/merci") + (f"?reponse={action}" if action in ANSWERS else "")
    return RedirectResponse(target, status_code=303)


async def thanks(request: Request) -> Response:
    """GET /lien/{token}/merci: says the answer was recorded (the link is used by now:
    this page calls nothing)."""
    state = _state(request)
    chosen = ANSWERS.get(request.query_params.get("reponse", ""))
    return state.render(
        request,
        "link_thanks.html",
        session=None,
        title="Réponse enregistrée",
        answer=chosen,
    )


ROUTES = [
    Route("/lien/{token}", link_page, methods=["GET"]),
    Route("/lien/{token}/reponse", answer, methods=["POST"]),
    Route("/lien/{token}/merci", thanks, methods=["GET"]),
]
