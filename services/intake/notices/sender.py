"""The sender: drains the persons' outbox (`intake.person_messages`) over SMTP and SMS.

A kernel.relay loop woken on `intake_person_messages` (the queue activity notifies at
commit) or every `idle_poll_s`. Each batch:
1. claims due rows in a short transaction (`FOR UPDATE SKIP LOCKED`): status `sending`,
   `claimed_until` = now + lease, `attempts` + 1. Due: pending whose `next_attempt_at`
   has come, or sending whose claim expired (a sender killed mid-send);
2. sends outside any transaction (a send never outlives its lease: the transports'
   timeout is a third of it);
3. records the outcome if the claim is still its own (same attempt): `sent` with the
   provider's receipt; or the error's code (no personal data) with `pending` again and
   `next_attempt_at` = now + backoff (doubling); or `failed` after `max_attempts` or at
   once for a permanent refusal — a task for the agent (ListTasks).

A retried send after a kill mid-send is the one duplicate left possible (the provider
accepted, the row was not yet marked): e-mails then carry the same Message-ID.
A channel not configured (no ENTRAIDE_SMTP_HOST, no ENTRAIDE_SMS_PROVIDER) holds its
messages pending, said once in the log, until a sender that has it runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg

from domain.planning import ContactChannel
from kernel import reference, relay
from kernel.db import Pool, system_scope
from kernel.logs import get_logger
from kernel.runtime import ServiceContext
from kernel.settings import Settings
from services.intake.notices.queue import CHANNEL
from services.intake.notices.sms import BrevoSmsTransport, SmsConfig
from services.intake.notices.smtp import SmtpConfig, SmtpTransport
from services.intake.notices.transport import Outgoing, SendFailed, Transport
from services.intake.schema import SCHEMA

log = get_logger("person-sender")


@dataclass(frozen=True)
class SenderConfig:
    territories: tuple[str, ...]
    max_attempts: int = 6
    backoff_s: float = 30.0
    backoff_cap_s: float = 6 * 3600.0
    lease_s: float = 90.0
    batch_size: int = 50
    idle_poll_s: float = 1.0
    concurrency: int = 8
    smtp: SmtpConfig | None = None
    sms: SmsConfig | None = None

    @classmethod
    def from_settings(cls, settings: Settings, territories: tuple[str, ...]) -> SenderConfig:
        env: Mapping[str, str] = settings.env
        lease_s = settings.seconds("message_lease", 90.0)
        send_timeout_s = lease_s / 3
        return cls(
            territories=territories,
            max_attempts=int(env.get("ENTRAIDE_MESSAGE_MAX_ATTEMPTS", "6")),
            backoff_s=settings.seconds("message_backoff", 30.0),
            lease_s=lease_s,
            smtp=SmtpConfig.from_env(env, send_timeout_s),
            sms=SmsConfig.from_env(env, send_timeout_s),
        )

    def backoff(self, attempts: int) -> float:
        """Seconds before the next attempt after `attempts` failed ones (doubling)."""
        return float(min(self.backoff_s * 2 ** max(attempts - 1, 0), self.backoff_cap_s))


class Sender:
    def __init__(self, pool: Pool, config: SenderConfig, transports: Mapping[str, Transport]) -> None:
        self.pool = pool
        self.config = config
        self.transports = dict(transports)
        self._limit = asyncio.Semaphore(config.concurrency)

    @classmethod
    def from_config(cls, pool: Pool, config: SenderConfig) -> Sender:
        transports: dict[str, Transport] = {}
        if config.smtp is not None:
            transports[ContactChannel.EMAIL] = SmtpTransport(config.smtp)
        if config.sms is not None:
            transports[ContactChannel.SMS] = BrevoSmsTransport(config.sms)
        return cls(pool, config, transports)

    async def run(self, stop: asyncio.Event) -> None:
        for channel in ContactChannel:
            if channel not in self.transports:
                log.warning(
                    "person messages: channel not configured, its messages are held",
                    extra={"reason": f"{channel.value.upper()}_NOT_CONFIGURED"},
                )
        loop = relay.BatchRelay(
            self.pool,
            CHANNEL,
            self.send_batch,
            batch_size=self.config.batch_size,
            idle_poll_s=self.config.idle_poll_s,
            name="person messages",
            log=log,
        )
        try:
            await loop.run(stop)
        finally:
            for transport in self.transports.values():
                await transport.close()

    async def send_batch(self) -> int:
        rows = await self.claim()
        if rows:
            await asyncio.gather(*(self._attempt(row) for row in rows))
        return len(rows)

    async def claim(self) -> list[asyncpg.Record]:
        if not self.transports:
            return []
        async with system_scope(self.pool, self.config.territories) as conn, conn.transaction():
            return await conn.fetch(
                f"""WITH due AS (
                        SELECT message_id FROM {SCHEMA}.person_messages
                         WHERE channel = ANY($1::text[])
                           AND ((status = 'pending' AND next_attempt_at <= now())
                                OR (status = 'sending' AND claimed_until < now()))
                         ORDER BY next_attempt_at
                         LIMIT $2
                           FOR UPDATE SKIP LOCKED)
                    UPDATE {SCHEMA}.person_messages m
                       SET status = 'sending', attempts = m.attempts + 1,
                           claimed_until = now() + make_interval(secs => $3)
                      FROM due WHERE m.message_id = due.message_id
                 RETURNING m.message_id, m.territory, m.kind, m.channel, m.recipient, m.subject, m.body,
                           m.attempts""",
                sorted(self.transports),
                self.config.batch_size,
                self.config.lease_s,
            )

    async def _attempt(self, row: asyncpg.Record) -> None:
        message = Outgoing(str(row["message_id"]), row["kind"], row["recipient"], row["subject"], row["body"])
        async with self._limit:
            try:
                receipt = await self.transports[row["channel"]].send(message)
            except SendFailed as exc:
                await self._failed(row, exc)
                return
        await self._record(
            row,
            f"""UPDATE {SCHEMA}.person_messages
                   SET status = 'sent', receipt = $3, sent_at = now(), claimed_until = NULL, last_error = ''
                 WHERE message_id = $1 AND status = 'sending' AND attempts = $2""",
            receipt,
        )

    async def _failed(self, row: asyncpg.Record, exc: SendFailed) -> None:
        attempts = int(row["attempts"])
        extra: dict[str, Any] = {"attempt": attempts, "error_type": exc.code.split(" ")[0]}
        if exc.permanent or attempts >= self.config.max_attempts:
            await self._record(
                row,
                # next_attempt_at, unused once failed, keeps when (the agent's task's time).
                f"""UPDATE {SCHEMA}.person_messages
                       SET status = 'failed', last_error = $3, claimed_until = NULL, next_attempt_at = now()
                     WHERE message_id = $1 AND status = 'sending' AND attempts = $2""",
                exc.code,
            )
            log.error("person message failed: a task for the agent", extra=extra)
            return
        await self._record(
            row,
            f"""UPDATE {SCHEMA}.person_messages
                   SET status = 'pending', last_error = $3, claimed_until = NULL,
                       next_attempt_at = now() + make_interval(secs => $4)
                 WHERE message_id = $1 AND status = 'sending' AND attempts = $2""",
            exc.code,
            self.config.backoff(attempts),
        )
        log.warning("person message not sent, will retry", extra=extra)

    async def _record(self, row: asyncpg.Record, sql: str, *args: object) -> None:
        # The claim is ours while status and attempts are those we set: a sender that
        # took the row over after our lease expired owns the outcome.
        async with system_scope(self.pool, [row["territory"]]) as conn:
            await conn.execute(sql, row["message_id"], row["attempts"], *args)


def service_loops(ctx: ServiceContext) -> list[Callable[[asyncio.Event], Coroutine[Any, Any, None]]]:
    territories = tuple(reference.load(ctx.settings.env).territories)
    sender = Sender.from_config(ctx.pool, SenderConfig.from_settings(ctx.settings, territories))
    return [sender.run]
