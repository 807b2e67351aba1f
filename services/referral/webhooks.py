"""Signed webhook deliveries: `Entraide-Signature: t=<unix>,v1=<hex HMAC-SHA256("<t>.<body>")>`.

The secret is the partner's, read from the environment variable its channel names
(`webhook_secret_ref`, e.g. ENTRAIDE_WEBHOOK_SECRET_CAF_MEUSE): never stored in the
database. Receivers verify the signature over the exact body bytes, refuse a timestamp
outside their tolerance (replay protection) and de-duplicate by `Entraide-Delivery-Id`.

A channel that cannot work whatever the receiver does (its secret is not in the
environment, its URL has no host…) is a configuration problem, named by a stable
reason code (`configuration_problem`): the notifier reports it once and holds its
deliveries instead of retrying them.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

import aiohttp
from yarl import URL

SIGNATURE_HEADER = "Entraide-Signature"
DELIVERY_HEADER = "Entraide-Delivery-Id"
DEFAULT_TOLERANCE_S = 300
SECRET_PREFIX = "ENTRAIDE_WEBHOOK_SECRET_"

# Reason codes of a misconfigured webhook channel (logs, referral.partner_channel_problems,
# the ops view): stable, codes only.
MISSING_WEBHOOK_SECRET = "MISSING_WEBHOOK_SECRET"  # the variable it names is not set
INVALID_WEBHOOK_SECRET_REF = "INVALID_WEBHOOK_SECRET_REF"  # names no ENTRAIDE_WEBHOOK_SECRET_* variable
INVALID_WEBHOOK_URL = "INVALID_WEBHOOK_URL"  # not http(s), no host, bad port, spaces


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
    return SECRET_PREFIX + partner_id.upper().replace("-", "_")


def usable_url(url: str | None) -> bool:
    """An absolute http(s) URL with a host (and a valid port) that aiohttp can POST to."""
    if not url or any(c.isspace() or not c.isprintable() for c in url):
        return False
    try:
        parsed = URL(url)
    except ValueError:
        return False
    return parsed.scheme in ("http", "https") and bool(parsed.host) and bool(parsed.port)


def configuration_problem(
    url: str | None, ref: str | None, partner_id: str, env: Mapping[str, str]
) -> str | None:
    """Why this webhook channel cannot deliver whatever its receiver does (a reason
    code), or None when it is usable. A receiver that is down is not a configuration
    problem: that is for retries."""
    if not usable_url(url):
        return INVALID_WEBHOOK_URL
    name = ref or secret_env_name(partner_id)
    if not name.startswith(SECRET_PREFIX):
        return INVALID_WEBHOOK_SECRET_REF
    if not env.get(name):
        return MISSING_WEBHOOK_SECRET
    return None


def resolve_secret(ref: str | None, partner_id: str, env: Mapping[str, str]) -> bytes:
    name = ref or secret_env_name(partner_id)
    if not name.startswith(SECRET_PREFIX):
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
