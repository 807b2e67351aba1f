"""Time of the bilan over N dossiers (fact rows inserted directly with COPY).

    python -m bench.bilan [--dossiers 1000000] [--runs 5] [--json]

A fresh database with reporting's migrations; N dossier fact rows over one year and
8 communes (motif, channel, outcome and stage times drawn at random); then
`bilan.compute` (the whole GetBilan query set: current and previous period, shares,
percentile_cont durations, partners) over the year for every commune, `--runs` times.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from bench.projector import MIGRATIONS, _drop_database, _fresh_database
from kernel import migrations, reference
from kernel.settings import Settings
from services.reporting import bilan

MOTIFS = ["logement", "acces_aux_droits", "difficultes_financieres", "emploi", "sante", "famille"]
CHANNELS = ["visite_spontanee", "telephone", "rendez_vous", "permanence_maire"]
OUTCOMES = ["regle", "ecoute_conseil", "abandon", "sans_solution"]


def rows(count: int, seed: int = 1) -> list[tuple[object, ...]]:
    rng = random.Random(seed)
    territories = list(reference.load({}).territories)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    out: list[tuple[object, ...]] = []
    for _ in range(count):
        opened = start + timedelta(seconds=rng.randrange(2 * 365 * 86400))
        ecoute = opened + timedelta(hours=rng.randrange(1, 400))
        closed = ecoute + timedelta(hours=rng.randrange(24, 2000)) if rng.random() < 0.7 else None
        out.append(
            (
                uuid.uuid4(),
                rng.choice(territories),
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
            )
        )
    return out


async def run(count: int, runs: int) -> dict[str, float | int]:
    settings = Settings.from_env()
    name, url = await _fresh_database(settings.database_url)
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
            ],
        )
        await conn.execute("ANALYZE reporting.dossier_facts")
        load_s = time.perf_counter() - started
        territories = sorted(reference.load({}).territories)
        timings = []
        for _ in range(runs):
            t0 = time.perf_counter()
            figures = await bilan.compute(
                conn, territories, datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
            )
            timings.append(time.perf_counter() - t0)
        await conn.close()
    finally:
        await _drop_database(settings.database_url, name)
    return {
        "dossiers": count,
        "in_period": figures.dossiers_opened,
        "load_s": round(load_s, 1),
        "bilan_ms_median": round(1000 * statistics.median(timings), 1),
        "bilan_ms_min": round(1000 * min(timings), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="Time of the bilan over N dossiers.")
    parser.add_argument("--dossiers", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = asyncio.run(run(args.dossiers, args.runs))
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"bilan over {result['dossiers']} dossiers ({result['in_period']} in the year): median "
            f"{result['bilan_ms_median']} ms, min {result['bilan_ms_min']} ms (target < 200 ms)"
        )


if __name__ == "__main__":
    main()
