"""Projects domain events into reporting's fact tables (codes and times only, plus
the partner organisations' names for the bilan).

Order-free and batchable: a batch of events is first folded in memory into one
delta per dossier, per referral and per partner name, then each delta is merged into
its row with one upsert whose every column merges commutatively (first time = LEAST,
latest-at-wins with a deterministic tie-break, counters add up). The same result
comes out of any arrival order and any batch split, so a rebuild from the stream
gives the live figures exactly. Every function takes the `Tables` it writes to: the live consumer
passes the `reporting` schema, the rebuild a shadow schema.

Called inside the consumer's transaction, after the inbox insert (exactly once).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from entraide.v1 import events_pb2
from google.protobuf.timestamp_pb2 import Timestamp

from domain.vocabulary import REFERRAL_STATUSES, STAGES
from kernel.db import Connection
from kernel.events import Event
from services.reporting import people

SCHEMA = "reporting"
CONSUMER = "reporting-projector"
# Taken shared by every projector transaction, exclusive by the rebuild's cut-over.
PROJECTION_LOCK = 0x52657072  # "Repr"
STAGE_RANK: dict[str, int] = {stage: rank for rank, stage in enumerate(STAGES)}
FIRST_TIME_COLUMNS = {"ecoute": "ecoute_at", "orientation": "orientation_at", "suivi": "suivi_at"}
DOSSIER_TYPES = frozenset(
    {
        "entraide.dossier.opened",
        "entraide.dossier.stage_changed",
        "entraide.dossier.ecoute_completed",
        "entraide.dossier.closed",
        "entraide.dossier.escalated",
        "entraide.dossier.reopened",
        "entraide.dossier.reminder",
        "entraide.dossier.closure_proposed",
        "entraide.dossier.interview_recorded",
        "entraide.dossier.follow_up_recorded",
        "entraide.dossier.assigned",
    }
)
REFERRAL_TYPE = "entraide.referral.status_changed"
MERGED_TYPE = "entraide.person.merged"


@dataclass(frozen=True)
class Tables:
    """Where the projections live: `reporting` live, a shadow schema during a rebuild."""

    schema: str = SCHEMA

    @property
    def dossiers(self) -> str:
        return f"{self.schema}.dossier_facts"

    @property
    def referrals(self) -> str:
        return f"{self.schema}.referral_facts"

    @property
    def inbox(self) -> str:
        return f"{self.schema}.inbox"

    @property
    def opened_cells(self) -> str:
        return f"{self.schema}.opened_cells"

    @property
    def closed_cells(self) -> str:
        return f"{self.schema}.closed_cells"

    @property
    def duration_cells(self) -> str:
        return f"{self.schema}.duration_cells"

    @property
    def return_cells(self) -> str:
        return f"{self.schema}.return_cells"

    @property
    def person_aliases(self) -> str:
        return f"{self.schema}.person_aliases"

    @property
    def partner_names(self) -> str:
        return f"{self.schema}.partner_names"


LIVE = Tables()


def _at(stamp: Timestamp) -> datetime:
    return stamp.ToDatetime(tzinfo=UTC)


def _min(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else min(a, b)


def _max(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else max(a, b)


def _person_id(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ValueError("person id is not a uuid") from None


Versioned = tuple[datetime, int, str]  # (at, tie-break rank, value): the greatest wins
# A partner's name as a referral event carries it: (from the `requested` event, at, name),
# the greatest wins. A referral's events all repeat the name read from the directory when
# it was requested, so its `requested` event dates that name exactly, while a later status
# (at, after the partner may have been renamed) would make an old name look new: names of
# `requested` events rank first, then the latest `at`, then the name (deterministic).
NameVersion = tuple[bool, datetime, str]


def _latest(a: Versioned | None, b: Versioned | None) -> Versioned | None:
    return b if a is None else a if b is None else max(a, b)


@dataclass
class DossierDelta:
    dossier_id: str
    territory: str = ""
    person_id: str | None = None
    site: str | None = None
    arrival_channel: str | None = None
    urgent: bool | None = None
    opened_at: datetime | None = None
    motifs: tuple[datetime, list[str]] | None = None
    stage: Versioned | None = None
    first: dict[str, datetime] = field(default_factory=dict)
    closed: Versioned | None = None
    escalated_at: datetime | None = None
    reminder_at: datetime | None = None
    closure_proposed_at: datetime | None = None
    last_activity_at: datetime | None = None
    reopened: int = 0
    reminders: int = 0

    def touch(self, territory: str, at: datetime) -> None:
        self.territory = self.territory or territory
        self.last_activity_at = _max(self.last_activity_at, at)

    def set_motifs(self, at: datetime, motifs: list[str]) -> None:
        if motifs and (
            self.motifs is None or (at, ",".join(motifs)) > (self.motifs[0], ",".join(self.motifs[1]))
        ):
            self.motifs = (at, motifs)

    def set_stage(self, at: datetime, stage: str) -> None:
        self.stage = _latest(self.stage, (at, STAGE_RANK.get(stage, 0), stage))
        column = FIRST_TIME_COLUMNS.get(stage)
        if column:
            self.first[column] = _min(self.first.get(column), at) or at


@dataclass
class ReferralDelta:
    referral_id: str
    dossier_id: str = ""
    partner_id: str = ""
    territory: str = ""
    motif: str = ""
    status: tuple[int, datetime, str, str, str] | None = None  # sequence, at, status, outcome, reason
    first: dict[str, datetime] = field(default_factory=dict)
    reminders: int = 0
    reminder_at: datetime | None = None


@dataclass
class Fold:
    dossiers: dict[str, DossierDelta] = field(default_factory=dict)
    referrals: dict[str, ReferralDelta] = field(default_factory=dict)
    merges: list[tuple[str, str]] = field(default_factory=list)  # (merged person, kept person)
    partner_names: dict[str, NameVersion] = field(default_factory=dict)  # the greatest per partner

    @property
    def persons(self) -> set[str]:
        """Person ids of the dossiers opened in this batch."""
        return {d.person_id for d in self.dossiers.values() if d.person_id}

    def dossier(self, dossier_id: str) -> DossierDelta:
        if not dossier_id:
            raise ValueError("dossier event without a dossier id")
        delta = self.dossiers.get(dossier_id)
        if delta is None:
            delta = self.dossiers[dossier_id] = DossierDelta(dossier_id)
        return delta

    def add(self, event: Event) -> None:
        """Folds one event; raises ValueError for a malformed one (dead-lettered)."""
        if event.type in DOSSIER_TYPES:
            self._dossier_event(event)
        elif event.type == REFERRAL_TYPE:
            self._referral_event(event.parse(events_pb2.ReferralStatusChanged))
        elif event.type == MERGED_TYPE:
            merged = event.parse(events_pb2.PersonsMerged)
            self.merges.append((_person_id(merged.merged_id), _person_id(merged.keep_id)))

    def _dossier_event(self, event: Event) -> None:
        kind = event.type.removeprefix("entraide.dossier.")
        if kind == "opened":
            opened = event.parse(events_pb2.DossierOpened)
            if not opened.motifs or not opened.territory:
                raise ValueError("dossier.opened without territory or motifs")
            at = _at(opened.opened_at)
            d = self.dossier(opened.dossier_id)
            d.touch(opened.territory, at)
            d.site, d.arrival_channel, d.urgent = opened.site, opened.arrival_channel, opened.urgent
            d.person_id = _person_id(opened.person_id) if opened.person_id else None
            d.opened_at = at
            d.set_motifs(at, list(opened.motifs))
            d.set_stage(at, "reception")
        elif kind == "stage_changed":
            changed = event.parse(events_pb2.DossierStageChanged)
            at = _at(changed.at)
            d = self.dossier(changed.dossier_id)
            d.touch(changed.territory, at)
            d.set_stage(at, changed.to_stage)
        elif kind == "ecoute_completed":
            ecoute = event.parse(events_pb2.EcouteCompleted)
            at = _at(ecoute.at)
            d = self.dossier(ecoute.dossier_id)
            d.touch(ecoute.territory, at)
            d.set_motifs(at, list(ecoute.motifs))
        elif kind == "closed":
            closed = event.parse(events_pb2.DossierClosed)
            at = _at(closed.at)
            d = self.dossier(closed.dossier_id)
            d.touch(closed.territory, at)
            d.closed = _latest(d.closed, (at, 0, closed.outcome))
            d.set_stage(at, "cloture")
        elif kind == "escalated":
            escalated = event.parse(events_pb2.DossierEscalated)
            d = self.dossier(escalated.dossier_id)
            d.territory = d.territory or escalated.territory
            d.escalated_at = _min(d.escalated_at, _at(escalated.at))
        elif kind == "reopened":
            reopened = event.parse(events_pb2.DossierReopened)
            at = _at(reopened.at)
            d = self.dossier(reopened.dossier_id)
            d.touch(reopened.territory, at)
            d.reopened += 1
        elif kind == "reminder":
            reminder = event.parse(events_pb2.SuiviReminder)
            d = self.dossier(reminder.dossier_id)
            d.territory = d.territory or reminder.territory
            d.reminders += 1
            d.reminder_at = _max(d.reminder_at, _at(reminder.at))
        elif kind == "closure_proposed":
            proposed = event.parse(events_pb2.ClosureProposed)
            d = self.dossier(proposed.dossier_id)
            d.territory = d.territory or proposed.territory
            d.closure_proposed_at = _max(d.closure_proposed_at, _at(proposed.at))
        elif kind == "interview_recorded":
            interview = event.parse(events_pb2.InterviewRecorded)
            self.dossier(interview.dossier_id).touch(interview.territory, _at(interview.at))
        elif kind == "follow_up_recorded":
            follow_up = event.parse(events_pb2.FollowUpRecorded)
            self.dossier(follow_up.dossier_id).touch(follow_up.territory, _at(follow_up.at))
        elif kind == "assigned":
            assigned = event.parse(events_pb2.DossierAssigned)
            self.dossier(assigned.dossier_id).touch(assigned.territory, _at(assigned.at))

    def _referral_event(self, data: events_pb2.ReferralStatusChanged) -> None:
        if not data.referral_id or not data.status:
            raise ValueError("referral.status_changed without referral id or status")
        r = self.referrals.get(data.referral_id)
        if r is None:
            r = self.referrals[data.referral_id] = ReferralDelta(data.referral_id)
        r.dossier_id = r.dossier_id or data.dossier_id
        r.partner_id = r.partner_id or data.partner_id
        r.territory = r.territory or data.territory
        r.motif = r.motif or data.motif
        at = _at(data.at)
        if data.partner_id and data.partner_name:
            name = (data.status == "requested", at, data.partner_name)
            known = self.partner_names.get(data.partner_id)
            if known is None or name > known:
                self.partner_names[data.partner_id] = name
        if data.status == "reminder":
            r.reminders += 1
            r.reminder_at = _max(r.reminder_at, at)
            return
        if data.status in REFERRAL_STATUSES:
            r.first[data.status] = _min(r.first.get(data.status), at) or at
        candidate = (data.sequence, at, data.status, data.outcome, data.reason)
        if r.status is None or candidate > r.status:
            r.status = candidate


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
# wins (NameVersion), so any arrival order or batch split gives the same name. Names
# compare in the "C" collation (code points, as Python's max in the fold does).
_PARTNER_NAME_UPSERT = """
INSERT INTO {table} AS p (partner_id, from_request, name_at, name)
VALUES ($1::text, $2::bool, $3::timestamptz, $4::text)
ON CONFLICT (partner_id) DO UPDATE
   SET from_request = EXCLUDED.from_request, name_at = EXCLUDED.name_at, name = EXCLUDED.name
 WHERE (EXCLUDED.from_request, EXCLUDED.name_at, EXCLUDED.name COLLATE "C")
       > (p.from_request, p.name_at, p.name COLLATE "C")
"""


# The bilan's pre-aggregates (migration 004): the cells of the given fact rows, times
# $2 (-1 before their upsert, with FOR UPDATE; +1 after it). A fact row whose opening
# day, closure day, outcome, motifs, channel or stage times change thus leaves its old
# cells and enters its new ones in the same transaction: any arrival order, duplicate
# (caught by the inbox) or batch split gives the cells of the final fact rows.
DURATION_LOG_BASE = 1.01  # histogram bucket width: the bilan's durations are within 1 %
STAGE_SECONDS = (
    ("reception", "f.ecoute_at - f.opened_at"),
    ("ecoute", "COALESCE(f.orientation_at, f.suivi_at, f.closed_at) - f.ecoute_at"),
    ("orientation", "COALESCE(f.suivi_at, f.closed_at) - f.orientation_at"),
    ("suivi", "f.closed_at - f.suivi_at"),
    ("total", "f.closed_at - f.opened_at"),
)
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
    return CELLS_SQL.format(
        dossiers=tables.dossiers,
        opened_cells=tables.opened_cells,
        closed_cells=tables.closed_cells,
        duration_cells=tables.duration_cells,
        rows=rows,
    )


async def _move_cells(conn: Connection, tables: Tables, ids: list[str], sign: int) -> None:
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


def fold(events: Sequence[Event]) -> Fold:
    folded = Fold()
    for event in events:
        folded.add(event)
    return folded


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
        await _move_cells(conn, tables, ordered, -1)  # locks the existing rows, leaves their cells
        await conn.executemany(
            _DOSSIER_UPSERT.format(table=tables.dossiers),
            [_dossier_row(folded.dossiers[k], keys) for k in ordered],
        )
        await _move_cells(conn, tables, ordered, +1)
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


async def project_batch(conn: Connection, events: Sequence[Event], tables: Tables = LIVE) -> None:
    """Applies events whose ids the caller has just inserted into the inbox."""
    await apply_fold(conn, fold(events), tables)


async def project(conn: Connection, event: Event) -> None:
    """The per-message handler (a batch of one)."""
    await project_batch(conn, [event])
