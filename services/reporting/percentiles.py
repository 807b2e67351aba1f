"""Percentiles of the bilan's duration histograms (log buckets, projection/cells.py):
`percentile_cont` over the values, each bucket's values taken at their mean. Pure."""

from __future__ import annotations

from collections.abc import Mapping

Buckets = Mapping[int, list[float]]  # bucket → [count, sum of seconds]


def percentile(histogram: Buckets, p: float) -> float:
    """`percentile_cont(p)` over the histogram, each bucket's values taken at their mean."""
    buckets = sorted((b, int(n), total / n) for b, (n, total) in histogram.items() if n > 0)
    count = sum(n for _, n, _ in buckets)
    if not count:
        return 0.0
    position = p * (count - 1)
    low, fraction = int(position), position - int(position)

    def value(index: int) -> float:
        seen = 0
        for _, n, mean in buckets:
            seen += n
            if index < seen:
                return mean
        return buckets[-1][2]

    v_low = value(low)
    return v_low if fraction == 0 else v_low + fraction * (value(low + 1) - v_low)
