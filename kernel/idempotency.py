"""Client request ids: the same request id again returns the first call's answer.

Every mutating RPC takes an optional `request_id` (1 to 100 printable characters, no
spaces; a UUID is best). The gRPC layer claims (method, caller, request_id) in the
service schema's `request_replies` before the handler runs, with a digest of the
request, and stores the answer after it succeeds:

- the same id and the same request again → the stored answer, the handler not run;
- a repeat while the first call is still running → waits for its answer (up to the
  caller's deadline, then UNAVAILABLE: retry later with the same id);
- the same id with another request → ALREADY_EXISTS, reason REQUEST_ID_REUSED;
- a call that failed leaves no claim: its retry runs again (a refusal changed nothing);
- a claim left by a crashed process is taken over after `STALE_CLAIM_S`.

Handlers keep their effects idempotent themselves as well (workflow update ids and
natural keys derived from the request id), so a takeover after a crash cannot apply
an effect twice either.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from google.protobuf import descriptor_pool, message_factory
from google.protobuf.message import Message

from kernel import auth, db
from kernel.errors import AlreadyExists, InvalidArgument, Unavailable
from kernel.logs import get_logger

log = get_logger("idempotency")
FIELD = "request_id"
_VALID = re.compile(r"^[\x21-\x7e]{1,100}$")
# Longer than any call runs (downstream deadlines are capped at 30 s, kernel.grpc_server).
STALE_CLAIM_S = 45.0
KEEP_REPLIES = timedelta(days=1)
PURGE_EVERY_S = 600.0
_POLL_S = 0.1
_NAMESPACE = uuid.UUID("6f1d9a52-7c1b-4d0e-9a43-2b8e0f5c7d11")


def request_id_of(request: Any) -> str:
    """The request's id, "" when it has none (or its message has no such field)."""
    descriptor = getattr(request, "DESCRIPTOR", None)
    if descriptor is None or FIELD not in descriptor.fields_by_name:
        return ""
    value = getattr(request, FIELD)
    if value and not _VALID.match(value):
        raise InvalidArgument(
            "request_id is 1 to 100 printable characters without spaces",
            fr="L'identifiant de demande (request_id) fait 1 à 100 caractères imprimables, sans espace.",
            field=FIELD,
            reason="INVALID_FORMAT",
        )
    return str(value)


def derived_id(caller: str, method: str, request_id: str) -> str:
    """A stable id for what a request does downstream (a workflow update id, a row's
    key): the same for every repeat of the request, opaque (no caller in clear)."""
    return str(uuid.uuid5(_NAMESPACE, f"{caller}\x00{method}\x00{request_id}"))


def key_of(request: Any, action: str) -> str:
    """The derived id of a request served now (the caller is the token's subject), ""
    when the request carries no request id."""
    request_id = request_id_of(request)
    return derived_id(auth.current().subject, action, request_id) if request_id else ""


def digest(request: Message) -> bytes:
    """What the request asks, without its id: repeats must ask the same."""
    copy = type(request)()
    copy.CopyFrom(request)
    copy.ClearField(FIELD)
    return hashlib.sha256(copy.SerializeToString(deterministic=True)).digest()


def response_class(method: str) -> type[Message]:
    """The response message class of a full method name (/pkg.Service/Method)."""
    service, _, name = method.strip("/").partition("/")
    found = descriptor_pool.Default().FindMethodByName(f"{service}.{name}")
    return message_factory.GetMessageClass(found.output_type)


@dataclass
class Claim:
    """The outcome of claiming a request id: either a stored reply or the right to run."""

    reply: bytes | None
    owned: bool


class RequestReplies:
    """The request_replies table of one service schema, read with the caller's scope."""

    def __init__(self, pool: db.ScopedPool, schema: str) -> None:
        self.pool = pool
        self.schema = schema
        self._last_purge = 0.0

    async def claim(
        self, method: str, caller: str, request_id: str, request_digest: bytes, wait_s: float
    ) -> Claim:
        """Claims the id, or returns the first call's reply (waiting while it runs)."""
        deadline = time.monotonic() + max(0.0, wait_s)
        while True:
            async with self.pool.acquire() as conn:
                row = await conn.fetchrow(
                    f"""INSERT INTO {self.schema}.request_replies (method, caller, request_id, digest)
                        VALUES ($1, $2, $3, $4)
                        ON CONFLICT (method, caller, request_id) DO UPDATE
                            SET claimed_at = now()
                            WHERE request_replies.reply IS NULL
                              AND request_replies.digest = EXCLUDED.digest
                              AND request_replies.claimed_at < now() - make_interval(secs => $5)
                        RETURNING reply""",
                    method,
                    caller,
                    request_id,
                    request_digest,
                    STALE_CLAIM_S,
                )
                if row is not None:
                    return Claim(None, owned=True)
                existing = await conn.fetchrow(
                    f"""SELECT digest, reply FROM {self.schema}.request_replies
                         WHERE method = $1 AND caller = $2 AND request_id = $3""",
                    method,
                    caller,
                    request_id,
                )
            if existing is None:
                continue  # released between the two statements: claim again
            if bytes(existing["digest"]) != request_digest:
                raise AlreadyExists(
                    "this request_id was already used for a different request; use a new request_id",
                    fr=(
                        "Cet identifiant de demande (request_id) a déjà servi pour une autre demande : "
                        "utilisez-en un nouveau."
                    ),
                    field=FIELD,
                    reason="REQUEST_ID_REUSED",
                )
            if existing["reply"] is not None:
                return Claim(bytes(existing["reply"]), owned=False)
            if time.monotonic() >= deadline:
                raise Unavailable(
                    "the first call with this request_id is still running; retry with the same request_id",
                    fr=(
                        "La première demande portant cet identifiant est encore en cours : "
                        "réessayez dans un instant avec le même identifiant."
                    ),
                    reason="REQUEST_IN_FLIGHT",
                )
            await asyncio.sleep(_POLL_S)

    async def store(self, method: str, caller: str, request_id: str, reply: bytes) -> None:
        async with self.pool.acquire() as conn:
            await conn.execute(
                f"""UPDATE {self.schema}.request_replies SET reply = $4
                     WHERE method = $1 AND caller = $2 AND request_id = $3 AND reply IS NULL""",
                method,
                caller,
                request_id,
                reply,
            )
            await self._purge(conn)

    async def release(self, method: str, caller: str, request_id: str) -> None:
        """The call failed: nothing was done, a retry may run it again."""
        async with self.pool.acquire() as conn:
            await conn.execute(
                f"""DELETE FROM {self.schema}.request_replies
                     WHERE method = $1 AND caller = $2 AND request_id = $3 AND reply IS NULL""",
                method,
                caller,
                request_id,
            )

    async def _purge(self, conn: db.Connection) -> None:
        now = time.monotonic()
        if now - self._last_purge < PURGE_EVERY_S:
            return
        self._last_purge = now
        removed = await conn.fetchval(
            f"SELECT {self.schema}.purge_request_replies($1::interval)", KEEP_REPLIES
        )
        if removed:
            log.info("request replies expired", extra={"count": int(removed)})
