"""The active caseload ("Mes dossiers"): the dossiers not closed, in the service's
attention order (urgent and overdue first), grouped by stage, with filters.

Every rule (which communes, which dossiers, the order, what "overdue" means) is the
intake service's: this page only sends the filters and shows the answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

import grpc
from entraide.v1 import intake_pb2
from starlette.responses import Response

from domain.labels_fr import DEADLINE_LABELS, STAGE_LABELS
from domain.vocabulary import Stage
from kernel import rich_status
from kernel.auth import Role
from services.console.web import FORM_CODES, FormErrors, Page, form_errors, page_route, query

# The active stages, in lifecycle order (a table each).
ACTIVE_STAGES = tuple(code for code in STAGE_LABELS if code != Stage.CLOTURE)
MINE, EVERYONE = "moi", "tous"
MAX_TOKEN = 2000
AGENT_CHOICES = {MINE: "Mes dossiers", EVERYONE: "Tous les agents"}
# A refused filter's field (a ListDossiers field) → the filter form's field.
FORM_FIELD_OF = {
    "territory": "commune",
    "territories": "commune",
    "stage": "etape",
    "motif": "motif",
    "assigned_agent": "agent",
}


@dataclass(frozen=True)
class Filters:
    commune: str
    etape: str
    motif: str
    agent: str

    def query(self, **extra: str) -> str:
        values = {"commune": self.commune, "etape": self.etape, "motif": self.motif, "agent": self.agent}
        return urlencode({k: v for k, v in {**values, **extra}.items() if v})


@dataclass(frozen=True)
class StageGroup:
    stage: str
    caption: str
    dossiers: list[intake_pb2.Dossier]


def badges_of(dossier: intake_pb2.Dossier) -> list[tuple[str, str]]:
    """What the service flagged on a dossier, as (CSS class, French words)."""
    flags = [
        (dossier.urgent, "badge-urgent", "Urgent"),
        (dossier.overdue, "badge-late", "En retard"),
        (dossier.escalated, "badge-urgent", "Écoute urgente dépassée"),
        (dossier.reminded, "badge-late", "Relance envoyée"),
        (dossier.closure_proposed, "badge-stage", "Clôture proposée"),
    ]
    return [(css, text) for on, css, text in flags if on]


def default_agent_choice(role: Role) -> str:
    """A social worker starts with their own dossiers; anyone else with everyone's."""
    return MINE if role is Role.TRAVAILLEUR_SOCIAL else EVERYONE


def filters_of(page: Page) -> Filters:
    agent = query(page.request, "agent") or default_agent_choice(page.session.agent.role)
    return Filters(
        commune=query(page.request, "commune"),
        etape=query(page.request, "etape"),
        motif=query(page.request, "motif"),
        agent=agent if agent in AGENT_CHOICES else default_agent_choice(page.session.agent.role),
    )


def capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def grouped(dossiers: list[intake_pb2.Dossier]) -> list[StageGroup]:
    """One group per stage with dossiers, in lifecycle order, each in the service's order."""
    groups = []
    for stage in ACTIVE_STAGES:
        found = [d for d in dossiers if d.stage == stage]
        if found:
            groups.append(StageGroup(stage, f"{capitalised(STAGE_LABELS[stage])} ({len(found)})", found))
    # A stage this console does not know yet still shows, after the known ones.
    others = [d for d in dossiers if d.stage not in ACTIVE_STAGES]
    if others:
        groups.append(StageGroup("autre", f"Autres étapes ({len(others)})", others))
    return groups


async def agent_names(page: Page) -> dict[str, str]:
    """Agents' display names from the console's directory (an unknown id shows as such)."""
    return {agent.agent_id: agent.display_name for agent in await page.state.agents()}


def relabelled(errors: FormErrors) -> FormErrors:
    # A refused page token has no field in the form: its sentence is the summary's.
    fields = {
        FORM_FIELD_OF.get(name, name): text for name, text in errors.fields.items() if name != "page_token"
    }
    return FormErrors(errors.message, fields)


async def caseload(page: Page) -> Response:
    filters = filters_of(page)
    # Not web.query: a page token is longer than its 200 characters (still bounded).
    token = page.request.query_params.get("page", "").strip()[:MAX_TOKEN]
    request = intake_pb2.ListDossiersRequest(
        territories=[filters.commune] if filters.commune else [],
        stage=filters.etape,
        motif=filters.motif,
        assigned_agent=page.agent_id if filters.agent == MINE else "",
        active_only=True,
        attention_first=True,
        page_token=token,
    )
    errors = FormErrors()
    dossiers: list[intake_pb2.Dossier] = []
    next_token = ""
    try:
        reply = await page.calls.intake.ListDossiers(request)
        dossiers, next_token = list(reply.dossiers), reply.next_page_token
    except grpc.RpcError as error:
        if rich_status.describe(error).code not in FORM_CODES:
            raise
        errors = relabelled(form_errors(error))
    # htmx asks for the results only when the filter form is sent (not a history restore).
    partial = bool(page.request.headers.get("hx-request")) and not page.request.headers.get(
        "hx-history-restore-request"
    )
    values = {
        "title": "Mes dossiers",
        "filters": filters,
        "errors": errors,
        "groups": grouped(dossiers),
        "count": len(dossiers),
        "next_url": f"/mes-dossiers?{filters.query(page=next_token)}" if next_token else "",
        "first_url": f"/mes-dossiers?{filters.query()}" if token else "",
        "names": await agent_names(page),
        "communes": sorted(page.session.agent.territories),
        "stages": ACTIVE_STAGES,
        "agent_choices": AGENT_CHOICES,
        "deadline_kinds": DEADLINE_LABELS,
        "badges_of": badges_of,
    }
    if partial and errors:
        # htmx swaps no 4xx answer: the whole page shows the refusal next to the filters.
        return Response(
            status_code=400, headers={"HX-Redirect": f"/mes-dossiers?{filters.query(page=token)}"}
        )
    template = "caseload_results.html" if partial else "caseload_page.html"
    return page.render(template, status=400 if errors else 200, **values)


ROUTES = [page_route("/mes-dossiers", caseload)]
