"""An aid request's deadlines end to end: the intake process restarted with deadlines of
a few seconds (ENTRAIDE_AID_*_S), a request created through AidService; its workflow
(the real workflows worker) runs AID_DEADLINE_PASSED when the instruction's deadline
passes: the dossier's inbox (ListTasks) shows the late request and its timeline says
so, once; each change of the request takes the task away at once and re-times the
deadline of the step it is now at; a withdrawn request ends its workflow and makes no
task more. The activity itself, retried or late, writes nothing twice."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import asyncpg
import pytest
from entraide.v1 import aides_pb2, aides_pb2_grpc, intake_pb2, intake_pb2_grpc
from temporalio.client import WorkflowExecutionStatus

from devstack.processes import start_process
from domain.aides import AidRequestStatus, AidStep
from domain.vocabulary import SYSTEM_ACTOR, TaskKind
from kernel import temporal as temporal_kernel
from kernel.auth import Role
from services.intake.aides.activities import SUMMARIES, TIMELINE_KIND, AidActivities, Passed
from tests.conftest import APP_PROCESSES, AppStack
from tests.e2e.services.intake.planning_helpers import intake, new_person
from workflows.contracts import AidDeadline, aid_request_workflow_id

if TYPE_CHECKING:
    from entraide.v1.aides_pb2_grpc import AidServiceAsyncStub as Stub
    from entraide.v1.intake_pb2_grpc import IntakeServiceAsyncStub as IntakeStub

__all__ = ["intake"]  # fixture
TERRITORY = "55029"
DEADLINE_S = 3
# Long enough for the workflow's timer, the activity and the poll, on a loaded machine.
WAIT_S = 40.0


@pytest.fixture(scope="module")
async def short_deadlines(app_stack: AppStack) -> AsyncIterator[AppStack]:
    """The intake process with deadlines of a few seconds (requests created meanwhile
    carry them in their workflow's input); the session's settings again afterwards."""
    short = {f"ENTRAIDE_AID_{step.upper()}_S": str(DEADLINE_S) for step in AidStep}

    def restart(env: dict[str, str]) -> None:
        app_stack.stop("intake")
        start_process(app_stack.state_dir, "intake", APP_PROCESSES["intake"], env)

    restart({**app_stack.env, **short})
    try:
        await app_stack.wait_serving()
        yield app_stack
    finally:
        restart(app_stack.env)
        await app_stack.wait_serving()


@pytest.fixture
async def aides(short_deadlines: AppStack) -> AsyncIterator[Stub]:
    token = short_deadlines.token("ts-aides-delais", Role.TRAVAILLEUR_SOCIAL, [TERRITORY])
    async with short_deadlines.channel("intake", token) as channel:
        yield aides_pb2_grpc.AidServiceStub(channel)


def rid() -> str:
    return uuid.uuid4().hex


async def new_request(intake: IntakeStub, aides: Stub) -> aides_pb2.AidRequest:
    person = await new_person(intake, territory=TERRITORY)
    opened = await intake.OpenDossier(
        intake_pb2.OpenDossierRequest(
            request_id=rid(),
            territory=TERRITORY,
            motifs=["logement"],
            arrival_channel="visite_spontanee",
            person_id=person.person_id,
        ),
        timeout=15,
    )
    return await aides.CreateAidRequest(
        aides_pb2.CreateAidRequestRequest(
            dossier_id=opened.dossier.dossier_id,
            aid_type="secours_urgence",
            amount_asked_cents=15_000,
            reason="Facture d'électricité impayée",
            budget=aides_pb2.HouseholdBudget(
                resources_cents=90_000, charges_cents=70_000, adults=1, children=1
            ),
            request_id=rid(),
        ),
        timeout=15,
    )


async def aid_tasks_of(intake: IntakeStub, aid_request_id: str) -> list[intake_pb2.Task]:
    reply = await intake.ListTasks(intake_pb2.ListTasksRequest(territories=[TERRITORY], page_size=200))
    return [t for t in reply.tasks if t.aid_request_id == aid_request_id]


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = WAIT_S) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        assert loop.time() < deadline, "not seen in time"
        await asyncio.sleep(0.3)


async def late_task(intake: IntakeStub, aid_request_id: str, kind: TaskKind) -> intake_pb2.Task:
    found: list[intake_pb2.Task] = []

    async def seen() -> bool:
        found[:] = await aid_tasks_of(intake, aid_request_id)
        return bool(found)

    await eventually(seen)
    (task,) = found
    assert task.kind == kind
    return task


async def stored(pool: asyncpg.Pool, aid_request_id: str) -> tuple[list[tuple[str, int]], int, int]:
    """The request's task rows (step, version), its late entries in the timeline, its version."""
    async with pool.acquire() as conn:
        tasks = await conn.fetch(
            "SELECT step, version FROM intake.aid_tasks WHERE aid_request_id = $1 ORDER BY at",
            uuid.UUID(aid_request_id),
        )
        entries = await conn.fetchval(
            "SELECT count(*) FROM intake.aid_timeline WHERE aid_request_id = $1 AND kind = $2",
            uuid.UUID(aid_request_id),
            TIMELINE_KIND,
        )
        version = await conn.fetchval(
            "SELECT version FROM intake.aid_requests WHERE aid_request_id = $1", uuid.UUID(aid_request_id)
        )
    return [(r["step"], r["version"]) for r in tasks], int(entries), int(version)


async def test_a_late_request_is_in_the_inbox_until_it_moves_on(
    intake: IntakeStub, aides: Stub, pool: asyncpg.Pool, short_deadlines: AppStack
) -> None:
    request = await new_request(intake, aides)
    ident = request.aid_request_id
    assert request.status == AidRequestStatus.SUBMITTED
    assert await aid_tasks_of(intake, ident) == []

    # Not instructed within its deadline: the inbox shows it, on its dossier.
    task = await late_task(intake, ident, TaskKind.AID_INSTRUCTION_LATE)
    assert task.dossier_id == request.dossier_id and task.territory == TERRITORY
    tasks, entries, version = await stored(pool, ident)
    assert tasks == [(AidStep.INSTRUCTION, version)] and entries == 1

    # The activity again (a retry), and one for an older version: nothing more.
    activities = AidActivities(pool)
    command = AidDeadline(ident, request.dossier_id, TERRITORY, AidStep.INSTRUCTION.value, version)
    assert await activities.aid_deadline_passed(command) == Passed.ALREADY
    command.version = version - 1
    assert await activities.aid_deadline_passed(command) == Passed.MOVED_ON
    assert await stored(pool, ident) == (tasks, 1, version)

    # Found incomplete: the task goes at once; the instruction's deadline is re-timed.
    await aides.RecordInstruction(
        aides_pb2.RecordInstructionRequest(
            aid_request_id=ident, complete=False, missing_documents=["bulletin_salaire"], request_id=rid()
        ),
        timeout=15,
    )
    assert await aid_tasks_of(intake, ident) == []
    await late_task(intake, ident, TaskKind.AID_INSTRUCTION_LATE)

    # Complete: the commission's decision is now what is late.
    await aides.RecordInstruction(
        aides_pb2.RecordInstructionRequest(aid_request_id=ident, complete=True, request_id=rid()), timeout=15
    )
    assert await aid_tasks_of(intake, ident) == []
    await late_task(intake, ident, TaskKind.AID_DECISION_LATE)
    tasks, entries, version = await stored(pool, ident)
    assert [step for step, _ in tasks] == [AidStep.INSTRUCTION, AidStep.INSTRUCTION, AidStep.COMMISSION]
    assert entries == 3

    # Withdrawn: no task, the workflow ends, and nothing comes later.
    withdrawn = await aides.WithdrawAidRequest(
        aides_pb2.WithdrawAidRequestRequest(
            aid_request_id=ident, reason="Situation réglée", request_id=rid()
        ),
        timeout=15,
    )
    assert withdrawn.status == AidRequestStatus.WITHDRAWN
    assert await aid_tasks_of(intake, ident) == []
    temporal = await temporal_kernel.connect(short_deadlines.settings)
    handle = temporal.get_workflow_handle(aid_request_workflow_id(ident))
    assert await handle.result() == AidRequestStatus.WITHDRAWN
    assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED
    await asyncio.sleep(DEADLINE_S + 1)
    assert await aid_tasks_of(intake, ident) == []
    assert len((await stored(pool, ident))[0]) == 3


async def test_a_late_request_is_not_in_another_communes_inbox_nor_another_agents(
    intake: IntakeStub, aides: Stub, short_deadlines: AppStack
) -> None:
    request = await new_request(intake, aides)
    await late_task(intake, request.aid_request_id, TaskKind.AID_INSTRUCTION_LATE)
    # A social worker of another commune does not see it.
    token = short_deadlines.token("ts-ailleurs", Role.TRAVAILLEUR_SOCIAL, ["55302"])
    async with short_deadlines.channel("intake", token) as channel:
        other = intake_pb2_grpc.IntakeServiceStub(channel)
        reply = await other.ListTasks(intake_pb2.ListTasksRequest(page_size=200))
        assert request.aid_request_id not in {t.aid_request_id for t in reply.tasks}
    # Filtered on the dossier's agent: nobody is assigned, so not there.
    reply = await intake.ListTasks(
        intake_pb2.ListTasksRequest(territories=[TERRITORY], assigned_agent="quelqu-un", page_size=200)
    )
    assert request.aid_request_id not in {t.aid_request_id for t in reply.tasks}


async def test_the_tasks_rows_are_another_communes_and_a_signaleurs_to_see_nothing_of(
    intake: IntakeStub, aides: Stub, short_deadlines: AppStack
) -> None:
    request = await new_request(intake, aides)
    await late_task(intake, request.aid_request_id, TaskKind.AID_INSTRUCTION_LATE)
    url = short_deadlines.settings.database_url
    conn = await asyncpg.connect(url, server_settings={"role": "entraide_app"})
    try:

        async def visible(territories: str, role: str) -> int:
            await conn.execute("SELECT set_config('entraide.territories', $1, false)", territories)
            await conn.execute("SELECT set_config('entraide.role', $1, false)", role)
            return int(
                await conn.fetchval(
                    "SELECT count(*) FROM intake.aid_tasks WHERE aid_request_id = $1::uuid",
                    request.aid_request_id,
                )
            )

        assert await visible(TERRITORY, Role.TRAVAILLEUR_SOCIAL.value) == 1
        assert await visible("55302", Role.TRAVAILLEUR_SOCIAL.value) == 0
        assert await visible(TERRITORY, Role.SIGNALEUR.value) == 0
    finally:
        await conn.close()


async def test_the_dossiers_timeline_says_the_request_is_late(intake: IntakeStub, aides: Stub) -> None:
    request = await new_request(intake, aides)
    await late_task(intake, request.aid_request_id, TaskKind.AID_INSTRUCTION_LATE)
    timeline = await intake.GetDossierTimeline(intake_pb2.GetDossierRequest(dossier_id=request.dossier_id))
    late = [e for e in timeline.entries if e.kind == TIMELINE_KIND]
    assert [(e.summary, e.actor, e.step) for e in late] == [(SUMMARIES[AidStep.INSTRUCTION], SYSTEM_ACTOR, 0)]


async def budget_line_for(aides: Stub, territory: str, aid_type: str) -> str:
    """The commune's line of the aid type this year (the session's database is shared:
    another test may have made it), else a new one with room enough."""
    year = datetime.now(UTC).year
    lines = await aides.ListBudgetLines(aides_pb2.ListBudgetLinesRequest(territories=[territory], year=year))
    for line in lines.budget_lines:
        if aid_type in line.aid_types and line.remaining_cents >= 100_000:
            return line.budget_line_id
    made = await aides.CreateBudgetLine(
        aides_pb2.CreateBudgetLineRequest(
            territory=territory,
            year=year,
            label=f"Délais {uuid.uuid4().hex[:6]}",
            aid_types=[aid_type],
            envelope_cents=10_000_000,
            request_id=rid(),
        ),
        timeout=15,
    )
    return made.budget_line_id


async def test_a_granted_aid_not_paid_in_time_is_late_until_paid(
    intake: IntakeStub, short_deadlines: AppStack
) -> None:
    token = short_deadlines.token("resp-aides-delais", Role.RESPONSABLE, [TERRITORY])
    async with short_deadlines.channel("intake", token) as channel:
        responsable = aides_pb2_grpc.AidServiceStub(channel)
        request = await new_request(intake, responsable)
        ident = request.aid_request_id
        line = await budget_line_for(responsable, TERRITORY, request.aid_type)
        granted = await responsable.RecordDecision(
            aides_pb2.RecordDecisionRequest(
                aid_request_id=ident,
                decision="granted",
                channel="urgent",
                amount_granted_cents=12_000,
                reasons="Coupure d'électricité imminente",
                budget_line_id=line,
                payment=aides_pb2.PaymentSpec(mode="transfer", payee_kind="person"),
                request_id=rid(),
            ),
            timeout=15,
        )
        assert granted.status == AidRequestStatus.GRANTED
        await late_task(intake, ident, TaskKind.AID_PAYMENT_LATE)
        (payment,) = granted.payments
        await responsable.RecordPayment(
            aides_pb2.RecordPaymentRequest(
                payment_id=payment.payment_id, status="paid", reference="VIR-2026-1", request_id=rid()
            ),
            timeout=15,
        )
        assert await aid_tasks_of(intake, ident) == []
        temporal = await temporal_kernel.connect(short_deadlines.settings)
        handle = temporal.get_workflow_handle(aid_request_workflow_id(ident))
        assert await handle.result() == AidRequestStatus.CLOSED
