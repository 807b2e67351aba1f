"""SMS to people through Brevo's transactional SMS API.

POST {ENTRAIDE_SMS_API_URL}/v3/transactionalSMS/send with the `api-key` header and
{"sender", "recipient", "content", "type": "transactional", "tag", "unicodeEnabled"};
201 answers {"reference", "messageId", ...}: the receipt. 5xx, 429, timeouts and
dropped connections are tried again later; any other 4xx fails at once with its code.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from domain import notices
from services.intake.notices.transport import Outgoing, SendFailed

BREVO = "brevo"
SEND_PATH = "/v3/transactionalSMS/send"
MAX_SENDER = 11
# Brevo's tag: the kind of message only (a provider's dashboard sees it).
TAG = "entraide-rdv"


@dataclass(frozen=True)
class SmsConfig:
    api_url: str
    api_key: str
    sender: str = "Entraide"
    timeout_s: float = 30.0

    @classmethod
    def from_env(cls, env: Mapping[str, str], timeout_s: float) -> SmsConfig | None:
        """None unless ENTRAIDE_SMS_PROVIDER is `brevo` with an API key: no SMS."""
        if env.get("ENTRAIDE_SMS_PROVIDER", "") != BREVO or not env.get("ENTRAIDE_SMS_API_KEY"):
            return None
        return cls(
            api_url=env.get("ENTRAIDE_SMS_API_URL", "") or "https://api.brevo.com",
            api_key=env["ENTRAIDE_SMS_API_KEY"],
            sender=(env.get("ENTRAIDE_SMS_SENDER", "") or "Entraide")[:MAX_SENDER],
            timeout_s=timeout_s,
        )


def payload(config: SmsConfig, message: Outgoing) -> dict[str, Any]:
    return {
        "sender": config.sender,
        # Brevo wants the number with its country code and no « + ».
        "recipient": message.recipient.removeprefix("+"),
        "content": message.body,
        "type": "transactional",
        "tag": TAG,
        "unicodeEnabled": not notices.is_gsm(message.body),
    }


class BrevoSmsTransport:
    def __init__(self, config: SmsConfig) -> None:
        self.config = config
        self._session: aiohttp.ClientSession | None = None

    async def send(self, message: Outgoing) -> str:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.config.timeout_s))
        url = self.config.api_url.rstrip("/") + SEND_PATH
        headers = {"api-key": self.config.api_key, "accept": "application/json"}
        try:
            async with self._session.post(url, json=payload(self.config, message), headers=headers) as answer:
                text = await answer.text()
                status = answer.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise SendFailed(type(exc).__name__, permanent=False) from None
        try:
            body: Any = json.loads(text) if text else None
        except ValueError:
            body = None
        if status in (200, 201):
            found = body if isinstance(body, dict) else {}
            receipt = found.get("reference") or found.get("messageId") or ""
            return str(receipt)[:300]
        code = ""
        if isinstance(body, dict) and isinstance(body.get("code"), str):
            code = " " + body["code"][:60]  # Brevo's error slug (« invalid_parameter »), not its message
        raise SendFailed(f"HTTP {status}{code}", permanent=400 <= status < 500 and status != 429)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
