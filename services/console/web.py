"""The plumbing every page shares: the session, CSRF on every form post, the agent's
service calls, rendering, and the French pages for refusals and failures.

Pages are `async def handler(page: Page) -> Response` wrapped by `page_route`: no page
runs without a live session, no POST runs without its session's CSRF token, and a
failed service call becomes the French page (or the form again, with the errors next
to the fields) instead of a stack trace.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote

import grpc
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from kernel import rich_status
from kernel.logs import get_logger
from services.console import sessions
from services.console.backend import AgentCalls
from services.console.sessions import Session
from services.console.state import ConsoleState

log = get_logger("console")
T = TypeVar("T")
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
# A person may act only on forms posted with these codes; others are this console's bugs.
FORM_CODES = frozenset(
    {
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.ALREADY_EXISTS,
        grpc.StatusCode.OUT_OF_RANGE,
    }
)


@dataclass
class FormErrors:
    """A refused form: the French sentence, and one per field at fault."""

    message: str = ""
    fields: dict[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.message or self.fields)


def form_errors(error: grpc.RpcError) -> FormErrors:
    described = rich_status.describe(error)
    fields: dict[str, str] = {}
    for violation in described.violations:
        # `motifs[2]` is the `motifs` field of the form.
        fields.setdefault(violation.field.split("[")[0].split(".")[0], violation.fr)
    return FormErrors(described.fr, fields)


class PageFailure(Exception):
    """Ends a page with the French error page (status and sentence)."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(title)
        self.status, self.title, self.message = status, title, message


def not_found() -> PageFailure:
    return PageFailure(404, "Page introuvable", "Cette page n'existe pas, ou vous n'y avez pas accès.")


def code_of(error: grpc.RpcError) -> grpc.StatusCode:
    return rich_status.describe(error).code


async def read_by_path_id(call: Awaitable[T]) -> T:
    """A read of the record a URL names: an id the service refuses as malformed
    (INVALID_ARGUMENT) is no such page, as an unknown one is."""
    try:
        return await call
    except grpc.RpcError as error:
        if code_of(error) is grpc.StatusCode.INVALID_ARGUMENT:
            raise not_found() from None
        raise


@dataclass
class Page:
    request: Request
    state: ConsoleState
    session: Session
    calls: AgentCalls
    form: FormData | None = None

    @property
    def agent_id(self) -> str:
        return self.session.agent.agent_id

    def field(self, name: str, default: str = "") -> str:
        value = self.form.get(name) if self.form is not None else None
        return value.strip() if isinstance(value, str) else default

    def fields(self, name: str) -> list[str]:
        if self.form is None:
            return []
        return [v.strip() for v in self.form.getlist(name) if isinstance(v, str) and v.strip()]

    def render(self, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        return self.state.render(self.request, template, status, session=self.session, **values)

    def redirect(self, url: str) -> RedirectResponse:
        """Post/redirect/get: a reload after a post reloads the page, never the post."""
        return RedirectResponse(url, status_code=303)


def new_request_id() -> str:
    """The request id a form carries: the same form posted twice is one request."""
    return str(uuid.uuid4())


def sign_in_redirect(request: Request) -> RedirectResponse:
    """To the sign-in page, coming back here after; "expired" when a session cookie was
    sent but its session is over (idle timeout, sign-out elsewhere, agent deactivated)."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    expired = "&expire=1" if request.cookies.get(sessions.COOKIE) else ""
    response = RedirectResponse(f"/connexion?retour={quote(target, safe='')}{expired}", status_code=303)
    if expired:
        response.delete_cookie(sessions.COOKIE, path="/")
    return response


async def _session_of(state: ConsoleState, request: Request) -> Session | None:
    token = request.cookies.get(sessions.COOKIE, "")
    if not token:
        return None
    async with state.pool.acquire() as conn:
        return await sessions.load(conn, token, state.settings.idle_timeout_s)


def _csrf_ok(session: Session, request: Request, form: FormData) -> bool:
    sent = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or ""
    return isinstance(sent, str) and secrets.compare_digest(sent, session.csrf_token)


def failure_page(
    state: ConsoleState, request: Request, failure: PageFailure, session: Session | None
) -> Response:
    return state.render(
        request,
        "error.html",
        failure.status,
        session=session,
        title=failure.title,
        message=failure.message,
    )


def rpc_failure(error: grpc.RpcError) -> PageFailure:
    """The French page of a service's refusal or failure (logged without personal data)."""
    described = rich_status.describe(error)
    code = described.code
    if code in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.NOT_FOUND):
        # The same page for both: a dossier of another commune is not confirmed to exist.
        return PageFailure(404, "Page introuvable", "Cette page n'existe pas, ou vous n'y avez pas accès.")
    if code in (
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    ):
        return PageFailure(503, "Service momentanément indisponible", described.fr)
    if code in FORM_CODES:
        return PageFailure(409, "Action impossible", described.fr)
    log.error("service call failed", extra={"code": code.name, "reason": described.reason})
    return PageFailure(500, "Erreur interne", "Une erreur est survenue : les exploitants ont été prévenus.")


Handler = Callable[[Page], Awaitable[Response]]


def page_route(
    path: str, handler: Handler, methods: tuple[str, ...] = ("GET",), name: str | None = None
) -> Route:
    """A route that needs a signed-in agent; its POSTs need the session's CSRF token."""

    async def endpoint(request: Request) -> Response:
        state: ConsoleState = request.app.state.console
        session = await _session_of(state, request)
        if session is None:
            if request.headers.get("hx-request"):
                return Response(status_code=401, headers={"HX-Redirect": "/connexion"})
            return sign_in_redirect(request)
        form: FormData | None = None
        if request.method == "POST":
            form = await request.form()
            if not _csrf_ok(session, request, form):
                log.warning("form refused: missing or wrong CSRF token", extra={"path": path})
                failure = PageFailure(
                    403,
                    "Formulaire refusé",
                    "Ce formulaire a expiré ou ne vient pas de cette console :"
                    " rechargez la page et recommencez.",
                )
                return failure_page(state, request, failure, session)
        page = Page(request, state, session, state.backend.as_agent(session.agent), form)
        try:
            return await handler(page)
        except PageFailure as failure:
            return failure_page(state, request, failure, session)
        except grpc.RpcError as error:
            if rich_status.describe(error).code is grpc.StatusCode.UNAUTHENTICATED:
                return sign_in_redirect(request)
            return failure_page(state, request, rpc_failure(error), session)

    return Route(path, endpoint, methods=list(methods), name=name or handler.__name__)


def query(request: Request, name: str, default: str = "") -> str:
    value = request.query_params.get(name, default)
    return value.strip()[:200]


def messages(done: Mapping[str, str], request: Request) -> str:
    """The confirmation after a post/redirect/get (?fait=code), in French."""
    return done.get(query(request, "fait"), "")
