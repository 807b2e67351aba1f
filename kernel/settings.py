"""Settings read from the environment, one place for every knob."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

DEFAULT_GRPC_PORTS = {"intake": 50051, "referral": 50052, "reporting": 50053}
# Workflows the workflows worker keeps in memory between their tasks (sticky cache).
DEFAULT_WORKFLOW_CACHE_SIZE = 50
# JetStream keeps at most this many copies of a stream.
MAX_STREAM_REPLICAS = 5


@dataclass(frozen=True)
class StreamLayout:
    """How many copies of each Entraide stream JetStream keeps, and where: 1 on a single
    server (make up, the tests), 3 on a production cluster; the same code path for both.
    Consumers keep as many copies as their stream (JetStream's default)."""

    replicas: int = 1
    cluster: str = ""  # the JetStream cluster to place the streams in ("": the server's own)
    tags: tuple[str, ...] = ()  # server tags the replicas must carry (e.g. availability zones)

    def __post_init__(self) -> None:
        if not 1 <= self.replicas <= MAX_STREAM_REPLICAS:
            raise ValueError(f"ENTRAIDE_STREAM_REPLICAS must be 1 to {MAX_STREAM_REPLICAS}")

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> StreamLayout:
        tags = tuple(t.strip() for t in env.get("ENTRAIDE_STREAM_TAGS", "").split(",") if t.strip())
        return cls(
            replicas=int(env.get("ENTRAIDE_STREAM_REPLICAS", "1")),
            cluster=env.get("ENTRAIDE_STREAM_CLUSTER", ""),
            tags=tags,
        )


# One copy: a single NATS server (make up, the tests).
SINGLE_SERVER = StreamLayout()


@dataclass(frozen=True)
class Settings:
    database_url: str
    # Migrations run as the schema owner; the services then SET ROLE to db_role.
    migration_database_url: str
    db_role: str | None
    nats_url: str
    temporal_address: str
    temporal_namespace: str
    log_level: str
    grpc_host: str
    events_stream: str
    # Root of every domain event subject (several deployments may share a NATS).
    subject_root: str
    # A consumer gives up on a message after this many failed deliveries (dead letter).
    consumer_max_deliveries: int
    env: Mapping[str, str]
    # The workflows worker's max_cached_workflows (ENTRAIDE_WORKFLOW_CACHE_SIZE): each cached
    # run holds its own sandbox copy of its workflow module; evicted ones are replayed.
    workflow_cache_size: int = DEFAULT_WORKFLOW_CACHE_SIZE
    # Replicas and placement of the events and partner streams (ENTRAIDE_STREAM_*).
    streams: StreamLayout = SINGLE_SERVER

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        database_url = env.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:55432/entraide")
        return cls(
            database_url=database_url,
            migration_database_url=env.get("ENTRAIDE_MIGRATION_DATABASE_URL", database_url),
            db_role=env.get("ENTRAIDE_DB_ROLE", "entraide_app") or None,
            nats_url=env.get("NATS_URL", "nats://127.0.0.1:54222"),
            temporal_address=env.get("TEMPORAL_ADDRESS", "127.0.0.1:57233"),
            temporal_namespace=env.get("TEMPORAL_NAMESPACE", "default"),
            log_level=env.get("ENTRAIDE_LOG_LEVEL", "INFO"),
            grpc_host=env.get("ENTRAIDE_GRPC_HOST", "127.0.0.1"),
            events_stream=env.get("ENTRAIDE_EVENTS_STREAM", "ENTRAIDE_EVENTS"),
            subject_root=env.get("ENTRAIDE_SUBJECT_ROOT", "entraide"),
            consumer_max_deliveries=int(env.get("ENTRAIDE_CONSUMER_MAX_DELIVERIES", "5")),
            env=env,
            workflow_cache_size=int(
                env.get("ENTRAIDE_WORKFLOW_CACHE_SIZE", str(DEFAULT_WORKFLOW_CACHE_SIZE))
            ),
            streams=StreamLayout.from_env(env),
        )

    def grpc_port(self, service: str) -> int:
        raw = self.env.get(f"ENTRAIDE_{service.upper()}_PORT")
        return int(raw) if raw is not None else DEFAULT_GRPC_PORTS[service]

    def grpc_address(self, service: str) -> str:
        """Where clients reach a service (ENTRAIDE_<SERVICE>_ADDR overrides host:port)."""
        explicit = self.env.get(f"ENTRAIDE_{service.upper()}_ADDR")
        return explicit or f"{self.grpc_host}:{self.grpc_port(service)}"

    def seconds(self, name: str, default: float) -> float:
        """A duration knob in seconds, e.g. ENTRAIDE_URGENT_ECOUTE_S."""
        raw = self.env.get(f"ENTRAIDE_{name.upper()}_S")
        return default if raw is None else float(raw)

    def duration(self, name: str, default: timedelta) -> timedelta:
        """A duration knob in seconds, e.g. ENTRAIDE_URGENT_ECOUTE_DEADLINE_S."""
        return timedelta(seconds=self.seconds(name, default.total_seconds()))
