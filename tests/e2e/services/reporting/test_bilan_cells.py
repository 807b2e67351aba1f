"""The bilan's month cells and quarter / year duration histograms (migration 010): the
same rows whatever the order and batching of the events, equal to the day and month
cells they sum, and a bilan read from them (months, days, fact rows) equal to
brute-force counts over the fact rows for periods of any alignment, across quarters
and years."""

from __future__ import annotations

import itertools
import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from entraide.v1 import events_pb2

from bench.bilan import worst_duration_error
from kernel.events import Event
from kernel.settings import Settings
from services.reporting import bilan
from services.reporting.projection import cells
from tests.reporting_events import CHANNELS, _event, _ts, persons_merged
from tests.reporting_projection import project_in_batches, reporting_database

SIZES = (1, 80)  # events per batch of the shuffled projections
COMMUNES = ["55029", "55041", "55186"]
MOTIFS = ["logement", "emploi", "sante"]
OUTCOMES = ["regle", "abandon", "sans_solution"]
START = datetime(2025, 10, 1, tzinfo=UTC)  # two calendar years and a half touched
SPAN_S = 520 * 86400
CELL_TABLES = (
    "opened_cells",
    "closed_cells",
    "duration_cells",
    "return_cells",
    "opened_month_cells",
    "closed_month_cells",
    "return_month_cells",
    "duration_span_cells",
)


def dossier_events(rng: random.Random, persons: list[str]) -> list[Event]:
    """One dossier: opened, its stages at random hours apart, often closed."""
    d = str(uuid.UUID(int=rng.getrandbits(128)))
    commune = rng.choice(COMMUNES)
    at = START + timedelta(seconds=rng.randrange(SPAN_S))
    person = rng.choice(persons) if rng.random() < 0.9 else ""
    opened = events_pb2.DossierOpened(
        dossier_id=d,
        territory=commune,
        site="mairie",
        motifs=rng.sample(MOTIFS, rng.randint(1, 2)),
        arrival_channel=rng.choice(CHANNELS),
        opened_at=_ts(at),
        person_id=person,
    )
    out = [_event("dossier.opened", d, opened, at)]
    stages = ["reception", "ecoute", "orientation", "suivi"][: rng.randint(1, 4)]
    t = at
    for a, b in itertools.pairwise(stages):
        t += timedelta(seconds=rng.randrange(600, 40 * 86400))
        changed = events_pb2.DossierStageChanged(
            dossier_id=d, territory=commune, from_stage=a, to_stage=b, at=_ts(t)
        )
        out.append(_event("dossier.stage_changed", d, changed, t))
    if rng.random() < 0.7:
        t += timedelta(seconds=rng.randrange(600, 60 * 86400))
        changed = events_pb2.DossierStageChanged(
            dossier_id=d, territory=commune, from_stage=stages[-1], to_stage="cloture", at=_ts(t)
        )
        closed = events_pb2.DossierClosed(
            dossier_id=d, territory=commune, outcome=rng.choice(OUTCOMES), at=_ts(t)
        )
        out += [_event("dossier.stage_changed", d, changed, t), _event("dossier.closed", d, closed, t)]
    return out


def activity(seed: int, dossiers: int) -> list[Event]:
    rng = random.Random(seed)
    persons = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(dossiers // 3)]
    events = [e for _ in range(dossiers) for e in dossier_events(rng, persons)]
    for merged, keep in (tuple(rng.sample(persons, 2)) for _ in range(4)):
        events.append(persons_merged(merged, keep, START))
    return events


@pytest.fixture
async def db_url(settings: Settings) -> AsyncIterator[str]:
    async with reporting_database(settings.database_url, "bilan_cells") as url:
        yield url


@pytest.fixture
async def conn(db_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(db_url)
    try:
        yield connection
    finally:
        await connection.close()


async def snapshot(conn: asyncpg.Connection) -> dict[str, list[tuple[object, ...]]]:
    """Every non-zero cell; histogram sums rounded (float sums depend on the order)."""
    out: dict[str, list[tuple[object, ...]]] = {}
    for table in CELL_TABLES:
        rows = await conn.fetch(f"SELECT * FROM reporting.{table} WHERE n <> 0")
        out[table] = sorted(tuple(round(v, 3) if isinstance(v, float) else v for v in r) for r in rows)
    return out


async def test_order_batching_and_refresh_give_the_same_cells(conn: asyncpg.Connection) -> None:
    events = activity(seed=1, dossiers=300)
    await project_in_batches(conn, events, 2, SIZES)
    first = await snapshot(conn)
    assert all(first[t] for t in CELL_TABLES)
    await conn.execute(
        "TRUNCATE reporting.dossier_facts, reporting.person_aliases, "
        + ", ".join(f"reporting.{t}" for t in CELL_TABLES)
    )
    await project_in_batches(conn, events, 3, SIZES)
    assert await snapshot(conn) == first
    await cells.refresh_cells(conn)  # from the fact rows, as the rebuild's facts would give
    assert await snapshot(conn) == first


async def test_coarse_cells_sum_the_fine_ones(conn: asyncpg.Connection) -> None:
    await project_in_batches(conn, activity(seed=4, dossiers=200), 5, SIZES)
    pairs = {
        "opened": (
            "SELECT month, territory, channel, motifs, n FROM reporting.opened_month_cells WHERE n <> 0",
            """SELECT date_trunc('month', day)::date, territory, channel, motifs, sum(n)
                 FROM reporting.opened_cells GROUP BY 1, 2, 3, 4 HAVING sum(n) <> 0""",
        ),
        "closed": (
            "SELECT month, territory, outcome, n FROM reporting.closed_month_cells WHERE n <> 0",
            """SELECT date_trunc('month', day)::date, territory, outcome, sum(n)
                 FROM reporting.closed_cells GROUP BY 1, 2, 3 HAVING sum(n) <> 0""",
        ),
        "returns": (
            "SELECT month, territory, previous_month, n FROM reporting.return_month_cells WHERE n <> 0",
            """SELECT date_trunc('month', day)::date, territory, date_trunc('month', previous_day)::date,
                      sum(n) FROM reporting.return_cells GROUP BY 1, 2, 3 HAVING sum(n) <> 0""",
        ),
        "durations": (
            """SELECT months, start, territory, stage, bucket, n FROM reporting.duration_span_cells
                WHERE n <> 0""",
            """SELECT s.months, s.start, territory, stage, bucket, sum(n) FROM reporting.duration_cells
                 CROSS JOIN LATERAL (VALUES (3::smallint, date_trunc('quarter', month)::date),
                                            (12::smallint, date_trunc('year', month)::date)) s(months, start)
                GROUP BY 1, 2, 3, 4, 5 HAVING sum(n) <> 0""",
        ),
    }
    for name, (coarse, fine) in pairs.items():
        assert sorted(map(tuple, await conn.fetch(coarse))) == sorted(map(tuple, await conn.fetch(fine))), (
            name
        )


def periods(seed: int) -> list[tuple[datetime, datetime]]:
    rng = random.Random(seed)
    out = [
        (datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)),  # a calendar year
        (datetime(2026, 2, 14, 13, tzinfo=UTC), datetime(2026, 11, 3, 7, 30, tzinfo=UTC)),
        (datetime(2025, 11, 1, tzinfo=UTC), datetime(2026, 7, 1, tzinfo=UTC)),  # months across a year
        (datetime(2026, 3, 5, tzinfo=UTC), datetime(2026, 3, 20, tzinfo=UTC)),  # days only
        (datetime(2026, 3, 5, 8, tzinfo=UTC), datetime(2026, 3, 5, 17, tzinfo=UTC)),  # within a day
        (datetime(2026, 3, 5, 8, tzinfo=UTC), datetime(2026, 3, 6, 2, tzinfo=UTC)),  # over midnight
    ]
    for _ in range(14):
        start = START + timedelta(seconds=rng.randrange(SPAN_S))
        length = rng.choice([86400 * rng.randint(20, 400), rng.randrange(3600, 90 * 86400)])
        out.append((start, start + timedelta(seconds=length)))
        month = start.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        out.append((month, (month + timedelta(days=32 * rng.randint(1, 14))).replace(day=1)))
    return out


async def brute_force(
    conn: asyncpg.Connection, communes: list[str], start: datetime, end: datetime
) -> dict[str, object]:
    where = "territory = ANY($1::text[]) AND opened_at >= $2 AND opened_at < $3"
    opened = await conn.fetchrow(
        f"""SELECT count(*) AS n, count(DISTINCT COALESCE(person_key, dossier_id)) AS people
              FROM reporting.dossier_facts WHERE {where}""",
        communes,
        start,
        end,
    )
    assert opened is not None
    motifs = await conn.fetch(
        f"SELECT m, count(*) AS n FROM reporting.dossier_facts, unnest(motifs) m WHERE {where} GROUP BY m",
        communes,
        start,
        end,
    )
    channels = await conn.fetch(
        f"SELECT arrival_channel AS c, count(*) AS n FROM reporting.dossier_facts WHERE {where} GROUP BY 1",
        communes,
        start,
        end,
    )
    outcomes = await conn.fetch(
        """SELECT outcome AS o, count(*) AS n FROM reporting.dossier_facts
            WHERE territory = ANY($1::text[]) AND closed_at >= $2 AND closed_at < $3 GROUP BY 1""",
        communes,
        start,
        end,
    )
    stages = await conn.fetchrow(
        f"""SELECT {", ".join(f"count({expr}) AS {stage}" for stage, expr in cells.STAGE_SECONDS)}
              FROM reporting.dossier_facts f WHERE {where}""",
        communes,
        start,
        end,
    )
    assert stages is not None
    return {
        "opened": opened["n"],
        "people": opened["people"],
        "motifs": {r["m"]: r["n"] for r in motifs},
        "channels": {r["c"]: r["n"] for r in channels},
        "outcomes": {r["o"]: r["n"] for r in outcomes},
        "stages": dict(stages),
    }


def figures_of(f: bilan.BilanFigures) -> dict[str, object]:
    return {
        "opened": f.dossiers_opened,
        "people": f.people_received,
        "motifs": {s.code: s.count for s in f.by_motif if s.count},
        "channels": {s.code: s.count for s in f.by_channel if s.count},
        "outcomes": {s.code: s.count for s in f.by_outcome if s.count},
        "stages": {d.stage: d.dossiers for d in f.stage_durations},
    }


async def test_bilan_of_any_period_equals_the_fact_rows(conn: asyncpg.Connection, db_url: str) -> None:
    await project_in_batches(conn, activity(seed=6, dossiers=500), 7, SIZES)
    helper = await asyncpg.connect(db_url)
    try:
        for start, end in periods(seed=8):
            for communes in ([COMMUNES[0]], COMMUNES[:2], COMMUNES):
                figures = await bilan.compute(conn, communes, start, end, helper=helper)
                assert figures == await bilan.compute(conn, communes, start, end)  # one connection: the same
                assert figures_of(figures) == await brute_force(conn, communes, start, end), (
                    communes,
                    start,
                    end,
                )
                # Each median and 90th percentile within 1 % of the exact percentile_cont.
                assert await worst_duration_error(conn, communes, start, end, figures) <= 0.01, (start, end)
                previous = await brute_force(conn, communes, start - (end - start), start)
                assert figures.previous_dossiers_opened == previous["opened"]
                assert figures.previous_people_received == previous["people"]
    finally:
        await helper.close()
