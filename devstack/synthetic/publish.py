"""Generated events out of the process: published to JetStream (in bulk, pipelined: the
benchmarks and the demo), written to a service's outbox (through `kernel.outbox.write`,
for the relay to publish), and the demo's year loaded into the stack.

Publishing a year twice is harmless: `publish_new` (the demo) skips the events the
stream already holds, whatever JetStream's duplicate window; `write_outbox` skips known
event ids; and the consumers' inbox applies an event once, forever. The envelope is the
kernel's (`Event.nats_subject`, `Event.headers`: `Nats-Msg-Id` = event id and the ce-*
headers), as the outbox relay publishes it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime

from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from devstack.synthetic.generator import DEMO_SEED, demo_events
from devstack.synthetic.mixes import PARIS
from kernel import outbox
from kernel.db import Connection
from kernel.events import Event


async def publish(js: JetStreamContext, subject_root: str, events: Sequence[Event], batch: int = 500) -> int:
    """Publishes in order, pipelined, `Nats-Msg-Id` = event id, every PubAck awaited
    per batch; returns how many JetStream stored (duplicates within its window excluded)."""
    stored = 0
    for start in range(0, len(events), batch):
        chunk = events[start : start + batch]
        acks = [
            await js.publish_async(e.nats_subject(subject_root), e.data, headers=e.headers()) for e in chunk
        ]
        for ack in await asyncio.gather(*acks):
            stored += 0 if ack.duplicate else 1
    return stored


async def stored_event_ids(
    js: JetStreamContext, stream: str, subject_root: str, batch: int = 2000
) -> set[uuid.UUID]:
    """The ids (`Nats-Msg-Id`) of the events `stream` holds under `<subject_root>.>`:
    one pass of a temporary consumer over the stream, headers only."""
    info = await js.stream_info(stream)
    if not info.state.messages:
        return set()
    config = ConsumerConfig(
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.NONE,
        headers_only=True,
        mem_storage=True,
        inactive_threshold=60.0,  # the server drops it even if this process dies
    )
    sub = await js.pull_subscribe(f"{subject_root}.>", stream=stream, config=config)
    ids: set[uuid.UUID] = set()
    try:
        pending = True
        while pending:
            try:
                messages = await sub.fetch(batch, timeout=2)
            except (TimeoutError, NatsTimeoutError):
                break
            for message in messages:
                msg_id = (message.headers or {}).get("Nats-Msg-Id", "")
                try:
                    ids.add(uuid.UUID(msg_id))
                except ValueError:
                    continue  # not one of our events
            pending = bool(messages) and messages[-1].metadata.num_pending > 0
    finally:
        await sub.unsubscribe()
        if config.name:  # set by pull_subscribe
            try:
                await js.delete_consumer(stream, config.name)
            except NotFoundError:
                pass
    return ids


async def publish_new(
    js: JetStreamContext, stream: str, subject_root: str, events: Sequence[Event]
) -> tuple[int, int]:
    """Publishes, in order, the events `stream` does not hold yet (by id: whatever
    JetStream's duplicate window, a second run publishes nothing); returns (how many
    JetStream stored, how many were already there)."""
    known = await stored_event_ids(js, stream, subject_root)
    missing = [e for e in events if e.id not in known]
    return await publish(js, subject_root, missing), len(events) - len(missing)


async def write_outbox(conn: Connection, schema: str, events: Sequence[Event]) -> int:
    """Adds the events to `<schema>.outbox` in order, in one transaction, through
    `kernel.outbox.write` (known event ids skipped, the relay woken at commit); returns
    how many rows were added."""
    added = 0
    async with conn.transaction():
        for event in events:
            added += await outbox.write(conn, schema, event)
    return added


async def publish_to_stack(events: Sequence[Event], env: Mapping[str, str] | None = None) -> int:
    """Publishes to the stack's NATS (NATS_URL, ENTRAIDE_EVENTS_STREAM, ENTRAIDE_SUBJECT_ROOT)."""
    from kernel import messaging
    from kernel.settings import Settings

    settings = Settings.from_env(env)
    nc = await messaging.connect(settings.nats_url, "synthetic")
    try:
        js = nc.jetstream()
        await messaging.ensure_events_stream(
            js, settings.events_stream, settings.subject_root, settings.streams
        )
        return await publish(js, settings.subject_root, events)
    finally:
        await nc.close()


def demo_year_events(year: int) -> list[Event]:
    """The demo's year: its dossiers (generator.demo_events), a Bar-le-Duc-like CIAS's
    group sessions and signals (outreach.py, about 750 events more) and its aid requests,
    decisions, payments, micro-credits and budget lines (aides.py, about 2,300 more)."""
    from devstack.synthetic.aides import generate_aid_year
    from devstack.synthetic.outreach import generate_outreach_year

    return (
        demo_events(year)
        + list(generate_outreach_year(DEMO_SEED, year=year).events)
        + list(generate_aid_year(DEMO_SEED, year=year).events)
    )


async def demo_year(env: Mapping[str, str], wait_s: float = 180.0) -> str:
    """The demo's synthetic year (ENTRAIDE_DEMO_SYNTHETIC_YEAR: `1` (default) → last
    year, a 4-digit value → that year, `0` → none): its dossiers, group sessions,
    signals and aides (`demo_year_events`), published to the stack; waits until
    the reporting projector has caught up so the bilan has content when `make up` ends.
    Harmless when repeated: the same events, the same ids, and the events the stream
    already holds are not published again (`publish_new`)."""
    from kernel import messaging
    from kernel.settings import Settings
    from services.reporting.projection.tables import CONSUMER

    flag = (env.get("ENTRAIDE_DEMO_SYNTHETIC_YEAR") or "1").strip().lower()
    if flag in ("0", "false", "no", "off"):
        return "synthetic year: skipped (ENTRAIDE_DEMO_SYNTHETIC_YEAR=0)"
    year = int(flag) if flag.isdigit() and len(flag) == 4 else datetime.now(PARIS).year - 1
    events = demo_year_events(year)
    settings = Settings.from_env(env)
    nc = await messaging.connect(settings.nats_url, "synthetic-demo")
    try:
        js = nc.jetstream()
        await messaging.ensure_events_stream(
            js, settings.events_stream, settings.subject_root, settings.streams
        )
        stored, known = await publish_new(js, settings.events_stream, settings.subject_root, events)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        lag = -1
        while loop.time() < deadline:
            try:
                info = await js.consumer_info(settings.events_stream, CONSUMER)
            except NotFoundError:
                break  # no reporting service: nothing to wait for
            lag = (info.num_pending or 0) + (info.num_ack_pending or 0)
            if lag == 0:
                break
            await asyncio.sleep(0.5)
    finally:
        await nc.close()
    caught_up = "projected" if lag <= 0 else f"{lag} events still to project"
    return f"synthetic year {year}: {len(events)} events, {stored} new, {known} already there ({caught_up})"
