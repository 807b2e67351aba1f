"""The thin slice end to end, on real servers and real service processes:
OpenDossier → DossierWorkflow → intake activity (dossier + outbox) → relay → JetStream
→ reporting projector → GetMotifCounts."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import grpc
import pytest
from entraide.v1 import (
    intake_pb2,
    intake_pb2_grpc,
    referral_pb2,
    referral_pb2_grpc,
    reporting_pb2,
    reporting_pb2_grpc,
)
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from temporalio.client import Client

from devstack.servers import SEARCH_ATTRIBUTES
from tests.conftest import AppStack
from tests.helpers import eventually

BIN = Path(sys.executable).parent
SERVICES = {
    "intake": "entraide.v1.IntakeService",
    "referral": "entraide.v1.ReferralService",
    "reporting": "entraide.v1.ReportingService",
}


def open_request(
    request_id: str | None = None, territory: str = "55029", **overrides: object
) -> intake_pb2.OpenDossierRequest:
    fields: dict[str, object] = {
        "request_id": uuid.uuid4().hex if request_id is None else request_id,
        "territory": territory,
        "motifs": ["logement"],
        "arrival_channel": "visite_spontanee",
        "urgent": False,
    }
    fields.update(overrides)
    return intake_pb2.OpenDossierRequest(**fields)  # type: ignore[arg-type]


async def motif_count(stack: AppStack, motif: str, since: datetime, territory: str = "55029") -> int:
    start = Timestamp()
    start.FromDatetime(since)
    async with stack.channel("reporting") as channel:
        counts = await reporting_pb2_grpc.ReportingServiceStub(channel).GetMotifCounts(
            reporting_pb2.GetMotifCountsRequest(territory=territory, **{"from": start}), timeout=5
        )
    return next((c.count for c in counts.motifs if c.code == motif), 0)


async def test_every_service_is_serving_and_lists_its_services_through_reflection(
    app_stack: AppStack,
) -> None:
    for name, full_name in SERVICES.items():
        async with grpc.aio.insecure_channel(app_stack.address(name)) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            for service in ("", full_name):
                reply = await health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
                assert reply.status == health_pb2.HealthCheckResponse.SERVING
            stub = reflection_pb2_grpc.ServerReflectionStub(channel)
            responses = stub.ServerReflectionInfo(
                iter([reflection_pb2.ServerReflectionRequest(list_services="")])
            )
            listed = {s.name async for r in responses for s in r.list_services_response.service}
            assert {full_name, "grpc.health.v1.Health"} <= listed


async def test_opened_dossier_is_counted_within_two_seconds(app_stack: AppStack) -> None:
    since = datetime.now(UTC)
    before = await motif_count(app_stack, "scolarite", since, "55186")
    async with app_stack.channel("intake") as channel:
        started = time.perf_counter()
        response = await intake_pb2_grpc.IntakeServiceStub(channel).OpenDossier(
            open_request(territory="55186", motifs=["scolarite", "famille"]), timeout=10
        )
    assert response.created and response.dossier.stage == "reception"
    assert list(response.dossier.motifs) == ["scolarite", "famille"]
    await eventually(
        lambda: motif_count(app_stack, "scolarite", since, "55186"), lambda n: n == before + 1, timeout=2.0
    )
    assert time.perf_counter() - started < 2.0


async def test_same_request_id_twice_opens_one_dossier_and_counts_one_event(
    app_stack: AppStack, pool: asyncpg.Pool
) -> None:
    since = datetime.now(UTC)
    request = open_request(territory="55041", motifs=["mobilite"])
    async with app_stack.channel("intake") as channel:
        stub = intake_pb2_grpc.IntakeServiceStub(channel)
        first = await stub.OpenDossier(request, timeout=10)
        again = await stub.OpenDossier(request, timeout=10)
        # And a burst of concurrent retries of the same request.
        burst = await asyncio.gather(*(stub.OpenDossier(request, timeout=10) for _ in range(5)))
    # A repeat gets the first answer back, byte for byte.
    assert all(r.SerializeToString() == first.SerializeToString() for r in [again, *burst])
    assert first.created
    assert {r.dossier.dossier_id for r in [first, again, *burst]} == {first.dossier.dossier_id}
    await eventually(lambda: motif_count(app_stack, "mobilite", since, "55041"), lambda n: n >= 1)
    await asyncio.sleep(0.5)  # a second event, if any, would have arrived by now
    assert await motif_count(app_stack, "mobilite", since, "55041") == 1
    async with pool.acquire() as conn:
        dossiers = await conn.fetchval(
            "SELECT count(*) FROM intake.dossiers WHERE dossier_id = $1", first.dossier.dossier_id
        )
        events = await conn.fetchval(
            "SELECT count(*) FROM intake.outbox WHERE ce_subject = $1", first.dossier.dossier_id
        )
    assert (dossiers, events) == (1, 1)


async def test_same_request_id_with_other_content_is_refused(app_stack: AppStack) -> None:
    request = open_request(territory="55029", motifs=["emploi"])
    async with app_stack.channel("intake") as channel:
        stub = intake_pb2_grpc.IntakeServiceStub(channel)
        await stub.OpenDossier(request, timeout=10)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.OpenDossier(open_request(request.request_id, motifs=["sante"]), timeout=10)
    assert refused.value.code() == grpc.StatusCode.ALREADY_EXISTS


async def test_ops_find_the_dossier_by_stage_search_attribute(app_stack: AppStack) -> None:
    async with app_stack.channel("intake") as channel:
        response = await intake_pb2_grpc.IntakeServiceStub(channel).OpenDossier(open_request(), timeout=10)
    workflow_id = f"dossier-{response.dossier.dossier_id}"
    client = await Client.connect(app_stack.settings.temporal_address)

    async def listed() -> set[str]:
        return {
            w.id async for w in client.list_workflows(f"Stage='reception' AND WorkflowId='{workflow_id}'")
        }

    await eventually(listed, lambda ids: workflow_id in ids, timeout=10)
    # The same query through the temporal CLI, as an operator types it.
    cli = await asyncio.to_thread(
        subprocess.run,
        [
            str(BIN / "temporal"),
            "workflow",
            "list",
            "--address",
            app_stack.settings.temporal_address,
            "--query",
            "Stage='reception'",
            "--limit",
            "1000",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert workflow_id in cli.stdout
    # No personal data in the id or the search attributes: ids and codes only.
    description = await client.get_workflow_handle(workflow_id).describe()
    attributes = {
        pair.key.name: pair.value
        for pair in description.typed_search_attributes
        if pair.key.name in SEARCH_ATTRIBUTES
    }
    assert attributes == {"Stage": "reception", "Territory": "55029", "Urgency": "normal", "Overdue": False}


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"request_id": ""}, "request_id is required"),
        ({"request_id": "x" * 101}, "request_id is 1 to 100 printable characters"),
        ({"territory": ""}, "territory"),
        ({"territory": "75056"}, "is not a commune of this deployment"),
        ({"motifs": []}, "at least one motif"),
        ({"motifs": ["logement", "astrologie"]}, "unknown motif(s): astrologie"),
        ({"arrival_channel": ""}, "arrival_channel is required"),
        ({"arrival_channel": "pigeon"}, "unknown arrival_channel"),
        ({"site": "Antenne sociale centre"}, "unknown site 'Antenne sociale centre'"),
        ({"site": "mairie-ligny"}, "site 'mairie-ligny' is a site of another commune"),
    ],
)
async def test_bad_open_requests_are_invalid_argument_and_write_nothing(
    app_stack: AppStack, pool: asyncpg.Pool, overrides: dict[str, object], fragment: str
) -> None:
    async with pool.acquire() as conn:
        before = await conn.fetchval("SELECT count(*) FROM intake.dossiers")
    async with app_stack.channel("intake") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await intake_pb2_grpc.IntakeServiceStub(channel).OpenDossier(
                open_request(**overrides), timeout=10
            )
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert fragment in (error.value.details() or "")
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM intake.dossiers") == before


async def test_get_dossier_errors_are_clear(app_stack: AppStack) -> None:
    async with app_stack.channel("intake") as channel:
        stub = intake_pb2_grpc.IntakeServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as malformed:
            await stub.GetDossier(intake_pb2.GetDossierRequest(dossier_id="not-an-id"), timeout=5)
        with pytest.raises(grpc.aio.AioRpcError) as missing:
            await stub.GetDossier(intake_pb2.GetDossierRequest(dossier_id=str(uuid.uuid4())), timeout=5)
    assert malformed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND


async def test_reporting_and_referral_refuse_bad_filters(app_stack: AppStack) -> None:
    async with app_stack.channel("reporting") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as bad_territory:
            await reporting_pb2_grpc.ReportingServiceStub(channel).GetMotifCounts(
                reporting_pb2.GetMotifCountsRequest(territory="nowhere"), timeout=5
            )
    async with app_stack.channel("referral") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as bad_motif:
            await referral_pb2_grpc.ReferralServiceStub(channel).ListPartners(
                referral_pb2.ListPartnersRequest(motif="astrologie"), timeout=5
            )
    assert bad_territory.value.code() == bad_motif.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def run_cli(stack: AppStack, *args: str) -> dict[str, object]:
    done = subprocess.run(
        [str(BIN / "entraide"), "--json", *args], env=stack.env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


async def test_entraide_command_opens_a_dossier_and_shows_counts(app_stack: AppStack) -> None:
    opened = await asyncio.to_thread(
        run_cli,
        app_stack,
        "ouvrir",
        "--commune",
        "55302",
        "--motif",
        "numerique",
        "--canal",
        "telephone",
        "--request-id",
        uuid.uuid4().hex,
    )
    dossier = opened["dossier"]
    assert isinstance(dossier, dict) and opened["created"] is True and dossier["stage"] == "reception"

    async def numerique() -> int:
        counts = await asyncio.to_thread(run_cli, app_stack, "chiffres", "--commune", "55302")
        motifs = counts.get("motifs", [])
        assert isinstance(motifs, list)
        return next((int(m["count"]) for m in motifs if m["code"] == "numerique"), 0)

    await eventually(numerique, lambda n: n >= 1, timeout=5)
