"""Timestamps from callers: protobuf accepts seconds outside the calendar, Python does not."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from kernel.errors import InvalidArgument

# What a person reads for the date fields of requests.
DATE_LABELS = {"from": "La date de début", "to": "La date de fin"}


def optional_datetime(message: Message, field: str) -> datetime | None:
    """The field as an aware UTC datetime, None when unset; INVALID_ARGUMENT when the
    value is outside 0001-01-01..9999-12-31."""
    if not message.HasField(field):
        return None
    stamp: Timestamp = getattr(message, field)
    try:
        return stamp.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError):
        label = DATE_LABELS.get(field, f"La date « {field} »")
        raise InvalidArgument(
            f"{field} is not a valid date (years 1 to 9999)",
            fr=f"{label} n'est pas valable : l'année va de 1 à 9999.",
            reason="INVALID_DATE",
            field=field,
        ) from None
