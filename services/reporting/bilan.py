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

Read from the projector's pre-aggregates (migrations 004, 010), not from the fact rows
(bilan_periods.cut): counts (exact) from the month cells of the period's whole months,
the day cells of its other whole days and the fact rows of its partial days, in one
statement per period; durations from the histograms of its whole months as the fewest
calendar years, quarters and months, and the fact rows of its partial months (their
index alone). People received = dossiers opened - returns (dossiers whose same
person's previous opening in the same commune is also in the period: return cells by
opening month / day and previous opening month / day) - the extra communes of persons
seen in several selected communes (flagged fact rows, few): exact, in O(months + days
+ returns) cells.
Durations come from log buckets of width 1 % (a bucket's mean stands for its values),
so each median / p90 is within 1 % of the exact `percentile_cont` over the fact rows
(exact when a bucket's values are equal); counts and percentages are exact.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime

from asyncpg import Record

from kernel.db import Connection
from services.reporting import activity, aides, collective, signals
from services.reporting.bilan_periods import Cut, cut, spans
from services.reporting.percentiles import percentile
from services.reporting.projection import cell_tables
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


Histogram = dict[str, dict[int, list[float]]]  # stage → bucket → [count, sum of seconds]

# Every count of one period in one statement (one round trip), read from the layers of
# bilan_periods.cut: month cells, day cells, fact rows; only the layers the period has
# (a calendar year: month cells alone), so PostgreSQL plans and probes no empty range.
# Placeholders: $t territories, $s / $ds / $de / $e start, day_start, day_end, end
# (timestamptz), $dds / $dms / $dme / $dde day_start, month_start, month_end, day_end
# (dates); `_bind` numbers the ones used. Rows: (dim, code, n) with dim in total /
# commune / channel / motif (dossiers opened), outcome (closed), returns, extra
# (people.py); sums cast to bigint (decoded faster than numeric).
_IN = "territory = ANY($t::text[])"
_FACT_COLUMNS = (
    "territory, COALESCE(arrival_channel, '') AS channel, COALESCE(motifs, '{{}}'::text[]) AS motifs, 1 AS n"
)


def _range(column: str, a: str, b: str) -> str:
    return f"{_IN} AND {column} >= ${a} AND {column} < ${b}"


def _cell_layer(
    opened: str, closed: str, returns: str, key: str, a: str, b: str, since: str
) -> tuple[str, str, list[str]]:
    """A layer of day or month cells (`key`) over [$a, $b), dates; its returns are those
    whose previous opening's day / month is >= $since."""
    return (
        f"SELECT territory, channel, motifs, n FROM {{{opened}}} WHERE {_range(key, a, b)}",
        f"SELECT outcome, n FROM {{{closed}}} WHERE {_range(key, a, b)}",
        [f"SELECT sum(n) FROM {{{returns}}} WHERE {_range(key, a, b)} AND previous_{key} >= ${since}"],
    )


def _fact_layer(a: str, b: str) -> tuple[str, str, list[str]]:
    """A layer of fact rows over [$a, $b) (timestamptz)."""
    return (
        f"SELECT {_FACT_COLUMNS} FROM {{dossiers}} WHERE {_range('opened_at', a, b)}",
        f"SELECT COALESCE(outcome, '') AS outcome, 1 AS n FROM {{dossiers}} "
        f"WHERE {_range('closed_at', a, b)}",
        [f"SELECT count(*) FROM {{dossiers}} WHERE {_range('opened_at', a, b)} AND previous_opened_at >= $s"],
    )


# Layer → its opened rows, closed rows and the returns among the openings it holds.
_LAYERS: dict[str, tuple[str, str, list[str]]] = {
    "facts_before": _fact_layer("s", "ds"),
    "days_before": _cell_layer("opened_cells", "closed_cells", "return_cells", "day", "dds", "dms", "dds"),
    "months": _cell_layer("opened_months", "closed_months", "return_months", "month", "dms", "dme", "dms"),
    "days_after": _cell_layer("opened_cells", "closed_cells", "return_cells", "day", "dme", "dde", "dds"),
    "facts_after": _fact_layer("de", "e"),
}
# Returns of the openings read from cells whose previous opening is before the cells'
# first day: in the first partial month's whole days (day cells by previous day), in
# the first partial day (fact rows).
_RETURNS_BEFORE_MONTHS = f"""SELECT sum(n) FROM {{return_cells}}
     WHERE {_IN} AND previous_day >= $dds AND previous_day < $dms AND day >= $dms AND day < $dme"""
_RETURNS_BEFORE_DAYS = f"""SELECT count(*) FROM {{dossiers}}
     WHERE previous_opened_at >= $s AND previous_opened_at < $ds AND opened_at >= $ds AND opened_at < $de
       AND {_IN}"""
# Persons with dossiers opened in several of the territories: how many times too many
# the per-commune counts take them (flagged fact rows, few).
_EXTRA = f"""SELECT sum(communes - 1) FROM (
        SELECT count(DISTINCT territory) AS communes FROM {{dossiers}}
         WHERE multi_territory AND opened_at >= $s AND opened_at < $e AND {_IN}
         GROUP BY person_key) p"""
_COUNTS = """
WITH o AS MATERIALIZED (
    SELECT territory, channel, motifs, sum(n) AS n FROM ({opened}) r GROUP BY 1, 2, 3)
SELECT 'total' AS dim, '' AS code, COALESCE(sum(n), 0)::bigint AS n FROM o
UNION ALL SELECT 'commune', territory, sum(n)::bigint FROM o GROUP BY territory HAVING sum(n) <> 0
UNION ALL SELECT 'channel', channel, sum(n)::bigint FROM o GROUP BY channel HAVING sum(n) <> 0
UNION ALL SELECT 'motif', m, sum(n)::bigint FROM o, unnest(o.motifs) AS m GROUP BY m HAVING sum(n) <> 0
UNION ALL SELECT 'outcome', outcome, sum(n)::bigint FROM ({closed}) k GROUP BY outcome HAVING sum(n) <> 0
UNION ALL SELECT 'returns', '', ({returns})::bigint
UNION ALL SELECT 'extra', '', ({extra})::bigint"""
_PLACEHOLDER = re.compile(r"\$([a-z]+)\b")


def _bind(sql: str, values: Mapping[str, object]) -> tuple[str, list[object]]:
    """`$name` placeholders numbered `$1, $2, …` in order of first use, with their values
    (only the used ones: PostgreSQL infers each parameter's type from its use)."""
    order: dict[str, int] = {}

    def number(match: re.Match[str]) -> str:
        return f"${order.setdefault(match.group(1), len(order) + 1)}"

    numbered = _PLACEHOLDER.sub(number, sql)
    return numbered, [values[name] for name in order]


def _sum(terms: list[str]) -> str:
    return " + ".join(f"COALESCE(({t}), 0)" for t in terms) if terms else "0"


def _counts_sql(c: Cut, several: bool) -> str:
    """The counts statement of a period's layers (placeholders unnumbered)."""
    present = {
        "facts_before": c.start < c.day_start,
        "days_before": c.day_start < c.month_start,
        "months": c.month_start < c.month_end,
        "days_after": c.month_end < c.day_end,
        "facts_after": c.day_end < c.end,
    }
    layers = [_LAYERS[name] for name, here in present.items() if here]
    returns = [term for _, _, terms in layers for term in terms]
    if present["months"] and present["days_before"]:
        returns.append(_RETURNS_BEFORE_MONTHS)
    if present["facts_before"] and c.day_start < c.day_end:
        returns.append(_RETURNS_BEFORE_DAYS)
    return _COUNTS.format(
        opened=" UNION ALL ".join(opened for opened, _, _ in layers),
        closed=" UNION ALL ".join(closed for _, closed, _ in layers),
        returns=_sum(returns),
        extra=_sum([_EXTRA]) if several else "0",
    )


@dataclass(frozen=True)
class _Counts:
    opened: int
    motifs: dict[str, int]
    communes: dict[str, int]
    channels: dict[str, int]
    closed: dict[str, int]
    people: int


async def _counts(
    conn: Connection, tables: Tables, territories: list[str], start: datetime, end: datetime
) -> _Counts:
    """Dossiers opened (by motif, commune, channel), closed (by outcome) and people
    received in [start, end): one statement over the period's layers."""
    c = cut(start, end)
    (d_start, m_start), (m_end, d_end) = c.day_edges
    sql, args = _bind(
        _counts_sql(c, len(set(territories)) >= 2).format(
            dossiers=tables.dossiers,
            opened_cells=tables.opened_cells,
            closed_cells=tables.closed_cells,
            return_cells=tables.return_cells,
            opened_months=cell_tables.opened_months(tables),
            closed_months=cell_tables.closed_months(tables),
            return_months=cell_tables.return_months(tables),
        ),
        {
            "t": territories,
            "s": c.start,
            "ds": c.day_start,
            "de": c.day_end,
            "e": c.end,
            "dds": d_start,
            "dms": m_start,
            "dme": m_end,
            "dde": d_end,
        },
    )
    rows = await conn.fetch(sql, *args)
    dims: dict[str, dict[str, int]] = {"commune": {}, "channel": {}, "motif": {}, "outcome": {}}
    single: dict[str, int] = {}
    for row in rows:
        if row["dim"] in dims:
            dims[row["dim"]][row["code"]] = int(row["n"])
        else:
            single[row["dim"]] = int(row["n"])
    opened = single["total"]
    return _Counts(
        opened,
        dims["motif"],
        dims["commune"],
        dims["channel"],
        dims["outcome"],
        opened - single["returns"] - single["extra"],
    )


# The partial months' histogram from the fact rows (their index alone, migration 010):
# each row's stage seconds computed once, then one grouped scan per stage (faster than a
# lateral row per stage and row). date_part, not extract: float8 directly, without
# extract's numeric (measured: 3 ms instead of 14 ms for two stages of half a month).
_EDGE_SECONDS = ",\n           ".join(
    f"date_part('epoch', {expr}) AS {stage}" for stage, expr in STAGE_SECONDS
)
# $1 territories, $2..$5 the partial months [$2, $3) and [$4, $5).
_DURATION_EDGES = f"""WITH d AS MATERIALIZED (
    SELECT {_EDGE_SECONDS} FROM {{dossiers}} f
     WHERE f.territory = ANY($1::text[]) AND f.opened_at >= $2 AND f.opened_at < $3
    UNION ALL
    SELECT {_EDGE_SECONDS} FROM {{dossiers}} f
     WHERE f.territory = ANY($1::text[]) AND f.opened_at >= $4 AND f.opened_at < $5)
""" + "UNION ALL ".join(
    f"SELECT '{stage}' AS stage, {BUCKET_SQL.format(secs=stage)} AS bucket, count(*) AS n, "
    f"sum({stage}) AS seconds FROM d WHERE {stage} IS NOT NULL GROUP BY 2\n"
    for stage, _ in STAGE_SECONDS
)
# $1 territories, $2 the months read from the month histograms, $3 / $4 the quarters
# and years (months, first day).
_DURATION_CELLS = """
SELECT stage, bucket, sum(n)::bigint AS n, sum(seconds) AS seconds FROM (
    SELECT stage, bucket, n, seconds FROM {duration_cells}
     WHERE territory = ANY($1::text[]) AND month = ANY($2::date[])
    UNION ALL
    SELECT c.stage, c.bucket, c.n, c.seconds
      FROM unnest($3::smallint[], $4::date[]) AS u(months, start)
      JOIN {duration_spans} c ON c.months = u.months AND c.start = u.start
     WHERE c.territory = ANY($1::text[])) h
 GROUP BY stage, bucket HAVING sum(n) <> 0"""
Rows = list[Record]


async def _duration_edges(
    conn: Connection, tables: Tables, territories: list[str], start: datetime, end: datetime
) -> Rows:
    """The histogram of the partial months' fact rows."""
    c = cut(start, end)
    if c.start == c.month_start and c.month_end == c.end:  # aligned on months
        return []
    sql = _DURATION_EDGES.format(dossiers=tables.dossiers)
    return list(await conn.fetch(sql, territories, c.start, c.month_start, c.month_end, c.end))


async def _duration_cells(
    conn: Connection, tables: Tables, territories: list[str], start: datetime, end: datetime
) -> Rows:
    """The histogram of the whole months: by year, quarter and month (fewest cells)."""
    units = spans(*cut(start, end).months)
    if not units:
        return []
    larger = [(size, first) for size, first in units if size > 1]
    sql = _DURATION_CELLS.format(
        duration_cells=tables.duration_cells, duration_spans=cell_tables.duration_spans(tables)
    )
    return list(
        await conn.fetch(
            sql,
            territories,
            [first for size, first in units if size == 1],
            [size for size, _ in larger],
            [first for _, first in larger],
        )
    )


def _stage_durations(rows: Rows) -> list[StageDuration]:
    histogram: Histogram = {s: {} for s in DURATION_STAGES}
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


Aid = aides.AidFigures
Partners = list[PartnerFigures]
Activity = activity.Grouped
# The collective actions' counts and the signals received, of one period.
Outreach = tuple[collective.CollectiveCounts, signals.Grouped]
# The bilan's queries run in milliseconds; JIT compiling them costs more (measured:
# 50-100 ms more on a period cut mid-month over 1,000,000 dossiers). Custom plans: a
# generic plan (asyncpg prepares every statement; PostgreSQL switches to a generic plan
# after five runs) does not see that an edge range is a few hours wide (measured: 44 ms
# instead of 1 ms for the returns of a partial first day).
_BEGIN = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
_SETTINGS = "SET LOCAL jit = off; SET LOCAL plan_cache_mode = force_custom_plan"
_SNAPSHOT_ID = re.compile(r"^[0-9A-Fa-f]+-[0-9A-Fa-f]+(-[0-9]+)?$")


@asynccontextmanager
async def _read_only(conn: Connection, snapshot: str | None = None) -> AsyncIterator[None]:
    """A repeatable-read, read-only transaction (in `snapshot` when given) opened with
    its settings in one round trip (a simple-protocol batch: BEGIN, SET ...)."""
    imported = ""
    if snapshot is not None:
        if not _SNAPSHOT_ID.match(snapshot):
            raise RuntimeError("unexpected snapshot id")
        imported = f"SET TRANSACTION SNAPSHOT '{snapshot}'; "  # first, as it must be
    await conn.execute(f"{_BEGIN}; {imported}{_SETTINGS}")
    try:
        yield
    except BaseException:
        # Best effort (a cancelled query may leave the connection busy): the pool rolls
        # back whatever is still open when it takes the connection back.
        with suppress(Exception):
            await conn.execute("ROLLBACK")
        raise
    await conn.execute("COMMIT")


async def compute(
    conn: Connection,
    territories: list[str],
    start: datetime,
    end: datetime,
    tables: Tables = LIVE,
    helper: Connection | None = None,
) -> BilanFigures:
    """Every figure of the bilan, read in one repeatable-read snapshot. With a `helper`
    connection, the previous period's counts and the stage durations are read on it
    while `conn` reads the period's other figures, in the same snapshot (exported by
    `conn`): two cores on one report."""
    previous_start = start - (end - start)

    async def counts(c: Connection, a: datetime, b: datetime) -> tuple[_Counts, Activity, Outreach]:
        figures = await _counts(c, tables, territories, a, b)
        appointments = await activity.grouped(c, tables, territories, a, b)
        outreach = (
            await collective.counts(c, tables, territories, a, b),
            await signals.grouped(c, tables, territories, a, b),
        )
        return figures, appointments, outreach

    # The stage durations (the heaviest read of a period cut mid-month) are split: the
    # partial months' fact rows with the period's figures, the whole months' cells
    # with the previous period's counts, about half the work on each connection.
    async def current(c: Connection) -> tuple[tuple[_Counts, Activity, Outreach], Rows, Partners, Aid]:
        period = await counts(c, start, end)
        edges = await _duration_edges(c, tables, territories, start, end)
        partners = await _partners(c, tables, territories, start, end)
        aid = await aides.compute(c, tables, territories, start, end)
        return period, edges, partners, aid

    async def previous(c: Connection) -> tuple[tuple[_Counts, Activity, Outreach], Rows]:
        before = await counts(c, previous_start, start)
        return before, await _duration_cells(c, tables, territories, start, end)

    async with _read_only(conn):
        if helper is None:
            now = await current(conn)
            before = await previous(conn)
        else:
            snapshot = await conn.fetchval("SELECT pg_export_snapshot()")

            async def on_helper(c: Connection) -> tuple[tuple[_Counts, Activity, Outreach], Rows]:
                async with _read_only(c, snapshot):  # ends as soon as its part is read
                    return await previous(c)

            async with asyncio.TaskGroup() as group:
                now_task = group.create_task(current(conn))
                before_task = group.create_task(on_helper(helper))
            now, before = now_task.result(), before_task.result()
        (this, appointments, outreach), edges, partners, aid = now
        (last, p_appointments, p_outreach), whole_months = before
        hosts = activity.partner_ids(appointments, p_appointments)
        names = await activity.host_names(conn, tables, hosts) if hosts else {}
    opened, motifs, communes, channels = this.opened, this.motifs, this.communes, this.channels
    p_opened, p_motifs, p_communes, p_channels = last.opened, last.motifs, last.communes, last.channels
    people, p_people, closed, p_closed = this.people, last.people, this.closed, last.closed
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
        stage_durations=_stage_durations(edges + whole_months),
        partners=partners,
        activity=activity.figures(appointments, p_appointments, names),
        collective=collective.figures(outreach[0], p_outreach[0]),
        signals=signals.figures(outreach[1], p_outreach[1]),
        aides=aid,
    )
