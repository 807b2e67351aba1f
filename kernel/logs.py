"""Structured JSON logs that cannot carry personal data.

Only allow-listed fields (ids, codes, counts, durations) reach the output; any other
field passed through `extra=` is replaced by "[redacted]". Exception messages are
dropped (database errors quote row values); only the exception type and the code
location are kept.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from datetime import UTC, datetime
from typing import Any

ALLOWED_FIELDS = frozenset(
    {
        "service",
        "method",
        "code",
        "duration_ms",
        "dossier_id",
        "tls",
        "referral_id",
        "partner_id",
        "event_id",
        "event_type",
        "workflow_id",
        "stream_seq",
        "consumer",
        "count",
        "error_type",
        "stage",
        "territory",
        "subject",
        "attempt",
        "port",
        "address",
        "component",
        "migration",
        "task_queue",
        "deliveries",
        "batch",
        "pending",
        # Stable reason codes (UPPER_SNAKE_CASE constants of the code, never input).
        "reason",
    }
)
_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage() if record.name.startswith("entraide") else record.msg,
        }
        for key, value in vars(record).items():
            if key in _STANDARD_ATTRS or key.startswith("_"):
                continue
            entry[key] = value if key in ALLOWED_FIELDS else "[redacted]"
        if record.exc_info and record.exc_info[0] is not None:
            entry["error_type"] = record.exc_info[0].__name__
            tb = record.exc_info[2]
            entry["where"] = [f"{f.filename}:{f.lineno} {f.name}" for f in traceback.extract_tb(tb)][-5:]
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_logging(service: str, level: str = "INFO") -> None:
    """Routes every logger to one JSON line per record on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Third-party libraries may format values into their messages; keep them quiet.
    for noisy in ("temporalio", "nats", "asyncio", "grpc"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(f"entraide.{name}")
