"""The inbox ("À traiter"): what the dossiers' workflows ask of agents (an urgent écoute
not held in time, a suivi reminder, a proposed closure, a referral refused, failed or
expired), each with one link to the part of the dossier page where the agent acts.

The tasks and their rules (when one opens, when an agent's step closes it) are the
intake service's (ListTasks); their French names are the domain's (domain.labels_fr).
"""

from __future__ import annotations

from dataclasses import dataclass

from entraide.v1 import intake_pb2
from starlette.responses import Response

from domain.labels_fr import TASK_KIND_LABELS
from domain.vocabulary import TaskKind
from kernel.auth import Role
from services.console.caseload import agent_names
from services.console.web import Page, page_route, query

# ListTasks answers at most this many (the newest first).
PAGE_SIZE = 200


@dataclass(frozen=True)
class Action:
    """Where on the dossier page an agent acts on a task, and the link's words."""

    anchor: str
    text: str


ACTIONS: dict[str, Action] = {
    TaskKind.ESCALATED: Action("entretien", "Recevoir la personne en écoute"),
    TaskKind.SUIVI_REMINDER: Action("suivi", "Noter un contact de suivi"),
    TaskKind.CLOSURE_PROPOSED: Action("cloture", "Clôturer ou poursuivre le suivi"),
    TaskKind.REFERRAL_REJECTED: Action("orientations", "Orienter à nouveau"),
    TaskKind.REFERRAL_FAILED: Action("orientations", "Orienter à nouveau"),
    TaskKind.REFERRAL_EXPIRED: Action("orientations", "Orienter à nouveau"),
    # The dossier's aid requests: the late one is listed there with its status.
    TaskKind.AID_INSTRUCTION_LATE: Action("aides", "Instruire la demande d'aide"),
    TaskKind.AID_DECISION_LATE: Action("aides", "Présenter la demande d'aide en commission"),
    TaskKind.AID_PAYMENT_LATE: Action("aides", "Faire payer l'aide accordée"),
}
# A kind this console does not know yet: the dossier itself, never the raw code.
UNKNOWN_ACTION = Action("", "Ouvrir le dossier")
UNKNOWN_LABEL = "Tâche à traiter"


@dataclass(frozen=True)
class Item:
    task: intake_pb2.Task
    label: str
    href: str
    action: str


def item_of(task: intake_pb2.Task) -> Item:
    action = ACTIONS.get(task.kind, UNKNOWN_ACTION)
    href = f"/dossiers/{task.dossier_id}" + (f"#{action.anchor}" if action.anchor else "")
    return Item(task, TASK_KIND_LABELS.get(task.kind, UNKNOWN_LABEL), href, action.text)


def everyone_by_default(role: Role) -> bool:
    """A social worker starts with their own dossiers' tasks; anyone else with all."""
    return role is not Role.TRAVAILLEUR_SOCIAL


async def inbox(page: Page) -> Response:
    choice = query(page.request, "tous")
    everyone = choice == "1" or (choice != "0" and everyone_by_default(page.session.agent.role))
    reply = await page.calls.intake.ListTasks(
        intake_pb2.ListTasksRequest(
            territories=[], assigned_agent="" if everyone else page.agent_id, page_size=PAGE_SIZE
        )
    )
    items = [item_of(task) for task in reply.tasks]
    return page.render(
        "inbox_page.html",
        title=f"À traiter ({len(items)})",
        tasks=items,
        everyone=everyone,
        truncated=len(items) >= PAGE_SIZE,
        names=await agent_names(page),
    )


ROUTES = [page_route("/taches", inbox)]
