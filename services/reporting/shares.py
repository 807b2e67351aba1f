"""A share of a bilan's total (a count with its percentage and the previous period's
count), and how a dimension's counts become its ordered shares. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Share:
    code: str
    count: int
    percent: float
    previous_count: int


def percent(count: int, total: int) -> float:
    return round(100.0 * count / total, 1) if total else 0.0


def shares(current: Mapping[str, int], previous: Mapping[str, int], total: int) -> list[Share]:
    """Every code counted in either period, the most counted first (then the previous
    period's count, then the code), its percentage of `total`."""
    codes = sorted(set(current) | set(previous), key=lambda c: (-current.get(c, 0), -previous.get(c, 0), c))
    return [Share(c, current.get(c, 0), percent(current.get(c, 0), total), previous.get(c, 0)) for c in codes]
