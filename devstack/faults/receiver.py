"""The webhook partner's receiver, written from docs/partners/README.md alone: it checks the
`Entraide-Signature` (HMAC-SHA256 of "<t>.<raw body>", 5 minutes of tolerance, constant-time
comparison), refuses a bad one with 401, answers 2xx to every good delivery (a duplicate
too) and counts deliveries by `Entraide-Delivery-Id` and by (referral, status)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

SIGNATURE_HEADER = "Entraide-Signature"
DELIVERY_HEADER = "Entraide-Delivery-Id"
TOLERANCE_S = 300


def signature_ok(secret: bytes, header: str, body: bytes, now: float) -> bool:
    parts = dict(item.strip().split("=", 1) for item in header.split(",") if "=" in item)
    try:
        t = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - t) > TOLERANCE_S:
        return False
    expected = hmac.new(secret, f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    candidates = [v.split("=", 1)[1] for v in header.split(",") if v.strip().startswith("v1=")]
    return any(hmac.compare_digest(expected, c.strip()) for c in candidates)


@dataclass
class Received:
    """What the receiver saw: every POST, the distinct deliveries and their messages."""

    posts: int = 0
    bad_signatures: int = 0
    # delivery id -> times received (more than once: an at-least-once retry, answered 2xx)
    deliveries: Counter[str] = field(default_factory=Counter)
    # (referral id, status) -> the delivery ids that carried it (one is right)
    by_change: defaultdict[tuple[str, str], set[str]] = field(default_factory=lambda: defaultdict(set))
    # delivery id -> time it was first received (seconds since the run started)
    first_at: dict[str, float] = field(default_factory=dict)

    @property
    def duplicates(self) -> int:
        return sum(n - 1 for n in self.deliveries.values())


class Receiver:
    def __init__(self, port: int, path: str, secret: str, clock_now: Callable[[], float]) -> None:
        self.port = port
        self.path = path
        self.secret = secret.encode()
        self.received = Received()
        self._now = clock_now
        self._runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.received.posts += 1
        if not signature_ok(self.secret, request.headers.get(SIGNATURE_HEADER, ""), body, time.time()):
            self.received.bad_signatures += 1
            return web.Response(status=401)
        delivery_id = request.headers.get(DELIVERY_HEADER, "")
        message = json.loads(body)
        data = message.get("data") or {}
        self.received.deliveries[delivery_id] += 1
        self.received.by_change[(str(data.get("referral_id")), str(data.get("status")))].add(delivery_id)
        self.received.first_at.setdefault(delivery_id, self._now())
        return web.Response(status=204)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post(self.path, self.handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        """Down: the port closed and the open connections dropped."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
