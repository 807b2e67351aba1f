"""How the bilan cuts a period [start, end): the whole months and days (UTC) read
from the pre-aggregated cells, and the partial edges around them read from the fact
rows. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Cut:
    """[start, end) in three layers: the fact rows of [start, day_start) and
    [day_end, end) (partial days), the day cells of [day_start, month_start) and
    [month_end, day_end), the month cells of [month_start, month_end). Empty layers are
    empty ranges (a == b), so one SQL statement reads every layer."""

    start: datetime
    day_start: datetime
    month_start: datetime
    month_end: datetime
    day_end: datetime
    end: datetime

    @property
    def day_edges(self) -> list[tuple[date, date]]:
        """The day cells' ranges, as dates (maybe empty ranges)."""
        return [
            (self.day_start.date(), self.month_start.date()),
            (self.month_end.date(), self.day_end.date()),
        ]

    @property
    def months(self) -> tuple[date, date]:
        return self.month_start.date(), self.month_end.date()


def cut(start: datetime, end: datetime) -> Cut:
    """The layers of [start, end) (start < end)."""
    day_start, day_end = day_ceil(start), day_floor(end)
    if day_start > day_end:  # within one day: fact rows only
        return Cut(start, end, end, end, end, end)
    month_start, month_end = month_ceil(day_start), month_floor(day_end)
    if month_start >= month_end:  # no whole month: day cells only
        month_start = month_end = day_end
    return Cut(start, day_start, month_start, month_end, day_end, end)


def spans(first: date, end: date) -> list[tuple[int, date]]:
    """Whole months [first, end) (first days of months) as the fewest calendar years,
    quarters and months: (months in the span: 12, 3 or 1, its first day)."""
    out: list[tuple[int, date]] = []
    month = first
    while month < end:
        for size in (12, 3, 1):
            if (month.month - 1) % size == 0 and _add_months(month, size) <= end:
                out.append((size, month))
                month = _add_months(month, size)
                break
    return out


def _add_months(d: date, count: int) -> date:
    index = d.year * 12 + d.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)
