"""NATS connection and declarative JetStream provisioning."""

from __future__ import annotations

import nats
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from kernel.logs import get_logger

log = get_logger("messaging")
# JetStream drops a second publish with the same Nats-Msg-Id inside this window.
DUPLICATE_WINDOW_S = 600.0


async def connect(url: str, name: str) -> NATS:
    """A connection that reconnects forever: services outlive NATS restarts."""

    async def on_disconnect() -> None:
        log.warning("nats disconnected", extra={"component": name})

    async def on_reconnect() -> None:
        log.info("nats reconnected", extra={"component": name})

    return await nats.connect(
        url,
        name=name,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        disconnected_cb=on_disconnect,
        reconnected_cb=on_reconnect,
    )


async def ensure_events_stream(js: JetStreamContext, name: str, subject_root: str) -> None:
    """Creates the domain events stream, or brings an existing one to this config."""
    config = StreamConfig(
        name=name,
        subjects=[f"{subject_root}.>"],
        storage=StorageType.FILE,
        retention=RetentionPolicy.LIMITS,
        duplicate_window=DUPLICATE_WINDOW_S,
    )
    try:
        await js.stream_info(name)
    except NotFoundError:
        await js.add_stream(config)
        return
    await js.update_stream(config)
