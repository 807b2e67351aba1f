"""Signed webhook deliveries: `Entraide-Signature: t=<unix>,v1=<hex HMAC-SHA256("<t>.<body>")>`.

The secret is the partner's, read from the environment variable its channel names
(`webhook_secret_ref`, e.g. ENTRAIDE_WEBHOOK_SECRET_CAF_MEUSE): never stored in the
database. Receivers verify the signature over the exact body bytes, refuse a timestamp
outside their tolerance (replay protection) and de-duplicate by `Entraide-Delivery-Id`.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

import aiohttp

SIGNATURE_HEADER = "Entraide-Signature"
DELIVERY_HEADER = "Entraide-Delivery-Id"
DEFAULT_TOLERANCE_S = 300


class WebhookError(Exception):
    """A delivery attempt that did not get a 2xx (the type name is logged, never a body)."""


class WebhookRejected(WebhookError):
    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


class MissingWebhookSecret(WebhookError):
    pass


def secret_env_name(partner_id: str) -> str:
    """The conventional variable name for a partner's secret."""
    return "ENTRAIDE_WEBHOOK_SECRET_" + partner_id.upper().replace("-", "_")


def resolve_secret(ref: str | None, partner_id: str, env: Mapping[str, str]) -> bytes:
    name = ref or secret_env_name(partner_id)
    if not name.startswith("ENTRAIDE_WEBHOOK_SECRET_"):
        # A reference can only name a webhook secret, not any variable of the process.
        raise MissingWebhookSecret("webhook_secret_ref must name an ENTRAIDE_WEBHOOK_SECRET_* variable")
    value = env.get(name)
    if not value:
        raise MissingWebhookSecret(name)
    return value.encode()


def sign(secret: bytes, body: bytes, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret, f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify(
    secret: bytes,
    header: str,
    body: bytes,
    *,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> bool:
    """True when one v1 signature matches and the timestamp is within the tolerance."""
    try:
        parts = [item.split("=", 1) for item in header.split(",")]
        t = int(next(v for k, v in parts if k.strip() == "t"))
        candidates = [v for k, v in parts if k.strip() == "v1"]
    except (ValueError, StopIteration):
        return False
    current = time.time() if now is None else now
    if abs(current - t) > tolerance_s:
        return False
    expected = hmac.new(secret, f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, c) for c in candidates)


async def post(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    *,
    secret: bytes,
    delivery_id: str,
    headers: Mapping[str, str],
    timeout_s: float,
) -> None:
    """One attempt; raises WebhookError (or a network error) unless the answer is 2xx."""
    all_headers = {
        **headers,
        SIGNATURE_HEADER: sign(secret, body),
        DELIVERY_HEADER: delivery_id,
        "User-Agent": "entraide-notifier/1",
    }
    async with session.post(
        url,
        data=body,
        headers=all_headers,
        timeout=aiohttp.ClientTimeout(total=timeout_s),
        allow_redirects=False,
    ) as response:
        await response.read()
        if not 200 <= response.status < 300:
            raise WebhookRejected(response.status)
