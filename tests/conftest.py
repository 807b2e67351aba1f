"""Fixtures: real PostgreSQL, NATS and Temporal servers for the whole session.

Servers come from DATABASE_URL / NATS_URL / TEMPORAL_ADDRESS when set and reachable,
otherwise private ones are started (devstack.servers). Each session gets its own
database, event stream and subject root, so it never touches a running stack's data.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from devstack import processes, scratch, secrets
from devstack.servers import Endpoints, ensure_servers, free_ports, stop_servers
from kernel import client, reference, tls
from kernel.auth import Role, mint
from kernel.settings import Settings

APP_PROCESSES = {
    "intake": [sys.executable, "-m", "services.intake"],
    "referral": [sys.executable, "-m", "services.referral"],
    "reporting": [sys.executable, "-m", "services.reporting"],
    "workflows": [sys.executable, "-m", "workflows.worker"],
}
GRPC_SERVICES = ("intake", "referral", "reporting")
# The default caller of the tests: a social worker of every demo commune.
AGENT = "agent-martin"
TERRITORIES = tuple(reference.load({}).territories)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def state_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="entraide-test-"))
    path.chmod(0o755)
    yield path


@pytest.fixture(scope="session")
def endpoints(state_dir: Path) -> Iterator[Endpoints]:
    found = ensure_servers(state_dir / "servers", free_ports(), env=os.environ)
    try:
        yield found
    finally:
        stop_servers(state_dir / "servers")


@pytest.fixture(scope="session")
def test_env(endpoints: Endpoints, state_dir: Path) -> Iterator[dict[str, str]]:
    """The environment of this session's services: a fresh database and stream."""
    tag = uuid.uuid4().hex[:10]
    database, database_url = asyncio.run(scratch.create_database(endpoints.database_url, "entraide_test"))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ENTRAIDE_")},
        "DATABASE_URL": database_url,
        "NATS_URL": endpoints.nats_url,
        "TEMPORAL_ADDRESS": endpoints.temporal_address,
        "ENTRAIDE_EVENTS_STREAM": f"TEST_{tag.upper()}",
        "ENTRAIDE_SUBJECT_ROOT": f"test{tag}",
        "ENTRAIDE_CONSUMER_MAX_DELIVERIES": "3",
        "ENTRAIDE_LOG_LEVEL": "INFO",
        # Never a developer's running stack (the CLI reads <state>/stack.env).
        "ENTRAIDE_STATE_DIR": str(state_dir / "apps"),
        **secrets.generate(),
        **{f"ENTRAIDE_{name.upper()}_PORT": str(free_port()) for name in GRPC_SERVICES},
        **{f"ENTRAIDE_{name.upper()}_METRICS_PORT": str(free_port()) for name in APP_PROCESSES},
        "ENTRAIDE_METRICS_REFRESH_S": "0.5",
        # Messages to people: an SMTP server and an SMS stand-in on these ports, started
        # by the tests that need them (tests/e2e/services/intake/test_notices.py).
        "ENTRAIDE_SMTP_HOST": "127.0.0.1",
        "ENTRAIDE_SMTP_PORT": str(free_port()),
        "ENTRAIDE_MAIL_FROM": "rendez-vous@entraide.test",
        "ENTRAIDE_SMS_PROVIDER": "brevo",
        "ENTRAIDE_SMS_API_URL": f"http://127.0.0.1:{free_port()}",
        "ENTRAIDE_SMS_API_KEY": uuid.uuid4().hex,
        "ENTRAIDE_MESSAGE_BACKOFF_S": "0.2",
        "ENTRAIDE_MESSAGE_LEASE_S": "9",
    }
    env["ENTRAIDE_TOKEN"] = mint(env["ENTRAIDE_JWT_SECRET"], AGENT, Role.TRAVAILLEUR_SOCIAL, TERRITORIES)
    try:
        yield env
    finally:
        asyncio.run(scratch.drop_database(endpoints.database_url, database))


@pytest.fixture(scope="session")
def settings(test_env: Mapping[str, str]) -> Settings:
    return Settings.from_env(test_env)


@pytest.fixture
async def pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    created = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=5)
    assert created is not None
    try:
        yield created
    finally:
        await created.close()


def serving(address: str, env: Mapping[str, str]) -> bool:
    try:
        with tls.secure_or_insecure_channel(address, env) as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=1)
            return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)
    except grpc.RpcError:
        return False


@dataclass
class AppStack:
    """This session's application processes, started as `make up` starts them."""

    state_dir: Path
    env: dict[str, str]
    settings: Settings

    def start(self, name: str) -> None:
        processes.start_process(self.state_dir, name, APP_PROCESSES[name], self.env)

    def stop(self, name: str, timeout: float = 10) -> None:
        processes.stop_process(self.state_dir, name, timeout=timeout)

    def kill(self, name: str) -> None:
        """SIGKILL: no graceful shutdown, as in a crash."""
        pid = processes.is_running(self.state_dir, name)
        assert pid is not None, f"{name} is not running"
        os.killpg(pid, signal.SIGKILL)
        processes.stop_process(self.state_dir, name, timeout=5)  # reaps it, removes the pid file

    async def wait_serving(self, timeout: float = 60) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        for name in GRPC_SERVICES:
            address = self.settings.grpc_address(name)
            while not await asyncio.to_thread(serving, address, self.env):
                if loop.time() > deadline:
                    log = processes.log_file(self.state_dir, name)
                    raise TimeoutError(f"{name} not serving; log:\n{processes.tail(log)}")
                await asyncio.sleep(0.2)

    def address(self, name: str) -> str:
        return self.settings.grpc_address(name)

    def token(
        self,
        subject: str = AGENT,
        role: Role = Role.TRAVAILLEUR_SOCIAL,
        territories: Iterable[str] = TERRITORIES,
        partner_id: str = "",
    ) -> str:
        return mint(self.env["ENTRAIDE_JWT_SECRET"], subject, role, territories, partner_id=partner_id)

    def channel(self, service: str, token: str | None = None) -> grpc.aio.Channel:
        """A channel to one of this session's services, as the default agent unless
        another token is given."""
        return client.aio_channel(
            self.address(service), self.env, token if token is not None else self.token()
        )


@pytest.fixture(scope="session")
async def app_stack(state_dir: Path, test_env: dict[str, str], settings: Settings) -> AsyncIterator[AppStack]:
    stack = AppStack(state_dir / "apps", test_env, settings)
    stack.state_dir.mkdir(exist_ok=True)
    for name in APP_PROCESSES:
        stack.start(name)
    try:
        await stack.wait_serving()
        yield stack
    finally:
        for name in APP_PROCESSES:
            stack.stop(name)
