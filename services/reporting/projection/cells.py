"""The bilan's pre-aggregates (migration 004): day cells of the dossiers opened and
closed, monthly histograms of the stage durations, and (people.py) the return cells.

`move_cells` adds the cells of some fact rows times a sign (-1 before their upsert,
with FOR UPDATE; +1 after it): a fact row whose opening day, closure day, outcome,
motifs, channel or stage times change thus leaves its old cells and enters its new ones
in the same transaction, so any arrival order, duplicate (caught by the inbox) or batch
split gives the cells of the final fact rows.
"""

from __future__ import annotations

from domain.vocabulary import Stage
from kernel.db import Connection
from services.reporting import people
from services.reporting.projection import appointments
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
CELLS_SQL = f"""
WITH f AS MATERIALIZED (
    SELECT territory, arrival_channel, motifs, opened_at, ecoute_at, orientation_at, suivi_at, closed_at,
           outcome
      FROM {{dossiers}} {{rows}}),
o AS (
    INSERT INTO {{opened_cells}} AS c (day, territory, channel, motifs, n)
    SELECT (opened_at AT TIME ZONE 'UTC')::date, territory, COALESCE(arrival_channel, ''),
           COALESCE(motifs, '{{{{}}}}'::text[]), $2::int * count(*)
      FROM f WHERE opened_at IS NOT NULL GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
    ON CONFLICT (day, territory, channel, motifs) DO UPDATE SET n = c.n + EXCLUDED.n),
k AS (
    INSERT INTO {{closed_cells}} AS c (day, territory, outcome, n)
    SELECT (closed_at AT TIME ZONE 'UTC')::date, territory, COALESCE(outcome, ''), $2::int * count(*)
      FROM f WHERE closed_at IS NOT NULL GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (day, territory, outcome) DO UPDATE SET n = c.n + EXCLUDED.n),
h AS (
    INSERT INTO {{duration_cells}} AS c (month, territory, stage, bucket, n, seconds)
    SELECT month, territory, stage, bucket, $2::int * count(*), $2::int * sum(secs)
      FROM (SELECT date_trunc('month', f.opened_at AT TIME ZONE 'UTC')::date AS month, f.territory, s.stage,
                   s.secs, {BUCKET_SQL.format(secs="s.secs")} AS bucket
              FROM f CROSS JOIN LATERAL (VALUES
               {_STAGE_VALUES}) AS s(stage, secs)
             WHERE f.opened_at IS NOT NULL AND s.secs IS NOT NULL) d
     GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
    ON CONFLICT (month, territory, stage, bucket) DO UPDATE
        SET n = c.n + EXCLUDED.n, seconds = c.seconds + EXCLUDED.seconds)
SELECT 1
"""


def _cells_sql(tables: Tables, rows: str) -> str:
    """CELLS_SQL over the fact rows `rows` selects ($1: their ids, $2: the sign)."""
    return CELLS_SQL.format(
        dossiers=tables.dossiers,
        opened_cells=tables.opened_cells,
        closed_cells=tables.closed_cells,
        duration_cells=tables.duration_cells,
        rows=rows,
    )


async def move_cells(conn: Connection, tables: Tables, ids: list[str], sign: int) -> None:
    """Adds `sign` times the cells of these dossiers' fact rows (locked when sign < 0)."""
    lock = "FOR UPDATE" if sign < 0 else ""
    rows = f"WHERE dossier_id = ANY($1::uuid[]) ORDER BY dossier_id {lock}"
    await conn.execute(_cells_sql(tables, rows), ids, sign)


async def refresh_cells(conn: Connection, tables: Tables = LIVE) -> None:
    """Recomputes the people links and every cell from the fact rows (for facts loaded
    without the projector)."""
    async with conn.transaction():
        await conn.execute(f"DELETE FROM {tables.opened_cells}; DELETE FROM {tables.closed_cells}")
        await conn.execute(f"DELETE FROM {tables.duration_cells}")
        await people.relink_all(conn, tables)
        await conn.execute(_cells_sql(tables, "WHERE $1::uuid[] IS NULL"), None, 1)
        await appointments.refresh_cells(conn, tables)
