"""The projection's SQL: a batch's deltas (fold.py) merged into their rows, one upsert
per dossier, referral and partner name (appointments: appointments.py) whose every
column merges as the fold does (first time = LEAST, latest-at-wins with the same
tie-break, counters add up), and the bilan's cells moved with the rows (cells.py).
Every function takes the `Tables` it writes to: the live consumer passes the
`reporting` schema, the rebuild a shadow schema.

Called inside the consumer's transaction, after the inbox insert (exactly once).
"""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from domain.vocabulary import REFERRAL_STATUSES
from kernel.db import Connection
from kernel.events import Event
from services.reporting import people
from services.reporting.projection.aides import apply_aides
from services.reporting.projection.appointments import apply_appointments
from services.reporting.projection.cells import upsert_moving_cells_sql
from services.reporting.projection.collective import apply_collective
from services.reporting.projection.fold import DossierDelta, Fold, ReferralDelta, fold
from services.reporting.projection.tables import LIVE, Tables


def _unnest(columns: tuple[tuple[str, str], ...]) -> str:
    """`unnest($1::t1[], …) AS r(c1, …)`: a batch's rows as one array per column."""
    arrays = ", ".join(f"${i}::{kind}[]" for i, (_, kind) in enumerate(columns, start=1))
    return f"unnest({arrays}) AS r({', '.join(name for name, _ in columns)})"


# One statement per batch, not one per row (a row's own statement cost more than its
# merge): the rows come as one array per column. A dossier's motifs (text[]) come as a
# slice (offset, count) of one flat array: unnest would flatten an array of arrays.
_DOSSIER_INPUT = (
    ("dossier_id", "uuid"),
    ("territory", "text"),
    ("site", "text"),
    ("arrival_channel", "text"),
    ("urgent", "bool"),
    ("opened_at", "timestamptz"),
    ("motif_o", "int"),
    ("motif_n", "int"),
    ("motifs_at", "timestamptz"),
    ("stage", "text"),
    ("stage_at", "timestamptz"),
    ("stage_rank", "int"),
    ("ecoute_at", "timestamptz"),
    ("orientation_at", "timestamptz"),
    ("suivi_at", "timestamptz"),
    ("closed_at", "timestamptz"),
    ("outcome", "text"),
    ("escalated_at", "timestamptz"),
    ("reminder_at", "timestamptz"),
    ("closure_proposed_at", "timestamptz"),
    ("last_activity_at", "timestamptz"),
    ("reopened", "int"),
    ("reminders", "int"),
    ("person_id", "uuid"),
    ("person_key", "uuid"),
)
_MOTIFS = f"${len(_DOSSIER_INPUT) + 1}::text[]"
_DOSSIER_UPSERT = f"""
INSERT INTO {{table}} AS f
    (dossier_id, territory, site, arrival_channel, urgent, opened_at, motifs, motifs_at,
     stage, stage_at, stage_rank, ecoute_at, orientation_at, suivi_at, closed_at, outcome,
     escalated, escalated_at, reminder_at, closure_proposed_at, last_activity_at, reopened, reminders,
     person_id, person_key)
SELECT r.dossier_id, r.territory, r.site, r.arrival_channel, r.urgent, r.opened_at,
       CASE WHEN r.motif_n IS NOT NULL THEN ({_MOTIFS})[r.motif_o + 1 : r.motif_o + r.motif_n] END,
       r.motifs_at, COALESCE(r.stage, 'reception'), r.stage_at, COALESCE(r.stage_rank, 0), r.ecoute_at,
       r.orientation_at, r.suivi_at, r.closed_at, r.outcome, r.escalated_at IS NOT NULL,
       r.escalated_at, r.reminder_at, r.closure_proposed_at, r.last_activity_at, r.reopened, r.reminders,
       r.person_id, r.person_key
  FROM {_unnest(_DOSSIER_INPUT)}
ON CONFLICT (dossier_id) DO UPDATE SET
    territory = COALESCE(NULLIF(f.territory, ''), EXCLUDED.territory),
    site = COALESCE(f.site, EXCLUDED.site),
    arrival_channel = COALESCE(f.arrival_channel, EXCLUDED.arrival_channel),
    urgent = COALESCE(f.urgent, EXCLUDED.urgent),
    opened_at = LEAST(f.opened_at, EXCLUDED.opened_at),
    motifs = CASE WHEN EXCLUDED.motifs_at IS NOT NULL AND (f.motifs_at IS NULL
                   OR (EXCLUDED.motifs_at, array_to_string(EXCLUDED.motifs, ','))
                      > (f.motifs_at, array_to_string(f.motifs, ',')))
                  THEN EXCLUDED.motifs ELSE f.motifs END,
    motifs_at = GREATEST(f.motifs_at, EXCLUDED.motifs_at),
    stage = CASE WHEN EXCLUDED.stage_at IS NOT NULL AND (f.stage_at IS NULL
                  OR (EXCLUDED.stage_at, EXCLUDED.stage_rank, EXCLUDED.stage)
                     > (f.stage_at, f.stage_rank, f.stage))
                 THEN EXCLUDED.stage ELSE f.stage END,
    stage_rank = CASE WHEN EXCLUDED.stage_at IS NOT NULL AND (f.stage_at IS NULL
                  OR (EXCLUDED.stage_at, EXCLUDED.stage_rank, EXCLUDED.stage)
                     > (f.stage_at, f.stage_rank, f.stage))
                 THEN EXCLUDED.stage_rank ELSE f.stage_rank END,
    stage_at = GREATEST(f.stage_at, EXCLUDED.stage_at),
    ecoute_at = LEAST(f.ecoute_at, EXCLUDED.ecoute_at),
    orientation_at = LEAST(f.orientation_at, EXCLUDED.orientation_at),
    suivi_at = LEAST(f.suivi_at, EXCLUDED.suivi_at),
    outcome = CASE WHEN EXCLUDED.closed_at IS NOT NULL AND (f.closed_at IS NULL
                    OR (EXCLUDED.closed_at, EXCLUDED.outcome) > (f.closed_at, f.outcome))
                   THEN EXCLUDED.outcome ELSE f.outcome END,
    closed_at = GREATEST(f.closed_at, EXCLUDED.closed_at),
    escalated = f.escalated OR EXCLUDED.escalated,
    escalated_at = LEAST(f.escalated_at, EXCLUDED.escalated_at),
    reminder_at = GREATEST(f.reminder_at, EXCLUDED.reminder_at),
    closure_proposed_at = GREATEST(f.closure_proposed_at, EXCLUDED.closure_proposed_at),
    last_activity_at = GREATEST(f.last_activity_at, EXCLUDED.last_activity_at),
    reopened = f.reopened + EXCLUDED.reopened,
    reminders = f.reminders + EXCLUDED.reminders,
    person_id = COALESCE(f.person_id, EXCLUDED.person_id),
    person_key = COALESCE(f.person_key, EXCLUDED.person_key)
"""

_STATUS_COLUMNS = ", ".join(f"{s}_at" for s in REFERRAL_STATUSES)
_STATUS_MERGE = ",\n    ".join(f"{s}_at = LEAST(f.{s}_at, EXCLUDED.{s}_at)" for s in REFERRAL_STATUSES)
_NEWER = "(EXCLUDED.status_seq, EXCLUDED.status_at, EXCLUDED.status) > (f.status_seq, f.status_at, f.status)"
_REFERRAL_INPUT = (
    ("referral_id", "uuid"),
    ("dossier_id", "text"),
    ("partner_id", "text"),
    ("territory", "text"),
    ("motif", "text"),
    ("status", "text"),
    ("status_seq", "int"),
    ("status_at", "timestamptz"),
    ("outcome", "text"),
    ("reason", "text"),
    *((f"{s}_at", "timestamptz") for s in REFERRAL_STATUSES),
    ("reminders", "int"),
    ("reminder_at", "timestamptz"),
)
_REFERRAL_UPSERT = f"""
INSERT INTO {{table}} AS f
    (referral_id, dossier_id, partner_id, territory, motif, status, status_seq, status_at, outcome, reason,
     {_STATUS_COLUMNS}, reminders, reminder_at)
SELECT r.referral_id, NULLIF(r.dossier_id, '')::uuid, NULLIF(r.partner_id, ''), NULLIF(r.territory, ''),
       NULLIF(r.motif, ''), r.status, COALESCE(r.status_seq, -1), r.status_at, NULLIF(r.outcome, ''),
       NULLIF(r.reason, ''), {", ".join(f"r.{s}_at" for s in REFERRAL_STATUSES)}, r.reminders, r.reminder_at
  FROM {_unnest(_REFERRAL_INPUT)}
ON CONFLICT (referral_id) DO UPDATE SET
    dossier_id = COALESCE(f.dossier_id, EXCLUDED.dossier_id),
    partner_id = COALESCE(f.partner_id, EXCLUDED.partner_id),
    territory = COALESCE(f.territory, EXCLUDED.territory),
    motif = COALESCE(f.motif, EXCLUDED.motif),
    status = CASE WHEN EXCLUDED.status IS NOT NULL AND (f.status IS NULL OR {_NEWER})
                  THEN EXCLUDED.status ELSE f.status END,
    outcome = CASE WHEN EXCLUDED.status IS NOT NULL AND (f.status IS NULL OR {_NEWER})
                   THEN EXCLUDED.outcome ELSE f.outcome END,
    reason = CASE WHEN EXCLUDED.status IS NOT NULL AND (f.status IS NULL OR {_NEWER})
                  THEN EXCLUDED.reason ELSE f.reason END,
    status_at = CASE WHEN EXCLUDED.status IS NOT NULL AND (f.status IS NULL OR {_NEWER})
                     THEN EXCLUDED.status_at ELSE f.status_at END,
    status_seq = GREATEST(f.status_seq, EXCLUDED.status_seq),
    {_STATUS_MERGE},
    reminders = f.reminders + EXCLUDED.reminders,
    reminder_at = GREATEST(f.reminder_at, EXCLUDED.reminder_at)
"""

# Latest name per partner (migration 006): the greatest (from_request, name_at, name)
# wins (fold.NameVersion), so any arrival order or batch split gives the same name.
# Names compare in the "C" collation (code points, as Python's max in the fold does).
_NAME_INPUT = (("partner_id", "text"), ("from_request", "bool"), ("name_at", "timestamptz"), ("name", "text"))
_PARTNER_NAME_UPSERT = f"""
INSERT INTO {{table}} AS p (partner_id, from_request, name_at, name)
SELECT * FROM {_unnest(_NAME_INPUT)}
ON CONFLICT (partner_id) DO UPDATE
   SET from_request = EXCLUDED.from_request, name_at = EXCLUDED.name_at, name = EXCLUDED.name
 WHERE (EXCLUDED.from_request, EXCLUDED.name_at, EXCLUDED.name COLLATE "C")
       > (p.from_request, p.name_at, p.name COLLATE "C")
"""


_PARAMETER = re.compile(r"\$(\d+)")


def _shifted(sql: str, offset: int) -> str:
    """`sql` with its parameters $n numbered $(n + offset), to run beside other statements."""
    return _PARAMETER.sub(lambda m: f"${int(m[1]) + offset}", sql) if offset else sql


@functools.cache
def _batch_sql(tables: Tables, dossiers: bool, referrals: bool, names: bool) -> str:
    """The dossier upsert with its cells' move (cells.py), the referral upsert and the
    partner-name upsert of a batch as one statement (those it has): independent tables,
    so one round trip instead of three. Parameters: the dossier upsert's, then the
    referral upsert's, then the names'."""
    beside, offset = "", len(_DOSSIER_INPUT) + 1 if dossiers else 0
    if referrals:
        beside += f"referral_rows AS ({_shifted(_REFERRAL_UPSERT.format(table=tables.referrals), offset)}),\n"
        offset += len(_REFERRAL_INPUT)
    if names:
        beside += (
            f"name_rows AS ({_shifted(_PARTNER_NAME_UPSERT.format(table=tables.partner_names), offset)}),\n"
        )
    if dossiers:
        return upsert_moving_cells_sql(
            tables, _DOSSIER_UPSERT.format(table=tables.dossiers), "$1::uuid[]", beside
        )
    return f"WITH {beside.rstrip().rstrip(',')}\nSELECT 1"


def _columns(rows: Sequence[tuple[object, ...]], width: int) -> list[list[object]]:
    """Rows → one list per column (the unnest statements' parameters)."""
    return [list(column) for column in zip(*rows, strict=True)] if rows else [[] for _ in range(width)]


def _dossier_params(deltas: list[DossierDelta]) -> list[list[object]]:
    """The dossier upsert's parameters: its columns, then the flat motifs; the person_key
    column (_PERSON_KEY) is left empty, filled once the persons are resolved."""
    flat: list[object] = []
    rows: list[tuple[object, ...]] = []
    for d in deltas:
        motif_o = motif_n = None
        if d.motifs:
            motif_o, motif_n = len(flat), len(d.motifs[1])
            flat += d.motifs[1]
        rows.append(
            (
                d.dossier_id,
                d.territory,
                d.site,
                d.arrival_channel,
                d.urgent,
                d.opened_at,
                motif_o,
                motif_n,
                d.motifs[0] if d.motifs else None,
                d.stage[2] if d.stage else None,
                d.stage[0] if d.stage else None,
                d.stage[1] if d.stage else None,
                d.first.get("ecoute_at"),
                d.first.get("orientation_at"),
                d.first.get("suivi_at"),
                d.closed[0] if d.closed else None,
                d.closed[2] if d.closed else None,
                d.escalated_at,
                d.reminder_at,
                d.closure_proposed_at,
                d.last_activity_at,
                d.reopened,
                d.reminders,
                d.person_id,
                None,
            )
        )
    return [*_columns(rows, len(_DOSSIER_INPUT)), flat]


_PERSON_ID = len(_DOSSIER_INPUT) - 2  # columns of the dossier upsert's parameters
_PERSON_KEY = len(_DOSSIER_INPUT) - 1


@dataclass(frozen=True)
class BatchParams:
    """A fold's parameters of the batch statement (_batch_sql), built ahead of the
    transaction but for the persons' keys, known once they are resolved in it."""

    dossiers: bool
    referrals: bool
    names: bool
    params: list[list[object]]

    @classmethod
    def of(cls, folded: Fold) -> BatchParams:
        params: list[list[object]] = []
        if folded.dossiers:  # the upsert locks the rows in key order
            params += _dossier_params([folded.dossiers[k] for k in sorted(folded.dossiers)])
        if folded.referrals:
            rows = [_referral_row(folded.referrals[k]) for k in sorted(folded.referrals)]
            params += _columns(rows, len(_REFERRAL_INPUT))
        if folded.partner_names:
            names = [(partner, *version) for partner, version in sorted(folded.partner_names.items())]
            params += _columns(names, len(_NAME_INPUT))
        return cls(bool(folded.dossiers), bool(folded.referrals), bool(folded.partner_names), params)

    def with_keys(self, keys: dict[str, str]) -> list[list[object]]:
        """The parameters, the dossiers' person keys filled in from `keys`."""
        if not self.dossiers:
            return self.params
        persons = self.params[_PERSON_ID]
        return [
            *self.params[:_PERSON_KEY],
            [keys.get(str(p)) if p else None for p in persons],
            *self.params[_PERSON_KEY + 1 :],
        ]


def _referral_row(r: ReferralDelta) -> tuple[object, ...]:
    status = r.status
    return (
        r.referral_id,
        r.dossier_id,
        r.partner_id,
        r.territory,
        r.motif,
        status[2] if status else None,
        status[0] if status else None,
        status[1] if status else None,
        status[3] if status else "",
        status[4] if status else "",
        *(r.first.get(s) for s in REFERRAL_STATUSES),
        r.reminders,
        r.reminder_at,
    )


async def _lock_dossier_writes(conn: Connection, tables: Tables) -> None:
    """Serialises the batches that write dossier rows into one schema: a people relink
    updates other dossiers of the same persons in no set order, the cell upserts touch
    shared aggregate rows, and the cells' move reads the rows before the upsert from its
    statement's snapshot (cells.upsert_moving_cells_sql), which no other writer may
    change in between; so two projector instances side by side could miss each other's
    new dossiers, move cells twice or deadlock without it. Taken in its own statement,
    before the statements it protects take their snapshots. A rebuild's shadow schema
    has its own lock; referral-only batches take none."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"{tables.schema}.dossiers")


async def apply_fold(
    conn: Connection, folded: Fold, tables: Tables = LIVE, ahead: BatchParams | None = None
) -> None:
    """Writes a fold (`ahead`: its BatchParams when built beforehand)."""
    keys: dict[str, str] = {}
    persons = folded.persons
    if folded.dossiers or folded.merges:
        await _lock_dossier_writes(conn, tables)
    if persons or folded.merges:
        if folded.merges:
            await people.record_merges(conn, tables, folded.merges)
        ids = persons | {p for merge in folded.merges for p in merge}
        keys = await people.resolve(conn, tables, ids)
    batch = ahead if ahead is not None else BatchParams.of(folded)
    if batch.params:
        sql = _batch_sql(tables, batch.dossiers, batch.referrals, batch.names)
        await conn.execute(sql, *batch.with_keys(keys))
    if folded.merges:
        await people.rekey_merged(conn, tables, [(m, keys[m]) for m, _ in folded.merges])
    if keys:
        await people.relink(conn, tables, keys.values())  # moves the return cells of changed links
    await apply_appointments(conn, folded, tables)
    await apply_collective(conn, folded.collective, tables)
    await apply_aides(conn, folded.aides, tables)


async def project_batch(conn: Connection, events: Sequence[Event], tables: Tables = LIVE) -> None:
    """Applies events whose ids the caller has just inserted into the inbox."""
    await apply_fold(conn, fold(events), tables)


# Events folded between two yields to the event loop while a batch is prepared ahead:
# the previous batch's statements, waiting on the same loop, are sent without delay.
_FOLD_SLICE = 100


@dataclass(frozen=True)
class FoldedBatch:
    """A fetched batch folded ahead of its transaction (kernel.consumer.PreparedBatch)."""

    events: Sequence[Event]
    folded: Fold
    tables: Tables = LIVE
    params: BatchParams | None = None  # of `folded`

    async def apply(self, conn: Connection, fresh: Sequence[Event]) -> None:
        """Writes the batch's events that the inbox found new (`fresh`, a part of
        `events`): the fold done ahead when all are, else the new ones folded again."""
        if len(fresh) == len(self.events):
            await apply_fold(conn, self.folded, self.tables, self.params)
        else:
            await apply_fold(conn, fold(fresh), self.tables)


async def prepare_batch(events: Sequence[Event], tables: Tables = LIVE) -> FoldedBatch:
    """The fold of a batch, in slices (the consumer runs it while the previous batch is
    in the database); raises ValueError for a malformed event, as `fold` does."""
    folded = Fold()
    for start in range(0, len(events), _FOLD_SLICE):
        for event in events[start : start + _FOLD_SLICE]:
            folded.add(event)
        await asyncio.sleep(0)
    return FoldedBatch(events, folded, tables, BatchParams.of(folded))


async def project(conn: Connection, event: Event) -> None:
    """The per-message handler (a batch of one)."""
    await project_batch(conn, [event])
