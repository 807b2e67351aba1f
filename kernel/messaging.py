"""NATS connection and declarative JetStream provisioning."""

from __future__ import annotations

from typing import Any

import nats.errors
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import Placement, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from kernel.logs import get_logger
from kernel.settings import SINGLE_SERVER, StreamLayout

log = get_logger("messaging")
# JetStream drops a second publish with the same Nats-Msg-Id inside this window.
DUPLICATE_WINDOW_S = 600.0
# How nats-py reports the connection going away (then it reconnects).
_CONNECTION_LOSS = (
    nats.errors.UnexpectedEOF,
    nats.errors.StaleConnectionError,
    nats.errors.ConnectionClosedError,
    OSError,
)


def server_urls(url: str) -> list[str]:
    """NATS_URL's servers: one URL, or several separated by commas (the nodes of a
    cluster, each with its credentials), tried in turn on connect and reconnect."""
    return [part.strip() for part in url.split(",") if part.strip()]


async def connect(url: str, name: str) -> NATS:
    """A connection that reconnects forever: services outlive NATS restarts, and go to
    another node of a cluster when theirs dies (`url`: see `server_urls`).

    An unexpected loss is logged once (WARNING) and its recovery once (INFO); the
    reconnect attempts failing in between are not logged one by one, and closing the
    connection (a normal stop) logs nothing."""
    nc = NATS()
    lost = False

    async def on_disconnect() -> None:
        nonlocal lost
        if nc.is_closed or lost:
            return  # closed by this process, or a loss already reported
        lost = True
        log.warning("NATS connection lost, reconnecting", extra={"component": name})

    async def on_reconnect() -> None:
        nonlocal lost
        lost = False
        log.info("NATS connection restored", extra={"component": name})

    async def on_error(exc: Exception) -> None:
        if lost or nc.is_closed or isinstance(exc, _CONNECTION_LOSS):
            return  # the loss itself, or a reconnect attempt failing: on_disconnect says it once
        log.warning("NATS client error", extra={"component": name, "error_type": type(exc).__name__})

    # nats-py annotates reconnect_time_wait as int; it takes seconds as a float.
    options: dict[str, Any] = {"max_reconnect_attempts": -1, "reconnect_time_wait": 0.5}
    await nc.connect(
        server_urls(url),
        name=name,
        disconnected_cb=on_disconnect,
        reconnected_cb=on_reconnect,
        error_cb=on_error,
        **options,
    )
    return nc


def placed(config: StreamConfig, layout: StreamLayout) -> StreamConfig:
    """`config` with the layout's replica count and placement."""
    config.num_replicas = layout.replicas
    if layout.cluster or layout.tags:
        config.placement = Placement(cluster=layout.cluster or None, tags=list(layout.tags) or None)
    return config


async def ensure_stream(js: JetStreamContext, config: StreamConfig) -> None:
    """Creates a stream, or brings an existing one to this config (a changed replica
    count included: JetStream adds or removes the copies)."""
    assert config.name is not None
    try:
        await js.stream_info(config.name)
    except NotFoundError:
        await js.add_stream(config)
        return
    await js.update_stream(config)


async def ensure_events_stream(
    js: JetStreamContext, name: str, subject_root: str, layout: StreamLayout = SINGLE_SERVER
) -> None:
    """Creates the domain events stream, or brings an existing one to this config."""
    config = StreamConfig(
        name=name,
        subjects=[f"{subject_root}.>"],
        storage=StorageType.FILE,
        retention=RetentionPolicy.LIMITS,
        duplicate_window=DUPLICATE_WINDOW_S,
    )
    await ensure_stream(js, placed(config, layout))
