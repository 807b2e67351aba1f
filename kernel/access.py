"""Who may call what, and the access log of every read and write of personal data.

Each service declares one `Rule` per RPC (default deny: a method without a rule is
PERMISSION_DENIED), with what the method does in French words (`action`, for the
refusal a person reads: « Le rôle « accueil » ne permet pas de lire la chronologie d'un
dossier : il faut un rôle travailleur social ou responsable. »). The gRPC layer calls
`AccessPolicy.admit` before the handler (authentication, role) and `record` after it
(access log). Object-level checks (territories, partner ids) happen in the handlers
and, for case data, again in the database through row-level security.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from kernel.auth import NO_TOKEN_FR, ROLE_LABELS, Claims, Role, TokenVerifier
from kernel.db import Connection, Pool
from kernel.errors import PermissionDenied, Unauthenticated, Unavailable
from kernel.logs import get_logger

log = get_logger("access")
OPEN_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")
# Why the caller reads or writes (free text, percent-encoded UTF-8); else the method's default.
PURPOSE_HEADER = "x-entraide-purpose"
_PURPOSE = re.compile(r"^[^\x00-\x1f]{1,200}$")

# (resource type, resource id) pairs a call touched, read from its request/response.
Resources = Callable[[Any, Any], Iterable[tuple[str, str]]]


def _values(source: Any, parts: list[str]) -> list[str]:
    """The non-empty strings at this path; a repeated field on the way is walked item by
    item ("dossiers.dossier_id": the id of every dossier of a list)."""
    found: list[Any] = [source]
    for part in parts:
        step: list[Any] = []
        for item in found:
            value = getattr(item, part, None)
            if value is None:
                continue
            if isinstance(value, str | bytes) or not isinstance(value, Iterable):
                step.append(value)
            else:
                step.extend(value)
        found = step
    return [value for value in found if isinstance(value, str) and value]


def field_resources(kind: str, *paths: str) -> Resources:
    """Resources named by fields, e.g. field_resources("dossier", "dossier_id",
    "response.dossier.dossier_id"): request fields, or response fields after `response.`."""

    def extract(request: Any, response: Any) -> Iterable[tuple[str, str]]:
        for path in paths:
            parts = path.split(".")
            source = response if parts[0] == "response" else request
            yield from (
                (kind, value) for value in _values(source, parts[1:] if parts[0] == "response" else parts)
            )

    return extract


def all_resources(*extractors: Resources) -> Resources:
    """The resources of every extractor, in order (a call touching several kinds)."""

    def extract(request: Any, response: Any) -> Iterable[tuple[str, str]]:
        for extractor in extractors:
            yield from extractor(request, response)

    return extract


def no_resources(request: Any, response: Any) -> Iterable[tuple[str, str]]:
    return ()


@dataclass(frozen=True)
class Rule:
    roles: frozenset[Role]
    # "read" or "write" of personal data, or "none" for calls that touch none
    # (reference data, aggregates): those are not written to the access log.
    access: str = "none"
    resources: Resources = no_resources
    purpose: str = ""
    # What the method does, as a French infinitive a person reads after « ne permet pas
    # de » ("lire la chronologie d'un dossier").
    action: str = ""

    def __post_init__(self) -> None:
        if self.access not in ("read", "write", "none"):
            raise ValueError(f"access is read, write or none: {self.access}")


def rule(
    *roles: Role,
    access: str = "none",
    resources: Resources = no_resources,
    purpose: str = "",
    action: str = "",
) -> Rule:
    return Rule(frozenset(roles), access, resources, purpose, action)


def _de(infinitive: str) -> str:
    """« de » before a French infinitive, elided before a vowel (« d'importer »)."""
    return ("d'" if infinitive[:1].lower() in "aeéèêiîoôuy" else "de ") + infinitive


def _or(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} ou {words[-1]}"


def role_refusal(method: str, role: Role, rule: Rule | None) -> PermissionDenied:
    """The refusal of a role the method's rule does not admit, naming who may do it."""
    allowed = [r for r in Role if rule is not None and r in rule.roles]
    people = [r for r in allowed if r is not Role.SERVICE]
    label = ROLE_LABELS.get(role, role.value)
    named = rule is not None and bool(rule.action)
    what = _de(rule.action) if rule is not None and rule.action else "cette opération"
    if rule is None or not allowed:
        english = f"the role {role.value!r} may not call {method}: no role may"
        who = f"{'cette opération' if named else 'elle'} n'est ouverte à aucun rôle"
    else:
        english = (
            f"the role {role.value!r} may not call {method} (allowed: {', '.join(r.value for r in allowed)})"
        )
        if not people:
            who = f"{'cette opération' if named else 'elle'} est réservée aux services internes d'Entraide"
        elif len(people) == 1:
            who = f"il faut le rôle {ROLE_LABELS[people[0]]}"
        else:
            who = f"il faut un rôle {_or([ROLE_LABELS[r] for r in people])}"
    return PermissionDenied(
        english, fr=f"Le rôle « {label} » ne permet pas {what} : {who}.", reason="ROLE_NOT_ALLOWED"
    )


@dataclass
class AccessPolicy:
    service: str
    rules: Mapping[str, Rule]
    verifier: TokenVerifier
    pool: Pool | None = None
    _unknown: set[str] = field(default_factory=set)
    _writer: AccessLogWriter | None = field(default=None, repr=False)

    def is_open(self, method: str) -> bool:
        return method.startswith(OPEN_PREFIXES)

    def rule_for(self, method: str) -> Rule | None:
        return self.rules.get(method.rsplit("/", 1)[-1])

    def admit(self, method: str, metadata: Mapping[str, str]) -> Claims:
        """Authenticates the caller and checks the method's roles; raises otherwise."""
        header = metadata.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated(
                "this call needs an 'authorization: Bearer <token>' header",
                fr=NO_TOKEN_FR,
                reason="TOKEN_MISSING",
            )
        # The verifier remembers verified tokens: the role is still checked on every call.
        claims = self.verifier.verify(token.strip())
        rule = self.rule_for(method)
        if rule is None or claims.role not in rule.roles:
            raise role_refusal(method.rsplit("/", 1)[-1], claims.role, rule)
        return claims

    async def record(
        self,
        method: str,
        claims: Claims,
        metadata: Mapping[str, str],
        request: Any,
        response: Any,
        denied: bool = False,
    ) -> None:
        """Appends to the access log (apart from case data, append-only)."""
        rule = self.rule_for(method)
        if rule is None or self.pool is None or (rule.access == "none" and not denied):
            return
        # gRPC metadata is ASCII: the purpose travels percent-encoded (UTF-8).
        purpose = unquote(metadata.get(PURPOSE_HEADER, ""))
        if not _PURPOSE.match(purpose):
            purpose = rule.purpose or method.rsplit("/", 1)[-1]
        action = "denied" if denied else rule.access
        rows = access_rows(
            service=self.service,
            actor=claims.subject,
            role=claims.role.value,
            action=action,
            method=method,
            resources=rule.resources(request, response),
            purpose=purpose,
        )
        if self._writer is None:
            self._writer = AccessLogWriter(self.pool)
        # Returns once the rows are committed (grouped with concurrent calls' rows).
        await self._writer.write(rows)

    async def close(self) -> None:
        """Waits for the rows being written (the server has stopped taking calls)."""
        if self._writer is not None:
            await self._writer.close()


ACCESS_ACTIONS = ("read", "write", "denied")
# One access-log row: service, actor, role, action, method, resource type, resource id, purpose.
AccessRow = tuple[str, str, str, str, str, str, str, str]
# The rows of many calls in one statement (one array per column): one round trip, one commit.
_INSERT_ROWS = """INSERT INTO audit.access_log
           (service, actor, role, action, method, resource_type, resource_id, purpose)
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],
                         $5::text[], $6::text[], $7::text[], $8::text[])"""


def access_rows(
    *,
    service: str,
    actor: str,
    role: str,
    action: str,
    method: str,
    resources: Iterable[tuple[str, str]],
    purpose: str,
) -> list[AccessRow]:
    """One call's rows: one per (resource type, resource id), or one without resource."""
    if action not in ACCESS_ACTIONS:
        raise ValueError(f"access log action is read, write or denied: {action}")
    found = list(dict.fromkeys(resources)) or [("", "")]
    return [(service, actor, role, action, method, kind, rid, purpose) for kind, rid in found]


async def insert_access_rows(conn: Connection, rows: Sequence[AccessRow]) -> None:
    """The one statement that writes the access log (any number of rows)."""
    if rows:
        await conn.execute(_INSERT_ROWS, *(list(column) for column in zip(*rows, strict=True)))


async def write_access_log(
    conn: Connection,
    *,
    service: str,
    actor: str,
    role: str,
    action: str,
    method: str,
    resources: Iterable[tuple[str, str]],
    purpose: str,
) -> None:
    """The one writer of the access log (audit.access_log, append-only): one row per
    (resource type, resource id), or one row without resource, in the caller's
    transaction. The console's changes to its agents directory go through it, the
    services' calls through AccessLogWriter (the same rows and statement, grouped); the
    application role may insert. No personal data in any column: ids only."""
    await insert_access_rows(
        conn,
        access_rows(
            service=service,
            actor=actor,
            role=role,
            action=action,
            method=method,
            resources=resources,
            purpose=purpose,
        ),
    )


class AccessLogWriter:
    """Group commit of the access log, one per AccessPolicy (per process).

    Each call hands its rows and waits until they are committed: a read is answered only
    once its row is durable, and a failed write fails the call (a database outage: the
    caller gets UNAVAILABLE through the usual fault mapping). One flusher task writes
    everything pending in one statement (its own commit), resolves those calls, and
    starts again with what came meanwhile: a lone call is written at once (no timer),
    concurrent calls share a commit instead of queueing for one each. The flusher keeps
    its connection while calls keep coming and gives it back when there is none."""

    def __init__(self, pool: Pool, max_rows: int = 2000) -> None:
        self.pool = pool
        self.max_rows = max_rows
        self.flushes = 0  # statements committed (tests, profiling)
        self._pending: list[tuple[list[AccessRow], asyncio.Future[None]]] = []
        # True while a flusher will still look at _pending (it has not begun releasing).
        self._flushing = False
        self._flushers: set[asyncio.Task[None]] = set()
        self._closed = False

    async def write(self, rows: list[AccessRow]) -> None:
        """Returns once `rows` are committed; raises what the write raised otherwise."""
        if self._closed:
            raise Unavailable(
                "the service is stopping; retry with the same request_id",
                fr="Le service s'arrête : réessayez dans un instant.",
                reason="SHUTTING_DOWN",
            )
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((rows, done))
        if not self._flushing:
            self._flushing = True
            flusher = asyncio.create_task(self._flush_all())
            self._flushers.add(flusher)
            flusher.add_done_callback(self._flushers.discard)
        # Shielded: a caller that goes away does not take its rows out of a flush (the
        # data was read: the row stays).
        await asyncio.shield(done)

    async def close(self, timeout_s: float = 10.0) -> None:
        """No new rows; waits for the pending ones (cancelled after `timeout_s`, their
        calls then failing)."""
        self._closed = True
        flushers = list(self._flushers)
        if not flushers:
            return
        _, late = await asyncio.wait(flushers, timeout=timeout_s)
        for flusher in late:
            flusher.cancel()
        await asyncio.gather(*late, return_exceptions=True)

    def _take(self) -> list[tuple[list[AccessRow], asyncio.Future[None]]]:
        """The oldest pending calls, up to max_rows rows (at least one call)."""
        count, taken = 0, 0
        for rows, _ in self._pending:
            if taken and count + len(rows) > self.max_rows:
                break
            count += len(rows)
            taken += 1
        batch, self._pending = self._pending[:taken], self._pending[taken:]
        return batch

    async def _flush_all(self) -> None:
        conn: PoolConnectionProxy[asyncpg.Record] | None = None
        try:
            conn = await self.pool.acquire()
            await self._flush_on(conn)
        except BaseException as exc:
            # A fault (no connection, the statement refused, cancelled at shutdown) fails
            # every call waiting now; the next call starts a new flusher.
            self._flushing = False
            self._fail_pending(exc)
            if not isinstance(exc, Exception):
                raise
        finally:
            # Nothing pending: calls arriving from now on start another flusher rather
            # than wait for this connection's reset.
            self._flushing = False
            if conn is not None:
                try:
                    await self.pool.release(conn)
                except Exception:
                    log.warning("access log connection not released cleanly", exc_info=True)

    async def _flush_on(self, conn: Connection) -> None:
        while self._pending:
            batch = self._take()
            try:
                # Outside a transaction: the statement is its own commit.
                await insert_access_rows(conn, [row for rows, _ in batch for row in rows])
            except BaseException as exc:
                _fail(batch, exc)
                raise
            self.flushes += 1
            for _, done in batch:
                if not done.done():
                    done.set_result(None)

    def _fail_pending(self, exc: BaseException) -> None:
        batch, self._pending = self._pending, []
        _fail(batch, exc)


def _fail(batch: list[tuple[list[AccessRow], asyncio.Future[None]]], exc: BaseException) -> None:
    """The calls of `batch` fail; cancelled (the flusher at shutdown), they are UNAVAILABLE."""
    if isinstance(exc, asyncio.CancelledError):
        exc = Unavailable(
            "the access log could not be written before the service stopped; retry",
            fr="Le service s'arrête : réessayez dans un instant.",
            reason="SHUTTING_DOWN",
        )
    for _, done in batch:
        if not done.done():
            done.set_exception(exc)
