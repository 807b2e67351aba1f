"""The appointments' projection (migration 007): a batch's appointment deltas (fold.py)
merged into their fact rows by one upsert each, whose every column merges as the fold
does (the greatest placement, latest-at-wins status with the same tie-breaks, the first
booking time), the day cells moved with the rows, and the hosting partners' names.

A fact row whose day, status or place changes leaves its old cell (-1, the rows locked
in key order) and enters its new one (+1) in the same transaction: any arrival order,
duplicate (caught by the inbox) or batch split gives the cells of the final rows, and a
rebuild gives the live figures exactly.
"""

from __future__ import annotations

from kernel.db import Connection
from services.reporting.projection.fold import AppointmentDelta, Fold
from services.reporting.projection.tables import LIVE, Tables

# The placement's columns in the fold's order (fold.Placement), after version and at;
# texts compare in the "C" collation (code points, as Python's tuples do in the fold).
_PLACE_TEXTS = (
    "territory",
    "site",
    "room",
    "permanence_id",
    "host_kind",
    "partner_id",
    "partner_name",
    "category",
)
_PLACE_TIMES = ("starts_at", "ends_at")


def _place_key(alias: str) -> str:
    texts = ", ".join(f'{alias}.{c} COLLATE "C"' for c in _PLACE_TEXTS)
    times = ", ".join(f"{alias}.{c}" for c in _PLACE_TIMES)
    return f"({alias}.place_version, {alias}.place_at, {texts}, {times})"


_NEWER_PLACE = (
    f"EXCLUDED.place_version IS NOT NULL AND (f.place_version IS NULL OR {_place_key('EXCLUDED')}"
    f" > {_place_key('f')})"
)
_NEWER_STATUS = (
    "EXCLUDED.status_at IS NOT NULL AND (f.status_at IS NULL OR "
    '(EXCLUDED.status_at, EXCLUDED.status_rank, EXCLUDED.status COLLATE "C") '
    '> (f.status_at, f.status_rank, f.status COLLATE "C"))'
)
_PLACE_MERGE = ",\n    ".join(
    f"{c} = CASE WHEN {_NEWER_PLACE} THEN EXCLUDED.{c} ELSE f.{c} END"
    for c in ("place_version", "place_at", *_PLACE_TEXTS[1:], *_PLACE_TIMES)
)
_STATUS_MERGE = ",\n    ".join(
    f"{c} = CASE WHEN {_NEWER_STATUS} THEN EXCLUDED.{c} ELSE f.{c} END"
    for c in ("status", "status_rank", "status_at")
)
_UPSERT = f"""
INSERT INTO {{table}} AS f
    (appointment_id, territory, place_version, place_at, site, room, permanence_id, host_kind, partner_id,
     partner_name, category, starts_at, ends_at, status, status_rank, status_at, walk_in, booked_at)
VALUES ($1::uuid, NULLIF($2::text, ''), $3::int, $4::timestamptz, $5::text, $6::text, $7::text, $8::text,
        $9::text, $10::text, $11::text, $12::timestamptz, $13::timestamptz, $14::text, $15::int,
        $16::timestamptz, $17::bool, $18::timestamptz)
ON CONFLICT (appointment_id) DO UPDATE SET
    territory = CASE WHEN {_NEWER_PLACE} THEN EXCLUDED.territory
                     WHEN f.place_version IS NULL THEN COALESCE(f.territory, EXCLUDED.territory)
                     ELSE f.territory END,
    {_PLACE_MERGE},
    {_STATUS_MERGE},
    walk_in = f.walk_in OR EXCLUDED.walk_in,
    booked_at = LEAST(f.booked_at, EXCLUDED.booked_at)
"""

_HOST_UPSERT = """
INSERT INTO {table} AS p (partner_id, name_at, name) VALUES ($1::text, $2::timestamptz, $3::text)
ON CONFLICT (partner_id) DO UPDATE SET name_at = EXCLUDED.name_at, name = EXCLUDED.name
 WHERE (EXCLUDED.name_at, EXCLUDED.name COLLATE "C") > (p.name_at, p.name COLLATE "C")
"""

# A fact row's cell: its start day and every dimension the bilan groups by; rows not
# placed yet (an attendance arrived before its booking) have no cell.
_CELLS_SQL = """
WITH f AS MATERIALIZED (
    SELECT territory, site, host_kind, partner_id, category, COALESCE(status, '') AS status, walk_in,
           starts_at
      FROM {appointments} {rows}),
c AS (
    INSERT INTO {cells} AS c (day, territory, site, host_kind, partner_id, category, status, walk_in, n)
    SELECT (starts_at AT TIME ZONE 'UTC')::date, territory, site, host_kind, partner_id, category, status,
           walk_in, $2::int * count(*)
      FROM f WHERE starts_at IS NOT NULL AND territory IS NOT NULL
     GROUP BY 1, 2, 3, 4, 5, 6, 7, 8 ORDER BY 1, 2, 3, 4, 5, 6, 7, 8
    ON CONFLICT (day, territory, site, host_kind, partner_id, category, status, walk_in)
    DO UPDATE SET n = c.n + EXCLUDED.n)
SELECT 1
"""


def _row(a: AppointmentDelta) -> tuple[object, ...]:
    place, status = a.place, a.status
    return (
        a.appointment_id,
        place[2] if place else a.territory,
        *(place[:2] if place else (None, None)),
        *(place[3:] if place else (None,) * 9),
        status[2] if status else None,
        status[1] if status else None,
        status[0] if status else None,
        a.walk_in,
        a.booked_at,
    )


async def move_cells(conn: Connection, tables: Tables, ids: list[str], sign: int) -> None:
    """Adds `sign` times the cells of these appointments' fact rows (locked when sign < 0)."""
    lock = "FOR UPDATE" if sign < 0 else ""
    rows = f"WHERE appointment_id = ANY($1::uuid[]) ORDER BY appointment_id {lock}"
    sql = _CELLS_SQL.format(appointments=tables.appointments, cells=tables.appointment_cells, rows=rows)
    await conn.execute(sql, ids, sign)


async def refresh_cells(conn: Connection, tables: Tables = LIVE) -> None:
    """Recomputes every appointment cell from the fact rows."""
    async with conn.transaction():
        await conn.execute(f"DELETE FROM {tables.appointment_cells}")
        sql = _CELLS_SQL.format(
            appointments=tables.appointments, cells=tables.appointment_cells, rows="WHERE $1::uuid[] IS NULL"
        )
        await conn.execute(sql, None, 1)


async def apply_appointments(conn: Connection, folded: Fold, tables: Tables = LIVE) -> None:
    if folded.appointments:
        # The cell upserts (-1 then +1, two statements) touch shared aggregate rows: two
        # projector instances side by side could deadlock, so batches writing
        # appointments into one schema are serialised (a rebuild's shadow has its own lock).
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"{tables.schema}.appointments"
        )
        ordered = sorted(folded.appointments)
        await move_cells(conn, tables, ordered, -1)
        await conn.executemany(
            _UPSERT.format(table=tables.appointments), [_row(folded.appointments[k]) for k in ordered]
        )
        await move_cells(conn, tables, ordered, +1)
    if folded.host_names:
        await conn.executemany(
            _HOST_UPSERT.format(table=tables.appointment_hosts),
            [(partner, *name) for partner, name in sorted(folded.host_names.items())],
        )
