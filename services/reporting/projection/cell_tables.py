"""Names of the bilan's coarser pre-aggregates (migration 010) in a `Tables` schema:
month cells beside the day cells, and the duration histograms by quarter and year."""

from __future__ import annotations

from services.reporting.projection.tables import Tables

# Every table of migration 010, for the rebuild's shadow schema and the refresh.
NAMES = ("opened_month_cells", "closed_month_cells", "return_month_cells", "duration_span_cells")


def opened_months(tables: Tables) -> str:
    return f"{tables.schema}.opened_month_cells"


def closed_months(tables: Tables) -> str:
    return f"{tables.schema}.closed_month_cells"


def return_months(tables: Tables) -> str:
    return f"{tables.schema}.return_month_cells"


def duration_spans(tables: Tables) -> str:
    return f"{tables.schema}.duration_span_cells"
