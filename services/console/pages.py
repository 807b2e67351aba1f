"""Every page module's routes, in one list (each module owns its paths)."""

from __future__ import annotations

from services.console import caseload, dossier_page, home, inbox, person_page, reception

ROUTES = [
    *home.ROUTES,
    *reception.ROUTES,
    *caseload.ROUTES,
    *dossier_page.ROUTES,
    *person_page.ROUTES,
    *inbox.ROUTES,
]
