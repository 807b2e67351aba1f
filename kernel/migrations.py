"""Numbered plain-SQL migrations, per service, applied once under an advisory lock.

Files are named `NNN_description.sql` and run in order, each in its own transaction.
The kernel's own tables (outbox, inbox, dead letters) come first for every service
schema, from kernel/sql/, with `{schema}` replaced by the service's schema name.
An applied migration whose file changed afterwards is an error: migrations are
append-only.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from kernel.db import Connection
from kernel.logs import get_logger

log = get_logger("migrations")
KERNEL_SQL = Path(__file__).parent / "sql"
AUDIT_SQL = Path(__file__).parent / "sql_audit"
_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")
# Same key for every service: migrations of several services never interleave.
_LOCK_KEY = 0x456E7472  # "Entr"


@dataclass(frozen=True)
class Migration:
    component: str
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load(component: str, directory: Path, schema: str) -> list[Migration]:
    migrations = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise ValueError(f"migration file name must look like 001_name.sql: {path}")
        sql = path.read_text().replace("{schema}", schema)
        migrations.append(Migration(component, int(match.group(1)), path.name, sql))
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        raise ValueError(f"duplicate migration numbers in {directory}")
    return migrations


async def apply(conn: Connection, migrations: list[Migration]) -> list[str]:
    """Applies what is not applied yet; returns the names applied now."""
    applied_now: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS public.schema_migrations (
                   component text NOT NULL, version int NOT NULL, name text NOT NULL,
                   checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now(),
                   PRIMARY KEY (component, version))"""
        )
        for migration in migrations:
            row = await conn.fetchrow(
                "SELECT checksum FROM public.schema_migrations WHERE component = $1 AND version = $2",
                migration.component,
                migration.version,
            )
            if row is not None:
                if row["checksum"] != migration.checksum:
                    raise RuntimeError(
                        f"migration {migration.component}/{migration.name} changed after it was applied"
                    )
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO public.schema_migrations (component, version, name, checksum)"
                    " VALUES ($1, $2, $3, $4)",
                    migration.component,
                    migration.version,
                    migration.name,
                    migration.checksum,
                )
            log.info(
                "migration applied", extra={"component": migration.component, "migration": migration.name}
            )
            applied_now.append(f"{migration.component}/{migration.name}")
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    return applied_now


async def migrate_service(conn: Connection, schema: str, directory: Path) -> list[str]:
    """The kernel's tables for this schema, then the service's own migrations."""
    migrations = load(f"{schema}:kernel", KERNEL_SQL, schema) + load(schema, directory, schema)
    return await apply(conn, migrations)
