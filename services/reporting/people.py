"""Who is the same person, for counting people received (migration 005).

A dossier's fact row holds the person's opaque id as opened (`person_id`), the id it
resolves to after merges (`person_key`: `person.merged` events, followed to the end
of their chain) and the opening time of the same person's previous dossier in the same
commune (`previous_opened_at`, ties broken by dossier id). The bilan counts a person
once per commune from day cells (projector's return cells) and corrects for the rare
person seen in several selected communes (`multi_territory`).

All of it is a function of the final set of fact rows and aliases, so it stays
order-free: every batch that opens dossiers with a person or merges persons relinks
the chains of the persons concerned, under the projector's per-schema writer lock.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from kernel.db import Connection
from services.reporting.projection import cell_tables
from services.reporting.projection.tables import Tables

_RESOLVE = """
WITH RECURSIVE chain (start, id, depth) AS (
    SELECT x, x, 0 FROM unnest($1::uuid[]) AS x
    UNION ALL
    SELECT c.start, a.keep_id, c.depth + 1 FROM chain c JOIN {aliases} a ON a.merged_id = c.id
     WHERE c.depth < 64)
SELECT DISTINCT ON (start) start::text, id::text FROM chain ORDER BY start, depth DESC"""

# Recomputes the links of some persons, updates the rows whose links changed and moves
# their return cells by day and by month (-1 for the old link, +1 for the new one) in the
# same statement: a row's return cells (opening day / month, commune, previous day /
# month) change only here, since its opening and commune are fixed by dossier.opened,
# the event that gives it a person.
_RELINK = """
WITH links AS (
    SELECT dossier_id, territory, opened_at, previous_opened_at AS old_previous, multi_territory AS old_multi,
           lag(opened_at) OVER (PARTITION BY person_key, territory ORDER BY opened_at, dossier_id)
               AS previous,
           min(territory) OVER person <> max(territory) OVER person AS multi
      FROM {dossiers}
     WHERE person_key IS NOT NULL AND opened_at IS NOT NULL {keys}
    WINDOW person AS (PARTITION BY person_key)),
changed AS (
    UPDATE {dossiers} f SET previous_opened_at = l.previous, multi_territory = l.multi
      FROM links l
     WHERE f.dossier_id = l.dossier_id
       AND (l.old_previous IS DISTINCT FROM l.previous OR l.old_multi <> l.multi)
    RETURNING l.territory, l.opened_at, l.old_previous, l.previous),
moves AS (
    SELECT territory, opened_at, old_previous AS previous, -1 AS n FROM changed
     WHERE old_previous IS NOT NULL AND old_previous IS DISTINCT FROM previous
    UNION ALL
    SELECT territory, opened_at, previous, 1 FROM changed
     WHERE previous IS NOT NULL AND old_previous IS DISTINCT FROM previous),
days AS (
    INSERT INTO {return_cells} AS c (day, territory, previous_day, n)
    SELECT (opened_at AT TIME ZONE 'UTC')::date, territory, (previous AT TIME ZONE 'UTC')::date, sum(n)
      FROM moves GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (day, territory, previous_day) DO UPDATE SET n = c.n + EXCLUDED.n)
INSERT INTO {return_months} AS c (month, territory, previous_month, n)
SELECT date_trunc('month', opened_at AT TIME ZONE 'UTC')::date, territory,
       date_trunc('month', previous AT TIME ZONE 'UTC')::date, sum(n)
  FROM moves GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
ON CONFLICT (month, territory, previous_month) DO UPDATE SET n = c.n + EXCLUDED.n"""


def _relink_sql(tables: Tables, keys: str) -> str:
    return _RELINK.format(
        dossiers=tables.dossiers,
        return_cells=tables.return_cells,
        return_months=cell_tables.return_months(tables),
        keys=keys,
    )


async def record_merges(conn: Connection, tables: Tables, merges: Sequence[tuple[str, str]]) -> None:
    await conn.executemany(
        f"""INSERT INTO {tables.person_aliases} (merged_id, keep_id) VALUES ($1::uuid, $2::uuid)
            ON CONFLICT (merged_id) DO NOTHING""",
        sorted(set(merges)),
    )


async def resolve(conn: Connection, tables: Tables, ids: Iterable[str]) -> dict[str, str]:
    """Each id → the id it ends at through the recorded merges (itself when none)."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = await conn.fetch(_RESOLVE.format(aliases=tables.person_aliases), wanted)
    return {row["start"]: row["id"] for row in rows}


async def rekey_merged(conn: Connection, tables: Tables, moves: Sequence[tuple[str, str]]) -> None:
    """Dossiers keyed by a merged person take the key it now resolves to."""
    await conn.executemany(
        f"UPDATE {tables.dossiers} SET person_key = $2::uuid WHERE person_key = $1::uuid",
        sorted(set(moves)),
    )


async def relink(conn: Connection, tables: Tables, keys: Iterable[str]) -> None:
    """Recomputes previous openings, the several-communes flag and the return cells of
    these persons' dossiers."""
    wanted = sorted(set(keys))
    if wanted:
        only = "AND person_key = ANY($1::uuid[])"
        await conn.execute(_relink_sql(tables, only), wanted)


async def relink_all(conn: Connection, tables: Tables) -> None:
    """Every person's links and return cells from scratch (facts loaded without the projector)."""
    await conn.execute(
        f"""UPDATE {tables.dossiers} SET previous_opened_at = NULL, multi_territory = false
             WHERE previous_opened_at IS NOT NULL OR multi_territory;
            DELETE FROM {tables.return_cells};
            DELETE FROM {cell_tables.return_months(tables)}"""
    )
    await conn.execute(_relink_sql(tables, ""))
