"""Who is the same person, for counting people received (migration 005).

A dossier's fact row holds the person's opaque id as opened (`person_id`), the id it
resolves to after merges (`person_key`: `person.merged` events, followed to the end
of their chain) and the opening time of the same person's previous dossier in the same
commune (`previous_opened_at`, ties broken by dossier id). The bilan counts a person
once per commune from day cells (projector's return cells) and corrects for the rare
person seen in several selected communes (`multi_territory`).

All of it is a function of the final set of fact rows and aliases, so it stays
order-free: every batch that opens dossiers with a person or merges persons relinks
the chains of the persons concerned, under a per-schema advisory lock (two batches
relinking the same person at once would each miss the other's new dossier).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from kernel.db import Connection

if TYPE_CHECKING:
    from services.reporting.projector import Tables


_RESOLVE = """
WITH RECURSIVE chain (start, id, depth) AS (
    SELECT x, x, 0 FROM unnest($1::uuid[]) AS x
    UNION ALL
    SELECT c.start, a.keep_id, c.depth + 1 FROM chain c JOIN {aliases} a ON a.merged_id = c.id
     WHERE c.depth < 64)
SELECT DISTINCT ON (start) start::text, id::text FROM chain ORDER BY start, depth DESC"""

_RELINK = """
UPDATE {dossiers} f SET previous_opened_at = c.previous, multi_territory = c.multi
  FROM (SELECT dossier_id,
               lag(opened_at) OVER (PARTITION BY person_key, territory ORDER BY opened_at, dossier_id)
                   AS previous,
               min(territory) OVER person <> max(territory) OVER person AS multi
          FROM {dossiers}
         WHERE person_key IS NOT NULL AND opened_at IS NOT NULL {keys}
        WINDOW person AS (PARTITION BY person_key)) c
 WHERE f.dossier_id = c.dossier_id
   AND (f.previous_opened_at IS DISTINCT FROM c.previous OR f.multi_territory <> c.multi)"""


async def lock(conn: Connection, tables: Tables) -> None:
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"{tables.schema}.people")


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


async def dossiers_of(conn: Connection, tables: Tables, keys: Iterable[str]) -> list[str]:
    sql = f"SELECT dossier_id::text FROM {tables.dossiers} WHERE person_key = ANY($1::uuid[])"
    rows = await conn.fetch(sql, sorted(set(keys)))
    return [row["dossier_id"] for row in rows]


async def rekey_merged(conn: Connection, tables: Tables, moves: Sequence[tuple[str, str]]) -> None:
    """Dossiers keyed by a merged person take the key it now resolves to."""
    await conn.executemany(
        f"UPDATE {tables.dossiers} SET person_key = $2::uuid WHERE person_key = $1::uuid",
        sorted(set(moves)),
    )


async def relink(conn: Connection, tables: Tables, keys: Iterable[str] | None) -> None:
    """Recomputes previous openings and the several-communes flag for these persons
    (every person when `keys` is None)."""
    if keys is None:
        await conn.execute(_RELINK.format(dossiers=tables.dossiers, keys=""))
        return
    wanted = sorted(set(keys))
    if wanted:
        sql = _RELINK.format(dossiers=tables.dossiers, keys="AND person_key = ANY($1::uuid[])")
        await conn.execute(sql, wanted)
