"""DocumentService, served by the intake process (the owners of documents — persons,
dossiers, aid requests — live there). A document's bytes are checked by their content
(PDF, JPEG, PNG) and size, sealed (crypto.py) and put in the store (storage.py) before
its row is written; reading one decrypts it for the caller, and the access log records
it (access.py). Nothing of the bytes reaches events, workflows or logs."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg
from entraide.v1 import documents_pb2, documents_pb2_grpc

from domain.aides import DEFAULT_DOCUMENT_MAX_BYTES, DocumentOwner, sniff
from domain.labels_fr import DOCUMENT_OWNER_LABELS
from kernel import auth
from kernel.db import Connection, ScopedPool
from kernel.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied, Violation
from kernel.grpc_server import Context
from kernel.reference import ReferenceData
from kernel.settings import Settings
from kernel.timestamps import to_timestamp
from services.intake.documents.crypto import keys_from_env
from services.intake.documents.storage import store_from_env
from services.intake.schema import SCHEMA

DOCUMENT_NAMESPACE = uuid.UUID("c2d9f5a6-81e3-4b07-9a4c-3e6f0d1b7258")
TERRITORY_OF: dict[DocumentOwner, str] = {
    DocumentOwner.PERSON: "person_territory",
    DocumentOwner.DOSSIER: "dossier_territory",
    DocumentOwner.AID_REQUEST: "aid_request_territory",
}


def document_message(row: asyncpg.Record) -> documents_pb2.Document:
    message = documents_pb2.Document(
        document_id=str(row["document_id"]),
        owner_kind=row["owner_kind"],
        owner_id=str(row["owner_id"]),
        territory=row["territory"],
        kind=row["kind"],
        media_type=row["media_type"],
        size_bytes=row["size_bytes"],
        uploaded_by=row["uploaded_by"],
        uploaded_at=to_timestamp(row["uploaded_at"]),
        delete_after=row["delete_after"].isoformat() if row["delete_after"] else "",
    )
    if row["deleted_at"] is not None:
        message.deleted_at.CopyFrom(to_timestamp(row["deleted_at"]))
    return message


def _uuid(field: str, raw: str, what_fr: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise InvalidArgument(
            f"{field} is not an id",
            fr=f"{what_fr} n'est pas un identifiant valide.",
            reason="INVALID_ID",
            field=field,
        ) from None


class DocumentServicer(documents_pb2_grpc.DocumentServiceServicer):
    def __init__(self, pool: ScopedPool, reference: ReferenceData, settings: Settings) -> None:
        self.pool = pool
        self.reference = reference
        self.keys = keys_from_env(settings.env)
        self.store = store_from_env(settings.env)
        self.max_bytes = int(settings.env.get("ENTRAIDE_DOCUMENT_MAX_BYTES") or DEFAULT_DOCUMENT_MAX_BYTES)

    async def _owner(
        self, conn: Connection, kind_raw: str, owner_raw: str
    ) -> tuple[DocumentOwner, uuid.UUID, str]:
        try:
            kind = DocumentOwner(kind_raw)
        except ValueError:
            raise InvalidArgument(
                f"owner_kind is person, dossier or aid_request (got {kind_raw!r})",
                fr="Une pièce se rattache à une personne, un dossier ou une demande d'aide.",
                reason="INVALID_OWNER_KIND",
                field="owner_kind",
            ) from None
        owner_id = _uuid("owner_id", owner_raw, "L'identifiant du rattachement")
        territory = await conn.fetchval(f"SELECT {SCHEMA}.{TERRITORY_OF[kind]}($1)", owner_id)
        what = DOCUMENT_OWNER_LABELS[kind]
        if territory is None:
            raise NotFound(
                f"no such {kind.value}", fr=f"Introuvable : {what}.", reason="NOT_FOUND", field="owner_id"
            )
        if not auth.current().covers(territory):
            raise PermissionDenied(
                "of a commune that is not one of yours",
                fr=f"Ce rattachement ({what}) relève d'une commune qui ne fait pas partie des vôtres.",
                reason="TERRITORY_NOT_ASSIGNED",
                field="owner_id",
            )
        return kind, owner_id, str(territory)

    async def UploadDocument(
        self, request: documents_pb2.UploadDocumentRequest, context: Context
    ) -> documents_pb2.Document:
        problems: list[Violation] = []
        if request.kind not in self.reference.document_kinds:
            problems.append(
                Violation(
                    "kind",
                    f"unknown document kind {request.kind!r}",
                    "Choisissez le type de pièce dans la liste.",
                    "UNKNOWN_DOCUMENT_KIND" if request.kind else "FIELD_REQUIRED",
                )
            )
        size = len(request.content)
        media = sniff(request.content[:16])
        if size == 0:
            problems.append(
                Violation("content", "the document is empty", "Le fichier est vide.", "FIELD_REQUIRED")
            )
        elif size > self.max_bytes:
            limit = f"{self.max_bytes / (1024 * 1024):.0f}".replace(".", ",")
            problems.append(
                Violation(
                    "content",
                    f"the document is over {self.max_bytes} bytes",
                    f"Le fichier dépasse la taille autorisée ({limit} Mo) : réduisez-le ou"
                    " scannez-le en qualité moindre.",
                    "TOO_LARGE",
                )
            )
        elif media is None:
            problems.append(
                Violation(
                    "content",
                    "the document is not a PDF, JPEG or PNG file",
                    "Ce fichier n'est ni un PDF, ni une image JPEG ou PNG : seuls ces formats sont acceptés.",
                    "UNSUPPORTED_FORMAT",
                )
            )
        if problems:
            raise InvalidArgument.of(problems)
        assert media is not None
        claims = auth.current()
        async with self.pool.acquire() as conn:
            kind, owner_id, territory = await self._owner(conn, request.owner_kind, request.owner_id)
            document_id = (
                str(uuid.uuid5(DOCUMENT_NAMESPACE, f"{claims.subject}\x00{owner_id}\x00{request.request_id}"))
                if request.request_id
                else str(uuid.uuid4())
            )
            existing = await conn.fetchrow(
                f"SELECT * FROM {SCHEMA}.documents WHERE document_id = $1", uuid.UUID(document_id)
            )
            if existing is not None:
                return document_message(existing)
            sealed = self.keys.seal(document_id, request.content)
            await self.store.put(document_id, sealed.content)
            now = datetime.now(UTC)
            row = await conn.fetchrow(
                f"""INSERT INTO {SCHEMA}.documents (document_id, owner_kind, owner_id, territory, kind,
                        media_type, size_bytes, storage_key, key_id, wrapped_key, uploaded_by, uploaded_at,
                        request_key)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
                    ON CONFLICT (document_id) DO NOTHING RETURNING *""",
                uuid.UUID(document_id),
                kind.value,
                owner_id,
                territory,
                request.kind,
                media.value,
                size,
                document_id,
                sealed.key_id,
                sealed.wrapped_key,
                claims.subject,
                now,
                f"upload/{document_id}",
            )
            if row is None:
                row = await conn.fetchrow(
                    f"SELECT * FROM {SCHEMA}.documents WHERE document_id = $1", uuid.UUID(document_id)
                )
        assert row is not None
        return document_message(row)

    async def ListDocuments(
        self, request: documents_pb2.ListDocumentsRequest, context: Context
    ) -> documents_pb2.ListDocumentsResponse:
        async with self.pool.acquire() as conn:
            kind, owner_id, _ = await self._owner(conn, request.owner_kind, request.owner_id)
            rows = await conn.fetch(
                f"""SELECT * FROM {SCHEMA}.documents WHERE owner_kind = $1 AND owner_id = $2
                      AND ($3 OR deleted_at IS NULL) ORDER BY uploaded_at, document_id""",
                kind.value,
                owner_id,
                request.include_deleted,
            )
        return documents_pb2.ListDocumentsResponse(documents=[document_message(r) for r in rows])

    async def _row(self, conn: Connection, raw: str) -> asyncpg.Record:
        document_id = _uuid("document_id", raw, "L'identifiant de la pièce")
        row = await conn.fetchrow(f"SELECT * FROM {SCHEMA}.documents WHERE document_id = $1", document_id)
        if row is None:
            raise NotFound(
                "no such document", fr="Cette pièce est introuvable.", reason="NOT_FOUND", field="document_id"
            )
        return row

    async def GetDocumentContent(
        self, request: documents_pb2.GetDocumentContentRequest, context: Context
    ) -> documents_pb2.DocumentContent:
        async with self.pool.acquire() as conn:
            row = await self._row(conn, request.document_id)
        if row["deleted_at"] is not None:
            raise FailedPrecondition(
                "the document was deleted",
                fr="Cette pièce a été supprimée.",
                reason="DOCUMENT_DELETED",
                field="document_id",
            )
        sealed = await self.store.get(row["storage_key"])
        content = self.keys.open(str(row["document_id"]), row["key_id"], bytes(row["wrapped_key"]), sealed)
        return documents_pb2.DocumentContent(document=document_message(row), content=content)

    async def DeleteDocument(
        self, request: documents_pb2.DeleteDocumentRequest, context: Context
    ) -> documents_pb2.Document:
        async with self.pool.acquire() as conn:
            row = await self._row(conn, request.document_id)
            if row["deleted_at"] is None:
                await self.store.delete(row["storage_key"])
                updated = await conn.fetchrow(
                    f"""UPDATE {SCHEMA}.documents
                           SET deleted_at = $2, purged_at = $2, wrapped_key = '\\x'::bytea
                         WHERE document_id = $1 RETURNING *""",
                    row["document_id"],
                    datetime.now(UTC),
                )
                assert updated is not None
                row = updated
        return document_message(row)
