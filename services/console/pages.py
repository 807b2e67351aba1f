"""Every page module's routes, in one list (each module owns its paths; reception's
fixed paths such as /personnes/nouvelle come before the pages with an id in the path)."""

from __future__ import annotations

from services.console import (
    administration,
    aid_commissions,
    aid_money,
    aid_pages,
    appointments,
    bilan,
    caseload,
    collective_pages,
    collective_sheet,
    day_list,
    documents_pages,
    dossier_page,
    home,
    import_page,
    inbox,
    messages_page,
    ops,
    partner,
    partner_link,
    person_page,
    planning_page,
    reception,
    signal_pages,
)

ROUTES = [
    *home.ROUTES,
    *reception.ROUTES,
    *day_list.ROUTES,
    *appointments.ROUTES,
    *planning_page.ROUTES,
    *messages_page.ROUTES,
    *signal_pages.ROUTES,
    # The programmes' fixed paths (nouvelle, seances/, participants/) before /{programme_id}.
    *collective_pages.ROUTES,
    *collective_sheet.ROUTES,
    *collective_pages.PROGRAMME_ROUTES,
    *caseload.ROUTES,
    # The aid pages' fixed paths (nouvelle, releve) are matched before their ids by
    # Starlette only in list order: commissions/nouvelle comes before commissions/{id}.
    *aid_pages.ROUTES,
    *aid_commissions.ROUTES,
    *aid_money.ROUTES,
    *documents_pages.ROUTES,
    *dossier_page.ROUTES,
    *person_page.ROUTES,
    *inbox.ROUTES,
    *partner.ROUTES,
    *bilan.ROUTES,
    *ops.ROUTES,
    *administration.ROUTES,
    *import_page.ROUTES,
]
# Pages reached without a session (a partner's signed link): outside page_route.
PUBLIC_ROUTES = [*partner_link.ROUTES]
