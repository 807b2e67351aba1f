"""Scratch databases for tests, benchmarks and recorders: created on a server next to
a stack's own database, never touching its data, and dropped afterwards."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg


def with_database(url: str, database: str) -> str:
    """The same server URL, pointing at another database."""
    head, _, _ = url.rpartition("/")
    return f"{head}/{database}"


async def create_database(admin_url: str, prefix: str) -> tuple[str, str]:
    """A new, empty database named `<prefix>_<random>`; returns (name, url)."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return name, with_database(admin_url, name)


async def drop_database(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@asynccontextmanager
async def fresh_database(admin_url: str, prefix: str) -> AsyncIterator[str]:
    """A scratch database's URL for the duration of the block."""
    name, url = await create_database(admin_url, prefix)
    try:
        yield url
    finally:
        await drop_database(admin_url, name)
