"""The Brevo SMS stand-in as `make up` runs it (`python -m devstack.sms_standin`): Brevo's
answers to a good request, a wrong key and bad fields, the scripted failures over HTTP,
and the JSON-lines record of what it accepted."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.paths import REPO

KEY = "a-test-key"
GOOD = {
    "sender": "Entraide",
    "recipient": "33612345678",
    "content": "RDV confirmé le mardi 27 octobre 2026 à 10 h 00.",
    "type": "transactional",
    "tag": "entraide-rdv",
    "unicodeEnabled": False,
}


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "devstack.sms_standin",
            "--port",
            str(port),
            "--dir",
            str(tmp_path),
            "--api-key",
            KEY,
        ],
        cwd=REPO,
    )
    try:
        for _ in range(100):
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if process.poll() is not None:
                raise RuntimeError("the stand-in exited")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}", tmp_path
    finally:
        process.terminate()
        process.wait(timeout=10)


async def test_answers_as_brevo_and_records_what_it_accepted(standin: tuple[str, Path]) -> None:
    url, directory = standin
    send = f"{url}/v3/transactionalSMS/send"
    async with aiohttp.ClientSession() as http:
        async with http.post(send, json=GOOD, headers={"api-key": KEY}) as answer:
            assert answer.status == 201
            body = await answer.json()
        assert set(body) == {"reference", "messageId", "smsCount", "usedCredits", "remainingCredits"}
        assert body["smsCount"] == 1
        async with http.post(send, json=GOOD, headers={"api-key": "wrong"}) as answer:
            assert (answer.status, (await answer.json())["code"]) == (401, "unauthorized")
        for bad in ({"recipient": "+33 6 12"}, {"sender": "A sender far too long"}, {"content": ""}):
            async with http.post(send, json=GOOD | bad, headers={"api-key": KEY}) as answer:
                assert (answer.status, (await answer.json())["code"]) == (400, "invalid_parameter")
        async with http.post(f"{url}/standin/script", json={"answers": [500, 201]}) as answer:
            assert answer.status == 200
        statuses = []
        for _ in range(3):
            async with http.post(send, json=GOOD, headers={"api-key": KEY}) as answer:
                statuses.append(answer.status)
        assert statuses == [500, 201, 201]
        async with http.get(f"{url}/standin/messages") as answer:
            listed = await answer.json()
    assert len(listed["messages"]) == 3 and listed["requests"] == 8
    lines = [json.loads(line) for line in (directory / "sms.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [line["reference"] for line in lines] == [m["reference"] for m in listed["messages"]]
    assert lines[0]["content"] == GOOD["content"] and lines[0]["recipient"] == "33612345678"
