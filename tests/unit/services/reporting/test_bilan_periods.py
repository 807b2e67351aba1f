"""How the bilan cuts a period into whole UTC days / months and partial edges
(services.reporting.bilan_periods), without any server."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, date, datetime, timedelta, timezone

from services.reporting.bilan_periods import (
    day_ceil,
    day_floor,
    days,
    month_ceil,
    month_floor,
    months,
    split,
)

PARIS_SUMMER = timezone(timedelta(hours=2))


def test_days_and_months_round_in_utc() -> None:
    t = datetime(2026, 7, 1, 1, 30, tzinfo=PARIS_SUMMER)  # 2026-06-30 23:30 UTC
    assert day_floor(t) == datetime(2026, 6, 30, tzinfo=UTC)
    assert day_ceil(t) == datetime(2026, 7, 1, tzinfo=UTC)
    assert month_floor(t) == datetime(2026, 6, 1, tzinfo=UTC)
    assert month_ceil(t) == datetime(2026, 7, 1, tzinfo=UTC)
    midnight = datetime(2026, 3, 1, tzinfo=UTC)
    assert (
        day_floor(midnight) == day_ceil(midnight) == month_floor(midnight) == month_ceil(midnight) == midnight
    )
    assert month_ceil(datetime(2026, 12, 31, 23, 59, tzinfo=UTC)) == datetime(2027, 1, 1, tzinfo=UTC)
    assert day_ceil(datetime(2028, 2, 28, 12, tzinfo=UTC)) == datetime(2028, 2, 29, tzinfo=UTC)  # leap day


def test_aligned_short_empty_and_reversed_periods() -> None:
    jan, feb = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)
    assert months(jan, feb) == ((date(2026, 1, 1), date(2026, 2, 1)), [])
    assert days(jan, feb) == ((date(2026, 1, 1), date(2026, 2, 1)), [])
    noon, evening = jan + timedelta(hours=12), jan + timedelta(hours=20)
    assert days(noon, evening) == (None, [(noon, evening)])  # within one day: all edge
    assert days(noon, noon + timedelta(days=1)) == (None, [(noon, noon + timedelta(days=1))])
    assert days(feb, jan) == (None, []) and months(jan, jan) == (None, [])
    assert split(jan, feb, day_floor, day_ceil) == days(jan, feb)


def test_whole_units_and_edges_cover_the_period_exactly() -> None:
    rng = random.Random(11)
    for _ in range(500):
        start = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(0, 700 * 86400))
        end = start + timedelta(seconds=rng.randrange(1, 400 * 86400))
        for cut, floor in ((days, day_floor), (months, month_floor)):
            inner, edges = cut(start, end)
            spans = list(edges)
            if inner:
                first, last = (datetime.combine(d, datetime.min.time(), UTC) for d in inner)
                assert floor(first) == first and floor(last) == last and first < last
                spans.append((first, last))
                assert all(b <= first or a >= last for a, b in edges)  # edges outside the units
            spans.sort()
            assert spans[0][0] == start and spans[-1][1] == end
            assert all(a < b for a, b in spans)
            assert all(b == c for (_, b), (c, _) in itertools.pairwise(spans))  # contiguous
            assert len(edges) <= 2
