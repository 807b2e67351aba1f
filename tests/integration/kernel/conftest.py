"""The kernel's integration tests' messaging world: a schema, stream and subject root of
its own per test (tests/kernel_fixtures.py), removed afterwards."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from kernel.settings import Settings
from tests.kernel_fixtures import MessagingWorld, open_world


@pytest.fixture
async def world(pool: asyncpg.Pool, settings: Settings) -> AsyncIterator[MessagingWorld]:
    created = await open_world(pool, settings)
    try:
        yield created
    finally:
        await created.close()
