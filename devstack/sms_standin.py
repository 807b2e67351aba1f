"""A stand-in for Brevo's transactional SMS API, for the local stack and the tests.

`POST /v3/transactionalSMS/send` checks the `api-key` header and the JSON fields as
Brevo does (sender, recipient, content, type, tag, unicodeEnabled) and answers 201
{"reference", "messageId", "smsCount", "usedCredits", "remainingCredits"}; 401 for a
wrong key, 400 {"code": "invalid_parameter"} for a bad field. Each SMS accepted is
recorded in memory and, with a directory, appended to `<dir>/sms.jsonl` (the console's
page of what was sent reads it).

Failures can be scripted: `script([500, 500, 201])` (or `POST /standin/script`
{"answers": [500, 500, 201]}) answers the next requests with those codes, in order,
then normally again. `GET /standin/messages` lists what was accepted.

    python -m devstack.sms_standin --port 8025 --dir .state/sms [--api-key KEY]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import re
import threading
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from domain import notices

SEND_PATH = "/v3/transactionalSMS/send"
DEFAULT_KEY = "standin-key"
_SENDER = re.compile(r"^(?:[A-Za-z0-9 ]{1,11}|[0-9]{1,15})$")
_RECIPIENT = re.compile(r"^[0-9]{8,15}$")
_MAX_CONTENT = 1600


def _problem(body: Any) -> str | None:
    """Why Brevo would refuse this body (None: it would not)."""
    if not isinstance(body, dict):
        return "the body is not a JSON object"
    sender, recipient, content = body.get("sender"), body.get("recipient"), body.get("content")
    if not isinstance(sender, str) or not _SENDER.match(sender):
        return "sender is 1 to 11 alphanumeric characters or up to 15 digits"
    if not isinstance(recipient, str) or not _RECIPIENT.match(recipient):
        return "recipient is a mobile number with its country code, digits only"
    if not isinstance(content, str) or not content or len(content) > _MAX_CONTENT:
        return "content is a non-empty text"
    if body.get("type", "transactional") not in ("transactional", "marketing"):
        return "type is transactional or marketing"
    if "tag" in body and not isinstance(body["tag"], str):
        return "tag is a text"
    if "unicodeEnabled" in body and not isinstance(body["unicodeEnabled"], bool):
        return "unicodeEnabled is a boolean"
    return None


def _count(content: str, unicode: bool) -> int:
    if not unicode and notices.is_gsm(content):
        return notices.sms_segments(content)
    return 1 if len(content) <= 70 else math.ceil(len(content) / 67)


class SmsStandin:
    def __init__(self, api_key: str = DEFAULT_KEY, directory: Path | None = None) -> None:
        self.api_key = api_key
        self.directory = directory
        self.messages: list[dict[str, Any]] = []  # accepted
        self.requests = 0  # every send request, accepted or not
        self._answers: list[int] = []
        self._lock = threading.Lock()
        self._next_id = 1

    def script(self, answers: Iterable[int]) -> None:
        """The next requests get these status codes, in order (201: accepted)."""
        with self._lock:
            self._answers = list(answers)

    def accepted_for(self, recipient: str) -> list[dict[str, Any]]:
        with self._lock:
            return [m for m in self.messages if m["recipient"] == recipient]

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post(SEND_PATH, self._send)
        app.router.add_get("/standin/messages", self._list)
        app.router.add_post("/standin/script", self._script)
        return app

    async def _send(self, request: web.Request) -> web.Response:
        with self._lock:
            self.requests += 1
            scripted = self._answers.pop(0) if self._answers else None
        if request.headers.get("api-key") != self.api_key:
            return web.json_response({"code": "unauthorized", "message": "Key not found"}, status=401)
        try:
            body = await request.json()
        except ValueError:
            body = None
        problem = _problem(body)
        if problem is not None:
            return web.json_response({"code": "invalid_parameter", "message": problem}, status=400)
        if scripted is not None and scripted not in (200, 201):
            return web.json_response({"code": "scripted_failure", "message": "scripted"}, status=scripted)
        count = _count(body["content"], bool(body.get("unicodeEnabled", False)))
        with self._lock:
            message_id = self._next_id
            self._next_id += 1
            record = {
                "reference": uuid.uuid4().hex,
                "messageId": message_id,
                "received_at": datetime.now(UTC).isoformat(),
                "sender": body["sender"],
                "recipient": body["recipient"],
                "content": body["content"],
                "type": body.get("type", "transactional"),
                "tag": body.get("tag", ""),
                "unicodeEnabled": bool(body.get("unicodeEnabled", False)),
                "smsCount": count,
            }
            self.messages.append(record)
            if self.directory is not None:
                self.directory.mkdir(parents=True, exist_ok=True)
                with (self.directory / "sms.jsonl").open("a", encoding="utf-8") as out:
                    out.write(json.dumps(record, ensure_ascii=False) + "\n")
        answer = {
            "reference": record["reference"],
            "messageId": message_id,
            "smsCount": count,
            "usedCredits": float(count),
            "remainingCredits": 1000.0 - message_id,
        }
        return web.json_response(answer, status=scripted or 201)

    async def _list(self, request: web.Request) -> web.Response:
        with self._lock:
            return web.json_response({"messages": list(self.messages), "requests": self.requests})

    async def _script(self, request: web.Request) -> web.Response:
        body = await request.json()
        answers = body.get("answers") if isinstance(body, dict) else None
        if not isinstance(answers, list) or not all(isinstance(a, int) for a in answers):
            return web.json_response({"code": "invalid_parameter", "message": "answers: [int]"}, status=400)
        self.script(answers)
        return web.json_response({"answers": answers})


class ThreadedStandin:
    """The stand-in on its own event loop in a thread (a test's session fixture)."""

    def __init__(self, standin: SmsStandin, port: int, host: str = "127.0.0.1") -> None:
        self.standin, self.port, self.host = standin, port, host
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="sms-standin", daemon=True)
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)

    async def _start(self) -> None:
        self._runner = web.AppRunner(self.standin.app(), access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A stand-in for Brevo's transactional SMS API.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", type=Path, default=None, help="append accepted SMS to DIR/sms.jsonl")
    parser.add_argument("--api-key", default=os.environ.get("ENTRAIDE_SMS_API_KEY", DEFAULT_KEY))
    args = parser.parse_args(argv)
    standin = SmsStandin(args.api_key, args.dir)
    with contextlib.suppress(KeyboardInterrupt):
        web.run_app(standin.app(), host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
