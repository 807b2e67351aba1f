"""Appointment reminders/s through the whole path, against a bare SMTP send loop to the
same server, in the same run.

    python -m bench.reminders --appointments 500 [--lead 20] [--json]

entraide: N appointments (one person each, e-mail chosen) whose AppointmentWorkflows
are started untimed, their reminder timers all set to fire at the same moment T. At T
the clock starts: each timer → the QUEUE_PERSON_MESSAGE activity (the appointment, the
person and their preferences read, the French text built, one `person_messages` row
written, superseding checked, the sender notified) → the sender (claim in a short
transaction, SMTP send on reused connections, outcome recorded) → an aiosmtpd server
in this process. The clock stops when the server has received the N reminders.
bare: the same N messages (same size, same headers) sent by one aiosmtplib client on
one reused connection, one after the other, to the same server.

The confirmations are kept out of the measure: the persons' consent is recorded only
after every workflow has run its confirmation activity (which then queued nothing).

Wiring as intake runs: migrations as the schema owner, a pool with the application
role (row-level security), the services' Temporal client (payloads encrypted), the
workflow worker and intake's activity worker with default options, the real sender
loop. Temporal is always a private dev server started for the run (the activities'
`intake` queue must not be a running stack's); PostgreSQL comes from DATABASE_URL when
set and reachable (a scratch database, dropped at the end), else a private one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiosmtplib
import asyncpg  # type: ignore[import-untyped, unused-ignore]
from aiosmtpd.controller import Controller
from temporalio import activity
from temporalio.worker import Worker

from devstack import secrets
from devstack.scratch import fresh_database
from devstack.servers import ensure_servers, free_ports, private_components, stop_servers
from domain.planning import MessageKind
from kernel import db, reference, runtime
from kernel import temporal as temporal_kernel
from kernel.settings import Settings
from services.intake.notices.queue import NoticeActivities
from services.intake.notices.sender import Sender, SenderConfig
from services.intake.notices.smtp import SmtpConfig, compose
from services.intake.notices.transport import Outgoing
from services.intake.service import SPEC as INTAKE_SPEC
from workflows.appointment import AppointmentWorkflow
from workflows.contracts import (
    DOSSIER_TASK_QUEUE,
    INTAKE_TASK_QUEUE,
    ActivityName,
    AppointmentInput,
    AppointmentSchedule,
    AppointmentTimers,
    ProposeNoShow,
    QueueMessage,
    appointment_workflow_id,
)

TERRITORY, SITE, ROOM = "55029", "ccas-bar-le-duc", "bureau-1"
REMINDER_SUBJECT = "Rappel"
MAIL_FROM = "rendez-vous@entraide.bench"


@dataclass(frozen=True)
class Report:
    appointments: int
    entraide_s: float
    entraide_per_s: float
    bare_s: float
    bare_per_s: float
    ratio: float  # entraide / bare
    late_start_s: float  # how long after T the first reminder reached the server
    # The sender alone: N rows already in the outbox → claimed, sent, marked.
    sender_only_s: float
    sender_only_per_s: float
    # The same workflows and timers with activities that do nothing: Temporal alone.
    timers_only_s: float
    timers_only_per_s: float
    cores: int
    total_s: float


@dataclass(frozen=True)
class Measured:
    entraide_s: float
    late_s: float
    outbox_s: float
    sample: Outgoing


class Counter:
    """The SMTP server's handler: counts the messages whose subject starts with a prefix."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.prefix = ""
        self.count = 0
        self.first_at = 0.0
        self.done = threading.Event()
        self.expected = 0

    def expect(self, prefix: str, n: int) -> None:
        with self.lock:
            self.prefix, self.count, self.expected, self.first_at = prefix, 0, n, 0.0
            self.done.clear()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        head = bytes(envelope.original_content or envelope.content)[:4000]
        with self.lock:
            if self.prefix and f"\nSubject: {self.prefix}".encode() in b"\n" + head:
                self.count += 1
                if self.count == 1:
                    self.first_at = time.perf_counter()
                if self.count >= self.expected:
                    self.done.set()
        return "250 2.0.0 Ok: queued"


async def wait_done(counter: Counter, timeout_s: float) -> float:
    """perf_counter() when the expected messages have all arrived."""
    if not await asyncio.to_thread(counter.done.wait, timeout_s):
        raise RuntimeError(
            f"only {counter.count} of {counter.expected} messages arrived in {timeout_s:.0f} s"
        )
    return time.perf_counter()


async def seed(owner: asyncpg.Connection, n: int, starts_at: datetime) -> list[str]:
    """N persons (e-mail chosen, consent not yet given) and their appointments."""
    now = datetime.now(UTC)
    persons = [str(uuid.uuid4()) for _ in range(n)]
    appointments = [str(uuid.uuid4()) for _ in range(n)]
    await owner.executemany(
        """INSERT INTO intake.persons (person_id, territory, request_id, first_name, last_name, name_key,
                                       email, created_at, updated_at)
           VALUES ($1, $2, $3, 'Camille', 'Banc', 'banc|camille', $4, $5, $5)""",
        [(p, TERRITORY, f"bench-{p}", f"p{i}@exemple.fr", now) for i, p in enumerate(persons)],
    )
    await owner.executemany(
        """INSERT INTO intake.contact_preferences
               (person_id, territory, consent, channel, updated_by, updated_at)
           VALUES ($1, $2, false, 'email', 'bench', $3)""",
        [(p, TERRITORY, now) for p in persons],
    )
    await owner.executemany(
        """INSERT INTO intake.appointments
               (appointment_id, territory, site, room, host_kind, host_id, host_label, person_id, motif,
                starts_at, ends_at, status, version, booked_by, booked_at, updated_at)
           VALUES ($1, $2, $3, $4, 'agent', 'agent-bench', 'Agent', $5, 'logement', $6, $7, 'booked', 1,
                   'bench', $8, $8)""",
        [
            (a, TERRITORY, SITE, ROOM, p, starts_at, starts_at + timedelta(minutes=30), now)
            for a, p in zip(appointments, persons, strict=True)
        ],
    )
    return appointments


async def measure_bare(port: int, counter: Counter, n: int, sample: Outgoing) -> float:
    config = SmtpConfig("127.0.0.1", port, mail_from=MAIL_FROM)
    counter.expect(sample.subject[:6], n)
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=30)
    await client.connect()
    try:
        started = time.perf_counter()
        for i in range(n):
            message = Outgoing(
                str(uuid.uuid4()), sample.kind, f"p{i}@exemple.fr", sample.subject, sample.body
            )
            await client.send_message(compose(config, message))
        ended = await wait_done(counter, 60)
    finally:
        await client.quit()
    return ended - started


async def measure_entraide(
    settings: Settings, port: int, counter: Counter, n: int, lead_s: float, say: Callable[[str], None]
) -> Measured:
    await runtime.migrate(INTAKE_SPEC, settings)
    pool = await db.create_pool(settings.database_url, role=settings.db_role, max_size=20)
    owner = await asyncpg.connect(settings.migration_database_url)
    stop = asyncio.Event()
    try:
        client = await temporal_kernel.connect(settings)
        ref = reference.load(settings.env)
        notices = NoticeActivities(pool, ref)
        config = SenderConfig(
            territories=tuple(ref.territories),
            smtp=SmtpConfig("127.0.0.1", port, mail_from=MAIL_FROM),
            idle_poll_s=0.2,
        )
        sender = Sender.from_config(pool, config)
        # T: every reminder due at once; the appointment an hour later.
        fire_at = datetime.now(UTC) + timedelta(seconds=lead_s)
        starts_at = fire_at + timedelta(hours=1)
        reminder_s = 3600.0
        appointments = await seed(owner, n, starts_at)
        workers = [
            Worker(client, task_queue=DOSSIER_TASK_QUEUE, workflows=[AppointmentWorkflow]),
            Worker(
                client,
                task_queue=INTAKE_TASK_QUEUE,
                activities=[notices.queue_person_message, notices.propose_no_show],
            ),
        ]
        schedule_end = (starts_at + timedelta(minutes=30)).isoformat()
        timers = AppointmentTimers(reminder_s=reminder_s, second_reminder_s=0.0, no_show_grace_s=86400.0)
        sending = asyncio.create_task(sender.run(stop))
        async with workers[0], workers[1]:
            limit = asyncio.Semaphore(50)

            async def start(appointment_id: str) -> None:
                async with limit:
                    await client.start_workflow(
                        AppointmentWorkflow.run,
                        AppointmentInput(
                            appointment_id,
                            TERRITORY,
                            AppointmentSchedule(starts_at.isoformat(), schedule_end, 1),
                            timers,
                        ),
                        id=appointment_workflow_id(appointment_id),
                        task_queue=DOSSIER_TASK_QUEUE,
                    )

            await asyncio.gather(*(start(a) for a in appointments))
            # Every confirmation activity ran (and queued nothing: no consent yet).
            while await owner.fetchval(  # noqa: ASYNC110 (a database condition, polled)
                "SELECT count(*) FROM intake.appointments WHERE NOT workflow_started"
            ):
                await asyncio.sleep(0.1)
            await owner.execute("UPDATE intake.contact_preferences SET consent = true")
            left = (fire_at - datetime.now(UTC)).total_seconds()
            if left < 1.0:
                raise RuntimeError(
                    f"setup took longer than --lead {lead_s:.0f} s: run again with a longer lead"
                )
            say(f"{n} workflows started; their reminders fire in {left:.1f} s")
            counter.expect(REMINDER_SUBJECT, n)
            await asyncio.sleep(left)
            started = time.perf_counter()
            ended = await wait_done(counter, 120 + n / 5)
            late = counter.first_at - started
            # The last rows are marked sent just after the server's reply (untimed).
            for _ in range(100):
                marked = await owner.fetchval(
                    "SELECT count(*) FROM intake.person_messages WHERE kind = $1 AND status = 'sent'",
                    MessageKind.REMINDER.value,
                )
                if marked >= n:
                    break
                await asyncio.sleep(0.1)
            spans = await owner.fetchrow(
                """SELECT count(*) AS sent, min(created_at) AS first_queued, max(created_at) AS last_queued,
                          max(sent_at) AS last_sent
                     FROM intake.person_messages WHERE kind = $1 AND status = 'sent'""",
                MessageKind.REMINDER.value,
            )
            assert spans is not None
            sent = spans["sent"]
            say(
                f"queued {(spans['first_queued'] - fire_at).total_seconds():.2f}"
                f"..{(spans['last_queued'] - fire_at).total_seconds():.2f} s after T,"
                f" last sent {(spans['last_sent'] - fire_at).total_seconds():.2f} s after T"
            )
            if sent != n:
                raise RuntimeError(f"expected {n} reminders marked sent, found {sent}")
            row = await owner.fetchrow("SELECT * FROM intake.person_messages LIMIT 1")
            assert row is not None
            sample = Outgoing(
                str(row["message_id"]), row["kind"], row["recipient"], row["subject"], row["body"]
            )
            # The sender alone (outbox → SMTP): N rows of the same size written at once.
            counter.expect(REMINDER_SUBJECT, n)
            await owner.execute(
                """INSERT INTO intake.person_messages
                       (message_id, territory, appointment_id, kind, version, channel, recipient,
                        subject, body, status, next_attempt_at, created_at)
                   SELECT gen_random_uuid(), territory, appointment_id, 'second_reminder', version, channel,
                          recipient, subject, body, 'pending', now(), now()
                     FROM intake.person_messages WHERE kind = 'reminder';
                   SELECT pg_notify('intake_person_messages', '')"""
            )
            outbox_started = time.perf_counter()
            outbox_s = await wait_done(counter, 120 + n / 5) - outbox_started
        stop.set()
        await sending
        return Measured(ended - started, late, outbox_s, sample)
    finally:
        stop.set()
        await owner.close()
        await pool.close()


async def measure_timers_only(settings: Settings, n: int, lead_s: float, say: Callable[[str], None]) -> float:
    """The same workflows and timers with activities that do nothing (no database, no
    outbox, no SMTP): what the Temporal path alone allows on this server."""
    client = await temporal_kernel.connect(settings)
    done = asyncio.Event()
    reminded = 0

    @activity.defn(name=ActivityName.QUEUE_PERSON_MESSAGE)
    async def queue(command: QueueMessage) -> str:
        nonlocal reminded
        if command.kind == MessageKind.REMINDER:
            reminded += 1
            if reminded >= n:
                done.set()
        return "queued"

    @activity.defn(name=ActivityName.PROPOSE_NO_SHOW)
    async def propose(command: ProposeNoShow) -> bool:
        return True

    fire_at = datetime.now(UTC) + timedelta(seconds=lead_s)
    starts_at = fire_at + timedelta(hours=1)
    schedule = AppointmentSchedule(starts_at.isoformat(), (starts_at + timedelta(minutes=30)).isoformat(), 1)
    timers = AppointmentTimers(reminder_s=3600.0, second_reminder_s=0.0, no_show_grace_s=86400.0)
    async with (
        Worker(client, task_queue=DOSSIER_TASK_QUEUE, workflows=[AppointmentWorkflow]),
        Worker(client, task_queue=INTAKE_TASK_QUEUE, activities=[queue, propose]),
    ):
        limit = asyncio.Semaphore(50)

        async def start(appointment_id: str) -> None:
            async with limit:
                await client.start_workflow(
                    AppointmentWorkflow.run,
                    AppointmentInput(appointment_id, TERRITORY, schedule, timers),
                    id=appointment_workflow_id(appointment_id),
                    task_queue=DOSSIER_TASK_QUEUE,
                )

        await asyncio.gather(*(start(str(uuid.uuid4())) for _ in range(n)))
        left = (fire_at - datetime.now(UTC)).total_seconds()
        if left < 1.0:
            raise RuntimeError(f"setup took longer than --lead {lead_s:.0f} s: run again with a longer lead")
        say(f"timers alone: {n} workflows started; their reminders fire in {left:.1f} s")
        await asyncio.sleep(left)
        started = time.perf_counter()
        await asyncio.wait_for(done.wait(), timeout=120 + n / 5)
        return time.perf_counter() - started


def run(n: int, lead_s: float, say: Callable[[str], None]) -> Report:
    began = time.perf_counter()
    state_dir = Path(tempfile.mkdtemp(prefix="entraide-bench-reminders-"))
    state_dir.chmod(0o755)  # the private PostgreSQL may run as another system user
    servers = state_dir / "servers"
    env = {k: v for k, v in os.environ.items() if k not in ("TEMPORAL_ADDRESS", "TEMPORAL_UI_URL")}
    env.update(secrets.generate())
    counter = Counter()
    port = _free_port()
    smtp = Controller(counter, hostname="127.0.0.1", port=port)
    smtp.start()
    try:
        say("starting servers...")
        endpoints = ensure_servers(servers, free_ports(), env)
        say(f"servers ready (private: {', '.join(private_components(servers)) or 'none'})")

        async def main() -> tuple[Measured, float, float]:
            async with fresh_database(endpoints.database_url, "bench") as url:
                settings = Settings.from_env(
                    {**env, "DATABASE_URL": url, "TEMPORAL_ADDRESS": endpoints.temporal_address}
                )
                measured = await measure_entraide(settings, port, counter, n, lead_s, say)
                # Its setup does less (no database): half the lead is plenty.
                timers_s = await measure_timers_only(settings, n, lead_s / 2, say)
            await measure_bare(port, counter, min(n, 100), measured.sample)  # warm-up
            bare_s = await measure_bare(port, counter, n, measured.sample)
            return measured, bare_s, timers_s

        measured, bare_s, timers_s = asyncio.run(main())
        entraide_s = measured.entraide_s
    finally:
        smtp.stop()
        stop_servers(servers)
        shutil.rmtree(state_dir, ignore_errors=True)
    return Report(
        appointments=n,
        entraide_s=round(entraide_s, 3),
        entraide_per_s=round(n / entraide_s, 1),
        bare_s=round(bare_s, 3),
        bare_per_s=round(n / bare_s, 1),
        ratio=round(bare_s / entraide_s, 3),
        late_start_s=round(measured.late_s, 3),
        sender_only_s=round(measured.outbox_s, 3),
        sender_only_per_s=round(n / measured.outbox_s, 1),
        timers_only_s=round(timers_s, 3),
        timers_only_per_s=round(n / timers_s, 1),
        cores=os.cpu_count() or 1,
        total_s=round(time.perf_counter() - began, 1),
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def render(report: Report) -> str:
    return "\n".join(
        [
            f"reminders: N={report.appointments} cores={report.cores}",
            f"entraide (timer → activity → outbox → sender → SMTP): {report.entraide_per_s:>9.1f}/s"
            f"  ({report.entraide_s:.2f} s, first after {report.late_start_s:.2f} s)",
            f"bare aiosmtplib loop (one connection):               {report.bare_per_s:>9.1f}/s"
            f"  ({report.bare_s:.2f} s)",
            f"ratio entraide/bare = {report.ratio:.3f}",
            f"of which the sender alone (outbox → SMTP):          {report.sender_only_per_s:>9.1f}/s"
            f"  ({report.sender_only_s:.2f} s)",
            f"the same timers with do-nothing activities (Temporal):  {report.timers_only_per_s:>9.1f}/s"
            f"  ({report.timers_only_s:.2f} s)",
            f"total {report.total_s:.1f} s",
        ]
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.reminders", description=__doc__.split("\n\n")[0])
    parser.add_argument("--appointments", type=int, default=500, help="appointments (N)")
    parser.add_argument(
        "--lead",
        type=float,
        default=None,
        help="seconds from the start of the setup to T (default: 15 + N/4)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    lead = args.lead if args.lead is not None else 15.0 + args.appointments / 4
    report = run(args.appointments, lead, say)
    print(json.dumps(asdict(report)) if args.json else render(report))


if __name__ == "__main__":
    main()
