"""TLS by configuration: the kernel's gRPC server in-process with certificates made
here (a throwaway CA, a server certificate for 127.0.0.1 and localhost, client
certificates), clients through kernel.tls, mutual TLS, half configurations refused,
and a service run by kernel.runtime serving TLS from its environment."""

from __future__ import annotations

import asyncio
import datetime
import socket
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from ipaddress import IPv4Address
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from grpc_health.v1 import health_pb2, health_pb2_grpc

from kernel import tls
from kernel.grpc_server import GrpcServer
from kernel.runtime import ServiceSpec, run_service
from kernel.settings import Settings

SERVING = health_pb2.HealthCheckResponse.SERVING


# ---- certificates --------------------------------------------------------------------
@dataclass(frozen=True)
class Issued:
    cert: Path
    key: Path


class Authority:
    """A throwaway CA writing PEM files into a directory."""

    def __init__(self, directory: Path, name: str) -> None:
        self.directory = directory
        self.name = name
        self.key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name} test CA")])
        now = datetime.datetime.now(datetime.UTC)
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_usage(cert_sign=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        self.ca_file = directory / f"{name}-ca.pem"
        self.ca_file.write_bytes(self.certificate.public_bytes(serialization.Encoding.PEM))

    def issue(self, name: str, *, server: bool) -> Issued:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_usage(cert_sign=False), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False
            )
        )
        if server:
            names = [x509.IPAddress(IPv4Address("127.0.0.1")), x509.DNSName("localhost")]
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        certificate = builder.sign(self.key, hashes.SHA256())
        issued = Issued(
            self.directory / f"{self.name}-{name}.pem", self.directory / f"{self.name}-{name}.key"
        )
        issued.cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        issued.key.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return issued


def _usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


@dataclass(frozen=True)
class Pki:
    ca: Authority
    server: Issued
    client: Issued
    other_ca: Authority
    other_client: Issued

    def server_env(self, client_auth: str = "none") -> dict[str, str]:
        return {
            tls.CERT_FILE: str(self.server.cert),
            tls.KEY_FILE: str(self.server.key),
            tls.CA_FILE: str(self.ca.ca_file),
            tls.CLIENT_AUTH: client_auth,
        }

    def client_env(self, ca: Authority | None = None, client: Issued | None = None) -> dict[str, str]:
        env = {tls.CA_FILE: str((ca or self.ca).ca_file)}
        if client is not None:
            env |= {tls.CLIENT_CERT_FILE: str(client.cert), tls.CLIENT_KEY_FILE: str(client.key)}
        return env


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    ca = Authority(directory, "entraide")
    other = Authority(directory, "other")
    return Pki(
        ca=ca,
        server=ca.issue("server", server=True),
        client=ca.issue("agent", server=False),
        other_ca=other,
        other_client=other.issue("intruder", server=False),
    )


# ---- an in-process server ------------------------------------------------------------
async def started(env: Mapping[str, str]) -> GrpcServer:
    server = GrpcServer([], "127.0.0.1:0", tls=tls.server_credentials(env))
    assert server.port > 0
    await server.start()
    return server


@pytest.fixture
async def tls_server(pki: Pki) -> AsyncIterator[str]:
    server = await started(pki.server_env())
    try:
        yield f"127.0.0.1:{server.port}"
    finally:
        await server.stop(0)


@pytest.fixture
async def mtls_server(pki: Pki) -> AsyncIterator[str]:
    server = await started(pki.server_env("require"))
    try:
        yield f"127.0.0.1:{server.port}"
    finally:
        await server.stop(0)


async def check(channel: grpc.aio.Channel) -> int:
    async with channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        return int(reply.status)


async def refused(channel: grpc.aio.Channel) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await check(channel)
    return caught.value.code()


# ---- TLS -----------------------------------------------------------------------------
async def test_client_trusting_the_ca_gets_serving(pki: Pki, tls_server: str) -> None:
    channel = tls.secure_or_insecure_channel(tls_server, pki.client_env(), aio=True)
    assert await check(channel) == SERVING


async def test_sync_client_trusting_the_ca_gets_serving(pki: Pki, tls_server: str) -> None:
    """The `entraide` command's and the stack's health checks' kind of channel."""

    def call() -> int:
        with tls.secure_or_insecure_channel(tls_server, pki.client_env()) as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        return int(reply.status)

    assert await asyncio.to_thread(call) == SERVING


async def test_the_server_environment_also_works_for_clients(pki: Pki, tls_server: str) -> None:
    """Services and tools share one environment: its CA verifies the server."""
    channel = tls.secure_or_insecure_channel(tls_server, pki.server_env(), aio=True)
    assert await check(channel) == SERVING


async def test_plaintext_client_is_refused(tls_server: str) -> None:
    assert tls.channel_credentials({}) is None
    channel = tls.secure_or_insecure_channel(tls_server, {}, aio=True)
    assert await refused(channel) == grpc.StatusCode.UNAVAILABLE


async def test_client_trusting_another_ca_is_refused(pki: Pki, tls_server: str) -> None:
    channel = tls.secure_or_insecure_channel(tls_server, pki.client_env(ca=pki.other_ca), aio=True)
    assert await refused(channel) == grpc.StatusCode.UNAVAILABLE


async def test_server_name_override(pki: Pki, tls_server: str) -> None:
    port = tls_server.rsplit(":", 1)[1]
    # The certificate names localhost: reaching it by another name works once told so.
    good = pki.client_env() | {tls.SERVER_NAME: "localhost"}
    assert await check(tls.secure_or_insecure_channel(f"127.0.0.1:{port}", good, aio=True)) == SERVING
    wrong = pki.client_env() | {tls.SERVER_NAME: "intake.example.org"}
    assert (
        await refused(tls.secure_or_insecure_channel(tls_server, wrong, aio=True))
        == grpc.StatusCode.UNAVAILABLE
    )


# ---- mutual TLS ----------------------------------------------------------------------
async def test_mtls_refuses_a_client_without_certificate(pki: Pki, mtls_server: str) -> None:
    channel = tls.secure_or_insecure_channel(mtls_server, pki.client_env(), aio=True)
    assert await refused(channel) == grpc.StatusCode.UNAVAILABLE


async def test_mtls_accepts_a_client_certificate_from_the_ca(pki: Pki, mtls_server: str) -> None:
    env = pki.client_env(client=pki.client) | {tls.CLIENT_AUTH: "require"}
    assert await check(tls.secure_or_insecure_channel(mtls_server, env, aio=True)) == SERVING


async def test_mtls_refuses_a_client_certificate_from_another_ca(pki: Pki, mtls_server: str) -> None:
    channel = tls.secure_or_insecure_channel(mtls_server, pki.client_env(client=pki.other_client), aio=True)
    assert await refused(channel) == grpc.StatusCode.UNAVAILABLE


async def test_a_client_certificate_is_harmless_without_mtls(pki: Pki, tls_server: str) -> None:
    channel = tls.secure_or_insecure_channel(tls_server, pki.client_env(client=pki.client), aio=True)
    assert await check(channel) == SERVING


# ---- configuration -------------------------------------------------------------------
def test_no_tls_variable_means_plaintext() -> None:
    assert tls.server_credentials({}) is None
    assert tls.channel_credentials({"ENTRAIDE_TLS_CLIENT_AUTH": "none"}) is None
    assert tls.channel_options({tls.SERVER_NAME: "localhost"}) == []


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({tls.KEY_FILE: ""}, tls.KEY_FILE),
        ({tls.CERT_FILE: ""}, tls.CERT_FILE),
        ({tls.CLIENT_AUTH: "require", tls.CA_FILE: ""}, tls.CA_FILE),
        ({tls.CLIENT_AUTH: "sometimes"}, tls.CLIENT_AUTH),
        ({tls.CERT_FILE: "/nonexistent/server.pem"}, tls.CERT_FILE),
        ({tls.KEY_FILE: "/nonexistent/server.key"}, tls.KEY_FILE),
        ({tls.CLIENT_AUTH: "require", tls.CA_FILE: "/nonexistent/ca.pem"}, tls.CA_FILE),
    ],
)
def test_half_configured_server_is_refused(pki: Pki, change: dict[str, str], named: str) -> None:
    with pytest.raises(RuntimeError, match=named):
        tls.server_credentials(pki.server_env() | change)


def test_server_mismatched_or_malformed_files_are_refused(pki: Pki) -> None:
    with pytest.raises(RuntimeError, match=f"{tls.KEY_FILE}.*not the private key"):
        tls.server_credentials(pki.server_env() | {tls.KEY_FILE: str(pki.client.key)})
    with pytest.raises(RuntimeError, match=f"{tls.CERT_FILE}.*no PEM certificate"):
        tls.server_credentials(pki.server_env() | {tls.CERT_FILE: str(pki.server.key)})
    with pytest.raises(RuntimeError, match=f"{tls.KEY_FILE}.*no PEM private key"):
        tls.server_credentials(pki.server_env() | {tls.KEY_FILE: str(pki.server.cert)})
    with pytest.raises(RuntimeError, match=f"{tls.CLIENT_AUTH}=require needs TLS"):
        tls.server_credentials({tls.CLIENT_AUTH: "require"})


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({tls.CLIENT_KEY_FILE: ""}, tls.CLIENT_KEY_FILE),
        ({tls.CLIENT_CERT_FILE: ""}, tls.CLIENT_CERT_FILE),
        ({tls.CA_FILE: "/nonexistent/ca.pem"}, tls.CA_FILE),
        ({tls.CLIENT_CERT_FILE: "/nonexistent/agent.pem"}, tls.CLIENT_CERT_FILE),
    ],
)
def test_half_configured_client_is_refused(pki: Pki, change: dict[str, str], named: str) -> None:
    with pytest.raises(RuntimeError, match=named):
        tls.channel_credentials(pki.client_env(client=pki.client) | change)


def test_client_in_an_mtls_deployment_needs_its_certificate(pki: Pki) -> None:
    with pytest.raises(RuntimeError, match=tls.CLIENT_CERT_FILE):
        tls.channel_credentials(pki.client_env() | {tls.CLIENT_AUTH: "require"})
    with pytest.raises(RuntimeError, match=tls.CLIENT_CERT_FILE):
        tls.secure_or_insecure_channel("127.0.0.1:1", {tls.CLIENT_AUTH: "require"})


# ---- services get TLS through kernel.runtime -----------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _probe_spec(tmp_path: Path) -> ServiceSpec:
    migrations = tmp_path / "migrations"  # none: the kernel's own tables only
    migrations.mkdir()
    return ServiceSpec(name="tlsprobe", schema="tls_probe", migrations_dir=migrations, bindings=lambda _: ())


async def test_run_service_refuses_half_configured_tls_before_connecting(pki: Pki, tmp_path: Path) -> None:
    # Nothing listens at these addresses: the TLS check comes first.
    env = {"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none", tls.CERT_FILE: str(pki.server.cert)}
    with pytest.raises(RuntimeError, match=tls.KEY_FILE):
        await run_service(_probe_spec(tmp_path), Settings.from_env(env), asyncio.Event())


async def test_run_service_serves_tls_from_its_environment(
    pki: Pki, tmp_path: Path, test_env: dict[str, str]
) -> None:
    port = _free_port()
    env = {**test_env, **pki.server_env("require"), "ENTRAIDE_TLSPROBE_PORT": str(port)}
    settings = Settings.from_env(env)
    stop, ready = asyncio.Event(), asyncio.Event()
    running = asyncio.create_task(run_service(_probe_spec(tmp_path), settings, stop, ready))
    try:
        await asyncio.wait_for(ready.wait(), timeout=15)
        address = f"127.0.0.1:{port}"
        client = pki.client_env(client=pki.client) | {tls.CLIENT_AUTH: "require"}
        assert await check(tls.secure_or_insecure_channel(address, client, aio=True)) == SERVING
        assert (
            await refused(tls.secure_or_insecure_channel(address, {}, aio=True))
            == grpc.StatusCode.UNAVAILABLE
        )
        assert await refused(tls.secure_or_insecure_channel(address, pki.client_env(), aio=True)) == (
            grpc.StatusCode.UNAVAILABLE
        )
    finally:
        stop.set()
        await asyncio.wait_for(running, timeout=15)
