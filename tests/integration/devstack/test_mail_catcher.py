"""The local mail catcher (devstack.mail_catcher) on a real socket: a message sent with
aiosmtplib is kept as a file, indexed, and the reply carries its queue id; the process
stops on SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
import time
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib

from devstack import mail_catcher
from devstack.ports import free_port


def message(to: str, body: str) -> EmailMessage:
    sent = EmailMessage()
    sent["From"], sent["To"], sent["Subject"] = "rendez-vous@entraide.localhost", to, "Votre rendez-vous"
    sent.set_content(body)
    return sent


def partial_files(directory: Path) -> list[Path]:
    return list(directory.glob(".*.part"))


async def test_each_message_is_kept_as_a_file_and_indexed(tmp_path: Path) -> None:
    port = free_port()
    server = asyncio.create_task(mail_catcher.serve("127.0.0.1", port, tmp_path))
    try:
        for _ in range(100):
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                break
            await asyncio.sleep(0.05)
        errors, reply = await aiosmtplib.send(
            message("camille@example.org", "Rendez-vous mardi 8 décembre à 9 h 30."),
            hostname="127.0.0.1",
            port=port,
            timeout=10,
        )
        assert not errors
        queue_id = reply.rsplit(" ", 1)[-1]
        assert reply.startswith("Message accepted for delivery, queued as ")
        [entry] = mail_catcher.caught(tmp_path)
        assert entry["queue_id"] == queue_id and entry["rcpt_tos"] == ["camille@example.org"]
        kept = tmp_path / str(entry["file"])
        assert kept.suffix == ".eml" and "9 h 30" in kept.read_bytes().decode("utf-8", "replace")
        assert not partial_files(tmp_path)  # written then renamed: never seen half written
        await aiosmtplib.send(message("dominique@example.org", "Rappel."), hostname="127.0.0.1", port=port)
        assert [e["rcpt_tos"] for e in mail_catcher.caught(tmp_path)] == [
            ["camille@example.org"],
            ["dominique@example.org"],
        ]
    finally:
        server.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await server


def test_the_process_listens_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "devstack.mail_catcher",
        "--port",
        str(port),
        "--dir",
        str(tmp_path / "mail"),
    ]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                errors, _ = asyncio.run(
                    aiosmtplib.send(
                        message("x@example.org", "Essai."), hostname="127.0.0.1", port=port, timeout=5
                    )
                )
                break
            except (OSError, aiosmtplib.SMTPException):
                assert time.monotonic() < deadline, "the mail catcher did not listen"
                time.sleep(0.1)
        assert not errors and len(mail_catcher.caught(tmp_path / "mail")) == 1
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        assert process.stderr is not None
        log = process.stderr.read().decode()
        assert "x@example.org" not in log  # no address in the log
    finally:
        if process.poll() is None:
            process.kill()
