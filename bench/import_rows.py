"""Import rows/s (ImportDossiers' path) beside a bare COPY of the same rows, in the same run.

    python -m bench.import_rows [--rows 10000] [--rounds 3] [--json]

Rows: devstack.import_sample files (three past years, 2 % bad rows), a new seed per
round so that every round writes new dossiers. PostgreSQL: DATABASE_URL when set, else
a private server in a temporary directory; a scratch database with intake's
migrations, dropped at the end.

- **bare**: the file read by the import's reader, its rows COPY'd as they are (one text
  column per template column) into a table without constraints: the floor of any
  "file → PostgreSQL" load.
- **import**: the same bytes through what ImportDossiers does after authentication:
  read, map and check every row (services.intake.importing.rows), then resolve persons
  against those already known, write persons, households, dossiers, their timeline
  and their outbox events in batches (services.intake.importing.importer), as the
  application role under row-level security. Without Temporal: the workflows of the
  ~3 % dossiers still open are not started (one start per open dossier, measured by the
  end-to-end test, not here).

Rounds alternate the order (bare first, then import first...). rows/s = rows of the
file ÷ the sum of the rounds' times; ratio = import rows/s ÷ bare rows/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from devstack import import_sample
from devstack.scratch import create_database, drop_database
from devstack.servers import ensure_servers, free_ports, stop_servers
from kernel import migrations, reference
from kernel.db import create_pool, system_scope
from services.intake.importing import reader, rows, store
from services.intake.importing.importer import Importer
from services.intake.schema import SCHEMA
from workflows.contracts import LifecycleTimers

INTAKE_MIGRATIONS = Path(__file__).resolve().parent.parent / "services" / "intake" / "migrations"
ACTOR = "bench-import"


async def bare(url: str, content: bytes, table: str) -> float:
    conn = await asyncpg.connect(url)
    try:
        started = time.perf_counter()
        read = reader.read("csv", content)
        columns = [f"c{i}" for i in range(len(read.header))]
        await conn.execute(f"CREATE TABLE {table} ({', '.join(f'{c} text' for c in columns)})")
        await conn.copy_records_to_table(
            table, records=[[str(c) for c in r.cells] for r in read.rows], columns=columns
        )
        return time.perf_counter() - started
    finally:
        await conn.close()


async def entraide(url: str, content: bytes) -> tuple[float, int, int, int]:
    ref = reference.load({})
    territories = list(ref.territories)
    pool = await create_pool(url, min_size=1, max_size=2)
    try:
        started = time.perf_counter()
        now = datetime.now(UTC)
        read = reader.read("csv", content)
        mapping = rows.mapping(read.header, {}, [], {}, ref)
        checked = rows.check(read, mapping, ref, territories, rows.today_in_paris(now))
        async with system_scope(pool, territories) as conn:
            import_id = str(uuid.uuid4())
            await store.start_import(conn, import_id, territories, ACTOR, "bench.csv", "csv", b"", now)
            written = await Importer(LifecycleTimers(), dict(ref.closure_outcomes)).run(
                conn, checked.accepted, actor=ACTOR, import_id=import_id, now=now
            )
        elapsed = time.perf_counter() - started
        counting = await asyncpg.connect(url)  # the owner's view: every row, whatever its commune
        try:
            tables = ("persons", "households", "household_members", "dossiers", "dossier_timeline", "outbox")
            rows_written = sum(
                [int(await counting.fetchval(f"SELECT count(*) FROM {SCHEMA}.{t}")) for t in tables]
            )
        finally:
            await counting.close()
        return elapsed, len(checked.accepted), written.dossiers_created, rows_written
    finally:
        await pool.close()


async def run(database_url: str, rows_per_file: int, rounds: int) -> dict[str, float | int]:
    bare_s = import_s = 0.0
    accepted = created = written = 0
    for n in range(rounds):
        # A database per round: the files of two seeds number their dossiers alike (the
        # same numbers would be the same dossiers).
        name, url = await create_database(database_url, "bench_import")
        try:
            conn = await asyncpg.connect(url)
            await migrations.migrate_service(conn, "intake", INTAKE_MIGRATIONS)
            await conn.close()
            content = import_sample.generate(rows=rows_per_file, seed=100 + n).csv_bytes()
            order = ("bare", "import") if n % 2 == 0 else ("import", "bare")
            for which in order:
                if which == "bare":
                    bare_s += await bare(url, content, "bench_rows")
                else:
                    seconds, ok, made, rows_written = await entraide(url, content)
                    import_s += seconds
                    accepted += ok
                    created += made
                    written += rows_written
        finally:
            await drop_database(database_url, name)
        print(f"  round {n + 1}/{rounds} done", file=sys.stderr)
    total = rows_per_file * rounds
    return {
        "rows": total,
        "accepted": accepted,
        "dossiers_created": created,
        "rows_written": written,
        "bare_s": round(bare_s, 2),
        "bare_rows_per_s": round(total / bare_s),
        "import_s": round(import_s, 2),
        "import_rows_per_s": round(total / import_s),
        "ratio": round(bare_s / import_s, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--rows", type=int, default=10_000, help="rows per file")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if os.environ.get("DATABASE_URL"):
        result = asyncio.run(run(os.environ["DATABASE_URL"], args.rows, args.rounds))
    else:
        servers = Path(tempfile.mkdtemp(prefix="entraide-bench-import-"))
        print("starting a private PostgreSQL…", file=sys.stderr)
        endpoints = ensure_servers(servers, free_ports(), os.environ)
        try:
            result = asyncio.run(run(endpoints.database_url, args.rows, args.rounds))
        finally:
            stop_servers(servers)
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"import of {result['rows']} rows ({result['dossiers_created']} dossiers, "
            f"{result['rows_written']} rows written in all): "
            f"{result['import_s']} s, {result['import_rows_per_s']} rows/s; "
            f"bare COPY {result['bare_s']} s, {result['bare_rows_per_s']} rows/s; ratio {result['ratio']}"
        )


if __name__ == "__main__":
    main()
