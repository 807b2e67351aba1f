"""`python -m services.migrate` (the migrations Job's command) on an empty database: every
schema migrated once, and a second run finds nothing to do."""

from __future__ import annotations

import os
import subprocess
import sys

import asyncpg

from devstack.scratch import fresh_database
from kernel.settings import Settings
from tests.paths import REPO


def migrate(url: str) -> str:
    env = {**os.environ, "DATABASE_URL": url, "ENTRAIDE_MIGRATION_DATABASE_URL": url}
    done = subprocess.run(
        [sys.executable, "-m", "services.migrate"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


async def test_every_schema_is_migrated_once(settings: Settings) -> None:
    async with fresh_database(settings.database_url, "migrate") as url:
        first = migrate(url)
        assert first.split("\n")[:4] == [
            f"migrated {s}" for s in ("intake", "referral", "reporting", "console")
        ]
        conn = await asyncpg.connect(url)
        try:
            applied = await conn.fetch(
                "SELECT component, count(*) AS n FROM public.schema_migrations GROUP BY 1"
            )
            counts = {row["component"]: row["n"] for row in applied}
            services = ("intake", "referral", "reporting", "console")
            assert set(counts) == {"audit", *services, *(f"{s}:kernel" for s in services)}
            for service in services:
                files = list((REPO / "services" / service / "migrations").glob("[0-9]*.sql"))
                assert counts[service] == len(files), service
            migrate(url)  # again: nothing pending, nothing applied twice
            again = await conn.fetch(
                "SELECT component, count(*) AS n FROM public.schema_migrations GROUP BY 1"
            )
            assert {row["component"]: row["n"] for row in again} == counts
        finally:
            await conn.close()
