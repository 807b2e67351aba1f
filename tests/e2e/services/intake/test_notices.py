"""Messages to people through the real processes: the workflows worker runs the
appointment's workflow, intake runs its activities (the outbox) and the sender, a real
SMTP server (aiosmtpd) and the Brevo SMS stand-in receive.

- intake killed (SIGKILL) while the SMTP server holds the reminder's DATA: restarted,
  its sender claims the message again once the lease expired: exactly one reminder;
- the SMS stand-in answering 500, 500, then 201: exactly one SMS, three attempts;
- an opted-out person, a person without consent: nothing queued, nothing sent.

Appointments are written directly and their workflow started here (as BookAppointment
does), so these tests depend on nothing but the workflow, the activities and the sender.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import grpc
import pytest
from entraide.v1 import intake_pb2, intake_pb2_grpc, planning_pb2, planning_pb2_grpc
from temporalio.client import Client

from devstack.sms_standin import SmsStandin, ThreadedStandin
from domain.planning import MessageKind
from kernel import temporal as temporal_kernel
from kernel.db import Pool
from kernel.timestamps import to_timestamp
from services.intake.notices.queue import message_id
from services.intake.notices.smtp import message_id_header
from tests.appointments import SITE, TERRITORY, insert_appointment, insert_person
from tests.conftest import AGENT, AppStack
from tests.helpers import eventually
from tests.smtp_sink import SinkHandler, SmtpSink
from workflows.appointment import AppointmentWorkflow, Outcome
from workflows.contracts import (
    DOSSIER_TASK_QUEUE,
    AppointmentInput,
    AppointmentSchedule,
    AppointmentTimers,
    appointment_workflow_id,
)


@pytest.fixture(scope="session")
def smtp_sink(test_env: dict[str, str]) -> Iterator[SinkHandler]:
    with SmtpSink(int(test_env["ENTRAIDE_SMTP_PORT"])) as handler:
        yield handler


@pytest.fixture(scope="session")
def sms_standin(test_env: dict[str, str]) -> Iterator[SmsStandin]:
    standin = SmsStandin(test_env["ENTRAIDE_SMS_API_KEY"])
    server = ThreadedStandin(standin, int(test_env["ENTRAIDE_SMS_API_URL"].rsplit(":", 1)[1]))
    server.start()
    try:
        yield standin
    finally:
        server.stop()


@pytest.fixture
async def temporal(app_stack: AppStack) -> AsyncIterator[Client]:
    yield await temporal_kernel.connect(app_stack.settings)


async def book(
    pool: Pool,
    temporal: Client,
    person_id: str,
    starts_at: datetime,
    reminder_s: float,
    *,
    dossier_id: str | None = None,
    no_show_grace_s: float = 86400.0,
) -> str:
    """The appointment's row, then its workflow (as BookAppointment does)."""
    appointment_id = await insert_appointment(pool, person_id, starts_at, dossier_id=dossier_id)
    ends_at = starts_at + timedelta(minutes=30)
    schedule = AppointmentSchedule(starts_at.isoformat(), ends_at.isoformat(), 1)
    timers = AppointmentTimers(reminder_s=reminder_s, second_reminder_s=0.0, no_show_grace_s=no_show_grace_s)
    await temporal.start_workflow(
        AppointmentWorkflow.run,
        AppointmentInput(appointment_id, TERRITORY, schedule, timers),
        id=appointment_workflow_id(appointment_id),
        task_queue=DOSSIER_TASK_QUEUE,
    )
    return appointment_id


async def messages(pool: Pool, appointment_id: str) -> list[asyncpg.Record]:
    async with pool.acquire() as conn:
        return list(
            await conn.fetch(
                "SELECT * FROM intake.person_messages WHERE appointment_id = $1 ORDER BY created_at",
                uuid.UUID(appointment_id),
            )
        )


async def workflow_started(pool: Pool, appointment_id: str) -> bool:
    async with pool.acquire() as conn:
        return bool(
            await conn.fetchval(
                "SELECT workflow_started FROM intake.appointments WHERE appointment_id = $1",
                uuid.UUID(appointment_id),
            )
        )


async def end(app_stack: AppStack, appointment_id: str) -> None:
    """Cancelled at the person's request (no message): its slot and workflow are freed."""
    async with app_stack.channel("intake") as channel:
        planning = planning_pb2_grpc.PlanningServiceStub(channel)
        with contextlib.suppress(grpc.aio.AioRpcError):  # already cancelled or over
            await planning.CancelAppointment(
                planning_pb2.CancelAppointmentRequest(
                    appointment_id=appointment_id, by_person=True, request_id=uuid.uuid4().hex
                ),
                timeout=15,
            )


def status_of(rows: list[asyncpg.Record], kind: str) -> dict[str, Any]:
    found = [dict(r) for r in rows if r["kind"] == kind]
    assert len(found) == 1, rows
    return found[0]


_BOOKINGS = itertools.count()


@dataclass
class Planning:
    """The planning RPCs as reception uses them (the session's default agent)."""

    intake: intake_pb2_grpc.IntakeServiceAsyncStub
    planning: planning_pb2_grpc.PlanningServiceAsyncStub

    async def person(
        self,
        *,
        email: str = "",
        phone: str = "",
        consent: bool | None = True,
        channel: str = "email",
        opted_out: bool = False,
    ) -> str:
        """A person and, unless `consent` is None (never asked), their preferences."""
        created = await self.intake.CreatePerson(
            intake_pb2.CreatePersonRequest(
                request_id=uuid.uuid4().hex,
                territory=TERRITORY,
                first_name="Camille",
                last_name="Essai",
                email=email,
                phone=phone,
            ),
            timeout=15,
        )
        person_id = str(created.person.person_id)
        if consent is not None:
            await self.planning.SetContactPreferences(
                planning_pb2.SetContactPreferencesRequest(
                    person_id=person_id,
                    consent=consent,
                    channel=channel,
                    opted_out=opted_out,
                    request_id=uuid.uuid4().hex,
                ),
                timeout=15,
            )
        return person_id

    async def book(
        self, person_id: str, starts_at: datetime, motif: str = "logement", spread: bool = True
    ) -> str:
        """With the default agent at the Bar-le-Duc site (the deployment's 48 h reminder);
        each booking of the session a few minutes after the one before, so that the
        agent's appointments never clash."""
        if spread:
            starts_at += timedelta(minutes=31 * next(_BOOKINGS))
        booked = await self.planning.BookAppointment(
            planning_pb2.BookAppointmentRequest(
                person_id=person_id,
                agent_id=AGENT,
                site=SITE,
                starts_at=to_timestamp(starts_at),
                duration_minutes=30,
                motif=motif,
                request_id=uuid.uuid4().hex,
            ),
            timeout=15,
        )
        return str(booked.appointment_id)


@pytest.fixture
async def reception(app_stack: AppStack) -> AsyncIterator[Planning]:
    async with app_stack.channel("intake") as channel:
        yield Planning(
            intake_pb2_grpc.IntakeServiceStub(channel), planning_pb2_grpc.PlanningServiceStub(channel)
        )


async def test_one_reminder_although_intake_is_killed_during_the_send(
    app_stack: AppStack, pool: Pool, temporal: Client, smtp_sink: SinkHandler
) -> None:
    email = f"camille.{uuid.uuid4().hex[:8]}@exemple.fr"
    smtp_sink.stall_next("Rappel")
    async with app_stack.channel("intake") as channel:
        reception = Planning(
            intake_pb2_grpc.IntakeServiceStub(channel), planning_pb2_grpc.PlanningServiceStub(channel)
        )
        person_id = await reception.person(email=email)
        # 48 h and 6 s ahead: the deployment's 48 h reminder fires in 6 s.
        appointment_id = await reception.book(
            person_id, datetime.now(UTC) + timedelta(hours=48, seconds=6), spread=False
        )
    try:
        confirmation = await eventually(
            lambda: _async(smtp_sink.to(email)), lambda r: len(r) >= 1, timeout=30
        )
        assert confirmation[0].subject.startswith("Votre rendez-vous du")
        # The reminder's DATA is held: the sender is mid-send. Crash it.
        assert await asyncio.to_thread(smtp_sink.stalled.wait, 60)
        app_stack.kill("intake")
        smtp_sink.release()
        app_stack.start("intake")
        await app_stack.wait_serving()

        def sent(rows: list[asyncpg.Record]) -> bool:
            return any(r["kind"] == MessageKind.REMINDER and r["status"] == "sent" for r in rows)

        rows = await eventually(lambda: messages(pool, appointment_id), sent, timeout=60, interval=0.2)
        reminders = [r for r in smtp_sink.to(email) if r.subject.startswith("Rappel")]
        assert len(reminders) == 1
        reminder = status_of(rows, MessageKind.REMINDER)
        # The killed attempt, then the one after its lease expired.
        assert reminder["attempts"] == 2
        assert "Ok" in reminder["receipt"]
        assert reminders[0].message_id == message_id_header(
            message_id(appointment_id, MessageKind.REMINDER, 1), "entraide.test"
        )
        # Where and when, never why: neither the motif nor who receives.
        text = reminders[0].message.get_content()
        for secret in ("logement", "Logement", AGENT):
            assert secret not in text and secret not in reminders[0].subject
        assert "CIAS du Pays Barrois" in text and "12 rue Lapique" in text
        assert status_of(rows, MessageKind.CONFIRMATION)["status"] == "sent"
    finally:
        smtp_sink.release()
        await end(app_stack, appointment_id)


async def test_sms_stand_in_failing_twice_then_accepting_gets_one_sms(
    app_stack: AppStack, reception: Planning, pool: Pool, sms_standin: SmsStandin
) -> None:
    phone = "06" + str(uuid.uuid4().int)[:8]
    person_id = await reception.person(phone=phone, channel="sms")
    sms_standin.script([500, 500, 201])
    appointment_id = await reception.book(
        person_id, datetime.now(UTC) + timedelta(days=5), motif="violences_conjugales"
    )
    try:
        rows = await eventually(
            lambda: messages(pool, appointment_id),
            lambda rows: any(r["status"] in ("sent", "failed") for r in rows),
            timeout=60,
            interval=0.2,
        )
        confirmation = status_of(rows, MessageKind.CONFIRMATION)
        assert (confirmation["status"], confirmation["attempts"]) == ("sent", 3)
        accepted = sms_standin.accepted_for("33" + phone[1:])
        assert len(accepted) == 1
        assert confirmation["receipt"] == accepted[0]["reference"]
        assert accepted[0]["content"].startswith("RDV confirmé le")
        assert accepted[0]["smsCount"] <= 2 and accepted[0]["unicodeEnabled"] is False
        assert "violence" not in accepted[0]["content"].lower()
    finally:
        sms_standin.script([])
        await end(app_stack, appointment_id)


@pytest.mark.parametrize(
    "preferences",
    [{"consent": True, "opted_out": True}, {"consent": False}, {"consent": None}],
    ids=["opted-out", "consent-refused", "never-asked"],
)
async def test_no_message_without_consent_or_after_opting_out(
    app_stack: AppStack,
    reception: Planning,
    pool: Pool,
    smtp_sink: SinkHandler,
    preferences: dict[str, Any],
) -> None:
    email = f"dominique.{uuid.uuid4().hex[:8]}@exemple.fr"
    person_id = await reception.person(email=email, **preferences)
    appointment_id = await reception.book(person_id, datetime.now(UTC) + timedelta(days=5))
    try:
        # The confirmation's activity ran (it marks the row) and queued nothing.
        await eventually(lambda: workflow_started(pool, appointment_id), bool, timeout=30)
        assert await messages(pool, appointment_id) == []
        assert smtp_sink.to(email) == []
    finally:
        await end(app_stack, appointment_id)


async def test_an_ended_appointment_and_a_failed_message_are_tasks_of_the_dossier(
    app_stack: AppStack, pool: Pool, temporal: Client, sms_standin: SmsStandin
) -> None:
    async with app_stack.channel("intake") as channel:
        intake = intake_pb2_grpc.IntakeServiceStub(channel)
        opened = await intake.OpenDossier(
            intake_pb2.OpenDossierRequest(
                request_id=uuid.uuid4().hex,
                territory=TERRITORY,
                motifs=["logement"],
                arrival_channel="telephone",
            ),
            timeout=15,
        )
        dossier_id = opened.dossier.dossier_id
        # Ended five minutes ago with nothing recorded: the no-show is proposed at once.
        quiet = await insert_person(pool, consent=None)
        ended = await book(
            pool,
            temporal,
            quiet,
            datetime.now(UTC) - timedelta(minutes=35),
            48 * 3600.0,
            dossier_id=dossier_id,
            no_show_grace_s=60.0,
        )
        # Next week, an SMS the provider refuses (400): failed at once.
        sms_standin.script([400])
        phone = "07" + str(uuid.uuid4().int)[:8]
        reachable = await insert_person(pool, phone=phone, channel="sms")
        upcoming = await book(
            pool,
            temporal,
            reachable,
            datetime.now(UTC) + timedelta(days=7),
            48 * 3600.0,
            dossier_id=dossier_id,
        )
        try:
            assert await temporal.get_workflow_handle(appointment_workflow_id(ended)).result() == (
                Outcome.NO_SHOW_PROPOSED
            )

            async def kinds() -> set[str]:
                reply = await intake.ListTasks(
                    intake_pb2.ListTasksRequest(territories=[TERRITORY]), timeout=10
                )
                return {t.kind for t in reply.tasks if t.dossier_id == dossier_id}

            assert await eventually(kinds, lambda k: len(k) == 2, timeout=30, interval=0.2) == {
                "appointment_no_show",
                "message_failed",
            }
            (failed,) = await messages(pool, upcoming)
            assert (failed["status"], failed["attempts"], failed["last_error"]) == (
                "failed",
                1,
                "HTTP 400 scripted_failure",
            )
            references = await intake.ListReferenceData(intake_pb2.ListReferenceDataRequest(), timeout=10)
            assert {"appointment_no_show", "message_failed"} <= {k.code for k in references.task_kinds}
        finally:
            sms_standin.script([])
            await end(app_stack, upcoming)


async def _async(value: Any) -> Any:
    return value


async def test_through_the_planning_rpcs_moving_cancels_the_old_reminder_and_cancelling_is_said(
    app_stack: AppStack, pool: Pool, temporal: Client, smtp_sink: SinkHandler
) -> None:
    """BookAppointment starts the workflow (confirmation), MoveAppointment gives it a new
    version (the old reminder's deadline is gone, « moved » then the new reminder are
    sent), CancelAppointment by the CCAS sends the cancellation."""
    email = f"sacha.{uuid.uuid4().hex[:8]}@exemple.fr"
    async with app_stack.channel("intake") as channel:
        intake = intake_pb2_grpc.IntakeServiceStub(channel)
        planning = planning_pb2_grpc.PlanningServiceStub(channel)
        created = await intake.CreatePerson(
            intake_pb2.CreatePersonRequest(
                request_id=uuid.uuid4().hex,
                territory=TERRITORY,
                first_name="Sacha",
                last_name="Essai",
                email=email,
            ),
            timeout=15,
        )
        person_id = created.person.person_id
        await planning.SetContactPreferences(
            planning_pb2.SetContactPreferencesRequest(
                person_id=person_id, consent=True, channel="email", request_id=uuid.uuid4().hex
            ),
            timeout=15,
        )
        # The deployment's 48 h reminder: booked 48 h and 10 min ahead, its reminder is
        # 10 minutes away; moved to 48 h and 5 s ahead, the new one is 5 s away.
        now = datetime.now(UTC)
        booked = await planning.BookAppointment(
            planning_pb2.BookAppointmentRequest(
                person_id=person_id,
                agent_id=AGENT,
                site=SITE,
                starts_at=to_timestamp(now + timedelta(hours=48, minutes=10)),
                duration_minutes=30,
                motif="logement",
                request_id=uuid.uuid4().hex,
            ),
            timeout=15,
        )
        appointment_id = booked.appointment_id
        handle = temporal.get_workflow_handle(appointment_workflow_id(appointment_id))
        await eventually(lambda: _async(smtp_sink.to(email)), lambda r: len(r) == 1, timeout=30)
        old = await handle.query(AppointmentWorkflow.deadlines)
        assert [d.kind for d in old] == [MessageKind.REMINDER, "no_show_check"]
        moved = await planning.MoveAppointment(
            planning_pb2.MoveAppointmentRequest(
                appointment_id=appointment_id,
                starts_at=to_timestamp(datetime.now(UTC) + timedelta(hours=48, seconds=5)),
                duration_minutes=30,
                request_id=uuid.uuid4().hex,
            ),
            timeout=15,
        )
        assert moved.version == 2

        def subjects(received: list[Any]) -> list[str]:
            return [r.subject.split(" ")[0] for r in received]

        # Confirmation, « moved », then the new version's reminder.
        await eventually(
            lambda: _async(smtp_sink.to(email)),
            lambda r: subjects(r)[-1:] == ["Rappel"],
            timeout=60,
            interval=0.2,
        )
        deadlines = await handle.query(AppointmentWorkflow.deadlines)
        assert [d.kind for d in deadlines] == ["no_show_check"]  # the old reminder is gone, not pending
        await planning.CancelAppointment(
            planning_pb2.CancelAppointmentRequest(appointment_id=appointment_id, request_id=uuid.uuid4().hex),
            timeout=15,
        )
        assert await handle.result() == Outcome.CANCELLED
        received = await eventually(
            lambda: _async(smtp_sink.to(email)), lambda r: len(r) == 4, timeout=30, interval=0.2
        )
    starts = [
        "Votre rendez-vous du ",
        "Votre rendez-vous est déplacé au ",
        "Rappel : ",
        "Votre rendez-vous du ",
    ]
    assert all(r.subject.startswith(start) for r, start in zip(received, starts, strict=True)), received
    assert received[3].subject.endswith("est annulé")
    rows = {(r["kind"], r["version"]): r["status"] for r in await messages(pool, appointment_id)}
    assert rows == {
        (MessageKind.CONFIRMATION, 1): "sent",
        (MessageKind.MOVED, 2): "sent",
        (MessageKind.REMINDER, 2): "sent",
        (MessageKind.CANCELLATION, 2): "sent",
    }
