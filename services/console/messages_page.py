"""The messages sent to people about their appointments (confirmations, reminders,
moves, cancellations), for responsables: when, which kind, by which channel, to a
masked address, with the delivery status, the attempts and the provider's receipt."""

from __future__ import annotations

from entraide.v1 import planning_pb2
from starlette.responses import Response

from domain import labels_fr as labels
from domain.planning import MessageStatus
from services.console import web
from services.console.planning_forms import MESSAGE_READERS, require
from services.console.web import Page, page_route

NOT_ALLOWED = "La liste des messages envoyés aux personnes est réservée aux agents de rôle responsable."
LIMIT = 200


async def messages_page(page: Page) -> Response:
    require(page, MESSAGE_READERS, NOT_ALLOWED)
    status = web.query(page.request, "statut")
    if status not in {s.value for s in MessageStatus}:
        status = ""
    reply = await page.calls.planning.ListPersonMessages(
        planning_pb2.ListPersonMessagesRequest(status=status, limit=LIMIT)
    )
    return page.render(
        "messages_page.html",
        title="Messages envoyés aux personnes",
        messages=list(reply.messages),
        chosen_status=status,
        status_choices=[(s.value, labels.MESSAGE_STATUS_LABELS[s].capitalize()) for s in MessageStatus],
        limit=LIMIT,
    )


ROUTES = [page_route("/messages", messages_page)]
