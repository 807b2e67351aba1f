"""A real SMTP server for the tests (aiosmtpd, in a thread), recording what it accepts,
with a way to stall a message: `stall_next(subject_prefix)` holds the DATA command of
the next message whose Subject starts so (the server has not accepted it) until
`release()`, which answers it 451 without recording it — what a server does with a
message whose client died before the end of the transaction."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


@dataclass
class Received:
    recipients: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])


class SinkHandler:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.stalled = threading.Event()
        self._stall_prefix: str | None = None
        self._released = threading.Event()
        self._lock = threading.Lock()

    def stall_next(self, subject_prefix: str) -> None:
        with self._lock:
            self._stall_prefix = subject_prefix
            self.stalled.clear()
            self._released.clear()

    def release(self) -> None:
        self._released.set()

    def to(self, recipient: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if recipient in r.recipients]

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self._lock:
            prefix = self._stall_prefix
            stall = prefix is not None and str(message["Subject"]).startswith(prefix)
            if stall:
                self._stall_prefix = None
        if stall:
            self.stalled.set()
            # Waited in a thread: the server's loop keeps serving other sessions meanwhile.
            await asyncio.to_thread(self._released.wait)
            return "451 4.3.0 Try again later"
        with self._lock:
            self.received.append(Received(list(envelope.rcpt_tos), message))
        return "250 2.0.0 Ok: queued"


class SmtpSink:
    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.handler = SinkHandler()
        self.controller = Controller(self.handler, hostname=host, port=port)

    def __enter__(self) -> SinkHandler:
        self.controller.start()
        return self.handler

    def __exit__(self, *exc: object) -> None:
        self.handler.release()
        self.controller.stop()
