"""The projection's SQL: a batch's deltas (fold.py) merged into their rows, one upsert
per dossier, referral and partner name (appointments: appointments.py) whose every
column merges as the fold does (first time = LEAST, latest-at-wins with the same
tie-break, counters add up), and the bilan's cells moved with the rows (cells.py).
Every function takes the `Tables` it writes to: the live consumer passes the
`reporting` schema, the rebuild a shadow schema.

Called inside the consumer's transaction, after the inbox insert (exactly once).
"""

from __future__ import annotations

from collections.abc import Sequence

from domain.vocabulary import REFERRAL_STATUSES
from kernel.db import Connection
from kernel.events import Event
from services.reporting import people
from services.reporting.projection.aides import apply_aides
from services.reporting.projection.appointments import apply_appointments
from services.reporting.projection.cells import move_cells
from services.reporting.projection.collective import apply_collective
from services.reporting.projection.fold import DossierDelta, Fold, ReferralDelta, fold
from services.reporting.projection.tables import LIVE, Tables

_DOSSIER_UPSERT = """
INSERT INTO {table} AS f
    (dossier_id, territory, site, arrival_channel, urgent, opened_at, motifs, motifs_at,
     stage, stage_at, stage_rank, ecoute_at, orientation_at, suivi_at, closed_at, outcome,
     escalated, escalated_at, reminder_at, closure_proposed_at, last_activity_at, reopened, reminders,
     person_id, person_key)
VALUES ($1::uuid, $2::text, $3::text, $4::text, $5::bool, $6::timestamptz, $7::text[], $8::timestamptz,
        COALESCE($9::text, 'reception'), $10::timestamptz, COALESCE($11::int, 0), $12::timestamptz,
        $13::timestamptz, $14::timestamptz, $15::timestamptz, $16::text, $17::timestamptz IS NOT NULL,
        $17::timestamptz, $18::timestamptz, $19::timestamptz, $20::timestamptz, $21::int, $22::int,
        $23::uuid, $24::uuid)
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
_STATUS_PARAMS = ", ".join(f"${i}::timestamptz" for i in range(11, 11 + len(REFERRAL_STATUSES)))
_STATUS_MERGE = ",\n    ".join(f"{s}_at = LEAST(f.{s}_at, EXCLUDED.{s}_at)" for s in REFERRAL_STATUSES)
_NEWER = "(EXCLUDED.status_seq, EXCLUDED.status_at, EXCLUDED.status) > (f.status_seq, f.status_at, f.status)"
_REFERRAL_UPSERT = f"""
INSERT INTO {{table}} AS f
    (referral_id, dossier_id, partner_id, territory, motif, status, status_seq, status_at, outcome, reason,
     {_STATUS_COLUMNS}, reminders, reminder_at)
VALUES ($1::uuid, NULLIF($2::text, '')::uuid, NULLIF($3::text, ''), NULLIF($4::text, ''),
        NULLIF($5::text, ''), $6::text, COALESCE($7::int, -1), $8::timestamptz, NULLIF($9::text, ''),
        NULLIF($10::text, ''), {_STATUS_PARAMS}, $20::int, $21::timestamptz)
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
_PARTNER_NAME_UPSERT = """
INSERT INTO {table} AS p (partner_id, from_request, name_at, name)
VALUES ($1::text, $2::bool, $3::timestamptz, $4::text)
ON CONFLICT (partner_id) DO UPDATE
   SET from_request = EXCLUDED.from_request, name_at = EXCLUDED.name_at, name = EXCLUDED.name
 WHERE (EXCLUDED.from_request, EXCLUDED.name_at, EXCLUDED.name COLLATE "C")
       > (p.from_request, p.name_at, p.name COLLATE "C")
"""


def _dossier_row(d: DossierDelta, keys: dict[str, str]) -> tuple[object, ...]:
    return (
        d.dossier_id,
        d.territory,
        d.site,
        d.arrival_channel,
        d.urgent,
        d.opened_at,
        d.motifs[1] if d.motifs else None,
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
        keys.get(d.person_id) if d.person_id else None,
    )


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
    updates other dossiers of the same persons in no set order, and the cell upserts (-1
    then +1, two statements) touch shared aggregate rows, so two projector instances side
    by side could miss each other's new dossiers or deadlock. A rebuild's shadow schema
    has its own lock; referral-only batches take none."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"{tables.schema}.dossiers")


async def apply_fold(conn: Connection, folded: Fold, tables: Tables = LIVE) -> None:
    keys: dict[str, str] = {}
    persons = folded.persons
    if folded.dossiers or folded.merges:
        await _lock_dossier_writes(conn, tables)
    if persons or folded.merges:
        if folded.merges:
            await people.record_merges(conn, tables, folded.merges)
        ids = persons | {p for merge in folded.merges for p in merge}
        keys = await people.resolve(conn, tables, ids)
    if folded.dossiers:
        ordered = sorted(folded.dossiers)
        # Every existing row of the batch is locked here, in key order, before any write:
        # concurrent batches cannot deadlock (hence no skipping rows whose cells stay).
        await move_cells(conn, tables, ordered, -1)  # locks the existing rows, leaves their cells
        await conn.executemany(
            _DOSSIER_UPSERT.format(table=tables.dossiers),
            [_dossier_row(folded.dossiers[k], keys) for k in ordered],
        )
        await move_cells(conn, tables, ordered, +1)
    if folded.merges:
        await people.rekey_merged(conn, tables, [(m, keys[m]) for m, _ in folded.merges])
    if keys:
        await people.relink(conn, tables, keys.values())  # moves the return cells of changed links
    if folded.referrals:
        await conn.executemany(
            _REFERRAL_UPSERT.format(table=tables.referrals),
            [_referral_row(folded.referrals[k]) for k in sorted(folded.referrals)],
        )
    if folded.partner_names:
        await conn.executemany(
            _PARTNER_NAME_UPSERT.format(table=tables.partner_names),
            [(partner, *version) for partner, version in sorted(folded.partner_names.items())],
        )
    await apply_appointments(conn, folded, tables)
    await apply_collective(conn, folded.collective, tables)
    await apply_aides(conn, folded.aides, tables)


async def project_batch(conn: Connection, events: Sequence[Event], tables: Tables = LIVE) -> None:
    """Applies events whose ids the caller has just inserted into the inbox."""
    await apply_fold(conn, fold(events), tables)


async def project(conn: Connection, event: Event) -> None:
    """The per-message handler (a batch of one)."""
    await project_batch(conn, [event])
