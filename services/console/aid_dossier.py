"""The dossier page's aid sections: the dossier's aid requests (status, amounts, a link
to each and to the request form) and its supporting documents (list, download, upload,
deletion), for those who work on aid requests (AID_READERS); nothing for the others.

A service that does not serve aid or documents (UNIMPLEMENTED) leaves its section out
instead of the whole page; any other failure is the page's.
"""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
from entraide.v1 import aides_pb2, documents_pb2

from domain.aides import DocumentOwner
from services.console import web
from services.console.aid_forms import AID_READERS
from services.console.web import Page

DONE: dict[str, tuple[str, str]] = {
    "piece": ("La pièce justificative est ajoutée au dossier.", "pieces"),
    "piece-supprimee": ("La pièce justificative est supprimée.", "pieces"),
}


LEFT_OUT = frozenset({grpc.StatusCode.UNIMPLEMENTED})


async def or_none(call: Any, codes: frozenset[grpc.StatusCode] = LEFT_OUT) -> Any:
    """The call's answer, or None when it fails with one of `codes`."""
    try:
        return await call
    except grpc.RpcError as error:
        if web.code_of(error) in codes:
            return None
        raise


async def documents_of(page: Page, owner_kind: str, owner_id: str) -> list[documents_pb2.Document] | None:
    """The documents of a dossier or aid request; None: not shown (see above)."""
    reply = await or_none(
        page.calls.documents.ListDocuments(
            documents_pb2.ListDocumentsRequest(owner_kind=owner_kind, owner_id=owner_id)
        )
    )
    return list(reply.documents) if reply is not None else None


async def aid_sections(page: Page, dossier_id: str) -> dict[str, Any]:
    """`aid_requests` and `documents` of the dossier (None: section not shown)."""
    if page.session.agent.role not in AID_READERS:
        return {"aid_requests": None, "documents": None}
    requests, documents = await asyncio.gather(
        or_none(page.calls.aides.ListAidRequests(aides_pb2.ListAidRequestsRequest(dossier_id=dossier_id))),
        documents_of(page, DocumentOwner.DOSSIER.value, dossier_id),
    )
    return {
        "aid_requests": (
            sorted(requests.aid_requests, key=lambda r: r.created_at.seconds, reverse=True)
            if requests is not None
            else None
        ),
        "documents": documents,
    }
