"""asyncpg pools, the connection type repositories take, and the caller's scope.

Services query as the application role (`entraide_app`: owns nothing, cannot bypass
row-level security). Every connection a handler uses carries the caller's claims as
settings (`entraide.territories`, `entraide.subject`, `entraide.role`, and for partners
`entraide.partner_id`) that the
row-level security policies read; asyncpg's RESET ALL on release clears them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from domain.vocabulary import SYSTEM_ACTOR
from kernel import auth

# What repository functions accept: a bare connection or one borrowed from a pool.
Connection: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"
Pool: TypeAlias = "asyncpg.Pool[asyncpg.Record]"
APP_ROLE = "entraide_app"
SYSTEM_SUBJECT = SYSTEM_ACTOR


async def create_pool(
    dsn: str, *, role: str | None = APP_ROLE, min_size: int = 1, max_size: int = 10
) -> Pool:
    """A pool whose connections run as `role` (SET ROLE at connection start)."""
    settings = {"role": role} if role else {}
    return await asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size, command_timeout=30, server_settings=settings
    )


async def _scope(
    conn: Connection,
    territories: Iterable[str],
    subject: str,
    role: str,
    all_notes: bool,
    partner_id: str = "",
) -> None:
    await conn.execute(
        """SELECT set_config('entraide.territories', $1, false), set_config('entraide.subject', $2, false),
                  set_config('entraide.role', $3, false), set_config('entraide.all_notes', $4, false),
                  set_config('entraide.partner_id', $5, false)""",
        ",".join(sorted(territories)),
        subject,
        role,
        "on" if all_notes else "off",
        partner_id,
    )


@asynccontextmanager
async def acquire_spare(pool: Pool, wait_s: float = 0.05) -> AsyncIterator[Connection | None]:
    """A second connection for a request that already holds one, when one is free at
    once, else None: a request never waits for a second connection (requests each
    holding one and waiting for another would deadlock a full pool)."""
    try:
        conn = await pool.acquire(timeout=wait_s)
    except TimeoutError:
        yield None
        return
    try:
        yield conn
    finally:
        await pool.release(conn)


class ScopedPool:
    """Hands out connections scoped to the caller of the RPC being served."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[Connection]:
        claims = auth.current()
        async with self.pool.acquire() as conn:
            await _scope(
                conn,
                claims.territories,
                claims.subject,
                claims.role.value,
                all_notes=False,
                partner_id=claims.partner_id,
            )
            yield conn


async def platform_scope(conn: Connection, territories: Iterable[str]) -> None:
    """The platform's own rights (role service, these communes) for the rest of the
    caller's transaction only: consumers acting on a shared pooled connection."""
    await conn.execute(
        "SELECT set_config('entraide.territories', $1, true), set_config('entraide.role', $2, true)",
        ",".join(sorted(set(territories))),
        auth.Role.SERVICE.value,
    )


@asynccontextmanager
async def system_scope(
    pool: Pool, territories: Iterable[str], *, all_notes: bool = False
) -> AsyncIterator[Connection]:
    """A connection for the platform itself (workflow activities, rights requests),
    limited to the territories it works on."""
    async with pool.acquire() as conn:
        await _scope(conn, territories, SYSTEM_SUBJECT, auth.Role.SERVICE.value, all_notes)
        yield conn
