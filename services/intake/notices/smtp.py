"""E-mail to people over SMTP (aiosmtplib), on reused connections.

Each message carries a Message-ID derived from its outbox id (`<message_id@domain>`),
so the rare duplicate (a sender killed after the server's 250 but before the row was
marked sent) is recognisable as the same message. The receipt is the server's reply to
DATA. 5xx replies are permanent failures, everything else (4xx, timeouts, a dropped
connection) is tried again later.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, parseaddr

import aiosmtplib

from services.intake.notices.transport import Outgoing, SendFailed

# A connection unused this long is closed rather than trusted (servers drop idle ones).
IDLE_CLOSE_S = 20.0


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int = 25
    username: str = ""
    password: str = ""
    starttls: bool = False
    mail_from: str = "entraide@localhost"
    timeout_s: float = 30.0
    connections: int = 4

    @classmethod
    def from_env(cls, env: Mapping[str, str], timeout_s: float) -> SmtpConfig | None:
        """None when ENTRAIDE_SMTP_HOST is not set: e-mail is not configured."""
        host = env.get("ENTRAIDE_SMTP_HOST", "")
        if not host:
            return None
        return cls(
            host=host,
            port=int(env.get("ENTRAIDE_SMTP_PORT", "25")),
            username=env.get("ENTRAIDE_SMTP_USERNAME", ""),
            password=env.get("ENTRAIDE_SMTP_PASSWORD", ""),
            starttls=env.get("ENTRAIDE_SMTP_STARTTLS", "0") == "1",
            mail_from=env.get("ENTRAIDE_MAIL_FROM", "") or "entraide@localhost",
            timeout_s=timeout_s,
        )

    @property
    def domain(self) -> str:
        """The sender address's domain (« Entraide <rdv@ccas.fr> » → « ccas.fr »)."""
        address = parseaddr(self.mail_from)[1]
        return address.rpartition("@")[2] if "@" in address else "localhost"


def compose(config: SmtpConfig, message: Outgoing) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = config.mail_from
    mail["To"] = message.recipient
    mail["Subject"] = message.subject
    mail["Date"] = formatdate(localtime=False, usegmt=True)
    mail["Message-ID"] = message_id_header(message.message_id, config.domain)
    mail["Auto-Submitted"] = "auto-generated"
    mail.set_content(message.body, charset="utf-8")
    return mail


def message_id_header(message_id: str, domain: str) -> str:
    return f"<{message_id}@{domain}>"


class SmtpTransport:
    def __init__(self, config: SmtpConfig) -> None:
        self.config = config
        self._idle: list[tuple[aiosmtplib.SMTP, float]] = []
        self._slots = asyncio.Semaphore(config.connections)

    async def _connection(self) -> aiosmtplib.SMTP:
        now = asyncio.get_running_loop().time()
        while self._idle:
            client, used_at = self._idle.pop()
            if client.is_connected and now - used_at < IDLE_CLOSE_S:
                return client
            await _quietly_close(client)
        c = self.config
        client = aiosmtplib.SMTP(
            hostname=c.host,
            port=c.port,
            username=c.username or None,
            password=c.password or None,
            start_tls=c.starttls,
            timeout=c.timeout_s,
        )
        await client.connect()
        return client

    async def send(self, message: Outgoing) -> str:
        async with self._slots:
            client: aiosmtplib.SMTP | None = None
            try:
                client = await self._connection()
                refused, reply = await client.send_message(compose(self.config, message))
            except aiosmtplib.SMTPResponseException as exc:
                if client is not None:
                    await _quietly_close(client)
                raise SendFailed(
                    f"{type(exc).__name__} {exc.code}", permanent=500 <= exc.code < 600
                ) from None
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                if client is not None:
                    await _quietly_close(client)
                raise SendFailed(type(exc).__name__, permanent=False) from None
            if refused:
                await _quietly_close(client)
                code = min(r.code for r in refused.values())
                raise SendFailed(f"SMTPRecipientRefused {code}", permanent=500 <= code < 600)
            self._idle.append((client, asyncio.get_running_loop().time()))
            return reply[:300]

    async def close(self) -> None:
        while self._idle:
            client, _ = self._idle.pop()
            await _quietly_close(client)


async def _quietly_close(client: aiosmtplib.SMTP) -> None:
    try:
        if client.is_connected:
            await asyncio.wait_for(client.quit(), timeout=2)
    except (aiosmtplib.SMTPException, OSError, TimeoutError):
        client.close()
