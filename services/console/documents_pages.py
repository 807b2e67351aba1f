"""Supporting documents (pièces justificatives) on a dossier or an aid request: the upload
form's file (multipart) sent to DocumentService.UploadDocument, the download of a
document's bytes (each read is in the service's access log), its deletion.

What a document may be (PDF, JPEG or PNG by its content), its size limit, who may read
it, its encryption and its retention are the document service's; the console only
refuses a file the service could not even receive (over the gRPC message limit) and
never keeps the bytes.
"""

from __future__ import annotations

from urllib.parse import quote

import grpc
from entraide.v1 import documents_pb2
from starlette.datastructures import UploadFile
from starlette.responses import Response

from domain.aides import DocumentFormat, DocumentOwner
from services.console import web
from services.console.access_gate import require
from services.console.aid_forms import AID_READERS, NOT_ALLOWED, aid_errors, is_refusal
from services.console.dossier_page import Refusal, render_dossier
from services.console.templating import document_max_bytes, megabytes
from services.console.web import FormErrors, Page, new_request_id, page_route

FILE_FIELD = "content"
# The service's requests travel in one gRPC message (4 MiB): a bigger file is refused here.
TRANSPORT_LIMIT = 4 * 1024 * 1024 - 64 * 1024
EXTENSIONS = {DocumentFormat.PDF: "pdf", DocumentFormat.JPEG: "jpg", DocumentFormat.PNG: "png"}
DOSSIER_FORM_INPUTS = ("kind", "content")
UPLOAD_RENAME = {"owner_id": "kind", "owner_kind": "kind"}


def max_bytes(page: Page) -> int:
    """The deployment's limit, under what one gRPC message carries."""
    return min(document_max_bytes(page.state.settings.env), TRANSPORT_LIMIT)


def too_large_sentence(limit: int) -> str:
    return f"Fichier trop volumineux : une pièce justificative fait au plus {megabytes(limit)}."


async def read_upload(page: Page) -> tuple[bytes, FormErrors | None]:
    """The uploaded file's bytes, or the refusal of a file over the limit (not read
    further). No file: empty bytes (the service says a document is needed)."""
    upload = page.form.get(FILE_FIELD) if page.form is not None else None
    if not isinstance(upload, UploadFile):
        return b"", None
    limit = max_bytes(page)
    content = await upload.read(limit + 1)
    await upload.close()
    if len(content) > limit:
        sentence = too_large_sentence(limit)
        return b"", FormErrors(sentence, {FILE_FIELD: sentence})
    return content, None


async def upload_request(
    page: Page, owner_kind: str, owner_id: str, content: bytes
) -> documents_pb2.Document:
    document: documents_pb2.Document = await page.calls.documents.UploadDocument(
        documents_pb2.UploadDocumentRequest(
            owner_kind=owner_kind,
            owner_id=owner_id,
            kind=page.field("kind"),
            content=content,
            request_id=page.field("request_id") or new_request_id(),
        ),
        timeout=30.0,
    )
    return document


def _dossier_refusal(page: Page, errors: FormErrors) -> Refusal:
    return Refusal("piece", errors, {"kind": page.field("kind")}, page.field("request_id"))


async def upload_on_dossier(page: Page) -> Response:
    require(page, AID_READERS, NOT_ALLOWED)
    dossier_id = str(page.request.path_params["dossier_id"])
    content, too_large = await read_upload(page)
    if too_large:
        return await render_dossier(page, dossier_id, _dossier_refusal(page, too_large))
    try:
        await upload_request(page, DocumentOwner.DOSSIER.value, dossier_id, content)
    except grpc.RpcError as error:
        if not is_refusal(error):
            raise
        errors = aid_errors(error, DOSSIER_FORM_INPUTS, UPLOAD_RENAME)
        return await render_dossier(page, dossier_id, _dossier_refusal(page, errors))
    return page.redirect(f"/dossiers/{quote(dossier_id, safe='')}?fait=piece#pieces")


def download_name(document: documents_pb2.Document) -> str:
    """« piece-bulletin_salaire-2031-03-02.pdf »: the kind and the day, no name in it."""
    try:
        extension = EXTENSIONS[DocumentFormat(document.media_type)]
    except ValueError:
        extension = "bin"
    day = document.uploaded_at.ToDatetime().date().isoformat() if document.uploaded_at.seconds else ""
    stem = "-".join(part for part in ("piece", document.kind, day) if part)
    return "".join(c for c in stem if c.isalnum() or c in "-_") + f".{extension}"


async def download(page: Page) -> Response:
    require(page, AID_READERS, NOT_ALLOWED)
    document_id = str(page.request.path_params["document_id"])
    reply = await web.read_by_path_id(
        page.calls.documents.GetDocumentContent(
            documents_pb2.GetDocumentContentRequest(document_id=document_id)
        )
    )
    document = reply.document
    media_type = (
        document.media_type if document.media_type in set(DocumentFormat) else "application/octet-stream"
    )
    return Response(
        content=reply.content,
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{download_name(document)}"',
            "Cache-Control": "no-store",
        },
    )


def back_to(page: Page, owner_kind: str, owner_id: str) -> str:
    if owner_kind == DocumentOwner.AID_REQUEST:
        return f"/aides/demandes/{quote(owner_id, safe='')}?fait=piece-supprimee#pieces"
    if owner_kind == DocumentOwner.DOSSIER:
        return f"/dossiers/{quote(owner_id, safe='')}?fait=piece-supprimee#pieces"
    return "/aides"


async def delete(page: Page) -> Response:
    require(page, AID_READERS, NOT_ALLOWED)
    document_id = str(page.request.path_params["document_id"])
    try:
        deleted = await page.calls.documents.DeleteDocument(
            documents_pb2.DeleteDocumentRequest(
                document_id=document_id, request_id=page.field("request_id") or new_request_id()
            )
        )
    except grpc.RpcError as error:
        if web.code_of(error) is grpc.StatusCode.INVALID_ARGUMENT:
            raise web.not_found() from None
        raise
    return page.redirect(back_to(page, deleted.owner_kind, deleted.owner_id))


ROUTES = [
    page_route("/dossiers/{dossier_id}/pieces", upload_on_dossier, methods=("POST",), name="dossier_upload"),
    page_route("/pieces/{document_id}", download, name="document_download"),
    page_route("/pieces/{document_id}/suppression", delete, methods=("POST",), name="document_delete"),
]
