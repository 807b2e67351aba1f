"""The console's Starlette application: routes of every page module, static files,
security headers, and the process's shared state (pool, service channels, templates)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from kernel import db, migrations
from kernel.logs import configure_logging, get_logger
from kernel.settings import Settings
from services.console import directory, pages, sessions, signin
from services.console.backend import Backend
from services.console.oidc import OidcClient
from services.console.security import SecurityHeaders
from services.console.settings import ConsoleSettings
from services.console.state import ConsoleState
from services.console.templating import make_environment
from services.console.web import PageFailure, failure_page

log = get_logger("console")
STATIC = Path(__file__).parent / "static"
MIGRATIONS = Path(__file__).parent / "migrations"
PURGE_EVERY_S = 300.0


async def migrate(settings: Settings) -> None:
    conn = await asyncpg.connect(settings.migration_database_url)
    try:
        await migrations.migrate_service(conn, directory.SCHEMA, MIGRATIONS)
    finally:
        await conn.close()


async def _purge_loop(state: ConsoleState) -> None:
    while True:
        await asyncio.sleep(PURGE_EVERY_S)
        try:
            async with state.pool.acquire() as conn:
                await sessions.purge_idle(conn, state.settings.idle_timeout_s)
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("session purge failed", extra={"error": type(exc).__name__})


def theme_css(request: Request) -> Response:
    """The deployment's colour, as a stylesheet (no inline style under the CSP)."""
    settings: ConsoleSettings = request.app.state.console.settings
    colour = settings.theme.primary_colour
    if not (
        colour.startswith("#")
        and len(colour) in (4, 7)
        and all(c in "0123456789abcdefABCDEF" for c in colour[1:])
    ):
        colour = "#1d4e89"
    return Response(f":root {{ --primary: {colour}; }}\n", media_type="text/css")


async def health(request: Request) -> Response:
    state: ConsoleState = request.app.state.console
    try:
        async with state.pool.acquire() as conn:
            await conn.fetchval("SELECT 1")
    except (OSError, asyncpg.PostgresError):
        return JSONResponse({"status": "indisponible", "database": "down"}, status_code=503)
    return JSONResponse({"status": "ok"})


async def not_found(request: Request, exc: Exception) -> Response:
    state: ConsoleState = request.app.state.console
    return failure_page(
        state, request, PageFailure(404, "Page introuvable", "Cette page n'existe pas."), None
    )


async def server_error(request: Request, exc: Exception) -> Response:
    log.error("page failed", extra={"error": type(exc).__name__, "path": request.url.path})
    state: ConsoleState = request.app.state.console
    failure = PageFailure(
        500, "Erreur interne", "Une erreur est survenue : les exploitants ont été prévenus."
    )
    return failure_page(state, request, failure, None)


def app_from_env() -> Starlette:
    """The app of one worker process (uvicorn's factory when it runs several)."""
    settings = ConsoleSettings.from_env()
    configure_logging("console", settings.env.get("ENTRAIDE_LOG_LEVEL", "INFO"))
    return create_app(settings)


def create_app(settings: ConsoleSettings) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        service_settings = Settings.from_env(settings.env)
        await migrate(service_settings)
        pool = await db.create_pool(service_settings.database_url, role=service_settings.db_role, max_size=20)
        agents_file = settings.env.get("ENTRAIDE_CONSOLE_AGENTS_FILE", "")
        if agents_file:
            async with pool.acquire() as conn:
                count = await directory.upsert(conn, directory.load_file(Path(agents_file)))
            log.info("agents directory loaded", extra={"count": count})
        backend = Backend(settings.env)
        oidc = OidcClient(settings.oidc, settings.redirect_uri) if settings.oidc else None
        state = ConsoleState(settings, pool, backend, make_environment(settings.env), oidc)
        app.state.console = state
        purge = asyncio.create_task(_purge_loop(state))
        try:
            yield
        finally:
            purge.cancel()
            await backend.close()
            await pool.close()

    routes = [
        Route("/sante", health, methods=["GET"]),
        Route("/theme.css", theme_css, methods=["GET"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
        *signin.ROUTES,
        *pages.ROUTES,
        *pages.PUBLIC_ROUTES,
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={404: not_found, 500: server_error},
    )
    app.add_middleware(SecurityHeaders, issuer=settings.oidc.issuer if settings.oidc else "")
    return app
