"""The bilan (activity report) of a period and territories, from the fact tables.

Definitions (also in the README):
- dossiers opened: `opened_at` in [start, end);
- people received: distinct persons (after merges) with a dossier opened in
  [start, end) in the territories; a dossier opened without a person counts as one;
- dossiers solved: last closure in [start, end) with outcome `regle`;
- by motif / commune / channel: over dossiers opened (a dossier with two motifs counts
  in both, so motif percentages may add up to more than 100); by outcome: over
  dossiers closed in the period;
- stage durations (median, 90th percentile, `percentile_cont` interpolation) over the
  dossiers opened in the period that went through the stage;
- partners: referrals requested in the period; response = first acknowledgement
  (received, accepted or rejected) minus request; completion = completed minus request;
  each partner's name is the latest its referral events carried (any period), its id
  when none carried one.
- activity (appointments, visits, no-shows of the permanences): activity.py.
- collective actions (sessions held, participants, attendance, goals, outcomes):
  collective.py; signals (received, qualified, dossiers opened, escalated): signals.py;
  the CCAS's own aid (requests, decisions, amounts, budget lines, loans): aides.py.
The previous period is the one of equal length just before.

Read from the projector's pre-aggregates (migration 004), not from the fact rows: the
whole days of the period from the day cells (counts: exact), its whole months from the
monthly duration histograms; only the partial days / months at the edges of a period
not aligned on them are read from the fact rows (indexed by opened_at / closed_at).
People received = dossiers opened - returns (dossiers whose same person's previous
opening in the same commune is also in the period: return cells by opening day and
previous opening day) - the extra communes of persons seen in several selected
communes (flagged fact rows, few): exact, in O(days + returns) cells.
Durations come from log buckets of width 1 % (a bucket's mean stands for its values),
so each median / p90 is within 1 % of the exact `percentile_cont` over the fact rows
(exact when a bucket's values are equal); counts and percentages are exact.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from kernel.db import Connection
from services.reporting import activity, aides, collective, signals
from services.reporting.bilan_periods import days, months
from services.reporting.percentiles import percentile
from services.reporting.projection.cells import BUCKET_SQL, DURATION_STAGES, STAGE_SECONDS
from services.reporting.projection.tables import LIVE, Tables
from services.reporting.shares import Share
from services.reporting.shares import shares as _shares


@dataclass(frozen=True)
class StageDuration:
    stage: str
    median_s: float
    p90_s: float
    dossiers: int


@dataclass(frozen=True)
class PartnerFigures:
    partner_id: str
    name: str  # latest known name, else the partner id
    referrals: int
    accepted: int
    completed: int
    rejected: int
    expired: int
    median_response_s: float
    median_completion_s: float


@dataclass
class BilanFigures:
    start: datetime
    end: datetime
    territories: list[str]
    people_received: int = 0
    dossiers_opened: int = 0
    dossiers_solved: int = 0
    dossiers_closed: int = 0
    previous_people_received: int = 0
    previous_dossiers_opened: int = 0
    previous_dossiers_solved: int = 0
    previous_dossiers_closed: int = 0
    by_motif: list[Share] = field(default_factory=list)
    by_commune: list[Share] = field(default_factory=list)
    by_channel: list[Share] = field(default_factory=list)
    by_outcome: list[Share] = field(default_factory=list)
    stage_durations: list[StageDuration] = field(default_factory=list)
    partners: list[PartnerFigures] = field(default_factory=list)
    activity: activity.ActivityFigures = field(default_factory=activity.ActivityFigures)
    collective: collective.CollectiveFigures = field(default_factory=collective.CollectiveFigures)
    signals: signals.SignalFigures = field(default_factory=signals.SignalFigures)
    aides: aides.AidFigures = field(default_factory=aides.AidFigures)


async def _opened_counts_facts(
    conn: Connection, tables: Tables, territories: list[str], start: datetime, end: datetime
) -> tuple[int, dict[str, int], dict[str, int], dict[str, int]]:
    """Dossiers opened, and their counts by motif, commune and channel (one scan)."""
    rows = await conn.fetch(
        f"""WITH d AS MATERIALIZED (
                SELECT territory, arrival_channel, motifs FROM {tables.dossiers}
                 WHERE territory = ANY($1::text[]) AND opened_at >= $2 AND opened_at < $3)
            SELECT 'total' AS dim, '' AS code, count(*) AS n FROM d
            UNION ALL SELECT 'commune', territory, count(*) FROM d GROUP BY territory
            UNION ALL SELECT 'channel', COALESCE(arrival_channel, ''), count(*)
                        FROM d GROUP BY arrival_channel
            UNION ALL SELECT 'motif', m, count(*) FROM d, unnest(d.motifs) AS m GROUP BY m""",
        territories,
        start,
        end,
    )
    total = 0
    dims: dict[str, dict[str, int]] = {"commune": {}, "channel": {}, "motif": {}}
    for row in rows:
        if row["dim"] == "total":
            total = int(row["n"])
        else:
            dims[row["dim"]][row["code"]] = int(row["n"])
    return total, dims["motif"], dims["commune"], dims["channel"]


async def _closed_counts_facts(
    conn: Connection, tables: Tables, territories: list[str], start: datetime, end: datetime
) -> dict[str, int]:
    rows = await conn.fetch(
        f"""SELECT COALESCE(outcome, '') AS outcome, count(*) AS n FROM {tables.dossiers}
             WHERE territory = ANY($1::text[]) AND closed_at >= $2 AND closed_at < $3
             GROUP BY outcome""",
        territories,
        start,
        end,
    )
    return {row["outcome"]: int(row["n"]) for row in rows}


Histogram = dict[str, dict[int, list[float]]]  # stage → bucket → [count, sum of seconds]


def _add(into: dict[str, int], more: Mapping[str, int]) -> None:
    for code, n in more.items():
        into[code] = into.get(code, 0) + n


async def _opened_counts(
    conn: Connection, tables: Tables, territories: list[str], start: datetime, end: datetime
) -> tuple[int, dict[str, int], dict[str, int], dict[str, int]]:
    """Dossiers opened, and their counts by motif, commune and channel: day cells + edges."""
    inner, edges = days(start, end)
    total = 0
    dims: dict[str, dict[str, int]] = {"commune": {}, "channel": {}, "motif": {}}
    if inner:
        rows = await conn.fetch(
            f"""WITH c AS MATERIALIZED (
                    SELECT territory, channel, motifs, sum(n) AS n FROM {tables.opened_cells}
                     WHERE territory = ANY($1::text[]) AND day >= $2 AND day < $3
                     GROUP BY territory, channel, motifs)
                SELECT 'total' AS dim, '' AS code, COALESCE(sum(n), 0) AS n FROM c
                UNION ALL SELECT 'commune', territory, sum(n) FROM c GROUP BY territory HAVING sum(n) <> 0
                UNION ALL SELECT 'channel', channel, sum(n) FROM c GROUP BY channel HAVING sum(n) <> 0
                UNION ALL SELECT 'motif', m, sum(n) FROM c, unnest(c.motifs) AS m GROUP BY m
                           HAVING sum(n) <> 0""",
            territories,
            *inner,
        )
        for row in rows:
            if row["dim"] == "total":
                total += int(row["n"])
            else:
                dims[row["dim"]][row["code"]] = int(row["n"])
    for a, b in edges:
        n, motifs, communes, channels = await _opened_counts_facts(conn, tables, territories, a, b)
        total += n
        _add(dims["motif"], motifs)
        _add(dims["commune"], communes)
        _add(dims["channel"], channels)
    return total, dims["motif"], dims["commune"], dims["channel"]


async def _returns(
    conn: Connection, tables: Tables, territories: list[str], start: datetime, end: datetime
) -> int:
    """Dossiers opened in [start, end) whose person's previous dossier in the same
    commune was opened in [start, end) too: the day cells of whole days, fact rows for
    the partial days and for previous openings in the partial first day."""
    inner, edges = days(start, end)
    count = 0
    if inner:
        count += await conn.fetchval(
            f"""SELECT COALESCE(sum(n), 0) FROM {tables.return_cells}
                 WHERE territory = ANY($1::text[]) AND day >= $2 AND day < $3 AND previous_day >= $2""",
            territories,
            *inner,
        )
        first_day = datetime.combine(inner[0], datetime.min.time(), UTC)
        if start < first_day:
            count += await conn.fetchval(
                f"""SELECT count(*) FROM {tables.dossiers}
                     WHERE previous_opened_at >= $2 AND previous_opened_at < $3
                       AND opened_at >= $3 AND opened_at < $4 AND territory = ANY($1::text[])""",
                territories,
                start,
                first_day,
                datetime.combine(inner[1], datetime.min.time(), UTC),
            )
    for a, b in edges:
        count += await conn.fetchval(
            f"""SELECT count(*) FROM {tables.dossiers}
                 WHERE territory = ANY($1::text[]) AND opened_at >= $2 AND opened_at < $3
                   AND previous_opened_at >= $4""",
            territories,
            a,
            b,
            start,
        )
    return int(count)


async def _extra_communes(
    conn: Connection, tables: Tables, territories: list[str], start: datetime, end: datetime
) -> int:
    """For persons with dossiers opened in several of the territories in [start, end):
    how many times too many the per-commune counts take them."""
    if len(set(territories)) < 2:
        return 0
    extra = await conn.fetchval(
        f"""SELECT COALESCE(sum(communes - 1), 0) FROM (
                SELECT count(DISTINCT territory) AS communes FROM {tables.dossiers}
                 WHERE multi_territory AND opened_at >= $2 AND opened_at < $3
                   AND territory = ANY($1::text[])
                 GROUP BY person_key) p""",
        territories,
        start,
        end,
    )
    return int(extra)


async def _people(
    conn: Connection, tables: Tables, territories: list[str], start: datetime, end: datetime, opened: int
) -> int:
    returns = await _returns(conn, tables, territories, start, end)
    return opened - returns - await _extra_communes(conn, tables, territories, start, end)


async def _closed_counts(
    conn: Connection, tables: Tables, territories: list[str], start: datetime, end: datetime
) -> dict[str, int]:
    inner, edges = days(start, end)
    counts: dict[str, int] = {}
    if inner:
        rows = await conn.fetch(
            f"""SELECT outcome, sum(n) AS n FROM {tables.closed_cells}
                 WHERE territory = ANY($1::text[]) AND day >= $2 AND day < $3
                 GROUP BY outcome HAVING sum(n) <> 0""",
            territories,
            *inner,
        )
        counts = {row["outcome"]: int(row["n"]) for row in rows}
    for a, b in edges:
        _add(counts, await _closed_counts_facts(conn, tables, territories, a, b))
    return counts


# The edge rows' histogram: each row's stage seconds computed once, then one grouped
# scan per stage (faster than a lateral row per stage and row).
_EDGE_SECONDS = ",\n           ".join(
    f"extract(epoch FROM {expr})::float8 AS {stage}" for stage, expr in STAGE_SECONDS
)
_EDGE_HISTOGRAM = f"""WITH d AS MATERIALIZED (
    SELECT {_EDGE_SECONDS}
      FROM {{dossiers}} f
     WHERE f.territory = ANY($1::text[]) AND f.opened_at >= $2 AND f.opened_at < $3)
""" + "\nUNION ALL ".join(
    f"SELECT '{stage}' AS stage, {BUCKET_SQL.format(secs=stage)} AS bucket, count(*) AS n, "
    f"sum({stage}) AS seconds FROM d WHERE {stage} IS NOT NULL GROUP BY 2"
    for stage, _ in STAGE_SECONDS
)


async def _durations(
    conn: Connection, tables: Tables, territories: list[str], start: datetime, end: datetime
) -> list[StageDuration]:
    """Stage durations from the monthly histograms, plus the partial months' fact rows."""
    inner, edges = months(start, end)
    histogram: Histogram = {s: {} for s in DURATION_STAGES}
    rows = []
    if inner:
        rows += await conn.fetch(
            f"""SELECT stage, bucket, sum(n) AS n, sum(seconds) AS seconds FROM {tables.duration_cells}
                 WHERE territory = ANY($1::text[]) AND month >= $2 AND month < $3
                 GROUP BY stage, bucket HAVING sum(n) <> 0""",
            territories,
            *inner,
        )
    edge_sql = _EDGE_HISTOGRAM.format(dossiers=tables.dossiers)
    for a, b in edges:
        rows += await conn.fetch(edge_sql, territories, a, b)
    for row in rows:
        cell = histogram[row["stage"]].setdefault(int(row["bucket"]), [0.0, 0.0])
        cell[0] += float(row["n"])
        cell[1] += float(row["seconds"])
    return [
        StageDuration(
            s,
            percentile(histogram[s], 0.5),
            percentile(histogram[s], 0.9),
            int(sum(n for n, _ in histogram[s].values())),
        )
        for s in DURATION_STAGES
    ]


async def _partners(
    conn: Connection, tables: Tables, territories: list[str], start: datetime, end: datetime
) -> list[PartnerFigures]:
    rows = await conn.fetch(
        f"""WITH p AS (
            SELECT COALESCE(partner_id, '') AS partner_id, count(*) AS referrals,
                   count(accepted_at) AS accepted, count(completed_at) AS completed,
                   count(rejected_at) AS rejected, count(expired_at) AS expired,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM
                       LEAST(received_at, accepted_at, rejected_at) - requested_at)) AS response,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM
                       completed_at - requested_at)) AS completion
              FROM {tables.referrals}
             WHERE territory = ANY($1::text[]) AND requested_at >= $2 AND requested_at < $3
             GROUP BY partner_id)
            SELECT p.*, COALESCE(NULLIF(n.name, ''), p.partner_id) AS name
              FROM p LEFT JOIN {tables.partner_names} n USING (partner_id)
             ORDER BY p.referrals DESC, p.partner_id""",
        territories,
        start,
        end,
    )
    return [
        PartnerFigures(
            row["partner_id"],
            row["name"],
            int(row["referrals"]),
            int(row["accepted"]),
            int(row["completed"]),
            int(row["rejected"]),
            int(row["expired"]),
            float(row["response"] or 0.0),
            float(row["completion"] or 0.0),
        )
        for row in rows
    ]


Counts = tuple[int, dict[str, int], dict[str, int], dict[str, int]]
Durations = list[StageDuration]
Partners = list[PartnerFigures]
Activity = activity.Grouped
# The collective actions' counts and the signals received, of one period.
Outreach = tuple[collective.CollectiveCounts, signals.Grouped]
# The bilan's queries run in milliseconds; JIT compiling them costs more (measured:
# 50-100 ms more on a period cut mid-month over 1,000,000 dossiers).
_NO_JIT = "SET LOCAL jit = off"
_SNAPSHOT_ID = re.compile(r"^[0-9A-Fa-f]+-[0-9A-Fa-f]+(-[0-9]+)?$")


async def compute(
    conn: Connection,
    territories: list[str],
    start: datetime,
    end: datetime,
    tables: Tables = LIVE,
    helper: Connection | None = None,
) -> BilanFigures:
    """Every figure of the bilan, read in one repeatable-read snapshot. With a `helper`
    connection, the previous period's counts are read on it while `conn` reads the
    period's figures, in the same snapshot (exported by `conn`): two cores on one report."""
    previous_start = start - (end - start)

    async def counts(
        c: Connection, a: datetime, b: datetime
    ) -> tuple[Counts, int, dict[str, int], Activity, Outreach]:
        opened = await _opened_counts(c, tables, territories, a, b)
        people = await _people(c, tables, territories, a, b, opened[0])
        closed = await _closed_counts(c, tables, territories, a, b)
        appointments = await activity.grouped(c, tables, territories, a, b)
        outreach = (
            await collective.counts(c, tables, territories, a, b),
            await signals.grouped(c, tables, territories, a, b),
        )
        return opened, people, closed, appointments, outreach

    async def current(
        c: Connection,
    ) -> tuple[Counts, int, dict[str, int], Activity, Outreach, Durations, Partners, aides.AidFigures]:
        opened, people, closed, appointments, outreach = await counts(c, start, end)
        durations = await _durations(c, tables, territories, start, end)
        partners = await _partners(c, tables, territories, start, end)
        aid = await aides.compute(c, tables, territories, start, end)
        return opened, people, closed, appointments, outreach, durations, partners, aid

    async with conn.transaction(isolation="repeatable_read", readonly=True):
        await conn.execute(_NO_JIT)
        if helper is None:
            now = await current(conn)
            before = await counts(conn, previous_start, start)
        else:
            snapshot = await conn.fetchval("SELECT pg_export_snapshot()")
            if not _SNAPSHOT_ID.match(snapshot):
                raise RuntimeError("unexpected snapshot id")
            async with helper.transaction(isolation="repeatable_read", readonly=True):
                await helper.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
                await helper.execute(_NO_JIT)
                async with asyncio.TaskGroup() as group:
                    now_task = group.create_task(current(conn))
                    before_task = group.create_task(counts(helper, previous_start, start))
                now, before = now_task.result(), before_task.result()
        names = await activity.host_names(conn, tables, activity.partner_ids(now[3], before[3]))
    (opened, motifs, communes, channels), people, closed, appointments, outreach, durations, partners, aid = (
        now
    )
    (p_opened, p_motifs, p_communes, p_channels), p_people, p_closed, p_appointments, p_outreach = before
    closed_total, p_closed_total = sum(closed.values()), sum(p_closed.values())
    return BilanFigures(
        start=start,
        end=end,
        territories=territories,
        people_received=people,
        dossiers_opened=opened,
        dossiers_solved=closed.get("regle", 0),
        dossiers_closed=closed_total,
        previous_people_received=p_people,
        previous_dossiers_opened=p_opened,
        previous_dossiers_solved=p_closed.get("regle", 0),
        previous_dossiers_closed=p_closed_total,
        by_motif=_shares(motifs, p_motifs, opened),
        by_commune=_shares(communes, p_communes, opened),
        by_channel=_shares(channels, p_channels, opened),
        by_outcome=_shares(closed, p_closed, closed_total),
        stage_durations=durations,
        partners=partners,
        activity=activity.figures(appointments, p_appointments, names),
        collective=collective.figures(outreach[0], p_outreach[0]),
        signals=signals.figures(outreach[1], p_outreach[1]),
        aides=aid,
    )
