"""The kernel's gRPC server, in-process on a free port: error mapping, deadlines, health,
reflection, graceful shutdown, and logs that never carry an exception's message."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from entraide.v1 import reporting_pb2, reporting_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from kernel import errors
from kernel.grpc_server import Context, GrpcServer, ServiceBinding, remaining
from kernel.logs import JsonFormatter

SERVICE = "entraide.v1.ReportingService"
PERSONAL = "Dupont"


class ScriptedReporting(reporting_pb2_grpc.ReportingServiceServicer):
    """Behaves according to request.territory."""

    def __init__(self) -> None:
        self.calls = 0

    async def GetMotifCounts(
        self, request: reporting_pb2.GetMotifCountsRequest, context: Context
    ) -> reporting_pb2.MotifCounts:
        self.calls += 1
        match request.territory:
            case "invalid":
                raise errors.InvalidArgument("a person-readable message", fr="Un message lisible.")
            case "missing":
                raise errors.NotFound("no such dossier", fr="Aucun dossier de ce nom.")
            case "precondition":
                raise errors.FailedPrecondition("the dossier is closed", fr="Le dossier est clôturé.")
            case "boom":
                raise RuntimeError(f"secret personal data {PERSONAL}")
            case "deadline":
                return reporting_pb2.MotifCounts(dossiers=int(remaining(context).total_seconds() * 1000))
            case "slow":
                await asyncio.sleep(0.5)
                return reporting_pb2.MotifCounts(dossiers=42)
        return reporting_pb2.MotifCounts(dossiers=7)


@dataclass
class Running:
    server: GrpcServer
    servicer: ScriptedReporting
    target: str
    channel: grpc.aio.Channel

    @property
    def stub(self) -> reporting_pb2_grpc.ReportingServiceAsyncStub:
        return reporting_pb2_grpc.ReportingServiceStub(self.channel)


async def start_server() -> tuple[GrpcServer, ScriptedReporting]:
    servicer = ScriptedReporting()
    binding = ServiceBinding(reporting_pb2_grpc.add_ReportingServiceServicer_to_server, servicer, SERVICE)
    server = GrpcServer([binding], "127.0.0.1:0")
    assert server.port > 0
    await server.start()
    return server, servicer


@pytest.fixture
async def running() -> AsyncIterator[Running]:
    server, servicer = await start_server()
    target = f"127.0.0.1:{server.port}"
    channel = grpc.aio.insecure_channel(target)
    try:
        yield Running(server, servicer, target, channel)
    finally:
        await channel.close(None)
        await server.stop(0)


async def settled_entries(stream: io.StringIO, msg: str = "rpc") -> list[dict[str, Any]]:
    """The JSON log entries once the server has written its `rpc` line: the client can
    see the status before the server's `finally` has run."""
    for _ in range(100):
        entries = [json.loads(line) for line in stream.getvalue().splitlines()]
        if any(e["msg"] == msg for e in entries):
            return entries
        await asyncio.sleep(0.02)
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """What the kernel's loggers write, as JSON lines (as in production)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("test"))
    logger = logging.getLogger("entraide")
    previous_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous_level)


async def call(running: Running, territory: str, timeout: float | None = 5) -> reporting_pb2.MotifCounts:
    request = reporting_pb2.GetMotifCountsRequest(territory=territory)
    return await running.stub.GetMotifCounts(request, timeout=timeout)


async def test_ok_call_goes_through(running: Running) -> None:
    reply = await call(running, "55029")
    assert reply.dossiers == 7


@pytest.mark.parametrize(
    ("territory", "code", "message"),
    [
        ("invalid", grpc.StatusCode.INVALID_ARGUMENT, "a person-readable message"),
        ("missing", grpc.StatusCode.NOT_FOUND, "no such dossier"),
        ("precondition", grpc.StatusCode.FAILED_PRECONDITION, "the dossier is closed"),
    ],
)
async def test_domain_errors_map_to_their_status_code_and_message(
    running: Running, territory: str, code: grpc.StatusCode, message: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(running, territory)
    assert caught.value.code() == code
    assert caught.value.details() == message


async def test_unexpected_error_is_internal_with_a_generic_message(running: Running) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(running, "boom")
    assert caught.value.code() == grpc.StatusCode.INTERNAL
    details = caught.value.details() or ""
    assert details.startswith("internal error")
    assert PERSONAL not in details
    assert "secret" not in details
    assert PERSONAL not in str(caught.value.debug_error_string())
    # The server is still fine afterwards.
    assert (await call(running, "55029")).dossiers == 7


async def test_unexpected_error_is_logged_by_type_never_by_message(
    running: Running, json_logs: io.StringIO, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(grpc.aio.AioRpcError):
        await call(running, "boom")
    entries = await settled_entries(json_logs)
    output = json_logs.getvalue()
    assert PERSONAL not in output
    method = f"/{SERVICE}/GetMotifCounts"
    errors_logged = [e for e in entries if e["msg"] == "unhandled error"]
    assert len(errors_logged) == 1
    error = errors_logged[0]
    assert error["level"] == "ERROR"
    assert error["error_type"] == "RuntimeError"
    assert error["method"] == method
    assert any("test_grpc_server.py" in where for where in error["where"])
    rpc_lines = [e for e in entries if e["msg"] == "rpc" and e["method"] == method]
    assert [e["code"] for e in rpc_lines] == ["INTERNAL"]
    assert isinstance(rpc_lines[0]["duration_ms"], float)
    # The record itself still carries the exception for local debugging handlers (caplog),
    # but what the JSON formatter writes is what leaves the process.
    assert any(r.exc_info and r.exc_info[0] is RuntimeError for r in caplog.records)


async def test_domain_errors_are_logged_with_their_code(running: Running, json_logs: io.StringIO) -> None:
    with pytest.raises(grpc.aio.AioRpcError):
        await call(running, "invalid")
    entries = await settled_entries(json_logs)
    assert [e["code"] for e in entries if e["msg"] == "rpc"] == ["INVALID_ARGUMENT"]
    assert not [e for e in entries if e["level"] == "ERROR"]


async def test_deadline_propagates_to_the_handler(running: Running) -> None:
    reply = await call(running, "deadline", timeout=3)
    # gRPC itself rounds the timeout it sends up by a few milliseconds (3006-3009 ms seen for 3 s),
    # so allow a small margin; what matters is that it is the caller's 3 s, not the 30 s default.
    assert 1 <= reply.dossiers <= 3000 + 50


async def test_no_client_deadline_gives_the_default(running: Running) -> None:
    reply = await call(running, "deadline", timeout=None)
    assert reply.dossiers == 30_000


async def test_long_client_deadline_is_capped_at_the_default(running: Running) -> None:
    reply = await call(running, "deadline", timeout=120)
    assert reply.dossiers == 30_000


async def test_health_answers_serving_overall_and_per_service(running: Running) -> None:
    health = health_pb2_grpc.HealthStub(running.channel)
    for service in ("", SERVICE):
        reply = await health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING, service
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await health.Check(health_pb2.HealthCheckRequest(service="entraide.v1.Nope"), timeout=5)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_reflection_lists_the_services(running: Running) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(running.channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")

    async def requests() -> AsyncIterator[reflection_pb2.ServerReflectionRequest]:
        yield request

    names: set[str] = set()
    async for response in stub.ServerReflectionInfo(requests(), timeout=5):
        names |= {s.name for s in response.list_services_response.service}
    assert {SERVICE, "grpc.health.v1.Health"} <= names

    # The service's descriptor is resolvable too (grpcurl describe).
    async def describe() -> AsyncIterator[reflection_pb2.ServerReflectionRequest]:
        yield reflection_pb2.ServerReflectionRequest(file_containing_symbol=SERVICE)

    async for response in stub.ServerReflectionInfo(describe(), timeout=5):
        assert response.file_descriptor_response.file_descriptor_proto


async def test_after_stop_health_fails() -> None:
    server, _ = await start_server()
    target = f"127.0.0.1:{server.port}"
    async with grpc.aio.insecure_channel(target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        await server.stop(0)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await health.Check(health_pb2.HealthCheckRequest(), timeout=2)
        assert caught.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
    async with grpc.aio.insecure_channel(target) as fresh:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await health_pb2_grpc.HealthStub(fresh).Check(health_pb2.HealthCheckRequest(), timeout=2)
        assert caught.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


async def test_stop_lets_an_in_flight_call_finish() -> None:
    server, servicer = await start_server()
    target = f"127.0.0.1:{server.port}"
    async with grpc.aio.insecure_channel(target) as channel:
        stub = reporting_pb2_grpc.ReportingServiceStub(channel)
        in_flight = asyncio.ensure_future(
            stub.GetMotifCounts(reporting_pb2.GetMotifCountsRequest(territory="slow"), timeout=5)
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        while servicer.calls == 0:  # the call reached the handler
            assert loop.time() < deadline, "slow call never reached the server"
            await asyncio.sleep(0.01)
        started = loop.time()
        await server.stop()  # the default grace
        # stop() waited for the call rather than cutting it, and did not wait the whole grace.
        assert 0.2 < loop.time() - started < 4
        reply = await in_flight
        assert reply.dossiers == 42


async def test_health_reports_not_serving_during_graceful_shutdown() -> None:
    server, _ = await start_server()
    target = f"127.0.0.1:{server.port}"
    async with grpc.aio.insecure_channel(target) as channel:
        stub = reporting_pb2_grpc.ReportingServiceStub(channel)
        in_flight = asyncio.ensure_future(
            stub.GetMotifCounts(reporting_pb2.GetMotifCountsRequest(territory="slow"), timeout=5)
        )
        await asyncio.sleep(0.1)
        await server.health.enter_graceful_shutdown()
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", SERVICE):
            reply = await health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.NOT_SERVING, service
        await server.stop(5)
        assert (await in_flight).dossiers == 42


class Unimplemented(reporting_pb2_grpc.ReportingServiceServicer):
    """Leaves GetMotifCounts to the generated base class, as a server older than its client."""


async def test_unimplemented_method_answers_unimplemented_not_internal() -> None:
    add = reporting_pb2_grpc.add_ReportingServiceServicer_to_server
    binding = ServiceBinding(add, Unimplemented(), SERVICE)  # type: ignore[abstract]
    server = GrpcServer([binding], "127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = reporting_pb2_grpc.ReportingServiceStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.GetMotifCounts(reporting_pb2.GetMotifCountsRequest(), timeout=5)
        assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
    finally:
        await server.stop(0)
