"""How the bilan reads a period in layers (services.reporting.bilan_periods.cut) and its
whole months as years, quarters and months (spans): every instant in exactly one layer,
the fewest histograms. No server."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

from services.reporting.bilan_periods import Cut, cut, spans


def layer_of(c: Cut, t: datetime) -> str | None:
    if c.month_start <= t < c.month_end:
        return "months"
    if c.day_start <= t < c.month_start or c.month_end <= t < c.day_end:
        return "days"
    if c.start <= t < c.day_start or c.day_end <= t < c.end:
        return "facts"
    return None


def test_a_period_cut_mid_month() -> None:
    c = cut(datetime(2026, 2, 14, 13, tzinfo=UTC), datetime(2026, 11, 3, 7, 30, tzinfo=UTC))
    assert (c.day_start, c.month_start) == (
        datetime(2026, 2, 15, tzinfo=UTC),
        datetime(2026, 3, 1, tzinfo=UTC),
    )
    assert (c.month_end, c.day_end) == (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 3, tzinfo=UTC))
    assert c.day_edges == [(date(2026, 2, 15), date(2026, 3, 1)), (date(2026, 11, 1), date(2026, 11, 3))]
    assert spans(*c.months) == [
        (1, date(2026, 3, 1)),
        (3, date(2026, 4, 1)),
        (3, date(2026, 7, 1)),
        (1, date(2026, 10, 1)),
    ]


def test_a_calendar_year_is_one_histogram_and_no_edge() -> None:
    c = cut(datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    assert (c.start, c.day_start, c.month_start) == (c.start, c.start, c.start)
    assert (c.month_end, c.day_end, c.end) == (c.end, c.end, c.end)
    assert spans(*c.months) == [(12, date(2026, 1, 1))]


def test_no_whole_month_or_day() -> None:
    days = cut(datetime(2026, 3, 5, tzinfo=UTC), datetime(2026, 3, 20, tzinfo=UTC))
    assert days.month_start == days.month_end == days.day_end and spans(*days.months) == []
    hours = cut(datetime(2026, 3, 5, 8, tzinfo=UTC), datetime(2026, 3, 5, 17, tzinfo=UTC))
    assert hours.day_start == hours.end  # fact rows only
    assert layer_of(hours, datetime(2026, 3, 5, 9, tzinfo=UTC)) == "facts"


def test_every_instant_in_one_layer_and_spans_cover_the_months() -> None:
    rng = random.Random(1)
    base = datetime(2024, 11, 1, tzinfo=UTC)
    for _ in range(300):
        start = base + timedelta(seconds=rng.randrange(0, 800 * 86400))
        start = rng.choice([start, start.replace(hour=0, minute=0, second=0), start.replace(day=1, hour=0)])
        end = start + timedelta(seconds=rng.choice([3600, 86400, rng.randrange(1, 500 * 86400)]))
        c = cut(start, end)
        assert c.start <= c.day_start <= c.month_start <= c.month_end <= c.day_end <= c.end
        for _ in range(20):
            t = start + (end - start) * rng.random()
            assert layer_of(c, t) is not None
        months: list[date] = []
        for size, first in spans(*c.months):
            assert (first.month - 1) % size == 0  # a calendar quarter / year
            months += [
                date(first.year + (first.month - 1 + i) // 12, (first.month - 1 + i) % 12 + 1, 1)
                for i in range(size)
            ]
        first_month, end_month = c.months
        expected = []
        m = first_month
        while m < end_month:
            expected.append(m)
            m = date(m.year + m.month // 12, m.month % 12 + 1, 1)
        assert months == expected
