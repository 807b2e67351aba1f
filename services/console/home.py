"""The console's front door: each role's starting page."""

from __future__ import annotations

from starlette.responses import Response

from kernel.auth import Role
from services.console.web import Page, page_route

START_PAGES = {
    Role.ACCUEIL: "/accueil",
    Role.TRAVAILLEUR_SOCIAL: "/mes-dossiers",
    Role.RESPONSABLE: "/mes-dossiers",
    Role.PARTENAIRE: "/partenaire",
    Role.ELU: "/bilan",
    Role.OPS: "/exploitation",
    # A signaleur may only signal: its start page is the signal form (services/console/signal_pages.py).
    Role.SIGNALEUR: "/signalement",
}


async def home(page: Page) -> Response:
    return page.redirect(START_PAGES[page.session.agent.role])


ROUTES = [page_route("/", home)]
