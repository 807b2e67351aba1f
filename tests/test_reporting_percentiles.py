"""The bilan's histogram percentiles stay within the documented 1 % of exact
percentile_cont, and periods split into whole days/months plus edges."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime

from services.reporting.bilan_periods import day_ceil as _day_ceil
from services.reporting.bilan_periods import day_floor as _day_floor
from services.reporting.bilan_periods import month_ceil as _month_ceil
from services.reporting.bilan_periods import month_floor as _month_floor
from services.reporting.bilan_periods import split
from services.reporting.percentiles import percentile
from services.reporting.projection.cells import DURATION_LOG_BASE


def exact(values: list[float], p: float) -> float:
    ordered = sorted(values)
    position = p * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (position - low) * (ordered[high] - ordered[low])


def histogram(values: list[float]) -> dict[int, list[float]]:
    cells: dict[int, list[float]] = {}
    for v in values:
        bucket = math.ceil(math.log(v) / math.log(DURATION_LOG_BASE)) if v > 0 else -32768
        cell = cells.setdefault(bucket, [0.0, 0.0])
        cell[0] += 1
        cell[1] += v
    return cells


def test_percentiles_within_one_percent() -> None:
    rng = random.Random(5)
    for _ in range(50):
        values = [rng.lognormvariate(11, 1.5) for _ in range(rng.randrange(1, 3000))]
        cells = histogram(values)
        for p in (0.5, 0.9):
            assert abs(percentile(cells, p) - exact(values, p)) <= (DURATION_LOG_BASE - 1) * exact(values, p)
    assert percentile(histogram([86400.0] * 7), 0.5) == 86400.0  # equal values: exact
    assert percentile({}, 0.5) == 0.0


def test_split_into_whole_units_and_edges() -> None:
    jan, feb = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 14, 13, tzinfo=UTC)
    assert split(jan, datetime(2027, 1, 1, tzinfo=UTC), _day_floor, _day_ceil) == (
        (jan.date(), datetime(2027, 1, 1).date()),
        [],
    )
    inner, edges = split(feb, datetime(2026, 11, 3, 7, 30, tzinfo=UTC), _month_floor, _month_ceil)
    assert inner == (datetime(2026, 3, 1).date(), datetime(2026, 11, 1).date())
    assert edges == [
        (feb, datetime(2026, 3, 1, tzinfo=UTC)),
        (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 3, 7, 30, tzinfo=UTC)),
    ]
    assert split(feb, datetime(2026, 2, 20, tzinfo=UTC), _month_floor, _month_ceil) == (
        None,
        [(feb, datetime(2026, 2, 20, tzinfo=UTC))],
    )
    assert _month_ceil(datetime(2026, 12, 5, tzinfo=UTC)) == datetime(2027, 1, 1, tzinfo=UTC)
