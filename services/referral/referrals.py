"""Referrals' SQL and the referral activities (task queue `referral`), run by the
ReferralWorkflow: each status writes the referral row, its history and its
entraide.referral.status_changed event in one transaction, keyed by the referral's
sequence, so a retried activity changes nothing."""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict
from datetime import datetime

import asyncpg
from entraide.v1 import events_pb2
from temporalio import activity

from domain.events import EventType
from kernel import outbox
from kernel.db import Connection, Pool, system_scope
from kernel.events import new_event, step_event_id
from kernel.timestamps import to_timestamp
from services.referral.schema import SCHEMA
from workflows.contracts import ActivityName, RecordReferralStatus, ReferralReminder

SOURCE = "entraide/referral"


async def get_referral(conn: Connection, referral_id: str) -> asyncpg.Record | None:
    try:
        parsed = uuid.UUID(referral_id)
    except ValueError:
        return None
    return await conn.fetchrow(f"SELECT * FROM {SCHEMA}.referrals WHERE referral_id = $1", parsed)


async def history(conn: Connection, referral_id: uuid.UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"SELECT * FROM {SCHEMA}.referral_changes WHERE referral_id = $1 ORDER BY sequence", referral_id
    )


async def of_dossier(conn: Connection, dossier_id: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"SELECT * FROM {SCHEMA}.referrals WHERE dossier_id = $1 ORDER BY created_at", uuid.UUID(dossier_id)
    )


async def of_partner(conn: Connection, partner_id: str, status: str | None) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"""SELECT * FROM {SCHEMA}.referrals
             WHERE partner_id = $1 AND ($2::text IS NULL OR status = $2)
             ORDER BY updated_at DESC LIMIT 500""",
        partner_id,
        status,
    )


async def dossier_facts(conn: Connection, dossier_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT * FROM {SCHEMA}.dossiers WHERE dossier_id = $1", uuid.UUID(dossier_id)
    )


class ReferralActivities:
    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    @activity.defn(name=ActivityName.RECORD_REFERRAL_STATUS)
    async def record_status(self, r: RecordReferralStatus) -> None:
        spec = r.spec
        at = datetime.fromisoformat(r.at)
        referral_id = uuid.UUID(spec.referral_id)
        async with system_scope(self.pool, [spec.territory]) as conn, conn.transaction():
            if r.sequence == 1:
                await conn.execute(
                    f"""INSERT INTO {SCHEMA}.referrals
                            (referral_id, dossier_id, territory, partner_id, motif, message_for_partner,
                             data_scope, person, referrer, status, sequence, created_at, updated_at)
                        VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10, 0, $11, $11)
                        ON CONFLICT (referral_id) DO NOTHING""",
                    referral_id,
                    uuid.UUID(spec.dossier_id),
                    spec.territory,
                    spec.partner_id,
                    spec.motif,
                    spec.message_for_partner,
                    spec.data_scope,
                    json.dumps({k: v for k, v in asdict(spec.person).items() if v}),
                    spec.referrer,
                    r.status,
                    at,
                )
            inserted = await conn.fetchval(
                f"""INSERT INTO {SCHEMA}.referral_changes
                        (referral_id, sequence, territory, partner_id, status, reason, outcome, actor, at)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                    ON CONFLICT (referral_id, sequence) DO NOTHING RETURNING true""",
                referral_id,
                r.sequence,
                spec.territory,
                spec.partner_id,
                r.status,
                r.reason,
                r.outcome,
                r.actor,
                at,
            )
            if not inserted:
                return  # written by an earlier attempt
            await conn.execute(
                f"""UPDATE {SCHEMA}.referrals
                       SET status = $2, reason = $3, outcome = $4, comment = $5, sequence = $6,
                           updated_at = $7
                     WHERE referral_id = $1""",
                referral_id,
                r.status,
                r.reason,
                r.outcome,
                r.comment,
                r.sequence,
                at,
            )
            payload = events_pb2.ReferralStatusChanged(
                referral_id=spec.referral_id,
                dossier_id=spec.dossier_id,
                partner_id=spec.partner_id,
                partner_name=spec.partner_name,
                territory=spec.territory,
                motif=spec.motif,
                status=r.status,
                previous_status=r.previous_status,
                reason=r.reason,
                outcome=r.outcome,
                at=to_timestamp(at),
                actor=r.actor,
                sequence=r.sequence,
            )
            event = new_event(
                EventType.REFERRAL_STATUS_CHANGED,
                SOURCE,
                spec.referral_id,
                payload,
                event_id=step_event_id(r.workflow_id, f"{r.sequence}/status_changed"),
                time=at,
            )
            await outbox.write(conn, SCHEMA, event)

    @activity.defn(name=ActivityName.RECORD_REFERRAL_REMINDER)
    async def record_reminder(self, r: ReferralReminder) -> None:
        async with system_scope(self.pool, [r.territory]) as conn:
            await conn.execute(
                f"""UPDATE {SCHEMA}.referrals SET reminded_at = coalesce(reminded_at, $2)
                     WHERE referral_id = $1""",
                uuid.UUID(r.referral_id),
                datetime.fromisoformat(r.at),
            )
