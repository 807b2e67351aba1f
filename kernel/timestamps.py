"""protobuf Timestamp ↔ datetime, once: both ways, and from callers' requests (whose
dates kernel.hard_input has already checked are in the calendar)."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp


def to_timestamp(value: datetime | str) -> Timestamp:
    """A Timestamp of an aware datetime or of an ISO 8601 string (the workflows' payloads)."""
    result = Timestamp()
    result.FromDatetime(datetime.fromisoformat(value) if isinstance(value, str) else value)
    return result


def from_timestamp(stamp: Timestamp) -> datetime:
    """The aware UTC datetime of a Timestamp written by us (in the calendar)."""
    return stamp.ToDatetime(tzinfo=UTC)


def optional_datetime(message: Message, field: str) -> datetime | None:
    """The field as an aware UTC datetime, None when unset. Requests reach handlers only
    with dates in the calendar (kernel.hard_input refuses the others, naming the field)."""
    if not message.HasField(field):
        return None
    stamp: Timestamp = getattr(message, field)
    return from_timestamp(stamp)
