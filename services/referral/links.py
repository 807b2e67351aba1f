"""Signed single-referral links: a partner answers one referral without an account.

A link token is `<link_id>.<referral_id>.<expires>.<mac>`: the link id and the
referral id as 32 hex digits, the expiry in Unix seconds, and the base64url HMAC-SHA256
over the three with the deployment's link key (ENTRAIDE_LINK_SECRET, else a key derived
from ENTRAIDE_JWT_SECRET with a fixed label). The signature proves the token was given
out by this deployment; the `referral_links` row says whether it is still good (not
revoked, not used, not expired). A link grants one thing: reading and answering its
referral, through the console (ReadReferralByLink / AnswerReferralByLink, role service).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

from kernel.db import Connection
from kernel.errors import FailedPrecondition, NotFound
from services.referral.schema import SCHEMA

DEFAULT_TTL_S = 8 * 86400
MIN_TTL_S = 60
MAX_TTL_S = 30 * 86400
# The key derived from the JWT secret when ENTRAIDE_LINK_SECRET is not set.
DERIVATION_LABEL = b"entraide/referral-link-key/v1"
_MAC_LABEL = b"entraide/referral-link/v1"
_TOKEN = re.compile(r"^([0-9a-f]{32})\.([0-9a-f]{32})\.([0-9]{1,12})\.([A-Za-z0-9_-]{43})$")
# Statuses in which the partner has something to answer.
ANSWERABLE = frozenset({"requested", "received", "accepted", "in_progress"})
# Link ids of the notifier's links: uuid5(event id), so a redelivered event gives the same link.
NOTIFIER_NAMESPACE = uuid.UUID("9b3e6f10-2a4c-4d8e-b7f1-5c0d3a9e8b21")
# Link ids of requests carrying a request id: the same request creates the same link.
REQUEST_NAMESPACE = uuid.UUID("3f8a2c71-6d5e-4b90-a1c3-7e2f9d0b4a56")
LINK_PATH = "/lien/"


@dataclass(frozen=True)
class LinkConfig:
    """The link key (None: links cannot be made or checked), the default lifetime, and
    the console's address that partners open (ENTRAIDE_CONSOLE_URL; "" when unset)."""

    key: bytes | None
    ttl_s: int = DEFAULT_TTL_S
    console_url: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> LinkConfig:
        secret = env.get("ENTRAIDE_LINK_SECRET", "")
        jwt_secret = env.get("ENTRAIDE_JWT_SECRET", "")
        key: bytes | None = None
        if secret:
            key = secret.encode()
        elif jwt_secret:
            key = hmac.new(jwt_secret.encode(), DERIVATION_LABEL, hashlib.sha256).digest()
        ttl = int(float(env.get("ENTRAIDE_REFERRAL_LINK_TTL_S", str(DEFAULT_TTL_S))))
        return cls(key, max(MIN_TTL_S, min(MAX_TTL_S, ttl)), env.get("ENTRAIDE_CONSOLE_URL", "").rstrip("/"))

    def url(self, token: str) -> str:
        return f"{self.console_url}{LINK_PATH}{token}" if self.console_url else ""


@dataclass(frozen=True)
class Token:
    """What a token says, once its signature is checked."""

    link_id: uuid.UUID
    referral_id: uuid.UUID
    expires: int


def _mac(key: bytes, link_id: uuid.UUID, referral_id: uuid.UUID, expires: int) -> str:
    parts = [_MAC_LABEL, link_id.hex.encode(), referral_id.hex.encode(), str(expires).encode()]
    message = b"\x00".join(parts)
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sign(key: bytes, link_id: uuid.UUID, referral_id: uuid.UUID, expires_at: datetime) -> str:
    expires = int(expires_at.timestamp())
    return f"{link_id.hex}.{referral_id.hex}.{expires}.{_mac(key, link_id, referral_id, expires)}"


def verify(key: bytes | None, token: str) -> Token | None:
    """The token's content when its signature is this deployment's, else None."""
    match = _TOKEN.match(token)
    if key is None or match is None:
        return None
    link_hex, referral_hex, expires, mac = match.groups()
    parsed = Token(uuid.UUID(link_hex), uuid.UUID(referral_hex), int(expires))
    expected = _mac(key, parsed.link_id, parsed.referral_id, parsed.expires)
    return parsed if hmac.compare_digest(expected, mac) else None


def link_id_of(token: str) -> uuid.UUID | None:
    """The link id a token names (not checked: for revoking by token, then checked)."""
    match = _TOKEN.match(token)
    return uuid.UUID(match.group(1)) if match else None


def expiry(now: datetime, ttl_s: int) -> datetime:
    """Whole seconds: the token carries the expiry in Unix seconds."""
    return datetime.fromtimestamp(int(now.timestamp()) + ttl_s, UTC)


# ---- refusals a person reads on the link's page -----------------------------------------


def invalid() -> NotFound:
    return NotFound(
        "this link is not valid (unknown, altered or from another deployment)",
        fr="Ce lien n'est pas valable : vérifiez qu'il a été copié en entier depuis le courriel reçu,"
        " ou demandez un nouveau lien au CCAS.",
        reason="LINK_INVALID",
        field="link_token",
    )


def used() -> FailedPrecondition:
    return FailedPrecondition(
        "this link was already used to answer",
        fr="Ce lien a déjà servi : pour répondre à nouveau, connectez-vous ou demandez un nouveau lien"
        " au CCAS.",
        reason="LINK_USED",
        field="link_token",
    )


def expired() -> FailedPrecondition:
    return FailedPrecondition(
        "this link has expired",
        fr="Ce lien a expiré : connectez-vous pour répondre, ou demandez un nouveau lien au CCAS.",
        reason="LINK_EXPIRED",
        field="link_token",
    )


def revoked() -> FailedPrecondition:
    return FailedPrecondition(
        "this link was revoked by the CCAS",
        fr="Ce lien a été désactivé par le CCAS : connectez-vous pour répondre, ou demandez-lui un"
        " nouveau lien.",
        reason="LINK_REVOKED",
        field="link_token",
    )


# ---- SQL ----------------------------------------------------------------------------------


async def insert(
    conn: Connection,
    link_id: uuid.UUID,
    referral_id: uuid.UUID,
    partner_id: str,
    territory: str,
    expires_at: datetime,
    created_by: str,
) -> asyncpg.Record:
    """The link (an existing one with this id is kept: a repeat creates nothing)."""
    await conn.execute(
        f"""INSERT INTO {SCHEMA}.referral_links
                (link_id, referral_id, partner_id, territory, expires_at, created_by)
            VALUES ($1, $2, $3, $4, $5, $6)
            ON CONFLICT (link_id) DO NOTHING""",
        link_id,
        referral_id,
        partner_id,
        territory,
        expires_at,
        created_by,
    )
    row = await conn.fetchrow(f"SELECT * FROM {SCHEMA}.referral_links WHERE link_id = $1", link_id)
    assert row is not None, "the link was just written in the caller's territory"
    return row


async def find(conn: Connection, link_id: uuid.UUID) -> asyncpg.Record | None:
    """The link whatever the caller's territories (SECURITY DEFINER lookup)."""
    return await conn.fetchrow(f"SELECT * FROM {SCHEMA}.referral_link($1)", link_id)


async def target(conn: Connection, referral_id: uuid.UUID) -> asyncpg.Record | None:
    """A referral's partner, commune and status whatever the caller's territories."""
    return await conn.fetchrow(f"SELECT * FROM {SCHEMA}.referral_target($1)", referral_id)


def check(row: asyncpg.Record | None, token: Token, now: datetime, answer_key: str = "") -> bool:
    """Raises the link's refusal; True when the link was used by this very answer (a
    retry after the answer was recorded), False when it is good for use."""
    if row is None or row["referral_id"] != token.referral_id:
        raise invalid()
    if row["revoked_at"] is not None:
        raise revoked()
    if row["used_at"] is not None:
        if answer_key and row["answer_key"] == answer_key:
            return True
        raise used()
    # The row may cut the signed expiry short (an operator's fix, a test), never extend it.
    if row["expires_at"] <= now or token.expires <= now.timestamp():
        raise expired()
    return False


async def begin_answer(conn: Connection, link_id: uuid.UUID, answer_key: str, stale_s: float) -> bool:
    """Claims the link for one answer; False when another answer holds it (under way)."""
    claimed = await conn.fetchval(
        f"""UPDATE {SCHEMA}.referral_links SET answer_key = $2, answering_at = now()
             WHERE link_id = $1 AND used_at IS NULL AND revoked_at IS NULL
               AND (answer_key IS NULL OR answer_key = $2
                    OR answering_at < now() - make_interval(secs => $3))
            RETURNING true""",
        link_id,
        answer_key,
        stale_s,
    )
    return bool(claimed)


async def end_answer(conn: Connection, link_id: uuid.UUID, answer_key: str, recorded: bool) -> None:
    """The answer is recorded (the link is used), or refused (the link is free again)."""
    if recorded:
        await conn.execute(
            f"""UPDATE {SCHEMA}.referral_links SET used_at = coalesce(used_at, now())
                 WHERE link_id = $1 AND answer_key = $2""",
            link_id,
            answer_key,
        )
    else:
        await conn.execute(
            f"""UPDATE {SCHEMA}.referral_links SET answer_key = NULL, answering_at = NULL
                 WHERE link_id = $1 AND answer_key = $2 AND used_at IS NULL""",
            link_id,
            answer_key,
        )


async def revoke(conn: Connection, link_id: uuid.UUID) -> asyncpg.Record | None:
    """Revokes a link of the caller's territories (row-level security); None if unseen."""
    return await conn.fetchrow(
        f"""UPDATE {SCHEMA}.referral_links SET revoked_at = coalesce(revoked_at, now())
             WHERE link_id = $1 RETURNING link_id, referral_id, revoked_at""",
        link_id,
    )
