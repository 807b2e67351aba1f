"""Supporting documents on the real intake process: a PDF filed on a dossier, listed,
read back byte for byte (the read in the access log), deleted; a file of another type
or too large refused in French with nothing written; the bytes never in clear in the
database (a pg_dump of it) nor in the document store."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import grpc
import pytest
from entraide.v1 import documents_pb2, documents_pb2_grpc

from devstack.servers import pg_tool
from kernel.settings import Settings
from tests import collective_scenario as scenario
from tests.conftest import AppStack
from tests.e2e.services.intake.planning_helpers import intake, refused

if TYPE_CHECKING:
    from entraide.v1.documents_pb2_grpc import DocumentServiceAsyncStub as Stub
    from entraide.v1.intake_pb2_grpc import IntakeServiceAsyncStub as IntakeStub

__all__ = ["intake"]  # fixture
INVALID = grpc.StatusCode.INVALID_ARGUMENT


@pytest.fixture
async def documents(app_stack: AppStack) -> AsyncIterator[Stub]:
    async with app_stack.channel("intake") as channel:
        yield documents_pb2_grpc.DocumentServiceStub(channel)


def pdf(marker: str) -> bytes:
    return b"%PDF-1.4\n% bulletin de salaire " + marker.encode() + b"\n%%EOF\n"


async def test_a_document_filed_read_and_deleted_never_in_clear(
    documents: Stub, intake: IntakeStub, pool: asyncpg.Pool, app_stack: AppStack, settings: Settings
) -> None:
    _, dossier_id, _ = await scenario.person_and_dossier(intake, "55029", 1, uuid.uuid4().hex[:6])
    marker = f"SALAIRE-NET-{uuid.uuid4().hex}"
    upload = documents_pb2.UploadDocumentRequest(
        owner_kind="dossier",
        owner_id=dossier_id,
        kind="bulletin_salaire",
        content=pdf(marker),
        request_id=uuid.uuid4().hex,
    )
    filed = await documents.UploadDocument(upload, timeout=15)
    assert (await documents.UploadDocument(upload, timeout=15)).document_id == filed.document_id
    assert (filed.media_type, filed.size_bytes) == ("application/pdf", len(pdf(marker)))
    listed = await documents.ListDocuments(
        documents_pb2.ListDocumentsRequest(owner_kind="dossier", owner_id=dossier_id), timeout=15
    )
    assert [d.document_id for d in listed.documents] == [filed.document_id]
    read = await documents.GetDocumentContent(
        documents_pb2.GetDocumentContentRequest(document_id=filed.document_id), timeout=15
    )
    assert read.content == pdf(marker)
    async with pool.acquire() as conn:
        logged = await conn.fetchval(
            """SELECT count(*) FROM audit.access_log
                WHERE method LIKE '%/GetDocumentContent' AND resource_id = $1""",
            filed.document_id,
        )
    assert logged >= 1

    # In clear nowhere: the database's dump, the store's files.
    dumping = await asyncio.create_subprocess_exec(
        str(pg_tool("pg_dump")), "--data-only", settings.database_url, stdout=asyncio.subprocess.PIPE
    )
    dump, _ = await asyncio.wait_for(dumping.communicate(), 120)
    assert dumping.returncode == 0
    assert marker.encode() not in dump
    store = Path(app_stack.env["ENTRAIDE_STATE_DIR"]) / "documents"
    files = [p for p in store.rglob("*") if p.is_file()]
    assert files and all(marker.encode() not in p.read_bytes() for p in files)

    # Nor in the services' logs (which show the upload), Temporal's database, nor the NATS
    # stream files when this stack runs its own NATS.
    logs = [p for p in (app_stack.state_dir / "logs").rglob("*") if p.is_file()]
    assert any(b"/entraide.v1.DocumentService/UploadDocument" in p.read_bytes() for p in logs)
    assert all(marker.encode() not in p.read_bytes() for p in logs)
    servers = app_stack.state_dir.parent / "servers"
    for root in (servers / "nats", servers):
        for path in (p for p in root.rglob("*") if p.is_file()) if root.exists() else ():
            assert marker.encode() not in path.read_bytes(), path

    deleted = await documents.DeleteDocument(
        documents_pb2.DeleteDocumentRequest(document_id=filed.document_id, request_id=uuid.uuid4().hex),
        timeout=15,
    )
    assert deleted.HasField("deleted_at")
    assert not [p for p in store.rglob(filed.document_id)]


async def test_wrong_type_or_too_large_is_refused_in_french(
    documents: Stub, intake: IntakeStub, pool: asyncpg.Pool
) -> None:
    _, dossier_id, _ = await scenario.person_and_dossier(intake, "55029", 1, uuid.uuid4().hex[:6])
    for content, words in (
        (b"PK\x03\x04 un document Word", "ni un PDF, ni une image JPEG ou PNG"),
        (b"%PDF-" + b"0" * (3 * 1024 * 1024), "dépasse la taille autorisée (3 Mo)"),
        (b"", "Le fichier est vide"),
    ):
        seen = await refused(
            documents.UploadDocument,
            documents_pb2.UploadDocumentRequest(
                owner_kind="dossier",
                owner_id=dossier_id,
                kind="quittance_loyer",
                content=content,
                request_id=uuid.uuid4().hex,
            ),
            INVALID,
        )
        assert words in seen.fr and [v.field for v in seen.violations] == ["content"]
    async with pool.acquire() as conn:
        assert not await conn.fetchval(
            "SELECT count(*) FROM intake.documents WHERE owner_id = $1", uuid.UUID(dossier_id)
        )


async def test_retention_and_anonymisation_delete_documents(
    documents: Stub, intake: IntakeStub, pool: asyncpg.Pool, app_stack: AppStack, settings: Settings
) -> None:
    from entraide.v1 import intake_pb2, intake_pb2_grpc

    from kernel import reference
    from kernel.auth import Role
    from kernel.db import create_pool
    from services.intake.documents.retention import DocumentRetention
    from services.intake.documents.storage import store_from_env

    person_id, dossier_id, _ = await scenario.person_and_dossier(intake, "55029", 1, uuid.uuid4().hex[:6])
    dated = await documents.UploadDocument(
        documents_pb2.UploadDocumentRequest(
            owner_kind="dossier",
            owner_id=dossier_id,
            kind="facture_energie",
            content=pdf("facture"),
            request_id=uuid.uuid4().hex,
        ),
        timeout=15,
    )
    kept = await documents.UploadDocument(
        documents_pb2.UploadDocumentRequest(
            owner_kind="person",
            owner_id=person_id,
            kind="piece_identite",
            content=b"\x89PNG\r\n\x1a\n" + b"identite",
            request_id=uuid.uuid4().hex,
        ),
        timeout=15,
    )
    async with pool.acquire() as conn:  # superuser: as if its date had come
        await conn.execute(
            "UPDATE intake.documents SET delete_after = current_date - 1 WHERE document_id = $1",
            uuid.UUID(dated.document_id),
        )
    app_pool = await create_pool(settings.database_url, max_size=2)
    try:
        retention = DocumentRetention(app_pool, reference.load(settings.env), store_from_env(app_stack.env))
        assert await retention.purge_documents() >= 1
        store = Path(app_stack.env["ENTRAIDE_STATE_DIR"]) / "documents"
        assert not list(store.rglob(dated.document_id)) and list(store.rglob(kept.document_id))
        gone = await refused(
            documents.GetDocumentContent,
            documents_pb2.GetDocumentContentRequest(document_id=dated.document_id),
            grpc.StatusCode.FAILED_PRECONDITION,
        )
        assert "supprimée" in gone.fr

        token = app_stack.token("resp-documents", Role.RESPONSABLE, ["55029"])
        async with app_stack.channel("intake", token) as channel:
            await intake_pb2_grpc.IntakeServiceStub(channel).AnonymisePerson(
                intake_pb2.AnonymisePersonRequest(person_id=person_id, reason="demande écrite"), timeout=15
            )
        await refused(
            documents.GetDocumentContent,
            documents_pb2.GetDocumentContentRequest(document_id=kept.document_id),
            grpc.StatusCode.FAILED_PRECONDITION,
        )
        await retention.purge_documents()
        assert not list(store.rglob(kept.document_id))
    finally:
        await app_pool.close()


async def test_key_rotation_reseals_data_keys_and_the_old_key_can_go(
    documents: Stub, intake: IntakeStub, app_stack: AppStack, settings: Settings, pool: asyncpg.Pool
) -> None:
    from devstack.secrets import new_payload_key
    from kernel import reference
    from kernel.codec import parse_keys
    from kernel.db import create_pool
    from services.intake.documents.crypto import DocumentKeys
    from services.intake.documents.rotate import rotate
    from services.intake.documents.storage import store_from_env

    _, dossier_id, _ = await scenario.person_and_dossier(intake, "55029", 1, uuid.uuid4().hex[:6])
    filed = await documents.UploadDocument(
        documents_pb2.UploadDocumentRequest(
            owner_kind="dossier",
            owner_id=dossier_id,
            kind="devis",
            content=pdf("devis"),
            request_id=uuid.uuid4().hex,
        ),
        timeout=15,
    )
    old = parse_keys(app_stack.env["ENTRAIDE_DOCUMENT_KEYS"])
    new = parse_keys(new_payload_key(f"r{uuid.uuid4().hex[:6]}"))
    app_pool = await create_pool(settings.database_url, max_size=2)
    territories = sorted(reference.load(settings.env).territories)
    try:
        assert await rotate(app_pool, DocumentKeys(new + old), territories) >= 1
        async with pool.acquire() as conn:  # superuser: reads the row whatever its commune
            row = await conn.fetchrow(
                "SELECT * FROM intake.documents WHERE document_id = $1", uuid.UUID(filed.document_id)
            )
        assert row is not None and row["key_id"] == new[0][0]
        sealed = await store_from_env(app_stack.env).get(row["storage_key"])
        # The new key alone opens it.
        assert DocumentKeys(new).open(
            filed.document_id, row["key_id"], bytes(row["wrapped_key"]), sealed
        ) == pdf("devis")
    finally:
        # Put the stack's key back for the other tests (the service only knows it).
        await rotate(app_pool, DocumentKeys(old + new), territories)
        await app_pool.close()
