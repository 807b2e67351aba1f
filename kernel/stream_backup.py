"""A logical backup of a JetStream stream: its configuration, then every message (subject,
headers, data) in stream order, one JSON line each; restored into an empty server by
creating the stream and publishing every message again with its headers, Nats-Msg-Id
included (a restore run twice within the duplicate window stores nothing twice).

    NATS_URL=… python -m kernel.stream_backup export --stream ENTRAIDE_EVENTS --file events.jsonl
    NATS_URL=… python -m kernel.stream_backup import --file events.jsonl [--replicas 3]

What it does not keep: sequence numbers and publish times (the restored stream numbers its
messages from 1, in the same order) and consumers (services recreate their durables; their
inboxes, restored with PostgreSQL, skip what they already applied). Events carry their own
time (`ce-time`), which is what projections read.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
from pathlib import Path
from typing import Any

from nats.js import JetStreamContext
from nats.js.api import StreamConfig
from nats.js.errors import NotFoundError

from kernel import messaging
from kernel.logs import configure_logging, get_logger
from kernel.settings import StreamLayout

log = get_logger("stream-backup")
# PubAcks outstanding at most while restoring.
IN_FLIGHT = 256


async def export(js: JetStreamContext, stream: str, path: Path) -> int:
    """Writes `stream` to `path`; how many messages."""
    info = await js.stream_info(stream)
    count = 0
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", encoding="utf-8") as out:
        out.write(json.dumps({"config": info.config.as_dict()}) + "\n")
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            try:
                message = await js.get_msg(stream, seq)
            except NotFoundError:
                continue  # deleted (interior gap)
            line = {
                "subject": message.subject,
                "headers": dict(message.headers or {}),
                "data": base64.b64encode(message.data or b"").decode(),
            }
            out.write(json.dumps(line) + "\n")
            count += 1
    tmp.replace(path)  # a cut export never passes for a whole one
    log.info("stream exported", extra={"component": stream, "count": count})
    return count


async def restore(js: JetStreamContext, path: Path, layout: StreamLayout | None = None) -> int:
    """Creates the stream of `path` (refused if it already holds messages) and publishes its
    messages in order; how many. `layout`: other replicas or placement than the backup's."""
    with path.open(encoding="utf-8") as lines:
        config = StreamConfig.from_response(json.loads(next(lines))["config"])
        assert config.name is not None, "a backup names its stream"
        try:
            existing = await js.stream_info(config.name)
        except NotFoundError:
            existing = None
        if existing is not None and existing.state.messages:
            raise RuntimeError(f"stream {config.name} already holds messages: restore into an empty server")
        if layout is not None:
            config = messaging.placed(config, layout)
        await messaging.ensure_stream(js, config)
        acks: list[asyncio.Future[Any]] = []
        for raw in lines:
            message = json.loads(raw)
            data = base64.b64decode(message["data"])
            acks.append(await js.publish_async(message["subject"], data, headers=message["headers"] or None))
        await asyncio.wait_for(js.publish_async_completed(), timeout=60.0)
    failed = [ack.exception() for ack in acks if ack.exception() is not None]
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(acks)} messages not stored: {failed[0]!r}")
    log.info("stream restored", extra={"component": config.name, "count": len(acks)})
    return len(acks)


async def _main(args: argparse.Namespace) -> None:
    url = os.environ.get("NATS_URL", "nats://127.0.0.1:4222")
    nc = await messaging.connect(url, "stream-backup")
    try:
        js = nc.jetstream(publish_async_max_pending=IN_FLIGHT)
        if args.command == "export":
            count = await export(js, args.stream, Path(args.file))
        else:
            layout = StreamLayout(replicas=args.replicas) if args.replicas else None
            count = await restore(js, Path(args.file), layout)
        print(f"{count} messages")
    finally:
        await nc.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m kernel.stream_backup", description=__doc__.split("\n\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    exporting = commands.add_parser("export", help="write a stream to a file")
    exporting.add_argument("--stream", required=True)
    exporting.add_argument("--file", required=True)
    importing = commands.add_parser("import", help="recreate a stream from a file, into an empty server")
    importing.add_argument("--file", required=True)
    importing.add_argument("--replicas", type=int, default=0, help="copies to keep (default: the backup's)")
    configure_logging("stream-backup")
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
