"""The console's front door: each role's starting page."""

from __future__ import annotations

from starlette.responses import Response

from kernel.auth import Role
from services.console.web import Page, page_route

START_PAGES = {
    Role.ACCUEIL: "/accueil",
    Role.TRAVAILLEUR_SOCIAL: "/mes-dossiers",
    Role.RESPONSABLE: "/mes-dossiers",
}


async def home(page: Page) -> Response:
    start = START_PAGES.get(page.session.agent.role)
    if start is not None:
        return page.redirect(start)
    # Partners, élus and ops have their own tools until their pages come (console part 2).
    return page.render("other_roles.html", title="Votre espace")


ROUTES = [page_route("/", home)]
