"""How the bilan cuts a period [start, end): the whole days (or months, in UTC) read
from the pre-aggregated cells, and the partial edges around them read from the fact
rows. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

Span = tuple[datetime, datetime]
Rounding = Callable[[datetime], datetime]


def day_floor(t: datetime) -> datetime:
    t = t.astimezone(UTC)
    return datetime(t.year, t.month, t.day, tzinfo=UTC)


def day_ceil(t: datetime) -> datetime:
    floor = day_floor(t)
    return floor if floor == t else floor + timedelta(days=1)


def month_floor(t: datetime) -> datetime:
    t = t.astimezone(UTC)
    return datetime(t.year, t.month, 1, tzinfo=UTC)


def month_ceil(t: datetime) -> datetime:
    floor = month_floor(t)
    if floor == t:
        return floor
    return datetime(floor.year + floor.month // 12, floor.month % 12 + 1, 1, tzinfo=UTC)


def split(
    start: datetime, end: datetime, floor: Rounding, ceil: Rounding
) -> tuple[tuple[date, date] | None, list[Span]]:
    """The whole units (days, months) of [start, end), and the partial edges around them."""
    if start >= end:
        return None, []
    inner_start, inner_end = ceil(start), floor(end)
    if inner_start >= inner_end:
        return None, [(start, end)]
    edges = [(a, b) for a, b in ((start, inner_start), (inner_end, end)) if a < b]
    return (inner_start.date(), inner_end.date()), edges


def days(start: datetime, end: datetime) -> tuple[tuple[date, date] | None, list[Span]]:
    """The whole UTC days of [start, end) and its partial edges."""
    return split(start, end, day_floor, day_ceil)


def months(start: datetime, end: datetime) -> tuple[tuple[date, date] | None, list[Span]]:
    """The whole UTC months of [start, end) and its partial edges."""
    return split(start, end, month_floor, month_ceil)
