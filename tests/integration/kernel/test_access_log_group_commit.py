"""The access log under concurrent reads, on PostgreSQL and through the gRPC layer:
every read leaves exactly its row, committed before the answer, in fewer statements than
calls; a read whose row cannot be written is not answered (UNAVAILABLE)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import grpc
import pytest
from entraide.v1 import reporting_pb2, reporting_pb2_grpc

from kernel import db, runtime
from kernel.access import AccessPolicy, field_resources, rule, write_access_log
from kernel.auth import Claims, Role, TokenVerifier, mint
from kernel.grpc_server import Context, GrpcServer, ServiceBinding
from kernel.settings import Settings
from services.intake.service import SPEC as INTAKE_SPEC

SECRET = "group-commit-test-secret-of-enough-length"
METHOD = "/entraide.v1.ReportingService/GetMotifCounts"
READ = rule(
    Role.TRAVAILLEUR_SOCIAL,
    access="read",
    resources=field_resources("territory", "territory"),
    purpose="test",
)


class Reporting(reporting_pb2_grpc.ReportingServiceServicer):
    def __init__(self) -> None:
        self.calls = 0

    async def GetMotifCounts(
        self, request: reporting_pb2.GetMotifCountsRequest, context: Context
    ) -> reporting_pb2.MotifCounts:
        self.calls += 1
        await asyncio.sleep(0)
        return reporting_pb2.MotifCounts(dossiers=7)


@pytest.fixture(scope="module")
async def app_pool(settings: Settings) -> AsyncIterator[db.Pool]:
    """The application role's connections, on a database with the access log's schema."""
    await runtime.migrate(INTAKE_SPEC, settings)
    pool = await db.create_pool(settings.database_url, role=settings.db_role, max_size=5)
    try:
        yield pool
    finally:
        await pool.close()


async def rows_of(settings: Settings, service: str) -> list[asyncpg.Record]:
    # As the owner: what is committed, seen from another connection.
    conn = await asyncpg.connect(settings.migration_database_url)
    try:
        return list(
            await conn.fetch(
                "SELECT actor, action, method, resource_type, resource_id FROM audit.access_log"
                " WHERE service = $1 ORDER BY resource_id",
                service,
            )
        )
    finally:
        await conn.close()


def policy_for(service: str, pool: Any) -> AccessPolicy:
    verifier = TokenVerifier.from_env({"ENTRAIDE_JWT_SECRET": SECRET})
    return AccessPolicy(service, {"GetMotifCounts": READ}, verifier, pool)


async def test_concurrent_records_each_leave_their_row_in_fewer_commits(
    settings: Settings, app_pool: db.Pool
) -> None:
    service = f"test-{uuid.uuid4().hex[:8]}"
    policy = policy_for(service, app_pool)
    claims = Claims("agent-lecture", Role.TRAVAILLEUR_SOCIAL, frozenset({"55029"}))
    territories = [f"t{n:03d}" for n in range(60)]
    await asyncio.gather(
        *(
            policy.record(METHOD, claims, {}, reporting_pb2.GetMotifCountsRequest(territory=territory), None)
            for territory in territories
        )
    )
    rows = await rows_of(settings, service)
    assert [r["resource_id"] for r in rows] == territories
    assert {(r["actor"], r["action"], r["method"], r["resource_type"]) for r in rows} == {
        ("agent-lecture", "read", METHOD, "territory")
    }
    assert policy._writer is not None
    assert 1 <= policy._writer.flushes < len(territories)
    await policy.close()


async def test_reads_through_the_server_are_answered_with_their_rows(
    settings: Settings, app_pool: db.Pool
) -> None:
    service = f"test-{uuid.uuid4().hex[:8]}"
    policy = policy_for(service, app_pool)
    servicer = Reporting()  # type: ignore[abstract]  # one method served
    binding = ServiceBinding(
        reporting_pb2_grpc.add_ReportingServiceServicer_to_server, servicer, "entraide.v1.ReportingService"
    )
    server = GrpcServer([binding], "127.0.0.1:0", policy=policy)
    await server.start()
    token = mint(SECRET, "agent-lecture", Role.TRAVAILLEUR_SOCIAL, ["55029"])
    metadata = (("authorization", f"Bearer {token}"),)
    territories = [f"r{n:03d}" for n in range(40)]
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = reporting_pb2_grpc.ReportingServiceStub(channel)
            replies = await asyncio.gather(
                *(
                    stub.GetMotifCounts(
                        reporting_pb2.GetMotifCountsRequest(territory=t), metadata=metadata, timeout=30
                    )
                    for t in territories
                )
            )
            assert all(r.dossiers == 7 for r in replies)
            # Committed before the answers came back: already visible to another session.
            assert [r["resource_id"] for r in await rows_of(settings, service)] == territories
    finally:
        await server.stop(1)
    assert policy._writer is not None and policy._writer.flushes < len(territories)


class DownPool:
    """A pool whose database has gone away."""

    async def acquire(self) -> Any:
        raise asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed")

    async def release(self, conn: Any) -> None:
        raise AssertionError("nothing was acquired")


async def test_a_read_whose_row_cannot_be_written_is_not_answered() -> None:
    policy = policy_for("test-down", DownPool())
    servicer = Reporting()  # type: ignore[abstract]  # one method served
    binding = ServiceBinding(
        reporting_pb2_grpc.add_ReportingServiceServicer_to_server, servicer, "entraide.v1.ReportingService"
    )
    server = GrpcServer([binding], "127.0.0.1:0", policy=policy)
    await server.start()
    token = mint(SECRET, "agent-lecture", Role.TRAVAILLEUR_SOCIAL, ["55029"])
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = reporting_pb2_grpc.ReportingServiceStub(channel)
            calls = [
                stub.GetMotifCounts(
                    reporting_pb2.GetMotifCountsRequest(territory=f"x{n}"),
                    metadata=(("authorization", f"Bearer {token}"),),
                    timeout=30,
                )
                for n in range(5)
            ]
            outcomes = await asyncio.gather(*calls, return_exceptions=True)
    finally:
        await server.stop(1)
    assert servicer.calls == 5  # the handler ran, its answer was withheld
    assert all(isinstance(o, grpc.aio.AioRpcError) for o in outcomes)
    assert {o.code() for o in outcomes if isinstance(o, grpc.aio.AioRpcError)} == {
        grpc.StatusCode.UNAVAILABLE
    }


async def test_write_access_log_writes_in_the_callers_transaction(
    settings: Settings, app_pool: db.Pool
) -> None:
    """The console's way: its rows commit, or roll back, with the change they record."""
    service = f"test-{uuid.uuid4().hex[:8]}"
    async with app_pool.acquire() as conn:
        async with conn.transaction():
            await write_access_log(
                conn,
                service=service,
                actor="agent-admin",
                role="responsable",
                action="write",
                method="console/agents",
                resources=[("agent", "a1"), ("agent", "a2"), ("agent", "a1")],
                purpose="administration",
            )
        with pytest.raises(RuntimeError):
            async with conn.transaction():
                await write_access_log(
                    conn,
                    service=service,
                    actor="agent-admin",
                    role="responsable",
                    action="write",
                    method="console/agents",
                    resources=[("agent", "rolled-back")],
                    purpose="administration",
                )
                raise RuntimeError("the change failed")
    assert [r["resource_id"] for r in await rows_of(settings, service)] == ["a1", "a2"]
