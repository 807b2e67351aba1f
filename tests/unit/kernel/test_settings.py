"""Settings from the environment: defaults and overrides."""

from __future__ import annotations

from datetime import timedelta

import pytest

from kernel.settings import DEFAULT_GRPC_PORTS, Settings, StreamLayout


def test_defaults_from_an_empty_environment() -> None:
    settings = Settings.from_env({})
    assert settings.database_url == "postgresql://postgres@127.0.0.1:55432/entraide"
    assert settings.nats_url == "nats://127.0.0.1:54222"
    assert settings.temporal_address == "127.0.0.1:57233"
    assert settings.temporal_namespace == "default"
    assert settings.log_level == "INFO"
    assert settings.grpc_host == "127.0.0.1"
    assert settings.events_stream == "ENTRAIDE_EVENTS"
    assert settings.subject_root == "entraide"
    assert settings.consumer_max_deliveries == 5
    assert DEFAULT_GRPC_PORTS == {"intake": 50051, "referral": 50052, "reporting": 50053}
    for service, port in DEFAULT_GRPC_PORTS.items():
        assert settings.grpc_port(service) == port
        assert settings.grpc_address(service) == f"127.0.0.1:{port}"


def test_environment_overrides() -> None:
    env = {
        "DATABASE_URL": "postgresql://u@db:5432/x",
        "NATS_URL": "nats://nats:4222",
        "TEMPORAL_ADDRESS": "temporal:7233",
        "TEMPORAL_NAMESPACE": "entraide",
        "ENTRAIDE_LOG_LEVEL": "DEBUG",
        "ENTRAIDE_GRPC_HOST": "10.0.0.5",
        "ENTRAIDE_EVENTS_STREAM": "S",
        "ENTRAIDE_SUBJECT_ROOT": "r",
        "ENTRAIDE_CONSUMER_MAX_DELIVERIES": "9",
    }
    settings = Settings.from_env(env)
    assert (settings.database_url, settings.nats_url, settings.temporal_address) == (
        "postgresql://u@db:5432/x",
        "nats://nats:4222",
        "temporal:7233",
    )
    assert settings.temporal_namespace == "entraide"
    assert (settings.log_level, settings.grpc_host) == ("DEBUG", "10.0.0.5")
    assert (settings.events_stream, settings.subject_root) == ("S", "r")
    assert settings.consumer_max_deliveries == 9
    assert settings.grpc_address("referral") == "10.0.0.5:50052"


def test_the_environment_is_copied_not_shared() -> None:
    env = {"ENTRAIDE_INTAKE_PORT": "6001"}
    settings = Settings.from_env(env)
    env["ENTRAIDE_INTAKE_PORT"] = "6002"
    assert settings.grpc_port("intake") == 6001


def test_grpc_port_and_address_overrides() -> None:
    settings = Settings.from_env(
        {"ENTRAIDE_INTAKE_PORT": "6001", "ENTRAIDE_REFERRAL_ADDR": "referral.svc:443"}
    )
    assert settings.grpc_port("intake") == 6001
    assert settings.grpc_address("intake") == "127.0.0.1:6001"
    # An explicit address wins over host:port, for that service only.
    assert settings.grpc_address("referral") == "referral.svc:443"
    assert settings.grpc_port("referral") == 50052
    assert settings.grpc_address("reporting") == "127.0.0.1:50053"
    both = Settings.from_env({"ENTRAIDE_INTAKE_PORT": "6001", "ENTRAIDE_INTAKE_ADDR": "intake.svc:50051"})
    assert both.grpc_address("intake") == "intake.svc:50051"


def test_duration_knob_in_seconds() -> None:
    default = timedelta(hours=4)
    assert Settings.from_env({}).duration("urgent_ecoute_deadline", default) == default
    settings = Settings.from_env({"ENTRAIDE_URGENT_ECOUTE_DEADLINE_S": "2.5"})
    assert settings.duration("urgent_ecoute_deadline", default) == timedelta(seconds=2.5)
    assert settings.duration("other_deadline", default) == default


def test_malformed_numbers_fail_loudly() -> None:
    with pytest.raises(ValueError):
        Settings.from_env({"ENTRAIDE_CONSUMER_MAX_DELIVERIES": "many"})
    with pytest.raises(ValueError):
        Settings.from_env({"ENTRAIDE_INTAKE_PORT": "x"}).grpc_port("intake")
    with pytest.raises(ValueError):
        Settings.from_env({"ENTRAIDE_URGENT_ECOUTE_DEADLINE_S": "4h"}).duration(
            "urgent_ecoute_deadline", timedelta(1)
        )


def test_from_env_reads_the_process_environment_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENTRAIDE_SUBJECT_ROOT", "from-process")
    monkeypatch.setenv("ENTRAIDE_REPORTING_PORT", "6003")
    settings = Settings.from_env()
    assert settings.subject_root == "from-process"
    assert settings.grpc_port("reporting") == 6003


def test_port_override_works_for_a_service_without_a_default_port() -> None:
    settings = Settings.from_env({"ENTRAIDE_NOTIFICATIONS_PORT": "6010"})
    assert settings.grpc_port("notifications") == 6010


def test_streams_keep_one_copy_by_default_and_follow_the_environment() -> None:
    assert Settings.from_env({}).streams == StreamLayout(replicas=1, cluster="", tags=())
    layout = Settings.from_env(
        {
            "ENTRAIDE_STREAM_REPLICAS": "3",
            "ENTRAIDE_STREAM_CLUSTER": "entraide",
            "ENTRAIDE_STREAM_TAGS": "zone-a, zone-b,,zone-c",
        }
    ).streams
    assert layout == StreamLayout(replicas=3, cluster="entraide", tags=("zone-a", "zone-b", "zone-c"))


@pytest.mark.parametrize("replicas", ["0", "6", "-1"])
def test_a_replica_count_jetstream_cannot_keep_fails_at_start(replicas: str) -> None:
    with pytest.raises(ValueError, match="ENTRAIDE_STREAM_REPLICAS"):
        Settings.from_env({"ENTRAIDE_STREAM_REPLICAS": replicas})
