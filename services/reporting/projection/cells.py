"""The bilan's pre-aggregates (migrations 004, 010): day and month cells of the dossiers
opened and closed, histograms of the stage durations by month, quarter and year, and
(people.py) the return cells by day and by month.

`upsert_moving_cells_sql`: a batch's dossier upsert and, in the same statement, the
move of its cells: the cells of the rows as the upsert returns them (+1) minus those of
the same rows as they were before it (-1, read from the statement's snapshot), writing
only the cells whose sums change: a fact row whose opening day, closure day, outcome,
motifs, channel or stage times change thus leaves its old cells and enters its new ones
in the same transaction, so any arrival order, duplicate (caught by the inbox) or batch
split gives the cells of the final fact rows. The caller holds the schema's dossier
writer lock (apply._lock_dossier_writes, taken by an earlier statement): no other
transaction writes these rows between the snapshot and the upsert.
"""

from __future__ import annotations

from domain.vocabulary import Stage
from kernel.db import Connection
from services.reporting import people
from services.reporting.projection import appointments, cell_tables
from services.reporting.projection.tables import LIVE, Tables

DURATION_LOG_BASE = 1.01  # histogram bucket width: the bilan's durations are within 1 %
TOTAL = "total"  # from opening to closure
# Each duration of the bilan and its SQL over a fact row `f` (NULL when not gone through).
STAGE_SECONDS: tuple[tuple[str, str], ...] = (
    (Stage.RECEPTION, "f.ecoute_at - f.opened_at"),
    (Stage.ECOUTE, "COALESCE(f.orientation_at, f.suivi_at, f.closed_at) - f.ecoute_at"),
    (Stage.ORIENTATION, "COALESCE(f.suivi_at, f.closed_at) - f.orientation_at"),
    (Stage.SUIVI, "f.closed_at - f.suivi_at"),
    (TOTAL, "f.closed_at - f.opened_at"),
)
DURATION_STAGES: tuple[str, ...] = tuple(str(stage) for stage, _ in STAGE_SECONDS)  # plain codes
BUCKET_SQL = (
    f"CASE WHEN {{secs}} > 0 THEN ceil(ln({{secs}}) / ln({DURATION_LOG_BASE}::float8))::int ELSE -32768 END"
)
_STAGE_VALUES = ",\n               ".join(
    f"('{stage}', extract(epoch FROM {expr})::float8)" for stage, expr in STAGE_SECONDS
)
_FACT_COLUMNS = (
    "territory, arrival_channel, motifs, opened_at, ecoute_at, orientation_at, suivi_at, closed_at, outcome"
)
# The cells of the rows `f` selects ({{source}}: the fact columns and a `sign` column),
# added up: a cell is written only when its sums change (HAVING), so a move of rows
# whose cells stay (most lifecycle events leave a dossier's opened cells as they were)
# writes nothing.
CELLS_SQL = f"""
WITH {{before}}f AS MATERIALIZED ({{source}}),
o AS (
    INSERT INTO {{opened_cells}} AS c (day, territory, channel, motifs, n)
    SELECT (opened_at AT TIME ZONE 'UTC')::date, territory, COALESCE(arrival_channel, ''),
           COALESCE(motifs, '{{{{}}}}'::text[]), sum(sign)
      FROM f WHERE opened_at IS NOT NULL GROUP BY 1, 2, 3, 4 HAVING sum(sign) <> 0 ORDER BY 1, 2, 3, 4
    ON CONFLICT (day, territory, channel, motifs) DO UPDATE SET n = c.n + EXCLUDED.n),
om AS (
    INSERT INTO {{opened_months}} AS c (month, territory, channel, motifs, n)
    SELECT date_trunc('month', opened_at AT TIME ZONE 'UTC')::date, territory, COALESCE(arrival_channel, ''),
           COALESCE(motifs, '{{{{}}}}'::text[]), sum(sign)
      FROM f WHERE opened_at IS NOT NULL GROUP BY 1, 2, 3, 4 HAVING sum(sign) <> 0 ORDER BY 1, 2, 3, 4
    ON CONFLICT (month, territory, channel, motifs) DO UPDATE SET n = c.n + EXCLUDED.n),
k AS (
    INSERT INTO {{closed_cells}} AS c (day, territory, outcome, n)
    SELECT (closed_at AT TIME ZONE 'UTC')::date, territory, COALESCE(outcome, ''), sum(sign)
      FROM f WHERE closed_at IS NOT NULL GROUP BY 1, 2, 3 HAVING sum(sign) <> 0 ORDER BY 1, 2, 3
    ON CONFLICT (day, territory, outcome) DO UPDATE SET n = c.n + EXCLUDED.n),
km AS (
    INSERT INTO {{closed_months}} AS c (month, territory, outcome, n)
    SELECT date_trunc('month', closed_at AT TIME ZONE 'UTC')::date, territory, COALESCE(outcome, ''),
           sum(sign)
      FROM f WHERE closed_at IS NOT NULL GROUP BY 1, 2, 3 HAVING sum(sign) <> 0 ORDER BY 1, 2, 3
    ON CONFLICT (month, territory, outcome) DO UPDATE SET n = c.n + EXCLUDED.n),
d AS MATERIALIZED (
    SELECT date_trunc('month', f.opened_at AT TIME ZONE 'UTC')::date AS month, f.territory, s.stage, s.secs,
           {BUCKET_SQL.format(secs="s.secs")} AS bucket, f.sign
      FROM f CROSS JOIN LATERAL (VALUES
       {_STAGE_VALUES}) AS s(stage, secs)
     WHERE f.opened_at IS NOT NULL AND s.secs IS NOT NULL),
hm AS MATERIALIZED (
    SELECT month, territory, stage, bucket, sum(sign) AS n, sum(sign * secs) AS seconds
      FROM d GROUP BY 1, 2, 3, 4 HAVING sum(sign) <> 0 OR sum(sign * secs) <> 0),
hs AS (
    INSERT INTO {{duration_spans}} AS c (months, start, territory, stage, bucket, n, seconds)
    SELECT p.months, p.start, hm.territory, hm.stage, hm.bucket, sum(hm.n), sum(hm.seconds)
      FROM hm CROSS JOIN LATERAL (VALUES
           (3::smallint, date_trunc('quarter', hm.month)::date),
           (12::smallint, date_trunc('year', hm.month)::date)) AS p(months, start)
     GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (months, start, territory, stage, bucket) DO UPDATE
        SET n = c.n + EXCLUDED.n, seconds = c.seconds + EXCLUDED.seconds),
h AS (
    INSERT INTO {{duration_cells}} AS c (month, territory, stage, bucket, n, seconds)
    SELECT month, territory, stage, bucket, n, seconds FROM hm ORDER BY 1, 2, 3, 4
    ON CONFLICT (month, territory, stage, bucket) DO UPDATE
        SET n = c.n + EXCLUDED.n, seconds = c.seconds + EXCLUDED.seconds)
SELECT 1
"""


def _cells_sql(tables: Tables, source: str, before: str = "") -> str:
    """CELLS_SQL over the rows `source` selects (`before`: CTEs it reads, each ending
    with a comma)."""
    return CELLS_SQL.format(
        dossiers=tables.dossiers,
        opened_cells=tables.opened_cells,
        closed_cells=tables.closed_cells,
        duration_cells=tables.duration_cells,
        opened_months=cell_tables.opened_months(tables),
        closed_months=cell_tables.closed_months(tables),
        duration_spans=cell_tables.duration_spans(tables),
        before=before,
        source=source,
    )


def upsert_moving_cells_sql(tables: Tables, upsert: str, ids: str, beside: str = "") -> str:
    """One statement: `upsert` (an INSERT … ON CONFLICT DO UPDATE into the dossier facts,
    its table aliased `f`, without RETURNING) of the rows whose ids the uuid[] parameter
    `ids` lists, and the cells moved from those rows as they were to the rows it leaves.
    The rows before are a plain read: every sub-statement sees the snapshot taken before
    the upsert. `beside`: more data-modifying CTEs run in the same statement (each
    ending with a comma), writing other tables."""
    returned = ", ".join(f"f.{column.strip()}" for column in _FACT_COLUMNS.split(","))
    before = f"""{beside}old AS (SELECT {_FACT_COLUMNS} FROM {tables.dossiers} WHERE dossier_id = ANY({ids})),
new AS ({upsert} RETURNING {returned}),
"""
    source = "SELECT *, 1 AS sign FROM new UNION ALL SELECT *, -1 FROM old"
    return _cells_sql(tables, source, before)


async def refresh_cells(conn: Connection, tables: Tables = LIVE) -> None:
    """Recomputes the people links and every cell from the fact rows (for facts loaded
    without the projector)."""
    async with conn.transaction():
        await conn.execute(f"DELETE FROM {tables.opened_cells}; DELETE FROM {tables.closed_cells}")
        await conn.execute(f"DELETE FROM {tables.duration_cells}")
        for name in cell_tables.NAMES:  # return_month_cells: emptied again by relink_all
            await conn.execute(f"DELETE FROM {tables.schema}.{name}")
        await people.relink_all(conn, tables)
        await conn.execute(_cells_sql(tables, f"SELECT {_FACT_COLUMNS}, 1 AS sign FROM {tables.dossiers}"))
        await appointments.refresh_cells(conn, tables)
