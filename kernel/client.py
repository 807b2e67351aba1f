"""The one way clients open a channel to an Entraide service: TLS when configured
(kernel.tls), and the caller's bearer token on every call."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import grpc

from kernel import hard_input, tls


def _with_token(metadata: Any, token: str) -> list[tuple[str, str | bytes]]:
    return [*(metadata or ()), ("authorization", f"Bearer {token}")]


class _AioBearer(grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[type-arg]
    def __init__(self, token: str) -> None:
        self.token = token

    async def intercept_unary_unary(
        self, continuation: Callable[..., Any], details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        details = grpc.aio.ClientCallDetails(
            details.method,
            details.timeout,
            grpc.aio.Metadata(*_with_token(details.metadata, self.token)),
            details.credentials,
            details.wait_for_ready,
        )
        return await continuation(details, request)


class _SyncBearer(grpc.UnaryUnaryClientInterceptor):  # type: ignore[type-arg]
    def __init__(self, token: str) -> None:
        self.token = token

    def intercept_unary_unary(self, continuation: Callable[..., Any], details: Any, request: Any) -> Any:
        details = details._replace(metadata=_with_token(details.metadata, self.token))
        return continuation(details, request)


def aio_channel(address: str, env: Mapping[str, str], token: str | None = None) -> grpc.aio.Channel:
    """An asyncio channel; `token` defaults to ENTRAIDE_TOKEN from `env`."""
    token = token if token is not None else env.get("ENTRAIDE_TOKEN", "")
    credentials = tls.channel_credentials(env)
    options = [*hard_input.grpc_options(), *tls.channel_options(env)]
    interceptors: list[Any] = [_AioBearer(token)] if token else []
    if credentials is None:
        return grpc.aio.insecure_channel(address, options=options, interceptors=interceptors)
    return grpc.aio.secure_channel(address, credentials, options=options, interceptors=interceptors)


def sync_channel(address: str, env: Mapping[str, str], token: str | None = None) -> grpc.Channel:
    """A blocking channel (command-line tools); `token` defaults to ENTRAIDE_TOKEN."""
    token = token if token is not None else env.get("ENTRAIDE_TOKEN", "")
    channel = tls.secure_or_insecure_channel(address, env, options=hard_input.grpc_options())
    return grpc.intercept_channel(channel, _SyncBearer(token)) if token else channel
