"""protobuf Timestamp ↔ datetime, once: both ways, and from callers' requests (protobuf
accepts seconds outside the calendar, Python does not)."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from kernel.errors import InvalidArgument

# What a person reads for the date fields of requests.
DATE_LABELS = {"from": "La date de début", "to": "La date de fin"}


def to_timestamp(value: datetime | str) -> Timestamp:
    """A Timestamp of an aware datetime or of an ISO 8601 string (the workflows' payloads)."""
    result = Timestamp()
    result.FromDatetime(datetime.fromisoformat(value) if isinstance(value, str) else value)
    return result


def from_timestamp(stamp: Timestamp) -> datetime:
    """The aware UTC datetime of a Timestamp written by us (in the calendar)."""
    return stamp.ToDatetime(tzinfo=UTC)


def optional_datetime(message: Message, field: str) -> datetime | None:
    """The field as an aware UTC datetime, None when unset; INVALID_ARGUMENT when the
    value is outside 0001-01-01..9999-12-31."""
    if not message.HasField(field):
        return None
    stamp: Timestamp = getattr(message, field)
    try:
        return from_timestamp(stamp)
    except (ValueError, OverflowError):
        label = DATE_LABELS.get(field, f"La date « {field} »")
        raise InvalidArgument(
            f"{field} is not a valid date (years 1 to 9999)",
            fr=f"{label} n'est pas valable : l'année va de 1 à 9999.",
            reason="INVALID_DATE",
            field=field,
        ) from None
