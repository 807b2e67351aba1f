"""Prometheus metrics of a service process, served on `/metrics` (127.0.0.1).

One registry per process. Labels carry method names, status codes, consumer names,
schema names and result codes only: never an id, never personal data.

- `entraide_rpc_requests_total{service,method,code}`, `entraide_rpc_duration_seconds{service,method}`
  (kernel.grpc_server, every unary RPC behind the interceptor);
- `entraide_consumer_lag{consumer}` (pending + ack pending, from JetStream consumer
  info) and `entraide_outbox_backlog{schema}` (unpublished rows), refreshed every
  ENTRAIDE_METRICS_REFRESH_S seconds by `refresh_loop`;
- `entraide_consumer_events_total{consumer,result}` (applied, duplicate, retried,
  dead_lettered; kernel.consumer) and `entraide_outbox_published_total{schema}`
  (`outbox_published`, which kernel.runtime gives its kernel.outbox relay as the
  relay's `on_published`: the outbox does not import this module).

The port is ENTRAIDE_<SERVICE>_METRICS_PORT (defaults below), the address
ENTRAIDE_METRICS_HOST (127.0.0.1).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

import nats.errors
import nats.js.errors
from nats.js import JetStreamContext
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    start_http_server,
)

from kernel import outbox
from kernel.db import Pool
from kernel.logs import get_logger

log = get_logger("metrics")

DEFAULT_METRICS_PORTS = {"intake": 9451, "referral": 9452, "reporting": 9453, "workflows": 9454}
DEFAULT_REFRESH_S = 5.0
CONSUMER_RESULTS = ("applied", "duplicate", "retried", "dead_lettered")

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)

SERVICE_INFO = Gauge(
    "entraide_service_up", "1 while this service process runs.", ["service"], registry=REGISTRY
)
RPC_REQUESTS = Counter(
    "entraide_rpc_requests",
    "Unary RPCs handled, by method and status code.",
    ["service", "method", "code"],
    registry=REGISTRY,
)
RPC_DURATION = Histogram(
    "entraide_rpc_duration_seconds",
    "Time to handle a unary RPC, by method.",
    ["service", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
    registry=REGISTRY,
)
CONSUMER_LAG = Gauge(
    "entraide_consumer_lag",
    "Events not yet processed by a durable consumer (pending + ack pending).",
    ["consumer"],
    registry=REGISTRY,
)
CONSUMER_EVENTS = Counter(
    "entraide_consumer_events",
    "Events handled by a consumer, by result (applied, duplicate, retried, dead_lettered).",
    ["consumer", "result"],
    registry=REGISTRY,
)
OUTBOX_BACKLOG = Gauge(
    "entraide_outbox_backlog", "Outbox rows not yet published.", ["schema"], registry=REGISTRY
)
OUTBOX_PUBLISHED = Counter(
    "entraide_outbox_published", "Outbox rows published to JetStream.", ["schema"], registry=REGISTRY
)


def method_name(full_method: str) -> str:
    """`/entraide.v1.IntakeService/OpenDossier` → `OpenDossier`."""
    return full_method.rsplit("/", 1)[-1]


def observe_rpc(service: str, full_method: str, code: str, seconds: float) -> None:
    method = method_name(full_method)
    RPC_REQUESTS.labels(service, method, code).inc()
    RPC_DURATION.labels(service, method).observe(seconds)


def declare_consumer(consumer: str) -> None:
    """Every result series exists from the start (at 0), so rates work at once."""
    for result in CONSUMER_RESULTS:
        CONSUMER_EVENTS.labels(consumer, result)
    CONSUMER_LAG.labels(consumer)


def consumer_event(consumer: str, result: str) -> None:
    CONSUMER_EVENTS.labels(consumer, result).inc()


def outbox_published(schema: str, count: int) -> None:
    """`count` rows of `schema`'s outbox were published (and marked, committed)."""
    OUTBOX_PUBLISHED.labels(schema).inc(count)


def port(service: str, env: Mapping[str, str]) -> int:
    raw = env.get(f"ENTRAIDE_{service.upper()}_METRICS_PORT")
    # A process without a known port (e.g. a test's probe service) takes a free one.
    return int(raw) if raw else DEFAULT_METRICS_PORTS.get(service, 0)


def url(service: str, env: Mapping[str, str]) -> str:
    return f"http://{env.get('ENTRAIDE_METRICS_HOST') or '127.0.0.1'}:{port(service, env)}/metrics"


@dataclass
class Exporter:
    server: WSGIServer
    thread: threading.Thread

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def serve(service: str, env: Mapping[str, str]) -> Exporter:
    """Serves this process's registry over HTTP (a daemon thread); stop it with `.stop()`."""
    host = env.get("ENTRAIDE_METRICS_HOST") or "127.0.0.1"
    bound = port(service, env)
    server, thread = start_http_server(bound, addr=host, registry=REGISTRY)
    SERVICE_INFO.labels(service).set(1)
    log.info("metrics serving", extra={"address": f"{host}:{server.server_port}"})
    return Exporter(server, thread)


async def refresh_loop(
    stop: asyncio.Event,
    js: JetStreamContext,
    consumers: Sequence[tuple[str, str]],
    pool: Pool | None = None,
    outbox_schemas: Sequence[str] = (),
    interval_s: float = DEFAULT_REFRESH_S,
) -> None:
    """Refreshes the consumer lag gauges ((stream, durable) pairs) and the outbox
    backlog gauges of `outbox_schemas` until `stop`; never raises (a failed refresh
    leaves the last values and is logged)."""
    for _, durable in consumers:
        declare_consumer(durable)
    while not stop.is_set():
        for stream, durable in consumers:
            try:
                info = await js.consumer_info(stream, durable, timeout=2.0)
                CONSUMER_LAG.labels(durable).set((info.num_pending or 0) + (info.num_ack_pending or 0))
            except nats.js.errors.NotFoundError:
                continue  # the consumer is being created at start: nothing to measure yet
            except (TimeoutError, nats.errors.Error) as exc:
                log.warning("consumer lag not refreshed", extra={"error_type": type(exc).__name__})
        for schema in outbox_schemas if pool is not None else ():
            try:
                assert pool is not None
                async with pool.acquire() as conn:
                    OUTBOX_BACKLOG.labels(schema).set(await outbox.backlog(conn, schema))
            except Exception as exc:  # a metrics refresh must never stop the service
                log.warning("outbox backlog not refreshed", extra={"error_type": type(exc).__name__})
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval_s)
        except TimeoutError:
            pass


def refresh_interval(env: Mapping[str, str]) -> float:
    raw = env.get("ENTRAIDE_METRICS_REFRESH_S")
    return float(raw) if raw else DEFAULT_REFRESH_S
