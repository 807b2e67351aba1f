"""Partner notifier: referral status changes → partners, over NATS and/or webhooks.

Two halves, linked by a table (an outbox for partners):

1. A durable kernel consumer of `<root>.referral.status_changed`. In the consumer's
   inbox transaction (one per fetched batch: one channel lookup for the batch's
   partners, one multi-row insert; per event when a batch fails) it writes one
   `partner_deliveries` row per channel of the partner (delivery id = uuid5(event
   id, channel)), so an event is turned into deliveries exactly once.
2. A delivery loop (kernel.relay's loop, woken on `<schema>_partner_deliveries`). NATS
   rows are published (pipelined) to the partner stream on
   `partners.<partner_id>.referrals.<status>` with `Nats-Msg-Id = delivery id` and
   marked delivered only after the PubAck (a crash in between republishes; JetStream
   drops the duplicate); the next batch is published while one waits for its PubAcks
   (kernel.relay.Pipeline). Webhook rows are leased, POSTed signed, then marked delivered,
   or rescheduled with exponential backoff, or dead after `max_attempts`.

A webhook channel that cannot work by configuration (its secret is not in this
process's environment, its URL has no host…: `webhooks.configuration_problem`) is not
retried: it is reported once (one WARNING per channel and reason, at start or when
first seen; `partner_channel_problems` for the ops view) and its rows are `held`, not
attempted, until a check finds it usable (at start, on every directory change through
the `channels` notification, and every `channel_check_s`); then they are pending again
and delivered. A webhook removed from the directory dead-letters its rows at once
(`WebhookRemoved`). A receiver that is down stays on the backoff/dead-letter path.
"""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import UTC
from typing import Any

import aiohttp
import asyncpg
from entraide.v1 import events_pb2
from nats.js import JetStreamContext
from nats.js.api import RetentionPolicy, StorageType, StreamConfig

from domain.events import EventType, short_name
from kernel import messaging, relay
from kernel.consumer import BatchHandler, ConsumerSpec, Handler
from kernel.db import Connection, Pool, platform_scope
from kernel.events import Event
from kernel.logs import get_logger
from kernel.runtime import ServiceContext
from kernel.settings import SINGLE_SERVER, Settings, StreamLayout
from services.referral import links, partner_messages, webhooks
from services.referral.schema import SCHEMA

log = get_logger("partner-notifier")
CONSUMER = "referral-partner-notifier"
PARTNER_STREAM = "PARTNERS"
PARTNER_SUBJECT_ROOT = "partners"
# Long enough to cover a restart after a crash between PubAck and mark.
PARTNER_DUPLICATE_WINDOW_S = 3600.0
# Payload of the notification partner_channels' trigger sends (migration 004).
CHANNELS_CHANGED = "channels"
# Payload of the consumer's notification when it wrote webhook rows (else empty).
WEBHOOK_ROWS = "webhook"
# last_error_type of the rows of a webhook the directory no longer has.
WEBHOOK_REMOVED = "WebhookRemoved"
# created_by of the answer links the notifier gives out.
NOTIFIER_ACTOR = "entraide-notifier"


@dataclass(frozen=True)
class NotifierConfig:
    schema: str
    events_stream: str
    subject_root: str  # domain events' root
    partner_stream: str = PARTNER_STREAM
    partner_subject_root: str = PARTNER_SUBJECT_ROOT
    source: str = "/entraide/referral"
    partner_stream_max_age_s: float = 30 * 86400.0
    max_attempts: int = 8
    backoff_base_s: float = 2.0
    backoff_cap_s: float = 3600.0
    webhook_timeout_s: float = 10.0
    webhook_concurrency: int = 16
    channel_check_s: float = 60.0  # channels' configuration re-checked at least this often
    batch_size: int = 200
    pipeline_depth: int = relay.PIPELINE_DEPTH  # NATS batches in flight (kernel.relay.Pipeline)
    idle_poll_s: float = 1.0
    ack_timeout_s: float = 10.0
    consumer_max_deliveries: int = 5
    consumer_batch_size: int = 200
    consumer_ack_wait_s: float = 30.0
    env: Mapping[str, str] | None = None  # where webhook secrets are read
    streams: StreamLayout = SINGLE_SERVER  # the partner stream's replicas and placement
    # Signed answer links in the messages (ENTRAIDE_CONSOLE_URL set and a link key): None, none.
    link_config: links.LinkConfig | None = None

    @classmethod
    def from_settings(cls, settings: Settings, schema: str) -> NotifierConfig:
        env = settings.env
        return cls(
            schema=schema,
            events_stream=settings.events_stream,
            subject_root=settings.subject_root,
            partner_stream=env.get("ENTRAIDE_PARTNER_STREAM", PARTNER_STREAM),
            partner_subject_root=env.get("ENTRAIDE_PARTNER_SUBJECT_ROOT", PARTNER_SUBJECT_ROOT),
            source=env.get("ENTRAIDE_PARTNER_EVENT_SOURCE", "/entraide/referral"),
            partner_stream_max_age_s=settings.seconds("partner_stream_max_age", 30 * 86400.0),
            max_attempts=int(env.get("ENTRAIDE_WEBHOOK_MAX_ATTEMPTS", "8")),
            backoff_base_s=settings.seconds("webhook_backoff_base", 2.0),
            backoff_cap_s=settings.seconds("webhook_backoff_cap", 3600.0),
            webhook_timeout_s=settings.seconds("webhook_timeout", 10.0),
            channel_check_s=settings.seconds("webhook_channel_check", 60.0),
            consumer_max_deliveries=settings.consumer_max_deliveries,
            env=env,
            streams=settings.streams,
            link_config=links.LinkConfig.from_env(env),
        )

    @property
    def answer_links(self) -> bool:
        found = self.link_config
        return found is not None and found.key is not None and bool(found.console_url)

    @property
    def notify_channel(self) -> str:
        return f"{self.schema}_partner_deliveries"

    def backoff_s(self, attempts: int) -> float:
        """Delay after the `attempts`-th failure: base·2^(n-1), capped, 20 % jitter."""
        delay = min(self.backoff_cap_s, self.backoff_base_s * float(2 ** max(0, attempts - 1)))
        return delay * random.uniform(0.8, 1.0)


# --- 1. status change → delivery rows (inside the consumer's inbox transaction) -------------


DeliveryRow = tuple[uuid.UUID, uuid.UUID, str, str, str, str]
_INSERT_ROWS = """INSERT INTO {schema}.partner_deliveries
                      (delivery_id, event_id, partner_id, channel, subject, payload)
                  SELECT d, e, p, c, s, m::jsonb
                    FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[])
                         AS r(d, e, p, c, s, m)
                  ON CONFLICT (delivery_id) DO NOTHING"""


def _channels(settings: asyncpg.Record | None) -> list[str]:
    # A partner without channel settings gets the partner stream (its baseline).
    if settings is None:
        return ["nats"]
    wanted = []
    if settings["nats"]:
        wanted.append("nats")
    if settings["webhook_url"]:
        wanted.append("webhook")
    return wanted


def _status_change(event: Event) -> events_pb2.ReferralStatusChanged | None:
    if event.type != EventType.REFERRAL_STATUS_CHANGED:
        return None
    data = event.parse(events_pb2.ReferralStatusChanged)
    if not data.referral_id or not data.partner_id or not data.status:
        raise ValueError("referral.status_changed without referral, partner or status")
    return data


def _delivery_rows(
    config: NotifierConfig,
    event: Event,
    data: events_pb2.ReferralStatusChanged,
    wanted: list[str],
    answer_url: str = "",
) -> list[DeliveryRow]:
    if not wanted:
        return []
    payload = json.dumps(partner_messages.build(event, data, config.source, answer_url))
    subject = partner_messages.partner_subject(config.partner_subject_root, data.partner_id, data.status)
    return [
        (partner_messages.delivery_id(event.id, ch), event.id, data.partner_id, ch, subject, payload)
        for ch in wanted
    ]


async def _insert_rows(conn: Connection, config: NotifierConfig, rows: list[DeliveryRow]) -> None:
    """All rows in one statement (unnest), then one wake-up for the delivery loop."""
    if not rows:
        return
    columns = list(zip(*rows, strict=True))
    await conn.execute(_INSERT_ROWS.format(schema=config.schema), *(list(c) for c in columns))
    webhook = any(row[3] == "webhook" for row in rows)
    await relay.notify(conn, config.notify_channel, WEBHOOK_ROWS if webhook else "")


async def _answer_links(
    conn: Connection, config: NotifierConfig, changes: list[tuple[Event, events_pb2.ReferralStatusChanged]]
) -> dict[uuid.UUID, str]:
    """One signed link per change that leaves the partner something to answer (event id →
    its URL), written in the consumer's transaction: a redelivered event, whose link id
    derives from its id, gives the same link. With the platform's own rights (role
    service, the changes' communes, for this transaction only)."""
    found = config.link_config
    if not config.answer_links or found is None or found.key is None:
        return {}
    answerable = [(e, d) for e, d in changes if d.status in links.ANSWERABLE and d.territory]
    if not answerable:
        return {}
    await platform_scope(conn, {d.territory for _, d in answerable})
    urls: dict[uuid.UUID, str] = {}
    for event, data in answerable:
        at = data.at.ToDatetime(tzinfo=UTC) if data.at.seconds else event.time
        row = await links.insert(
            conn,
            uuid.uuid5(links.NOTIFIER_NAMESPACE, str(event.id)),
            uuid.UUID(data.referral_id),
            data.partner_id,
            data.territory,
            links.expiry(at, found.ttl_s),
            NOTIFIER_ACTOR,
        )
        token = links.sign(found.key, row["link_id"], row["referral_id"], row["expires_at"])
        urls[event.id] = found.url(token)
    return urls


def enqueue_handler(config: NotifierConfig) -> Handler:
    schema = config.schema

    async def handle(conn: Connection, event: Event) -> None:
        data = _status_change(event)
        if data is None:
            return
        settings = await conn.fetchrow(
            f"SELECT nats, webhook_url FROM {schema}.partner_channels WHERE partner_id = $1", data.partner_id
        )
        wanted = _channels(settings)
        urls = await _answer_links(conn, config, [(event, data)]) if wanted else {}
        await _insert_rows(conn, config, _delivery_rows(config, event, data, wanted, urls.get(event.id, "")))

    return handle


def enqueue_batch_handler(config: NotifierConfig) -> BatchHandler:
    """A fetched batch in the consumer's one transaction: one channel lookup for the
    batch's partners, one multi-row insert. A bad event fails the batch; the kernel
    then handles its messages one by one (and dead-letters the bad one)."""
    schema = config.schema

    async def handle_batch(conn: Connection, events: list[Event]) -> None:
        changes = [(event, data) for event in events if (data := _status_change(event)) is not None]
        if not changes:
            return
        partners = sorted({data.partner_id for _, data in changes})
        found = await conn.fetch(
            f"""SELECT partner_id, nats, webhook_url FROM {schema}.partner_channels
                 WHERE partner_id = ANY($1::text[])""",
            partners,
        )
        by_partner = {row["partner_id"]: row for row in found}
        notified = [(e, d) for e, d in changes if _channels(by_partner.get(d.partner_id))]
        urls = await _answer_links(conn, config, notified)
        rows: list[DeliveryRow] = []
        for event, data in notified:
            wanted = _channels(by_partner.get(data.partner_id))
            rows.extend(_delivery_rows(config, event, data, wanted, urls.get(event.id, "")))
        await _insert_rows(conn, config, rows)

    return handle_batch


def consumer_spec(config: NotifierConfig) -> ConsumerSpec:
    return ConsumerSpec(
        schema=config.schema,
        stream=config.events_stream,
        durable=CONSUMER,
        filter_subject=f"{config.subject_root}.{short_name(EventType.REFERRAL_STATUS_CHANGED)}",
        handler=enqueue_handler(config),
        batch_handler=enqueue_batch_handler(config),
        batch_size=config.consumer_batch_size,
        max_deliveries=config.consumer_max_deliveries,
        ack_wait_s=config.consumer_ack_wait_s,
    )


# --- 2. delivery loop -----------------------------------------------------------------------


async def ensure_partner_stream(js: JetStreamContext, config: NotifierConfig) -> None:
    """Creates the partner stream, or brings an existing one to this config."""
    stream = StreamConfig(
        name=config.partner_stream,
        subjects=[f"{config.partner_subject_root}.>"],
        storage=StorageType.FILE,
        retention=RetentionPolicy.LIMITS,
        max_age=config.partner_stream_max_age_s,
        duplicate_window=PARTNER_DUPLICATE_WINDOW_S,
    )
    await messaging.ensure_stream(js, messaging.placed(stream, config.streams))


class DeliveryLoop:
    """Delivers pending `partner_deliveries`. Several may run: rows are claimed with
    FOR UPDATE SKIP LOCKED (NATS) or leased (webhooks). Each judges webhook channels
    with its own environment (where the secrets are)."""

    def __init__(
        self,
        pool: Pool,
        js: JetStreamContext,
        config: NotifierConfig,
        *,
        after_publish: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self.pool = pool
        self.js = js
        self.config = config
        # Test seam: runs between the PubAck and the mark (crash simulation).
        self.after_publish = after_publish
        self._session: aiohttp.ClientSession | None = None
        # Webhook channels held by this loop (partner id → reason code), each reported once.
        self._held: dict[str, str] = {}
        self._check_due = True  # at start, on a directory change, every channel_check_s
        self._next_check = 0.0
        self._nats: relay.Pipeline | None = None  # NATS batches in flight, while run() runs
        self._webhooks = True  # the last check found a webhook channel or webhook rows
        self._webhook_notices = 0  # WEBHOOK_ROWS notifications received

    async def run(self, stop: asyncio.Event) -> None:
        await ensure_partner_stream(self.js, self.config)
        self._session = aiohttp.ClientSession()
        loop = relay.BatchRelay(
            self.pool,
            self.config.notify_channel,
            self.deliver_once,
            batch_size=self.config.batch_size,
            idle_poll_s=self.config.idle_poll_s,
            name="partner delivery",
            log=log,
            on_notify=self._on_notify,
        )
        self._nats = relay.Pipeline(self.config.pipeline_depth)
        try:
            await loop.run(stop)
        finally:
            await relay.drain_on_stop(self._nats, "partner delivery", log)
            await self._session.close()

    def _on_notify(self, payload: str) -> None:
        # Rows to deliver (no payload, or WEBHOOK_ROWS) or, from partner_channels' trigger,
        # a directory change.
        if payload == CHANNELS_CHANGED:
            self._check_due = True
        elif payload == WEBHOOK_ROWS:
            self._webhooks = True
            self._webhook_notices += 1

    async def deliver_once(self) -> int:
        """The channels' check when due, then one NATS batch and one webhook batch;
        returns how many rows were handled."""
        if self._check_due or asyncio.get_running_loop().time() >= self._next_check:
            await self.check_channels()
        assert self._nats is not None, "run() makes the pipeline"
        published = await self._nats.run_batch(self._nats_batch)
        # Without any webhook channel or row, the webhook claim (a transaction) is skipped.
        return published + (await self.post_webhook_batch() if self._webhooks else 0)

    # --- misconfigured webhook channels: reported once, held, released when fixed ---------

    def _problem(self, channel: asyncpg.Record) -> str | None:
        env = self.config.env or {}
        return webhooks.configuration_problem(
            channel["webhook_url"], channel["webhook_secret_ref"], channel["partner_id"], env
        )

    async def check_channels(self) -> None:
        """Every webhook channel against this process's configuration: a misconfigured
        one is held (and reported once), a fixed one released, a removed one's rows
        dead-lettered."""
        self._check_due = False  # before reading: a change during the check is seen next time
        self._next_check = asyncio.get_running_loop().time() + self.config.channel_check_s
        schema = self.config.schema
        notices = self._webhook_notices
        async with self.pool.acquire() as conn:
            channels = await conn.fetch(
                f"""SELECT partner_id, webhook_url, webhook_secret_ref
                      FROM {schema}.partner_channels WHERE webhook_url IS NOT NULL"""
            )
            known = await conn.fetch(
                f"""SELECT partner_id FROM {schema}.partner_channel_problems WHERE channel = 'webhook'
                    UNION
                    SELECT partner_id FROM {schema}.partner_deliveries
                     WHERE status = 'held' AND channel = 'webhook'"""
            )
            pending = await conn.fetchval(
                f"""SELECT EXISTS (SELECT 1 FROM {schema}.partner_deliveries
                                    WHERE status = 'pending' AND channel = 'webhook')"""
            )
        # Until the next check or a WEBHOOK_ROWS notification (one during this check
        # included), no webhook row can be due.
        self._webhooks = bool(channels or known or pending) or self._webhook_notices != notices
        configured = {row["partner_id"] for row in channels}
        problems = {row["partner_id"]: r for row in channels if (r := self._problem(row)) is not None}
        for partner_id, reason in sorted(problems.items()):
            await self._hold(partner_id, reason)
        for partner_id in sorted(({row["partner_id"] for row in known} | set(self._held)) - set(problems)):
            if partner_id in configured:
                await self._release(partner_id)
            else:
                await self._drop_removed(partner_id)

    async def _hold(self, partner_id: str, reason: str) -> None:
        """Records the problem (its `since` kept while the reason stays) and holds the
        channel's pending rows: no attempt counted, nothing dead."""
        schema = self.config.schema
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                f"""INSERT INTO {schema}.partner_channel_problems AS p (partner_id, channel, reason)
                    VALUES ($1, 'webhook', $2)
                    ON CONFLICT (partner_id, channel) DO UPDATE
                       SET reason = EXCLUDED.reason, checked_at = now(),
                           since = CASE WHEN p.reason = EXCLUDED.reason THEN p.since ELSE now() END""",
                partner_id,
                reason,
            )
            await conn.execute(
                f"""UPDATE {schema}.partner_deliveries SET status = 'held'
                     WHERE partner_id = $1 AND channel = 'webhook' AND status = 'pending'""",
                partner_id,
            )
            if self._held.get(partner_id) == reason:
                return  # already reported by this process
            held = await conn.fetchval(
                f"""SELECT count(*) FROM {schema}.partner_deliveries
                     WHERE partner_id = $1 AND channel = 'webhook' AND status = 'held'""",
                partner_id,
            )
        self._held[partner_id] = reason
        log.warning(
            "partner webhook misconfigured: its deliveries are held, not retried, until it is fixed",
            extra={"partner_id": partner_id, "code": reason, "count": int(held)},
        )

    async def _release(self, partner_id: str) -> None:
        """The channel works again: its held rows are pending (due now), the problem gone."""
        schema = self.config.schema
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                f"""DELETE FROM {schema}.partner_channel_problems
                     WHERE partner_id = $1 AND channel = 'webhook'""",
                partner_id,
            )
            released = await conn.fetchval(
                f"""WITH released AS (
                        UPDATE {schema}.partner_deliveries SET status = 'pending', next_attempt_at = now()
                         WHERE partner_id = $1 AND channel = 'webhook' AND status = 'held'
                     RETURNING 1)
                    SELECT count(*) FROM released""",
                partner_id,
            )
        if self._held.pop(partner_id, None) is not None or released:
            log.info(
                "partner webhook configuration fixed: its held deliveries are sent",
                extra={"partner_id": partner_id, "count": int(released)},
            )

    async def _drop_removed(self, partner_id: str) -> None:
        """The directory has no webhook for this partner any more: its undelivered rows
        can go nowhere, they are dead at once (kept in the table, not retried)."""
        schema = self.config.schema
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                f"""DELETE FROM {schema}.partner_channel_problems
                     WHERE partner_id = $1 AND channel = 'webhook'""",
                partner_id,
            )
            dropped = await conn.fetchval(
                f"""WITH dropped AS (
                        UPDATE {schema}.partner_deliveries SET status = 'dead', last_error_type = $2
                         WHERE partner_id = $1 AND channel = 'webhook' AND status IN ('pending', 'held')
                     RETURNING 1)
                    SELECT count(*) FROM dropped""",
                partner_id,
                WEBHOOK_REMOVED,
            )
        self._held.pop(partner_id, None)
        if dropped:
            log.warning(
                "partner webhook removed from the directory: its undelivered deliveries are dead-lettered",
                extra={"partner_id": partner_id, "count": int(dropped)},
            )

    async def publish_nats_batch(self) -> int:
        """Publishes up to one batch to the partner stream, committed before it returns."""
        return await relay.run_whole(self._nats_batch)

    async def _nats_batch(self, sent: asyncio.Future[int]) -> None:
        schema = self.config.schema
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                f"""SELECT delivery_id, subject, payload::text AS payload
                      FROM {schema}.partner_deliveries
                     WHERE status = 'pending' AND channel = 'nats' AND next_attempt_at <= now()
                     ORDER BY seq
                     LIMIT $1
                       FOR UPDATE SKIP LOCKED""",
                self.config.batch_size,
            )
            if not rows:
                sent.set_result(0)
                return
            acks = []
            for row in rows:
                message = json.loads(row["payload"])
                headers = {"Nats-Msg-Id": str(row["delivery_id"]), **partner_messages.ce_headers(message)}
                acks.append(
                    await self.js.publish_async(
                        row["subject"], partner_messages.encode(message), headers=headers
                    )
                )
            sent.set_result(len(rows))  # the next batch may be claimed and published now
            await asyncio.wait_for(asyncio.gather(*acks), timeout=self.config.ack_timeout_s)
            if self.after_publish is not None:
                for row in rows:
                    await self.after_publish(str(row["delivery_id"]))
            await conn.execute(
                f"""UPDATE {schema}.partner_deliveries
                       SET status = 'delivered', attempts = attempts + 1, delivered_at = now(),
                           last_error_type = NULL
                     WHERE delivery_id = ANY($1::uuid[])""",
                [row["delivery_id"] for row in rows],
            )

    async def post_webhook_batch(self) -> int:
        schema = self.config.schema
        lease_s = self.config.webhook_timeout_s * 2 + 5
        async with self.pool.acquire() as conn, conn.transaction():
            # Leased, not locked: no transaction stays open during HTTP calls. A crash
            # before the outcome is written retries the row after the lease.
            rows = await conn.fetch(
                f"""WITH due AS (
                        SELECT delivery_id FROM {schema}.partner_deliveries
                         WHERE status = 'pending' AND channel = 'webhook' AND next_attempt_at <= now()
                         ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED),
                    leased AS (
                        UPDATE {schema}.partner_deliveries d
                           SET next_attempt_at = now() + make_interval(secs => $2)
                          FROM due WHERE d.delivery_id = due.delivery_id
                     RETURNING d.delivery_id, d.event_id, d.partner_id, d.attempts, d.payload)
                    SELECT l.delivery_id, l.event_id, l.partner_id, l.attempts, l.payload::text AS payload,
                           c.webhook_url, c.webhook_secret_ref
                      FROM leased l LEFT JOIN {schema}.partner_channels c USING (partner_id)""",
                self.config.batch_size,
                lease_s,
            )
        if not rows:
            return 0
        # A channel that cannot work by configuration is not attempted: held (or, without
        # a webhook any more, dead), each partner handled once for the batch.
        removed = {row["partner_id"] for row in rows if not row["webhook_url"]}
        problems = {
            row["partner_id"]: reason
            for row in rows
            if row["webhook_url"] and (reason := self._problem(row)) is not None
        }
        for partner_id in sorted(removed):
            await self._drop_removed(partner_id)
        for partner_id, reason in sorted(problems.items()):
            await self._hold(partner_id, reason)
        usable = [row for row in rows if row["partner_id"] not in removed | problems.keys()]
        limit = asyncio.Semaphore(self.config.webhook_concurrency)

        async def attempt(row: asyncpg.Record) -> None:
            async with limit:
                error = await self._post(row)
            await self._record_attempt(row, error)

        await asyncio.gather(*(attempt(row) for row in usable))
        return len(rows)

    async def _post(self, row: asyncpg.Record) -> str | None:
        """One POST; returns None on success, else the error's type name."""
        assert self._session is not None, "run() opens the HTTP session"
        try:
            if not row["webhook_url"]:
                raise webhooks.WebhookError("no webhook url for this partner any more")
            secret = webhooks.resolve_secret(
                row["webhook_secret_ref"], row["partner_id"], self.config.env or {}
            )
            message = json.loads(row["payload"])
            await webhooks.post(
                self._session,
                row["webhook_url"],
                partner_messages.encode(message),
                secret=secret,
                delivery_id=str(row["delivery_id"]),
                headers=partner_messages.ce_headers(message),
                timeout_s=self.config.webhook_timeout_s,
            )
        except (webhooks.WebhookError, aiohttp.ClientError, TimeoutError, OSError) as exc:
            return type(exc).__name__
        return None

    async def _record_attempt(self, row: asyncpg.Record, error: str | None) -> None:
        schema = self.config.schema
        attempts = int(row["attempts"]) + 1
        fields: dict[str, Any] = {
            "event_id": str(row["event_id"]),
            "partner_id": row["partner_id"],
            "attempt": attempts,
        }
        async with self.pool.acquire() as conn:
            if error is None:
                await conn.execute(
                    f"""UPDATE {schema}.partner_deliveries
                           SET status = 'delivered', attempts = $2, delivered_at = now(),
                               last_error_type = NULL
                         WHERE delivery_id = $1 AND status = 'pending'""",
                    row["delivery_id"],
                    attempts,
                )
                return
            fields["error_type"] = error
            if attempts >= self.config.max_attempts:
                await conn.execute(
                    f"""UPDATE {schema}.partner_deliveries
                           SET status = 'dead', attempts = $2, last_error_type = $3
                         WHERE delivery_id = $1 AND status = 'pending'""",
                    row["delivery_id"],
                    attempts,
                    error,
                )
                log.error("webhook delivery dead-lettered", extra=fields)
                return
            await conn.execute(
                f"""UPDATE {schema}.partner_deliveries
                       SET attempts = $2, last_error_type = $3,
                           next_attempt_at = now() + make_interval(secs => $4)
                     WHERE delivery_id = $1 AND status = 'pending'""",
                row["delivery_id"],
                attempts,
                error,
                self.config.backoff_s(attempts),
            )
            log.warning("webhook delivery failed, will retry", extra=fields)


# --- wiring for the referral service (kernel runtime) -----------------------------------------


def service_consumer(ctx: ServiceContext) -> ConsumerSpec:
    return consumer_spec(NotifierConfig.from_settings(ctx.settings, SCHEMA))


def service_loops(ctx: ServiceContext) -> list[Callable[[asyncio.Event], Coroutine[Any, Any, None]]]:
    loop = DeliveryLoop(ctx.pool, ctx.js, NotifierConfig.from_settings(ctx.settings, SCHEMA))
    return [loop.run]
