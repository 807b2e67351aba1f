"""Ops views: dossiers per stage, overdue deadlines, stuck dossiers (from the fact
tables), consumer lag (JetStream), outbox backlog and dead letters (counts and
metadata only, through the SECURITY DEFINER functions of migration 003), and the
partner channels that cannot work by configuration (through the SECURITY DEFINER
`misconfigured_channel_list` of every schema that has one: referral's migration 004)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import nats.errors
from nats.js import JetStreamContext

from kernel.db import Connection
from kernel.logs import get_logger
from services.reporting.projection.tables import LIVE, Tables

log = get_logger("reporting.ops")


@dataclass(frozen=True)
class Listed:
    dossier_id: str
    territory: str
    stage: str
    last_progress_at: datetime | None
    reason: str


@dataclass(frozen=True)
class Lag:
    consumer: str
    pending: int
    ack_pending: int
    redelivered: int
    ack_floor: int


@dataclass(frozen=True)
class Misconfigured:
    service: str  # the schema whose notifier reported it
    partner_id: str
    channel: str  # "webhook"
    reason: str  # e.g. MISSING_WEBHOOK_SECRET, INVALID_WEBHOOK_URL
    since: datetime
    deliveries_held: int


@dataclass(frozen=True)
class Dead:
    service: str
    consumer: str
    stream_seq: int
    subject: str
    deliveries: int
    error_type: str
    received_at: datetime


async def stage_counts(
    conn: Connection, territories: list[str], tables: Tables = LIVE
) -> list[tuple[str, int]]:
    rows = await conn.fetch(
        f"""SELECT stage, count(*) AS n FROM {tables.dossiers}
             WHERE territory = ANY($1::text[]) AND opened_at IS NOT NULL
             GROUP BY stage ORDER BY min(stage_rank), stage""",
        territories,
    )
    return [(row["stage"], int(row["n"])) for row in rows]


async def overdue(
    conn: Connection, territories: list[str], limit: int, tables: Tables = LIVE
) -> list[Listed]:
    """Deadlines passed and not acted upon since: an urgent dossier escalated and still
    not listened to, a suivi reminder or a closure proposal with no activity after it,
    a referral reminded (not acknowledged in time) and still only requested."""
    rows = await conn.fetch(
        f"""(SELECT dossier_id::text, territory, stage, last_activity_at, 'escalated' AS reason
               FROM {tables.dossiers}
              WHERE territory = ANY($1::text[]) AND escalated AND stage = 'reception'
              ORDER BY escalated_at LIMIT $2)
            UNION ALL
            (SELECT dossier_id::text, territory, stage, last_activity_at, 'reminder'
               FROM {tables.dossiers}
              WHERE territory = ANY($1::text[]) AND stage = 'suivi' AND reminder_at IS NOT NULL
                AND last_activity_at <= reminder_at
              ORDER BY reminder_at LIMIT $2)
            UNION ALL
            (SELECT dossier_id::text, territory, stage, last_activity_at, 'closure_proposed'
               FROM {tables.dossiers}
              WHERE territory = ANY($1::text[]) AND stage <> 'cloture' AND closure_proposed_at IS NOT NULL
                AND last_activity_at <= closure_proposed_at
              ORDER BY closure_proposed_at LIMIT $2)
            UNION ALL
            (SELECT COALESCE(r.dossier_id::text, ''), r.territory, COALESCE(r.status, ''),
                    COALESCE(r.status_at, r.requested_at), 'referral_overdue'
               FROM {tables.referrals} r
              WHERE r.territory = ANY($1::text[]) AND r.status IN ('requested', 'received')
                AND r.reminders > 0
              ORDER BY r.reminder_at LIMIT $2)""",
        territories,
        limit,
    )
    return [Listed(r[0], r[1], r[2], r[3], r[4]) for r in rows]


async def stuck(
    conn: Connection, territories: list[str], before: datetime, limit: int, tables: Tables = LIVE
) -> list[Listed]:
    rows = await conn.fetch(
        f"""SELECT dossier_id::text, territory, stage, last_activity_at FROM {tables.dossiers}
             WHERE stage <> 'cloture' AND last_activity_at < $2 AND territory = ANY($1::text[])
               AND opened_at IS NOT NULL
             ORDER BY last_activity_at LIMIT $3""",
        territories,
        before,
        limit,
    )
    return [Listed(r[0], r[1], r[2], r[3], "no_progress") for r in rows]


async def outbox_backlog(conn: Connection, schema: str = LIVE.schema) -> dict[str, int]:
    rows = await conn.fetch(f"SELECT schema_name, unpublished FROM {schema}.outbox_backlog()")
    return {row["schema_name"]: int(row["unpublished"]) for row in rows}


async def dead_letters(conn: Connection, limit: int, schema: str = LIVE.schema) -> list[Dead]:
    rows = await conn.fetch(f"SELECT * FROM {schema}.dead_letter_list($1)", limit)
    return [
        Dead(
            r["schema_name"],
            r["consumer"],
            int(r["stream_seq"]),
            r["subject"],
            int(r["deliveries"]),
            r["error_type"],
            r["received_at"],
        )
        for r in rows
    ]


_MISCONFIGURED_FUNCTION = "misconfigured_channel_list"


def _quoted(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


async def misconfigured_channels(conn: Connection, limit: int) -> list[Misconfigured]:
    """Misconfigured partner channels of every service schema that reports them (found
    in the catalogue, as the backlog functions find outbox tables), oldest first."""
    schemas = await conn.fetch(
        r"""SELECT n.nspname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
             WHERE p.proname = $1 AND p.prosecdef AND has_function_privilege(p.oid, 'EXECUTE')
               AND n.nspname NOT LIKE 'pg\_%' AND n.nspname NOT LIKE '%\_rebuild%'
             ORDER BY n.nspname""",
        _MISCONFIGURED_FUNCTION,
    )
    found: list[Misconfigured] = []
    for schema in (row["nspname"] for row in schemas):
        rows = await conn.fetch(f"SELECT * FROM {_quoted(schema)}.{_MISCONFIGURED_FUNCTION}($1)", limit)
        found.extend(
            Misconfigured(
                schema,
                r["partner_id"],
                r["channel"],
                r["reason"],
                r["since"],
                int(r["deliveries_held"]),
            )
            for r in rows
        )
    found.sort(key=lambda m: (m.since, m.service, m.partner_id, m.channel))
    return found[:limit]


async def consumer_lag(js: JetStreamContext, stream: str) -> list[Lag]:
    """Every durable consumer of the events stream (ephemeral ones have no name worth showing)."""
    try:
        infos = await js.consumers_info(stream)
    except (nats.errors.Error, TimeoutError) as exc:
        log.warning("consumer info unavailable", extra={"error_type": type(exc).__name__})
        return []
    lags = []
    for info in infos:
        config = info.config
        if not config.durable_name:
            continue
        lags.append(
            Lag(
                config.durable_name,
                int(info.num_pending or 0),
                int(info.num_ack_pending or 0),
                int(info.num_redelivered or 0),
                int(info.ack_floor.stream_seq if info.ack_floor and info.ack_floor.stream_seq else 0),
            )
        )
    return sorted(lags, key=lambda lag: lag.consumer)
