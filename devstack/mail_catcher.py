"""A local SMTP server that keeps every message it receives, for the local stack.

`make up` runs it under supervisord and points the intake's sender at it
(ENTRAIDE_SMTP_HOST/PORT): the confirmations and reminders of appointments land as
files `<dir>/<received at>-<queue id>.eml` (the message as sent, readable with any mail
client), one line per message in `<dir>/received.jsonl` (when, envelope sender and
recipients, file, size). Nothing is relayed anywhere. The reply to DATA carries the
queue id (« 250 Message accepted for delivery, queued as … »), the receipt the sender
records.

    python -m devstack.mail_catcher --port 58025 --dir .state/mail
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import uuid
from datetime import UTC, datetime
from pathlib import Path

from aiosmtpd.smtp import SMTP, Envelope, Session

from kernel.logs import configure_logging, get_logger

log = get_logger("mail_catcher")
INDEX = "received.jsonl"
# A message larger than this is refused (552): the stack's messages are a few kilobytes.
MAX_MESSAGE_BYTES = 10 * 1024 * 1024


class Catcher:
    """aiosmtpd's handler: each message to a file, atomically (a reader never sees half)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        received = datetime.now(UTC)
        queue_id = uuid.uuid4().hex[:16]
        content = envelope.original_content or b""
        name = f"{received.strftime('%Y%m%dT%H%M%S.%fZ')}-{queue_id}.eml"
        partial = self.directory / f".{name}.part"
        partial.write_bytes(content)
        partial.replace(self.directory / name)
        entry = {
            "received_at": received.isoformat(),
            "queue_id": queue_id,
            "file": name,
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "bytes": len(content),
        }
        with (self.directory / INDEX).open("a", encoding="utf-8") as index:
            index.write(json.dumps(entry, ensure_ascii=False) + "\n")
        # No address in the log: the index file holds them, beside the messages.
        log.info("message caught", extra={"count": len(envelope.rcpt_tos)})
        return f"250 Message accepted for delivery, queued as {queue_id}"


def caught(directory: Path) -> list[dict[str, object]]:
    """The index of the messages caught so far, oldest first."""
    path = directory / INDEX
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


async def serve(host: str, port: int, directory: Path) -> None:
    """Until SIGTERM or SIGINT."""
    loop = asyncio.get_running_loop()
    handler = Catcher(directory)
    server = await loop.create_server(
        lambda: SMTP(handler, data_size_limit=MAX_MESSAGE_BYTES, hostname="mail-catcher.local"),
        host=host,
        port=port,
    )
    log.info("mail catcher listening", extra={"address": host, "port": port})
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        server.close()
        await server.wait_closed()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A local SMTP server keeping each message as a file.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", type=Path, required=True, help="where the messages are kept")
    args = parser.parse_args(argv)
    configure_logging("mail_catcher", os.environ.get("ENTRAIDE_LOG_LEVEL", "INFO"))
    # aiosmtpd logs each command with its arguments (the addresses): warnings only.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    asyncio.run(serve(args.host, args.port, args.dir))


if __name__ == "__main__":
    main()
