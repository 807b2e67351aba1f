"""Numbered SQL migrations on a real PostgreSQL: order, once-only, checksums, atomicity, locking."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from kernel import migrations


@dataclass
class Sandbox:
    """A private schema and migrations folder; the component name is the schema name."""

    schema: str
    directory: Path
    pool: asyncpg.Pool

    def write(self, name: str, sql: str) -> None:
        (self.directory / name).write_text(sql)

    def load(self) -> list[migrations.Migration]:
        return migrations.load(self.schema, self.directory, self.schema)

    async def apply(self) -> list[str]:
        async with self.pool.acquire() as conn:
            return await migrations.apply(conn, self.load())

    async def recorded(self) -> list[tuple[str, int, str]]:
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT component, version, name FROM public.schema_migrations"
                " WHERE component = $1 OR component LIKE $1 || ':%' ORDER BY component, version",
                self.schema,
            )
        return [(r["component"], r["version"], r["name"]) for r in rows]

    async def tables(self) -> set[str]:
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = $1", self.schema
            )
        return {r["table_name"] for r in rows}


@pytest.fixture
async def sandbox(pool: asyncpg.Pool, tmp_path: Path) -> AsyncIterator[Sandbox]:
    schema = f"m_{uuid.uuid4().hex[:10]}"
    directory = tmp_path / "migrations"
    directory.mkdir()
    box = Sandbox(schema, directory, pool)
    try:
        yield box
    finally:
        async with pool.acquire() as conn:
            await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            exists = await conn.fetchval("SELECT to_regclass('public.schema_migrations') IS NOT NULL")
            if exists:
                await conn.execute(
                    "DELETE FROM public.schema_migrations WHERE component = $1 OR component LIKE $1 || ':%'",
                    schema,
                )


async def test_applying_twice_applies_nothing_the_second_time(sandbox: Sandbox) -> None:
    s = sandbox.schema
    sandbox.write("001_create.sql", "CREATE SCHEMA {schema}; CREATE TABLE {schema}.t (n int);")
    sandbox.write("002_fill.sql", "INSERT INTO {schema}.t VALUES (1), (2);")
    assert await sandbox.apply() == [f"{s}/001_create.sql", f"{s}/002_fill.sql"]
    assert await sandbox.apply() == []
    async with sandbox.pool.acquire() as conn:
        # The INSERT ran exactly once.
        assert await conn.fetchval(f"SELECT count(*) FROM {s}.t") == 2
    assert await sandbox.recorded() == [(s, 1, "001_create.sql"), (s, 2, "002_fill.sql")]

    # A new file added later is the only one applied.
    sandbox.write("003_more.sql", "INSERT INTO {schema}.t VALUES (3);")
    assert await sandbox.apply() == [f"{s}/003_more.sql"]
    async with sandbox.pool.acquire() as conn:
        assert await conn.fetchval(f"SELECT count(*) FROM {s}.t") == 3


async def test_files_run_in_numeric_order(sandbox: Sandbox) -> None:
    s = sandbox.schema
    # Written out of order; each one depends on the previous one having run.
    sandbox.write("010_third.sql", "INSERT INTO {schema}.steps (name) VALUES ('010');")
    sandbox.write("002_second.sql", "INSERT INTO {schema}.steps (name) VALUES ('002');")
    sandbox.write(
        "001_first.sql",
        "CREATE SCHEMA {schema}; CREATE TABLE {schema}.steps (seq serial PRIMARY KEY, name text);",
    )
    assert [m.version for m in sandbox.load()] == [1, 2, 10]
    assert await sandbox.apply() == [f"{s}/001_first.sql", f"{s}/002_second.sql", f"{s}/010_third.sql"]
    async with sandbox.pool.acquire() as conn:
        rows = await conn.fetch(f"SELECT name FROM {s}.steps ORDER BY seq")
    assert [r["name"] for r in rows] == ["002", "010"]


@pytest.mark.parametrize(
    "bad_name", ["1_short.sql", "0001_long.sql", "001-dash.sql", "001_Upper.sql", "001.sql", "abc_x.sql"]
)
def test_bad_file_name_raises_value_error(tmp_path: Path, bad_name: str) -> None:
    (tmp_path / "001_fine.sql").write_text("SELECT 1;")
    (tmp_path / bad_name).write_text("SELECT 1;")
    with pytest.raises(ValueError, match=r"001_name\.sql"):
        migrations.load("c", tmp_path, "s")


def test_files_that_are_not_sql_are_ignored(tmp_path: Path) -> None:
    (tmp_path / "001_fine.sql").write_text("SELECT '{schema}';")
    (tmp_path / "README.md").write_text("notes")
    loaded = migrations.load("c", tmp_path, "my_schema")
    assert [(m.component, m.version, m.name, m.sql) for m in loaded] == [
        ("c", 1, "001_fine.sql", "SELECT 'my_schema';")
    ]


def test_duplicate_numbers_raise(tmp_path: Path) -> None:
    (tmp_path / "001_first.sql").write_text("SELECT 1;")
    (tmp_path / "002_second.sql").write_text("SELECT 2;")
    (tmp_path / "002_other.sql").write_text("SELECT 3;")
    with pytest.raises(ValueError, match="duplicate"):
        migrations.load("c", tmp_path, "s")


async def test_migration_changed_after_being_applied_raises(sandbox: Sandbox) -> None:
    s = sandbox.schema
    sandbox.write("001_create.sql", "CREATE SCHEMA {schema}; CREATE TABLE {schema}.t (n int);")
    sandbox.write("002_fill.sql", "INSERT INTO {schema}.t VALUES (1);")
    await sandbox.apply()
    sandbox.write("002_fill.sql", "INSERT INTO {schema}.t VALUES (1), (666);")
    sandbox.write("003_later.sql", "INSERT INTO {schema}.t VALUES (3);")
    with pytest.raises(RuntimeError, match=r"002_fill\.sql changed"):
        await sandbox.apply()
    async with sandbox.pool.acquire() as conn:
        assert [r["n"] for r in await conn.fetch(f"SELECT n FROM {s}.t")] == [1]
        # The lock was released despite the error: another session can take it at once.
        assert await conn.fetchval("SELECT pg_try_advisory_lock($1)", migrations._LOCK_KEY) is True
        await conn.execute("SELECT pg_advisory_unlock($1)", migrations._LOCK_KEY)
    assert await sandbox.recorded() == [(s, 1, "001_create.sql"), (s, 2, "002_fill.sql")]


async def test_failing_migration_leaves_earlier_ones_applied_and_itself_not_half_applied(
    sandbox: Sandbox,
) -> None:
    s = sandbox.schema
    sandbox.write("001_create.sql", "CREATE SCHEMA {schema}; CREATE TABLE {schema}.t (n int);")
    # Two statements that succeed, then one that fails: all of 002 must roll back.
    sandbox.write(
        "002_broken.sql",
        "CREATE TABLE {schema}.half (n int); INSERT INTO {schema}.t VALUES (2);"
        " INSERT INTO {schema}.no_such_table VALUES (1);",
    )
    sandbox.write("003_after.sql", "CREATE TABLE {schema}.after (n int);")
    with pytest.raises(asyncpg.UndefinedTableError):
        await sandbox.apply()
    assert await sandbox.recorded() == [(s, 1, "001_create.sql")]
    assert await sandbox.tables() == {"t"}
    async with sandbox.pool.acquire() as conn:
        assert await conn.fetchval(f"SELECT count(*) FROM {s}.t") == 0

    # Fixed (not yet applied, so it may change): it now applies, and 003 after it.
    sandbox.write("002_broken.sql", "CREATE TABLE {schema}.half (n int); INSERT INTO {schema}.t VALUES (2);")
    assert await sandbox.apply() == [f"{s}/002_broken.sql", f"{s}/003_after.sql"]
    assert await sandbox.tables() == {"t", "half", "after"}


async def test_concurrent_apply_runs_each_migration_exactly_once(sandbox: Sandbox) -> None:
    s = sandbox.schema
    sandbox.write("001_create.sql", "CREATE SCHEMA {schema}; CREATE TABLE {schema}.runs (name text);")
    # Slow enough that without the lock the two callers would both see 002 as not applied.
    sandbox.write("002_slow.sql", "SELECT pg_sleep(0.3); INSERT INTO {schema}.runs VALUES ('002');")
    sandbox.write("003_count.sql", "INSERT INTO {schema}.runs VALUES ('003');")
    loaded = sandbox.load()

    async def apply_on_own_connection() -> list[str]:
        async with sandbox.pool.acquire() as conn:
            return await migrations.apply(conn, loaded)

    first, second = await asyncio.gather(apply_on_own_connection(), apply_on_own_connection())
    everything = [f"{s}/001_create.sql", f"{s}/002_slow.sql", f"{s}/003_count.sql"]
    assert sorted([first, second], key=len) == [[], everything]
    async with sandbox.pool.acquire() as conn:
        rows = await conn.fetch(f"SELECT name FROM {s}.runs ORDER BY name")
    assert [r["name"] for r in rows] == ["002", "003"]
    assert len(await sandbox.recorded()) == 3


async def test_migrate_service_creates_kernel_messaging_tables_before_the_services_own(
    sandbox: Sandbox,
) -> None:
    s = sandbox.schema
    # The service's first migration relies on the kernel's tables already being there.
    sandbox.write(
        "001_service.sql",
        "CREATE TABLE {schema}.dossiers (id text PRIMARY KEY);"
        " CREATE VIEW {schema}.pending AS SELECT seq FROM {schema}.outbox WHERE published_at IS NULL;",
    )
    async with sandbox.pool.acquire() as conn:
        applied = await migrations.migrate_service(conn, s, sandbox.directory)
        assert applied == [
            f"{s}:kernel/001_messaging.sql",
            f"{s}:kernel/002_app_role.sql",
            f"{s}:kernel/003_request_replies.sql",
            f"{s}/001_service.sql",
        ]
        assert await migrations.migrate_service(conn, s, sandbox.directory) == []
        order = await conn.fetch(
            "SELECT component FROM public.schema_migrations WHERE component IN ($1, $2) ORDER BY applied_at",
            f"{s}:kernel",
            s,
        )
    assert [r["component"] for r in order] == [f"{s}:kernel"] * 3 + [s]
    assert {"outbox", "inbox", "dead_letters", "dossiers", "pending"} <= await sandbox.tables()
