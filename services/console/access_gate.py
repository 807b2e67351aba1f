"""The role check of the pages a signaleur must not learn exist: a signaleur (who may only
signal) gets the French 404 every page out of its reach shows; another agent without the
role is told why (403)."""

from __future__ import annotations

from kernel.auth import Role
from services.console import web
from services.console.web import Page, PageFailure


def require(page: Page, roles: frozenset[Role], what: str) -> None:
    role = page.session.agent.role
    if role in roles:
        return
    if role is Role.SIGNALEUR:
        raise web.not_found()
    raise PageFailure(403, "Accès refusé", what)
