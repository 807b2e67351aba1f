"""Prometheus metrics on every service process (real processes of the app stack)."""

from __future__ import annotations

import asyncio
import urllib.request
import uuid
from collections.abc import Callable

import grpc
import pytest
from entraide.v1 import intake_pb2, intake_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from kernel import metrics
from tests.conftest import APP_PROCESSES, AppStack

OPEN_DOSSIER = "OpenDossier"


def scrape(stack: AppStack, service: str) -> list[Sample]:
    with urllib.request.urlopen(metrics.url(service, stack.env), timeout=5) as response:
        assert response.status == 200
        text = response.read().decode()
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


async def scrape_until(
    stack: AppStack, service: str, predicate: Callable[[list[Sample]], bool], timeout: float = 20
) -> list[Sample]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        samples = await asyncio.to_thread(scrape, stack, service)
        if predicate(samples):
            return samples
        assert loop.time() < deadline, f"{service} metrics never matched"
        await asyncio.sleep(0.25)


def value(samples: list[Sample], name: str, **labels: str) -> float | None:
    for sample in samples:
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
            return float(sample.value)
    return None


async def open_dossiers(stack: AppStack, count: int) -> None:
    async with stack.channel("intake") as channel:
        stub = intake_pb2_grpc.IntakeServiceStub(channel)
        for _ in range(count):
            await stub.OpenDossier(
                intake_pb2.OpenDossierRequest(
                    request_id=f"metrics-{uuid.uuid4()}",
                    territory="55029",
                    motifs=["logement"],
                    arrival_channel="telephone",
                ),
                timeout=30,
            )
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.OpenDossier(
                intake_pb2.OpenDossierRequest(
                    request_id="metrics-bad", territory="55029", motifs=["inconnu"]
                ),
                timeout=30,
            )
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_intake_counts_requests_by_method_and_code_with_latencies(app_stack: AppStack) -> None:
    await open_dossiers(app_stack, 3)
    samples = await scrape_until(
        app_stack,
        "intake",
        lambda s: (value(s, "entraide_rpc_requests_total", method=OPEN_DOSSIER, code="OK") or 0) >= 3,
    )
    ok = value(samples, "entraide_rpc_requests_total", service="intake", method=OPEN_DOSSIER, code="OK")
    assert ok is not None and ok >= 3
    bad = value(samples, "entraide_rpc_requests_total", method=OPEN_DOSSIER, code="INVALID_ARGUMENT")
    assert bad is not None and bad >= 1
    count = value(samples, "entraide_rpc_duration_seconds_count", service="intake", method=OPEN_DOSSIER)
    assert count is not None and count >= 4
    assert (value(samples, "entraide_rpc_duration_seconds_sum", method=OPEN_DOSSIER) or 0) > 0
    buckets = [s for s in samples if s.name == "entraide_rpc_duration_seconds_bucket"]
    assert any(s.labels["le"] == "+Inf" and s.labels["method"] == OPEN_DOSSIER for s in buckets)
    # The intake outbox's backlog gauge and its published counter.
    assert value(samples, "entraide_outbox_backlog", schema="intake") is not None
    published = value(samples, "entraide_outbox_published_total", schema="intake")
    assert published is not None and published >= 3
    # Labels carry codes and method names only.
    for sample in samples:
        for label in sample.labels.values():
            assert "request" not in label and "metrics-" not in label


async def test_reporting_shows_consumer_lag_and_event_counters(app_stack: AppStack) -> None:
    await open_dossiers(app_stack, 1)
    samples = await scrape_until(
        app_stack,
        "reporting",
        lambda s: (
            (value(s, "entraide_consumer_events_total", result="applied") or 0) >= 1
            and value(s, "entraide_consumer_lag") is not None
        ),
    )
    consumers = {s.labels["consumer"] for s in samples if s.name == "entraide_consumer_lag"}
    assert consumers
    for consumer in consumers:
        for result in metrics.CONSUMER_RESULTS:
            assert (
                value(samples, "entraide_consumer_events_total", consumer=consumer, result=result) is not None
            )
    # Caught up: the lag comes back to zero once the events are applied.
    await scrape_until(
        app_stack,
        "reporting",
        lambda s: all(x.value == 0 for x in s if x.name == "entraide_consumer_lag"),
    )
    assert value(samples, "entraide_outbox_backlog", schema="reporting") is not None


async def test_every_service_process_answers_metrics(app_stack: AppStack) -> None:
    for name in APP_PROCESSES:
        samples = await asyncio.to_thread(scrape, app_stack, name)
        assert value(samples, "entraide_service_up", service=name) == 1
        assert value(samples, "process_resident_memory_bytes") is not None
