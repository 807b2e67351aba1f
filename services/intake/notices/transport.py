"""What the sender needs of a transport (SMTP, Brevo SMS), and how a send fails."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class SendFailed(Exception):
    """A send that did not go through. `code` is what the outbox row keeps: the error's
    kind and the server's status code only (never the recipient, never the text).
    `permanent`: trying again cannot help (a refused address, a request the provider
    rejects): the message fails at once."""

    def __init__(self, code: str, *, permanent: bool) -> None:
        super().__init__(code)
        self.code = code[:200]
        self.permanent = permanent


@dataclass(frozen=True)
class Outgoing:
    message_id: str
    kind: str
    recipient: str
    subject: str
    body: str


class Transport(Protocol):
    async def send(self, message: Outgoing) -> str:
        """Sends; returns the provider's receipt, or raises SendFailed."""
        ...

    async def close(self) -> None: ...
