"""Reporting's projection on a scratch database, for the order-free tests: a fresh
database with reporting's migrations, and events applied shuffled, in random batches,
with some applied twice."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from devstack.scratch import fresh_database
from kernel import migrations
from kernel.events import Event
from services.reporting.projection.apply import project_batch
from tests.paths import REPO

MIGRATIONS = REPO / "services" / "reporting" / "migrations"


@asynccontextmanager
async def reporting_database(database_url: str, name: str) -> AsyncIterator[str]:
    """The URL of a fresh database holding reporting's schema, dropped afterwards."""
    async with fresh_database(database_url, name) as url:
        connection = await asyncpg.connect(url)
        try:
            await migrations.migrate_service(connection, "reporting", MIGRATIONS)
        finally:
            await connection.close()
        yield url


async def project_in_batches(
    conn: asyncpg.Connection,
    events: list[Event],
    seed: int,
    sizes: tuple[int, int],
    duplicates: float = 0.0,
) -> None:
    """The events in a random order and random batch sizes, a share of them again
    (`duplicates`: every write must be idempotent), one transaction per batch."""
    rng = random.Random(seed)
    pending = rng.sample(events, len(events))
    pending += rng.sample(events, int(len(events) * duplicates))
    while pending:
        size = rng.randint(*sizes)
        batch, pending = pending[:size], pending[size:]
        async with conn.transaction():
            await project_batch(conn, batch)
