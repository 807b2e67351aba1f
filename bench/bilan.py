"""Time of the bilan over N dossiers (fact rows inserted directly with COPY).

    [DATABASE_URL=…] python -m bench.bilan [--dossiers 1000000] [--runs 5] [--json]

On DATABASE_URL's server, else on a private PostgreSQL started in a temporary directory
(devstack's embedded one; PostgreSQL alone). A fresh database with reporting's
migrations; N dossier fact rows over two years and the deployment's communes (motif,
channel, outcome and stage times drawn at random; a fifth of the dossiers are a
person's return, mostly within months, one in a hundred of them in another commune),
then the projector's people links and pre-aggregates of those rows
(`cells.refresh_cells`: the same as the projector maintains: day and month cells,
duration histograms by month, quarter and year); then `bilan.compute` (the whole
GetBilan query set: current and previous period, people, shares, stage durations,
partners) over the year for every commune, `--runs` times, with a second connection as
GetBilan has (half the work on it, same snapshot) and on one connection; also a period
on no day or month boundary (whole months from month cells, the other whole days from
day cells, partial days and, for durations, partial months from the fact rows).
Checked too: the largest relative gap between the bilan's durations and exact
percentile_cont over the fact rows, and people received against an exact
count(DISTINCT person) over the fact rows (year and unaligned period, all communes and
one). The 1-minute load average after the timed runs is printed with the figures (a
shared machine's load moves them).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from bench.projector import MIGRATIONS
from devstack import servers
from devstack.scratch import create_database, drop_database
from kernel import migrations, reference
from services.reporting import bilan
from services.reporting.projection import cells

MOTIFS = ["logement", "acces_aux_droits", "difficultes_financieres", "emploi", "sante", "famille"]
CHANNELS = ["visite_spontanee", "telephone", "rendez_vous", "permanence_maire"]
OUTCOMES = ["regle", "ecoute_conseil", "abandon", "sans_solution"]
RETURN_SHARE = 0.2
RECENT = 2000  # a return is a person among the commune's last RECENT (weeks to months)


def rows(count: int, seed: int = 1) -> list[tuple[object, ...]]:
    rng = random.Random(seed)
    territories = list(reference.load({}).territories)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    out: list[tuple[object, ...]] = []
    recent: dict[str, list[uuid.UUID]] = {t: [] for t in territories}
    for opened in sorted(start + timedelta(seconds=rng.randrange(2 * 365 * 86400)) for _ in range(count)):
        territory = rng.choice(territories)
        person = uuid.uuid4()
        if rng.random() < RETURN_SHARE:
            commune = rng.choice(territories) if rng.random() < 0.01 else territory
            if recent[commune]:
                person = rng.choice(recent[commune][-RECENT:])
        recent[territory].append(person)
        ecoute = opened + timedelta(hours=rng.randrange(1, 400))
        closed = ecoute + timedelta(hours=rng.randrange(24, 2000)) if rng.random() < 0.7 else None
        out.append(
            (
                uuid.uuid4(),
                territory,
                "site",
                [rng.choice(MOTIFS)],
                rng.choice(CHANNELS),
                False,
                opened,
                opened,
                "cloture" if closed else "ecoute",
                closed or ecoute,
                ecoute,
                closed,
                rng.choice(OUTCOMES) if closed else None,
                closed or ecoute,
                person,
                person,
            )
        )
    return out


async def run(admin_url: str, count: int, runs: int) -> dict[str, float | int | bool | str]:
    name, url = await create_database(admin_url, "bench_bilan")
    try:
        conn = await asyncpg.connect(url)
        await migrations.migrate_service(conn, "reporting", MIGRATIONS)
        print(f"inserting {count} fact rows…", file=sys.stderr)
        started = time.perf_counter()
        await conn.copy_records_to_table(
            "dossier_facts",
            schema_name="reporting",
            records=rows(count),
            columns=[
                "dossier_id",
                "territory",
                "site",
                "motifs",
                "arrival_channel",
                "urgent",
                "opened_at",
                "motifs_at",
                "stage",
                "stage_at",
                "ecoute_at",
                "closed_at",
                "outcome",
                "last_activity_at",
                "person_id",
                "person_key",
            ],
        )
        await cells.refresh_cells(conn)  # the projector's pre-aggregates of these rows
        # As autovacuum leaves a table at rest (visibility map set, statistics fresh).
        await conn.execute("VACUUM ANALYZE")
        load_s = time.perf_counter() - started
        territories = sorted(reference.load({}).territories)
        start, end = datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
        helper = await asyncpg.connect(url)  # GetBilan's second connection (bilan.compute's helper)
        periods = {
            "year": (start, end),
            # On no day or month boundary: its edges are read from the fact rows.
            "unaligned": (datetime(2026, 2, 14, 13, tzinfo=UTC), datetime(2026, 11, 3, 7, 30, tzinfo=UTC)),
        }
        timings: dict[str, list[float]] = {}
        for label, (a, b) in periods.items():
            for connections, second in (("two", helper), ("one", None)):
                runs_ms = timings.setdefault(f"{label}_{connections}", [])
                for _ in range(runs):
                    t0 = time.perf_counter()
                    await bilan.compute(conn, territories, a, b, helper=second)
                    runs_ms.append(1000 * (time.perf_counter() - t0))
        load = os.getloadavg()[0]
        await helper.close()
        print("runs (ms):", {k: [round(x) for x in v] for k, v in timings.items()}, file=sys.stderr)
        figures = await bilan.compute(conn, territories, start, end)
        p_start, p_end = periods["unaligned"]
        worst = await worst_duration_error(conn, territories, start, end, figures)
        partial_figures = await bilan.compute(conn, territories, p_start, p_end)
        one = await bilan.compute(conn, territories[:1], p_start, p_end)
        people_exact = (
            figures.people_received == await _distinct_people(conn, territories, start, end)
            and partial_figures.people_received == await _distinct_people(conn, territories, p_start, p_end)
            and one.people_received == await _distinct_people(conn, territories[:1], p_start, p_end)
        )
        version = await conn.fetchval("SHOW server_version")
        await conn.close()
    finally:
        await drop_database(admin_url, name)
    return {
        "postgresql": str(version).split()[0],
        "dossiers": count,
        "in_period": figures.dossiers_opened,
        "people_in_period": figures.people_received,
        "people_exact": people_exact,
        "load_s": round(load_s, 1),
        "bilan_ms_median": round(statistics.median(timings["year_two"]), 1),
        "bilan_ms_min": round(min(timings["year_two"]), 1),
        "unaligned_period_ms_median": round(statistics.median(timings["unaligned_two"]), 1),
        "one_connection_bilan_ms_median": round(statistics.median(timings["year_one"]), 1),
        "one_connection_unaligned_ms_median": round(statistics.median(timings["unaligned_one"]), 1),
        "duration_max_relative_error": round(worst, 5),
        "load_1min": round(load, 2),  # the machine's 1-minute load average after the timed runs
    }


async def _distinct_people(
    conn: asyncpg.Connection, territories: list[str], start: datetime, end: datetime
) -> int:
    count: int = await conn.fetchval(
        """SELECT count(DISTINCT COALESCE(person_key, dossier_id)) FROM reporting.dossier_facts
            WHERE territory = ANY($1::text[]) AND opened_at >= $2 AND opened_at < $3""",
        territories,
        start,
        end,
    )
    return count


async def worst_duration_error(
    conn: asyncpg.Connection,
    territories: list[str],
    start: datetime,
    end: datetime,
    figures: bilan.BilanFigures,
) -> float:
    """Largest relative gap between the bilan's medians / p90 and exact percentile_cont."""
    exact = await conn.fetchrow(
        f"""SELECT {
            ", ".join(
                f"percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM {expr})) AS {stage}_median, "
                f"percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM {expr})) AS {stage}_p90"
                for stage, expr in cells.STAGE_SECONDS
            )
        } FROM reporting.dossier_facts f
            WHERE f.territory = ANY($1::text[]) AND f.opened_at >= $2 AND f.opened_at < $3""",
        territories,
        start,
        end,
    )
    assert exact is not None
    worst = 0.0
    for d in figures.stage_durations:
        for value, key in ((d.median_s, f"{d.stage}_median"), (d.p90_s, f"{d.stage}_p90")):
            if exact[key]:
                worst = max(worst, abs(value - float(exact[key])) / abs(float(exact[key])))
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description="Time of the bilan over N dossiers.")
    parser.add_argument("--dossiers", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if os.environ.get("DATABASE_URL"):
        result = asyncio.run(run(os.environ["DATABASE_URL"], args.dossiers, args.runs))
    else:
        state = Path(tempfile.mkdtemp(prefix="entraide-bench-bilan-"))
        state.chmod(0o755)  # the private PostgreSQL may run as another system user
        print("starting a private PostgreSQL…", file=sys.stderr)
        try:
            # PostgreSQL alone: NATS and Temporal are unused here, their idle load would
            # weigh on the timings.
            found = servers.ensure_servers(state, servers.free_ports(), components=("postgres",))
            url = found.database_url
            result = asyncio.run(run(url, args.dossiers, args.runs))
        finally:
            servers.stop_servers(state)
            shutil.rmtree(state, ignore_errors=True)
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"PostgreSQL {result['postgresql']}: bilan over {result['dossiers']} dossiers "
            f"({result['in_period']} in the year, "
            f"{result['people_in_period']} people, exact: {result['people_exact']}): median "
            f"{result['bilan_ms_median']} ms, min {result['bilan_ms_min']} ms (target < 100 ms); "
            f"unaligned period {result['unaligned_period_ms_median']} ms (target < 150 ms; one connection: "
            f"{result['one_connection_bilan_ms_median']} / "
            f"{result['one_connection_unaligned_ms_median']} ms); durations within "
            f"{100 * float(result['duration_max_relative_error']):.2f} % of exact percentile_cont; "
            f"load {result['load_1min']}"
        )


if __name__ == "__main__":
    main()
