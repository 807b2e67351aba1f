"""The appointment workflow's activities on intake's task queue.

QUEUE_PERSON_MESSAGE writes one message into the persons' outbox: the text (domain.
notices: where and when, never why) for the person's chosen channel, when the person
agreed to be contacted and did not opt out. Keyed by (appointment, kind, version) with
ON CONFLICT DO NOTHING and a message id derived from that key: a retried activity
queues nothing more. A message for a newer version supersedes the pending ones of older
versions (a reminder of the old time is never sent); a cancellation supersedes every
pending one. PROPOSE_NO_SHOW marks an appointment still booked after its end.

Both return a short reason code (for tests and logs, never personal data).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum

import asyncpg
from temporalio import activity

from domain import notices
from domain.planning import AppointmentStatus, ContactChannel, MessageKind, MessageStatus
from kernel import relay
from kernel.db import Connection, Pool, system_scope
from kernel.logs import get_logger
from kernel.reference import ReferenceData
from services.intake.schema import SCHEMA
from workflows.contracts import ActivityName, ProposeNoShow, QueueMessage, appointment_workflow_id

log = get_logger("person-messages")
# The sender LISTENs here; a queued message wakes it at commit.
CHANNEL = f"{SCHEMA}_person_messages"
_NAMESPACE = uuid.UUID("6f1d7a4e-3c2b-4f55-9a0e-2b8f1c6d9e10")


class Queued(StrEnum):
    """What QUEUE_PERSON_MESSAGE did (no personal data: codes only)."""

    QUEUED = "queued"
    ALREADY_QUEUED = "already_queued"
    NO_APPOINTMENT = "no_appointment"
    # The row has moved on (a newer version, cancelled, attendance recorded): the
    # workflow's update is on its way, this message is stale.
    STALE = "stale"
    WALK_IN = "walk_in"
    NO_CONSENT = "no_consent"
    OPTED_OUT = "opted_out"
    NO_CONTACT = "no_contact"


def message_id(appointment_id: str, kind: str, version: int) -> str:
    """The outbox row's id, from its unique key (also the e-mail's Message-ID)."""
    return str(uuid.uuid5(_NAMESPACE, f"{appointment_id}/{kind}/{version}"))


def sms_number(phone: str) -> str:
    """A stored phone (« 0612345678 » or « +<digits> », migration 003) as E.164."""
    if phone.startswith("+"):
        return phone
    if len(phone) == 10 and phone.startswith("0"):
        return "+33" + phone[1:]
    return "+" + phone


def place_of(reference: ReferenceData, site_code: str, room_code: str) -> notices.Place:
    site = reference.sites.get(site_code)
    if site is None:
        # A site removed from the reference data since the booking: the code still says where.
        return notices.Place(site_code, "")
    room = site.room(room_code) if room_code else None
    return notices.Place(site.label, site.address, room.label if room is not None else "")


def _stale(row: asyncpg.Record, command: QueueMessage) -> bool:
    if row["version"] != command.version:
        return True
    if command.kind == MessageKind.CANCELLATION:
        return bool(row["status"] != AppointmentStatus.CANCELLED)
    return bool(row["status"] != AppointmentStatus.BOOKED)


class NoticeActivities:
    def __init__(self, pool: Pool, reference: ReferenceData) -> None:
        self.pool = pool
        self.reference = reference

    @activity.defn(name=ActivityName.QUEUE_PERSON_MESSAGE)
    async def queue_person_message(self, command: QueueMessage) -> str:
        outcome = await self.queue(command)
        # Allow-listed fields only (kernel.logs): the workflow id names the appointment.
        log.info(
            "person message",
            extra={
                "workflow_id": appointment_workflow_id(command.appointment_id),
                "reason": f"{command.kind}_{outcome.value}".upper(),
            },
        )
        return outcome.value

    async def queue(self, command: QueueMessage) -> Queued:
        kind = MessageKind(command.kind)
        # The platform's rights over the deployment's communes: the person may be known
        # in another commune than the site's.
        async with system_scope(self.pool, self.reference.territories) as conn, conn.transaction():
            row = await conn.fetchrow(
                f"""SELECT a.site, a.room, a.starts_at, a.status, a.version, a.walk_in,
                           p.phone, p.email, c.consent, c.channel, c.opted_out
                      FROM {SCHEMA}.appointments a
                      JOIN {SCHEMA}.persons p ON p.person_id = a.person_id
                      LEFT JOIN {SCHEMA}.contact_preferences c ON c.person_id = a.person_id
                     WHERE a.appointment_id = $1 AND a.territory = $2
                       FOR UPDATE OF a""",
                command.appointment_id,
                command.territory,
            )
            if row is None:
                return Queued.NO_APPOINTMENT
            if kind == MessageKind.CONFIRMATION:
                await conn.execute(
                    f"UPDATE {SCHEMA}.appointments SET workflow_started = true WHERE appointment_id = $1",
                    command.appointment_id,
                )
            if kind == MessageKind.CANCELLATION and row["status"] == AppointmentStatus.CANCELLED:
                await _supersede(conn, command.appointment_id, None)
            if row["walk_in"]:
                return Queued.WALK_IN
            if _stale(row, command):
                return Queued.STALE
            if row["consent"] is None or not row["consent"]:
                return Queued.NO_CONSENT
            if row["opted_out"]:
                return Queued.OPTED_OUT
            channel = ContactChannel(row["channel"])
            recipient = (
                sms_number(row["phone"]) if channel == ContactChannel.SMS and row["phone"] else row["email"]
            )
            if not recipient or (channel == ContactChannel.SMS and not row["phone"]):
                return Queued.NO_CONTACT
            place = place_of(self.reference, row["site"], row["room"])
            if channel == ContactChannel.SMS:
                subject, body = "", notices.sms_text(kind, place, row["starts_at"])
            else:
                mail = notices.email(kind, place, row["starts_at"])
                subject, body = mail.subject, mail.body
            ident = message_id(command.appointment_id, kind, command.version)
            inserted = await conn.fetchval(
                f"""INSERT INTO {SCHEMA}.person_messages
                        (message_id, territory, appointment_id, kind, version, channel, recipient,
                         subject, body, status, next_attempt_at, created_at)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)
                    ON CONFLICT (appointment_id, kind, version) DO NOTHING
                    RETURNING true""",
                ident,
                command.territory,
                command.appointment_id,
                kind.value,
                command.version,
                channel.value,
                recipient,
                subject,
                body,
                MessageStatus.PENDING.value,
                datetime.now(UTC),
            )
            if not inserted:
                return Queued.ALREADY_QUEUED
            if kind != MessageKind.CANCELLATION:
                await _supersede(conn, command.appointment_id, command.version)
            await relay.notify(conn, CHANNEL)
            return Queued.QUEUED

    @activity.defn(name=ActivityName.PROPOSE_NO_SHOW)
    async def propose_no_show(self, command: ProposeNoShow) -> bool:
        """Nothing recorded after the end: the no-show is proposed to the agent (the
        appointment's dossier shows it in ListTasks). False when the row moved on."""
        async with system_scope(self.pool, [command.territory]) as conn:
            proposed = await conn.fetchval(
                f"""UPDATE {SCHEMA}.appointments
                       SET no_show_proposed_at = coalesce(no_show_proposed_at, now())
                     WHERE appointment_id = $1 AND status = $2
                 RETURNING true""",
                command.appointment_id,
                AppointmentStatus.BOOKED.value,
            )
        return bool(proposed)


async def _supersede(conn: Connection, appointment_id: str, below_version: int | None) -> None:
    """Pending messages of older versions (None: all of the appointment's but a
    cancellation) will not be sent: the time they say is no longer the appointment's."""
    await conn.execute(
        f"""UPDATE {SCHEMA}.person_messages SET status = $2
             WHERE appointment_id = $1 AND status = $3
               AND ($4::int IS NULL OR version < $4) AND ($4::int IS NOT NULL OR kind <> $5)""",
        appointment_id,
        MessageStatus.SUPERSEDED.value,
        MessageStatus.PENDING.value,
        below_version,
        MessageKind.CANCELLATION.value,
    )
