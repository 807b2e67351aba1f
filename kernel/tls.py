"""TLS for gRPC servers and clients, mutual TLS optional, all from the environment.

One set of variables describes a deployment; servers and clients read the same ones:

- ENTRAIDE_TLS_CERT_FILE, ENTRAIDE_TLS_KEY_FILE: the server's certificate chain and
  private key (PEM). Unset → plaintext; the only way to get plaintext.
- ENTRAIDE_TLS_CA_FILE: the CA clients verify servers with (unset → the system's
  roots), and servers verify client certificates with when client auth is required.
- ENTRAIDE_TLS_CLIENT_AUTH: "none" (default) or "require" (mutual TLS).
- ENTRAIDE_TLS_CLIENT_CERT_FILE, ENTRAIDE_TLS_CLIENT_KEY_FILE: a client's certificate
  and key, presented when the server asks for one.
- ENTRAIDE_TLS_SERVER_NAME: the name clients expect in the server's certificate
  (and send as SNI) instead of the address's host.

Clients use TLS as soon as any of the certificate or CA variables is set. Half a
configuration (a certificate without its key, "require" without a CA, an unreadable
or malformed file) is a RuntimeError naming the variable, never a silent plaintext.
Every gRPC client in this repository gets its channel from
`secure_or_insecure_channel`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, overload

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import serialization

CERT_FILE = "ENTRAIDE_TLS_CERT_FILE"
KEY_FILE = "ENTRAIDE_TLS_KEY_FILE"
CA_FILE = "ENTRAIDE_TLS_CA_FILE"
CLIENT_AUTH = "ENTRAIDE_TLS_CLIENT_AUTH"
CLIENT_CERT_FILE = "ENTRAIDE_TLS_CLIENT_CERT_FILE"
CLIENT_KEY_FILE = "ENTRAIDE_TLS_CLIENT_KEY_FILE"
SERVER_NAME = "ENTRAIDE_TLS_SERVER_NAME"
CLIENT_AUTH_MODES = ("none", "require")

ChannelOptions = Sequence[tuple[str, Any]]


@dataclass(frozen=True)
class TlsConfig:
    cert_file: str | None
    key_file: str | None
    ca_file: str | None
    client_auth: str
    client_cert_file: str | None
    client_key_file: str | None
    server_name: str | None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> TlsConfig:
        def get(name: str) -> str | None:
            return env.get(name, "").strip() or None

        client_auth = (get(CLIENT_AUTH) or "none").lower()
        if client_auth not in CLIENT_AUTH_MODES:
            raise RuntimeError(
                f"{CLIENT_AUTH} must be one of {', '.join(CLIENT_AUTH_MODES)}, not {client_auth!r}"
            )
        return cls(
            cert_file=get(CERT_FILE),
            key_file=get(KEY_FILE),
            ca_file=get(CA_FILE),
            client_auth=client_auth,
            client_cert_file=get(CLIENT_CERT_FILE),
            client_key_file=get(CLIENT_KEY_FILE),
            server_name=get(SERVER_NAME),
        )

    @property
    def require_client_auth(self) -> bool:
        return self.client_auth == "require"

    @property
    def client_uses_tls(self) -> bool:
        return any((self.cert_file, self.key_file, self.ca_file, self.client_cert_file, self.client_key_file))


def server_credentials(env: Mapping[str, str]) -> grpc.ServerCredentials | None:
    """The server's TLS credentials, or None for plaintext (no certificate configured)."""
    config = TlsConfig.from_env(env)
    _pair(config.cert_file, CERT_FILE, config.key_file, KEY_FILE)
    if config.cert_file is None or config.key_file is None:
        if config.require_client_auth:
            raise RuntimeError(f"{CLIENT_AUTH}=require needs TLS: set {CERT_FILE} and {KEY_FILE}")
        return None
    if config.require_client_auth and config.ca_file is None:
        raise RuntimeError(
            f"{CLIENT_AUTH}=require needs {CA_FILE}, the CA that client certificates are verified with"
        )
    cert, key = _key_pair(config.cert_file, CERT_FILE, config.key_file, KEY_FILE)
    ca = _certificates(config.ca_file, CA_FILE) if config.require_client_auth and config.ca_file else None
    return grpc.ssl_server_credentials(
        [(key, cert)], root_certificates=ca, require_client_auth=config.require_client_auth
    )


def channel_credentials(env: Mapping[str, str]) -> grpc.ChannelCredentials | None:
    """A client's TLS credentials, or None for plaintext (no TLS variable set)."""
    config = TlsConfig.from_env(env)
    _pair(config.client_cert_file, CLIENT_CERT_FILE, config.client_key_file, CLIENT_KEY_FILE)
    if not config.client_uses_tls:
        if config.require_client_auth:
            raise RuntimeError(f"{CLIENT_AUTH}=require needs TLS: set {CA_FILE} and {CLIENT_CERT_FILE}")
        return None
    if config.require_client_auth and config.client_cert_file is None:
        raise RuntimeError(
            f"{CLIENT_AUTH}=require: servers refuse clients without a certificate; "
            f"set {CLIENT_CERT_FILE} and {CLIENT_KEY_FILE}"
        )
    ca = _certificates(config.ca_file, CA_FILE) if config.ca_file else None
    cert: bytes | None = None
    key: bytes | None = None
    if config.client_cert_file is not None and config.client_key_file is not None:
        cert, key = _key_pair(
            config.client_cert_file, CLIENT_CERT_FILE, config.client_key_file, CLIENT_KEY_FILE
        )
    return grpc.ssl_channel_credentials(root_certificates=ca, private_key=key, certificate_chain=cert)


def channel_options(env: Mapping[str, str]) -> list[tuple[str, Any]]:
    """gRPC channel options TLS needs: the expected server name, when overridden."""
    config = TlsConfig.from_env(env)
    if config.server_name is None or not config.client_uses_tls:
        return []
    return [("grpc.ssl_target_name_override", config.server_name)]


@overload
def secure_or_insecure_channel(
    address: str, env: Mapping[str, str], aio: Literal[False] = False, options: ChannelOptions = ()
) -> grpc.Channel: ...


@overload
def secure_or_insecure_channel(
    address: str, env: Mapping[str, str], aio: Literal[True], options: ChannelOptions = ()
) -> grpc.aio.Channel: ...


def secure_or_insecure_channel(
    address: str, env: Mapping[str, str], aio: bool = False, options: ChannelOptions = ()
) -> grpc.Channel | grpc.aio.Channel:
    """The one way clients open a channel: TLS when the environment configures it."""
    credentials = channel_credentials(env)
    all_options = [*options, *channel_options(env)]
    if credentials is None:
        if aio:
            return grpc.aio.insecure_channel(address, options=all_options)
        return grpc.insecure_channel(address, options=all_options)
    if aio:
        return grpc.aio.secure_channel(address, credentials, options=all_options)
    return grpc.secure_channel(address, credentials, options=all_options)


# ---- files ---------------------------------------------------------------------------
def _pair(first: str | None, first_var: str, second: str | None, second_var: str) -> None:
    if first is not None and second is None:
        raise RuntimeError(f"{first_var} is set but {second_var} is not: set both or neither")
    if second is not None and first is None:
        raise RuntimeError(f"{second_var} is set but {first_var} is not: set both or neither")


def _read(path: str, variable: str) -> bytes:
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError as exc:
        raise RuntimeError(f"{variable}: cannot read {path}: {exc.strerror or exc}") from None


def _certificates(path: str, variable: str) -> bytes:
    data = _read(path, variable)
    try:
        x509.load_pem_x509_certificates(data)
    except ValueError:
        raise RuntimeError(f"{variable}: {path} holds no PEM certificate") from None
    return data


def _key_pair(cert_path: str, cert_var: str, key_path: str, key_var: str) -> tuple[bytes, bytes]:
    """The certificate chain and its private key, checked to belong together."""
    cert = _certificates(cert_path, cert_var)
    key = _read(key_path, key_var)
    try:
        private_key = serialization.load_pem_private_key(key, password=None)
    except TypeError:
        raise RuntimeError(f"{key_var}: {key_path} is encrypted; an unencrypted PEM key is needed") from None
    except ValueError:
        raise RuntimeError(f"{key_var}: {key_path} holds no PEM private key") from None
    leaf = x509.load_pem_x509_certificates(cert)[0]
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    if leaf.public_key().public_bytes(
        serialization.Encoding.DER, public
    ) != private_key.public_key().public_bytes(serialization.Encoding.DER, public):
        raise RuntimeError(f"{key_var}: {key_path} is not the private key of the certificate in {cert_var}")
    return cert, key
