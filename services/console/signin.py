"""Sign-in (OpenID Connect, or the development sign-in of `make up`) and sign-out."""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from kernel.errors import Unauthenticated
from kernel.logs import get_logger
from services.console import directory, sessions
from services.console.state import ConsoleState
from services.console.web import PageFailure, failure_page

log = get_logger("console")
NO_PROVIDER = PageFailure(404, "Page introuvable", "Aucun fournisseur d'identité n'est configuré.")
# The sign-in page's own CSRF guard (no session yet): a cookie and the same value in the form.
LOGIN_COOKIE = "entraide_login"


def _state(request: Request) -> ConsoleState:
    state: ConsoleState = request.app.state.console
    return state


def safe_return_to(raw: str) -> str:
    """Only a path of this console (never another site, never //host)."""
    parts = urlsplit(raw)
    if not raw.startswith("/") or raw.startswith("//") or parts.scheme or parts.netloc:
        return "/"
    return raw


def _session_response(state: ConsoleState, token: str, target: str) -> Response:
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        sessions.COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=state.settings.secure_cookies,
        path="/",
    )
    response.delete_cookie(LOGIN_COOKIE, path="/")
    return response


async def sign_in_page(request: Request) -> Response:
    state = _state(request)
    accounts: list[directory.Agent] = []
    if state.settings.dev_sign_in:
        async with state.pool.acquire() as conn:
            accounts = await directory.active_agents(conn)
    login_token = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)
    response = state.render(
        request,
        "sign_in.html",
        session=None,
        oidc=state.settings.oidc,
        accounts=accounts,
        login_token=login_token,
        return_to=safe_return_to(request.query_params.get("retour", "/")),
        expired=request.query_params.get("expire") == "1",
    )
    response.set_cookie(
        LOGIN_COOKIE, login_token, httponly=True, samesite="strict", secure=state.settings.secure_cookies
    )
    return response


async def begin_oidc(request: Request) -> Response:
    state = _state(request)
    if state.oidc is None:
        return failure_page(state, request, NO_PROVIDER, None)
    return_to = safe_return_to(request.query_params.get("retour", "/"))
    async with state.pool.acquire() as conn:
        url = await state.oidc.begin(conn, return_to)
    return RedirectResponse(url, status_code=303)


async def oidc_callback(request: Request) -> Response:
    state = _state(request)
    if state.oidc is None:
        return failure_page(state, request, NO_PROVIDER, None)
    if request.query_params.get("error"):
        return failure_page(
            state,
            request,
            PageFailure(
                401,
                "Connexion interrompue",
                "La connexion a été annulée ou refusée par le fournisseur d'identité.",
            ),
            None,
        )
    code, sign_in_state = request.query_params.get("code", ""), request.query_params.get("state", "")
    async with state.pool.acquire() as conn:
        try:
            identity, return_to = await state.oidc.finish(conn, sign_in_state, code)
        except Unauthenticated as refused:
            log.warning("sign-in refused", extra={"reason": refused.reason})
            return failure_page(state, request, PageFailure(401, "Connexion refusée", refused.fr), None)
        agent = await directory.bind_identity(
            conn, identity.issuer, identity.subject, identity.email, identity.siret
        )
        if agent is None:
            log.warning(
                "sign-in refused: no active agent for this identity", extra={"reason": "AGENT_UNKNOWN"}
            )
            return failure_page(
                state,
                request,
                PageFailure(
                    403,
                    "Compte inconnu",
                    "Votre compte n'est pas (ou plus) dans l'annuaire des agents de cette console :"
                    " demandez à un responsable de vous y inscrire.",
                ),
                None,
            )
        token = await sessions.open_session(conn, agent.agent_id, identity.id_token)
    log.info("signed in", extra={"agent": agent.agent_id, "method": "oidc"})
    return _session_response(state, token, safe_return_to(return_to))


async def dev_sign_in(request: Request) -> Response:
    state = _state(request)
    if not state.settings.dev_sign_in:
        return failure_page(
            state,
            request,
            PageFailure(
                403,
                "Connexion de développement désactivée",
                "La connexion sans fournisseur d'identité n'existe que sur une installation"
                " de développement.",
            ),
            None,
        )
    form = await request.form()
    sent, cookie = str(form.get("login_token", "")), request.cookies.get(LOGIN_COOKIE, "")
    if not cookie or not secrets.compare_digest(sent, cookie):
        return failure_page(
            state,
            request,
            PageFailure(
                403, "Formulaire refusé", "Ce formulaire a expiré : rechargez la page et recommencez."
            ),
            None,
        )
    async with state.pool.acquire() as conn:
        agent = await directory.get(conn, str(form.get("agent_id", "")))
        if agent is None or not agent.active:
            return failure_page(
                state,
                request,
                PageFailure(403, "Compte inconnu", "Ce compte n'existe pas ou n'est plus actif."),
                None,
            )
        token = await sessions.open_session(conn, agent.agent_id)
    log.info("signed in", extra={"agent": agent.agent_id, "method": "development"})
    return _session_response(state, token, safe_return_to(str(form.get("retour", "/"))))


async def sign_out(request: Request) -> Response:
    """POST with the session's CSRF token; then the provider's own sign-out if any."""
    state = _state(request)
    token = request.cookies.get(sessions.COOKIE, "")
    form = await request.form()
    target = "/deconnecte"
    async with state.pool.acquire() as conn:
        session = await sessions.load(conn, token, state.settings.idle_timeout_s)
        if session is not None:
            if not secrets.compare_digest(str(form.get("csrf_token", "")), session.csrf_token):
                return failure_page(
                    state,
                    request,
                    PageFailure(403, "Formulaire refusé", "Rechargez la page et recommencez."),
                    session,
                )
            await sessions.close(conn, token)
            if state.oidc is not None and session.id_token:
                url = await state.oidc.end_session_url(
                    session.id_token, f"{state.settings.public_url}/deconnecte"
                )
                target = url or target
    response = RedirectResponse(target, status_code=303)
    response.delete_cookie(sessions.COOKIE, path="/")
    return response


async def signed_out(request: Request) -> Response:
    return _state(request).render(request, "signed_out.html", session=None)


ROUTES = [
    Route("/connexion", sign_in_page, methods=["GET"]),
    Route("/connexion/oidc", begin_oidc, methods=["GET"]),
    Route("/connexion/retour", oidc_callback, methods=["GET"]),
    Route("/connexion/dev", dev_sign_in, methods=["POST"]),
    Route("/deconnexion", sign_out, methods=["POST"]),
    Route("/deconnecte", signed_out, methods=["GET"]),
]
