"""The supervisord event listener that records process state changes, and the reader of its file.

supervisord runs `python -m devstack.process_events <file>` as an event listener subscribed to
PROCESS_STATE: every state change of every program becomes one JSON line appended to `<file>`
(`.state/logs/process-events.jsonl`), written before the event is acknowledged. `make status`
counts a program's restarts from these lines: a restart is supervisord starting the program again
by itself, i.e. a STARTING entered from EXITED (autorestart after an exit) or from BACKOFF (a retry
after a start that failed); a start asked for by `make up` comes from STOPPED or FATAL and is not
one. Standard library only: supervisord restarts the listener quickly when it needs to.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any, BinaryIO

RESTART_FROM_STATES = frozenset({"EXITED", "BACKOFF"})
_EVENT_PREFIX = "PROCESS_STATE_"


def parse_tokens(text: str) -> dict[str, str]:
    """`key:value key:value ...` (supervisord's event header and PROCESS_STATE payloads)."""
    pairs = (token.partition(":") for token in text.split())
    return {key: value for key, _, value in pairs}


def record_for(header: dict[str, str], payload: str) -> dict[str, Any] | None:
    """The JSON line for one event, or None for an event that is not a process state change."""
    event = header.get("eventname", "")
    if not event.startswith(_EVENT_PREFIX):
        return None
    body = parse_tokens(payload)
    record: dict[str, Any] = {
        "time": time.time(),
        "program": body.get("processname", ""),
        "state": event.removeprefix(_EVENT_PREFIX),
        "from": body.get("from_state", ""),
    }
    for key in ("pid", "tries", "expected"):
        if body.get(key, "").isdigit():
            record[key] = int(body[key])
    return record


def listen(path: Path, stdin: BinaryIO, stdout: BinaryIO) -> None:
    """supervisord's event listener protocol: READY, header line, payload, RESULT; forever."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        while True:
            stdout.write(b"READY\n")
            stdout.flush()
            line = stdin.readline()
            if not line:  # supervisord closed our stdin: it is shutting down
                return
            header = parse_tokens(line.decode("utf-8", errors="replace"))
            payload = stdin.read(int(header.get("len", "0"))).decode("utf-8", errors="replace")
            record = record_for(header, payload)
            if record is not None:
                os.write(fd, (json.dumps(record, sort_keys=True) + "\n").encode())
            stdout.write(b"RESULT 2\nOK")
            stdout.flush()
    finally:
        os.close(fd)


def read_events(path: Path) -> list[dict[str, Any]]:
    """Every recorded event, oldest first; a line cut short by a crash is skipped."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return []
    events: list[dict[str, Any]] = []
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict):
            events.append(event)
    return events


def is_restart(event: dict[str, Any]) -> bool:
    return event.get("state") == "STARTING" and event.get("from") in RESTART_FROM_STATES


def restart_counts(events: Iterable[dict[str, Any]]) -> Counter[str]:
    """program name -> how many times supervisord started it again by itself."""
    return Counter(str(e.get("program")) for e in events if is_restart(e))


def last_unexpected_exits(events: Iterable[dict[str, Any]]) -> dict[str, float]:
    """program name -> time of its last exit that was not asked for (a crash, a kill)."""
    found: dict[str, float] = {}
    for event in events:
        unexpected = event.get("state") == "EXITED" and event.get("expected") == 0
        if (unexpected or event.get("state") == "BACKOFF") and isinstance(event.get("time"), int | float):
            found[str(event.get("program"))] = float(event["time"])
    return found


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m devstack.process_events <events file>", file=sys.stderr)
        return 2
    listen(Path(args[0]), sys.stdin.buffer, sys.stdout.buffer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
