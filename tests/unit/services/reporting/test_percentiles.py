"""The bilan's percentiles over duration histograms (services.reporting.percentiles),
without any server: `percentile_cont` with each bucket's values at their mean."""

from __future__ import annotations

import math
import random

import pytest

from services.reporting.percentiles import percentile
from services.reporting.projection.cells import DURATION_LOG_BASE


def exact(values: list[float], p: float) -> float:
    ordered = sorted(values)
    position = p * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (position - low) * (ordered[high] - ordered[low])


def histogram(values: list[float]) -> dict[int, list[float]]:
    """The buckets as cells.BUCKET_SQL makes them."""
    cells: dict[int, list[float]] = {}
    for v in values:
        bucket = math.ceil(math.log(v) / math.log(DURATION_LOG_BASE)) if v > 0 else -32768
        cell = cells.setdefault(bucket, [0.0, 0.0])
        cell[0] += 1
        cell[1] += v
    return cells


def test_interpolates_between_bucket_means() -> None:
    cells = {10: [2.0, 20.0], 20: [2.0, 200.0]}  # values 10, 10, 100, 100
    assert percentile(cells, 0.0) == 10.0
    assert percentile(cells, 1.0) == 100.0
    assert percentile(cells, 0.5) == pytest.approx(55.0)  # between the 2nd and 3rd values
    assert percentile(cells, 0.9) == pytest.approx(100.0)
    assert percentile({20: [2.0, 200.0], 10: [2.0, 20.0]}, 0.5) == pytest.approx(55.0)  # bucket order


def test_empty_buckets_and_histograms() -> None:
    assert percentile({}, 0.5) == 0.0
    assert percentile({3: [0.0, 0.0]}, 0.9) == 0.0
    assert percentile({3: [0.0, 0.0], 7: [1.0, 42.0]}, 0.5) == 42.0  # a bucket emptied by -1 moves


def test_equal_values_are_exact_and_others_within_the_bucket_width() -> None:
    assert percentile(histogram([3600.0] * 5), 0.9) == 3600.0
    assert percentile(histogram([0.0, 0.0, 5.0]), 0.5) == 0.0  # zero durations: their own bucket
    rng = random.Random(3)
    for _ in range(30):
        values = [rng.lognormvariate(10, 2) for _ in range(rng.randrange(1, 500))]
        for p in (0.5, 0.9):
            assert abs(percentile(histogram(values), p) - exact(values, p)) <= (
                DURATION_LOG_BASE - 1
            ) * exact(values, p)
