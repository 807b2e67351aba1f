"""Console sessions, in PostgreSQL so that any console process serves any request.

The cookie carries a random token; the table keeps its SHA-256. A session ends at
sign-out or after `idle_timeout_s` without a request (checked on every request, and old
rows purged).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from kernel.db import Connection
from services.console.directory import SCHEMA, Agent

COOKIE = "entraide_session"
# How often last_seen_at is written: not on every request, but well inside the timeout.
TOUCH_EVERY_S = 30.0


@dataclass(frozen=True)
class Session:
    agent: Agent
    csrf_token: str
    id_token: str


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def open_session(conn: Connection, agent_id: str, id_token: str = "") -> str:
    """A new session for the agent; returns the cookie's token."""
    token = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    await conn.execute(
        f"""INSERT INTO {SCHEMA}.sessions
                (token_hash, agent_id, csrf_token, created_at, last_seen_at, id_token)
            VALUES ($1, $2, $3, $4, $4, $5)""",
        _hash(token),
        agent_id,
        secrets.token_urlsafe(32),
        now,
        id_token,
    )
    return token


async def load(conn: Connection, token: str, idle_timeout_s: int) -> Session | None:
    """The live session of this cookie, its agent still active; touched as it is used."""
    if not token or len(token) > 200:
        return None
    now = datetime.now(UTC)
    row = await conn.fetchrow(
        f"""SELECT s.csrf_token, s.last_seen_at, s.id_token, a.*
              FROM {SCHEMA}.sessions s JOIN {SCHEMA}.agents a USING (agent_id)
             WHERE s.token_hash = $1""",
        _hash(token),
    )
    if row is None:
        return None
    if not row["active"] or now - row["last_seen_at"] > timedelta(seconds=idle_timeout_s):
        await close(conn, token)
        return None
    if now - row["last_seen_at"] > timedelta(seconds=min(TOUCH_EVERY_S, idle_timeout_s / 4)):
        await conn.execute(
            f"UPDATE {SCHEMA}.sessions SET last_seen_at = $2 WHERE token_hash = $1", _hash(token), now
        )
    return Session(Agent.from_row(row), row["csrf_token"], row["id_token"])


async def close(conn: Connection, token: str) -> None:
    await conn.execute(f"DELETE FROM {SCHEMA}.sessions WHERE token_hash = $1", _hash(token))


async def purge_idle(conn: Connection, idle_timeout_s: int) -> int:
    """Removes sessions idle past the timeout and sign-ins never completed (1 h)."""
    now = datetime.now(UTC)
    status = await conn.execute(
        f"DELETE FROM {SCHEMA}.sessions WHERE last_seen_at < $1", now - timedelta(seconds=idle_timeout_s)
    )
    await conn.execute(f"DELETE FROM {SCHEMA}.sign_ins WHERE created_at < $1", now - timedelta(hours=1))
    return int(status.split()[-1])
