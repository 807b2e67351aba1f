"""The persons' outbox on a real PostgreSQL (application role, row-level security):
the queue activity (once per key, stale versions, superseding, consent), the no-show
proposal, and the sender's claims, retries, failures and expired leases, with the
real transports against an aiosmtpd server and the SMS stand-in."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from devstack import scratch
from devstack.servers import Endpoints
from devstack.sms_standin import SmsStandin, ThreadedStandin
from domain.planning import MessageKind
from kernel import db, migrations, reference
from kernel.db import Pool
from services.intake.notices.queue import NoticeActivities, Queued, message_id
from services.intake.notices.sender import Sender, SenderConfig
from services.intake.notices.sms import BrevoSmsTransport, SmsConfig
from services.intake.notices.smtp import SmtpConfig, SmtpTransport, message_id_header
from services.intake.notices.transport import Outgoing, SendFailed
from tests.appointments import HOST_LABEL, MOTIF, TERRITORY, insert_appointment, insert_person
from tests.paths import REPO
from tests.smtp_sink import SinkHandler, SmtpSink
from workflows.contracts import ProposeNoShow, QueueMessage

INTAKE_MIGRATIONS = REPO / "services" / "intake" / "migrations"
REFERENCE = reference.load({})


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def database(endpoints: Endpoints) -> Iterator[str]:
    """A database of this module's own: the sender drains every pending message, so no
    other test's rows (nor a running intake's sender) may share it."""
    name, url = asyncio.run(scratch.create_database(endpoints.database_url, "entraide_messages"))

    async def migrate() -> None:
        conn = await asyncpg.connect(url)
        try:
            await migrations.migrate_service(conn, "intake", INTAKE_MIGRATIONS)
        finally:
            await conn.close()

    asyncio.run(migrate())
    try:
        yield url
    finally:
        asyncio.run(scratch.drop_database(endpoints.database_url, name))


@pytest.fixture
async def pool(database: str) -> AsyncIterator[Pool]:
    """The schema owner's connections (rows written as the planning service would)."""
    created = await asyncpg.create_pool(database, min_size=1, max_size=3)
    try:
        async with created.acquire() as conn:
            # Each test starts with nothing left to send.
            await conn.execute(
                "UPDATE intake.person_messages SET status = 'superseded'"
                " WHERE status IN ('pending', 'sending')"
            )
        yield created
    finally:
        await created.close()


@pytest.fixture
async def app_pool(database: str) -> AsyncIterator[Pool]:
    """The services' connections: application role, row-level security."""
    created = await db.create_pool(database, min_size=1, max_size=5)
    try:
        yield created
    finally:
        await created.close()


@pytest.fixture
def queue(app_pool: Pool) -> NoticeActivities:
    return NoticeActivities(app_pool, REFERENCE)


async def rows(pool: Pool, appointment_id: str) -> list[dict[str, Any]]:
    async with pool.acquire() as conn:
        found = await conn.fetch(
            "SELECT * FROM intake.person_messages WHERE appointment_id = $1 ORDER BY version, kind",
            uuid.UUID(appointment_id),
        )
    return [dict(r) for r in found]


async def set_row(pool: Pool, appointment_id: str, **values: Any) -> None:
    sets = ", ".join(f"{k} = ${i + 2}" for i, k in enumerate(values))
    async with pool.acquire() as conn:
        await conn.execute(
            f"UPDATE intake.appointments SET {sets} WHERE appointment_id = $1",
            uuid.UUID(appointment_id),
            *values.values(),
        )


def later(days: float = 5) -> datetime:
    return datetime.now(UTC) + timedelta(days=days)


# ---- the queue activity ---------------------------------------------------------------------


async def test_a_message_is_queued_once_per_appointment_kind_and_version(
    pool: Pool, queue: NoticeActivities
) -> None:
    person_id = await insert_person(pool, email="a@exemple.fr")
    appointment_id = await insert_appointment(pool, person_id, later())
    command = QueueMessage(appointment_id, TERRITORY, MessageKind.CONFIRMATION, 1)
    assert await queue.queue(command) == Queued.QUEUED
    assert await queue.queue(command) == Queued.ALREADY_QUEUED  # a retried activity
    (row,) = await rows(pool, appointment_id)
    assert str(row["message_id"]) == message_id(appointment_id, MessageKind.CONFIRMATION, 1)
    assert (row["status"], row["channel"], row["recipient"], row["attempts"]) == (
        "pending",
        "email",
        "a@exemple.fr",
        0,
    )
    assert row["subject"].startswith("Votre rendez-vous du ")
    for secret in (MOTIF, HOST_LABEL, "victimes"):
        assert secret not in row["body"] and secret not in row["subject"]
    async with pool.acquire() as conn:
        assert await conn.fetchval(
            "SELECT workflow_started FROM intake.appointments WHERE appointment_id = $1",
            uuid.UUID(appointment_id),
        )


async def test_a_newer_version_supersedes_the_old_pending_ones_and_stale_ones_are_not_queued(
    pool: Pool, queue: NoticeActivities
) -> None:
    person_id = await insert_person(pool, phone="0612345678", channel="sms")
    appointment_id = await insert_appointment(pool, person_id, later())
    assert (
        await queue.queue(QueueMessage(appointment_id, TERRITORY, MessageKind.CONFIRMATION, 1))
        == Queued.QUEUED
    )
    assert (
        await queue.queue(QueueMessage(appointment_id, TERRITORY, MessageKind.REMINDER, 1)) == Queued.QUEUED
    )
    # Moved: the row says version 2 before the workflow hears of it.
    await set_row(
        pool, appointment_id, version=2, starts_at=later(8), ends_at=later(8) + timedelta(minutes=30)
    )
    assert await queue.queue(QueueMessage(appointment_id, TERRITORY, MessageKind.REMINDER, 1)) == Queued.STALE
    assert (
        await queue.queue(QueueMessage(appointment_id, TERRITORY, MessageKind.SECOND_REMINDER, 1))
        == Queued.STALE
    )
    assert await queue.queue(QueueMessage(appointment_id, TERRITORY, MessageKind.MOVED, 2)) == Queued.QUEUED
    found = {(r["kind"], r["version"]): r for r in await rows(pool, appointment_id)}
    assert found[(MessageKind.CONFIRMATION, 1)]["status"] == "superseded"
    assert found[(MessageKind.REMINDER, 1)]["status"] == "superseded"
    moved = found[(MessageKind.MOVED, 2)]
    assert (moved["status"], moved["recipient"]) == ("pending", "+33612345678")
    assert moved["body"].startswith("RDV déplacé au")


async def test_a_cancellation_supersedes_every_pending_message(pool: Pool, queue: NoticeActivities) -> None:
    person_id = await insert_person(pool, email="c@exemple.fr")
    appointment_id = await insert_appointment(pool, person_id, later())
    await queue.queue(QueueMessage(appointment_id, TERRITORY, MessageKind.CONFIRMATION, 1))
    await queue.queue(QueueMessage(appointment_id, TERRITORY, MessageKind.REMINDER, 1))
    # A reminder fired as the appointment was being cancelled: stale, not queued.
    await set_row(pool, appointment_id, status="cancelled")
    assert (
        await queue.queue(QueueMessage(appointment_id, TERRITORY, MessageKind.SECOND_REMINDER, 1))
        == Queued.STALE
    )
    assert (
        await queue.queue(QueueMessage(appointment_id, TERRITORY, MessageKind.CANCELLATION, 1))
        == Queued.QUEUED
    )
    statuses = {r["kind"]: r["status"] for r in await rows(pool, appointment_id)}
    assert statuses == {
        MessageKind.CONFIRMATION: "superseded",
        MessageKind.REMINDER: "superseded",
        MessageKind.CANCELLATION: "pending",
    }


@pytest.mark.parametrize(
    ("preferences", "expected"),
    [
        ({"consent": None}, Queued.NO_CONSENT),
        ({"consent": False}, Queued.NO_CONSENT),
        ({"opted_out": True}, Queued.OPTED_OUT),
        ({"channel": "sms"}, Queued.NO_CONTACT),  # SMS chosen, no phone
    ],
)
async def test_nothing_is_queued_without_consent_or_a_way_to_reach_the_person(
    pool: Pool, queue: NoticeActivities, preferences: dict[str, Any], expected: Queued
) -> None:
    person_id = await insert_person(pool, email="d@exemple.fr", **preferences)
    appointment_id = await insert_appointment(pool, person_id, later())
    assert await queue.queue(QueueMessage(appointment_id, TERRITORY, MessageKind.CONFIRMATION, 1)) == expected
    assert await rows(pool, appointment_id) == []


async def test_no_appointment_queues_nothing(queue: NoticeActivities) -> None:
    missing = QueueMessage(str(uuid.uuid4()), TERRITORY, MessageKind.REMINDER, 1)
    assert await queue.queue(missing) == Queued.NO_APPOINTMENT


async def test_no_show_is_proposed_only_while_booked(pool: Pool, queue: NoticeActivities) -> None:
    person_id = await insert_person(pool, email="e@exemple.fr")
    booked = await insert_appointment(pool, person_id, later(-1))
    assert await queue.propose_no_show(ProposeNoShow(booked, TERRITORY, 1))
    seen = await insert_appointment(pool, person_id, later(-1))
    await set_row(pool, seen, status="seen")
    assert not await queue.propose_no_show(ProposeNoShow(seen, TERRITORY, 1))
    async with pool.acquire() as conn:
        proposed = await conn.fetch(
            "SELECT appointment_id FROM intake.appointments"
            " WHERE no_show_proposed_at IS NOT NULL AND appointment_id = ANY($1::uuid[])",
            [uuid.UUID(booked), uuid.UUID(seen)],
        )
    assert [str(r["appointment_id"]) for r in proposed] == [booked]


# ---- the sender, with scripted transports -------------------------------------------------------


@dataclass
class Scripted:
    """A transport answering from a script: a receipt, or a SendFailed to raise."""

    answers: list[str | SendFailed] = field(default_factory=list)
    sent: list[Outgoing] = field(default_factory=list)

    async def send(self, message: Outgoing) -> str:
        answer = self.answers.pop(0) if self.answers else "ok"
        if isinstance(answer, SendFailed):
            raise answer
        self.sent.append(message)
        return answer

    async def close(self) -> None:
        pass


def sender(app_pool: Pool, transports: dict[str, Any], **config: Any) -> Sender:
    base: dict[str, Any] = {"territories": tuple(REFERENCE.territories), "backoff_s": 0.0, "max_attempts": 3}
    return Sender(app_pool, SenderConfig(**(base | config)), transports)


async def queued(pool: Pool, queue: NoticeActivities, **person: Any) -> str:
    person_id = await insert_person(pool, **({"email": f"{uuid.uuid4().hex[:8]}@exemple.fr"} | person))
    appointment_id = await insert_appointment(pool, person_id, later())
    assert (
        await queue.queue(QueueMessage(appointment_id, TERRITORY, MessageKind.CONFIRMATION, 1))
        == Queued.QUEUED
    )
    return appointment_id


async def drain(send: Sender, times: int = 10) -> None:
    for _ in range(times):
        if not await send.send_batch():
            return


async def only(pool: Pool, appointment_id: str) -> dict[str, Any]:
    (row,) = await rows(pool, appointment_id)
    return row


async def test_sent_with_the_providers_receipt(pool: Pool, app_pool: Pool, queue: NoticeActivities) -> None:
    appointment_id = await queued(pool, queue)
    transport = Scripted(["250 queued as X1"])
    await drain(sender(app_pool, {"email": transport}))
    row = await only(pool, appointment_id)
    assert (row["status"], row["attempts"], row["receipt"], row["claimed_until"]) == (
        "sent",
        1,
        "250 queued as X1",
        None,
    )
    assert row["sent_at"] is not None
    assert [m.message_id for m in transport.sent if m.message_id == str(row["message_id"])] == [
        str(row["message_id"])
    ]


async def test_failures_are_retried_with_backoff_then_fail_after_the_last_attempt(
    pool: Pool, app_pool: Pool, queue: NoticeActivities
) -> None:
    appointment_id = await queued(pool, queue)
    transport = Scripted([SendFailed("SMTPServerDisconnected", permanent=False)] * 3)
    waiting = sender(app_pool, {"email": transport}, backoff_s=3600.0)
    await drain(waiting)
    row = await only(pool, appointment_id)
    assert (row["status"], row["attempts"], row["last_error"]) == ("pending", 1, "SMTPServerDisconnected")
    assert row["next_attempt_at"] > datetime.now(UTC) + timedelta(minutes=50)  # not due again yet
    await drain(waiting)
    assert (await only(pool, appointment_id))["attempts"] == 1
    # Due again (as after the hour): attempts 2 and 3 fail without backoff, the third is the last.
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE intake.person_messages SET next_attempt_at = now() WHERE status = 'pending'"
        )
    await drain(sender(app_pool, {"email": transport}))
    row = await only(pool, appointment_id)
    assert (row["status"], row["attempts"]) == ("failed", 3)
    assert transport.sent == []


async def test_a_permanent_refusal_fails_at_once(pool: Pool, app_pool: Pool, queue: NoticeActivities) -> None:
    appointment_id = await queued(pool, queue)
    await drain(
        sender(app_pool, {"email": Scripted([SendFailed("SMTPRecipientRefused 550", permanent=True)])})
    )
    row = await only(pool, appointment_id)
    assert (row["status"], row["attempts"], row["last_error"]) == ("failed", 1, "SMTPRecipientRefused 550")


async def test_an_expired_claim_is_claimed_again_a_live_one_is_not(
    pool: Pool, app_pool: Pool, queue: NoticeActivities
) -> None:
    appointment_id = await queued(pool, queue)
    transport = Scripted()
    send = sender(app_pool, {"email": transport}, lease_s=3600.0)
    (claimed,) = [
        r for r in await send.claim() if str(r["message_id"]) == message_id(appointment_id, "confirmation", 1)
    ]
    # The sender that claimed it died here. Its claim is live: nobody takes it.
    assert [r for r in await send.claim() if r["message_id"] == claimed["message_id"]] == []
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE intake.person_messages SET claimed_until = now() - interval '1 s' WHERE message_id = $1",
            claimed["message_id"],
        )
    await drain(send)
    row = await only(pool, appointment_id)
    assert (row["status"], row["attempts"]) == ("sent", 2)
    assert len([m for m in transport.sent if m.message_id == str(claimed["message_id"])]) == 1


async def test_a_channel_not_configured_holds_its_messages(
    pool: Pool, app_pool: Pool, queue: NoticeActivities
) -> None:
    appointment_id = await queued(pool, queue, phone="0611223344", channel="sms")
    await drain(sender(app_pool, {"email": Scripted()}))
    row = await only(pool, appointment_id)
    assert (row["status"], row["attempts"]) == ("pending", 0)


# ---- the real transports ------------------------------------------------------------------


@pytest.fixture(scope="module")
def standin() -> Iterator[tuple[SmsStandin, str]]:
    standin = SmsStandin("the-key")
    server = ThreadedStandin(standin, _port())
    server.start()
    try:
        yield standin, server.url
    finally:
        server.stop()


@pytest.fixture(scope="module")
def sink() -> Iterator[tuple[SinkHandler, int]]:
    port = _port()
    with SmtpSink(port) as handler:
        yield handler, port


def outgoing(recipient: str, body: str = "RDV confirmé le mardi 27 octobre 2026 à 10 h 00.") -> Outgoing:
    return Outgoing(str(uuid.uuid4()), MessageKind.CONFIRMATION, recipient, "Votre rendez-vous", body)


async def test_brevo_sms_receipt_retryable_and_permanent_failures(standin: tuple[SmsStandin, str]) -> None:
    fake, url = standin
    transport = BrevoSmsTransport(SmsConfig(url, "the-key", "Entraide", timeout_s=5))
    try:
        receipt = await transport.send(outgoing("+33612345678"))
        (accepted,) = fake.accepted_for("33612345678")
        assert receipt == accepted["reference"]
        assert (accepted["sender"], accepted["type"], accepted["unicodeEnabled"]) == (
            "Entraide",
            "transactional",
            False,
        )
        fake.script([500, 429, 400])
        for permanent in (False, False, True):
            with pytest.raises(SendFailed) as failed:
                await transport.send(outgoing("+33612345678"))
            assert failed.value.permanent is permanent
        assert failed.value.code == "HTTP 400 scripted_failure"
        with pytest.raises(SendFailed) as refused:
            await transport.send(outgoing("not a number"))
        assert (refused.value.code, refused.value.permanent) == ("HTTP 400 invalid_parameter", True)
    finally:
        await transport.close()
    wrong_key = BrevoSmsTransport(SmsConfig(url, "another-key", timeout_s=5))
    try:
        with pytest.raises(SendFailed) as unauthorised:
            await wrong_key.send(outgoing("+33612345678"))
        assert (unauthorised.value.code, unauthorised.value.permanent) == ("HTTP 401 unauthorized", True)
    finally:
        await wrong_key.close()
    down = BrevoSmsTransport(SmsConfig(f"http://127.0.0.1:{_port()}", "the-key", timeout_s=2))
    try:
        with pytest.raises(SendFailed) as unreachable:
            await down.send(outgoing("+33612345678"))
        assert not unreachable.value.permanent
    finally:
        await down.close()


async def test_smtp_receipt_message_id_and_connection_reuse(sink: tuple[SinkHandler, int]) -> None:
    handler, port = sink
    transport = SmtpTransport(
        SmtpConfig("127.0.0.1", port, mail_from="Entraide CCAS <rdv@mairie.test>", timeout_s=5)
    )
    try:
        sent = [outgoing(f"p{i}@exemple.fr") for i in range(3)]
        receipts = [await transport.send(m) for m in sent]
        assert all("Ok" in r for r in receipts)
        for message in sent:
            (received,) = handler.to(message.recipient)
            assert received.message_id == message_id_header(message.message_id, "mairie.test")
            assert received.message.get_content().startswith(
                "RDV confirmé le mardi 27 octobre 2026 à 10 h 00."
            )
        assert len(transport._idle) == 1  # one connection, reused
    finally:
        await transport.close()
    down = SmtpTransport(SmtpConfig("127.0.0.1", _port(), timeout_s=2))
    with pytest.raises(SendFailed) as unreachable:
        await down.send(outgoing("q@exemple.fr"))
    assert not unreachable.value.permanent
