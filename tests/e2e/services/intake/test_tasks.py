"""ListTasks, an agent's inbox, on the real stack: a task appears when a workflow asks
something of an agent (an escalation under a shortened timer, a partner's rejection),
is gone once an agent acts on the dossier, and stays within the caller's communes."""

from __future__ import annotations

import random
import string
from typing import Any

import grpc
import pytest
from entraide.v1 import intake_pb2, intake_pb2_grpc, referral_pb2
from temporalio.client import Client

from domain.labels_fr import TASK_KIND_LABELS
from domain.vocabulary import TaskKind
from kernel import temporal as temporal_kernel
from kernel.auth import Role
from kernel.rich_status import describe
from tests.conftest import AppStack
from tests.e2e.services.intake.test_caseload import open_with_timers
from tests.e2e.services.referral.test_referrals import World, create_request, oriented_dossier
from tests.e2e.services.referral.test_referrals import world as world  # the fixture
from tests.helpers import eventually
from workflows.contracts import LifecycleTimers

BAR_LE_DUC = "55029"
LIGNY = "55291"


def letters(n: int = 8) -> str:
    return "".join(random.choices(string.ascii_lowercase, k=n))


@pytest.fixture
async def temporal(app_stack: AppStack) -> Client:
    return await temporal_kernel.connect(app_stack.settings)


async def tasks(intake: Any, **fields: Any) -> list[intake_pb2.Task]:
    reply = await intake.ListTasks(intake_pb2.ListTasksRequest(**fields), timeout=10)
    return list(reply.tasks)


async def test_an_escalation_is_a_task_until_the_interview(world: World, temporal: Client) -> None:
    agent = f"agent-{letters()}"
    dossier_id = await open_with_timers(temporal, agent, LifecycleTimers(urgent_ecoute_s=1.0), urgent=True)
    (task,) = await eventually(
        lambda: tasks(world.intake, assigned_agent=agent), lambda t: len(t) == 1, timeout=30
    )
    assert (task.dossier_id, task.kind, task.stage, task.urgent, task.assigned_agent, task.step) == (
        dossier_id,
        TaskKind.ESCALATED,
        "reception",
        True,
        agent,
        1,
    )
    assert (task.territory, task.referral_id, task.partner_name) == (BAR_LE_DUC, "", "")
    # Someone else's tasks are not in this agent's inbox; everyone's inbox has it.
    assert await tasks(world.intake, assigned_agent=f"x-{agent}") == []
    assert dossier_id in {t.dossier_id for t in await tasks(world.intake, page_size=200)}
    await world.intake.RecordInterview(intake_pb2.RecordInterviewRequest(dossier_id=dossier_id), timeout=15)
    assert await tasks(world.intake, assigned_agent=agent) == []


async def test_a_rejected_referral_is_a_task_until_someone_acts(world: World) -> None:
    w = world
    agent = f"agent-{letters()}"
    dossier_id = await oriented_dossier(w)
    await w.intake.AssignAgent(
        intake_pb2.AssignAgentRequest(dossier_id=dossier_id, assignee=agent), timeout=15
    )
    created = await w.agent.CreateReferral(create_request(dossier_id), timeout=20)
    assert await tasks(w.intake, assigned_agent=agent) == []  # requested: nothing asked of the agent
    await w.partner("caf-meuse").RejectReferral(
        referral_pb2.ReferralActionRequest(referral_id=created.referral_id, reason="no_capacity"), timeout=15
    )
    (task,) = await eventually(
        lambda: tasks(w.intake, assigned_agent=agent), lambda t: len(t) == 1, timeout=30
    )
    assert (task.kind, task.referral_id, task.partner_name, task.stage) == (
        TaskKind.REFERRAL_REJECTED,
        created.referral_id,
        "CAF de la Meuse",
        "orientation",
    )
    # Assigning is not acting on what was asked; a follow-up contact is.
    await w.intake.AssignAgent(
        intake_pb2.AssignAgentRequest(dossier_id=dossier_id, assignee=agent + "-2"), timeout=15
    )
    assert [t.kind for t in await tasks(w.intake, assigned_agent=agent + "-2")] == [
        TaskKind.REFERRAL_REJECTED
    ]
    await w.intake.RecordFollowUp(
        intake_pb2.RecordFollowUpRequest(dossier_id=dossier_id, notes="rappel de la personne"), timeout=15
    )
    assert await tasks(w.intake, assigned_agent=agent + "-2") == []


async def test_another_communes_agent_sees_none(app_stack: AppStack, temporal: Client) -> None:
    agent = f"agent-{letters()}"
    dossier_id = await open_with_timers(temporal, agent, LifecycleTimers(urgent_ecoute_s=1.0), urgent=True)
    async with app_stack.channel("intake") as channel:
        everywhere = intake_pb2_grpc.IntakeServiceStub(channel)
        await eventually(lambda: tasks(everywhere, assigned_agent=agent), lambda t: len(t) == 1, timeout=30)
    token = app_stack.token("agent-ligny", Role.TRAVAILLEUR_SOCIAL, [LIGNY])
    async with app_stack.channel("intake", token) as channel:
        ligny = intake_pb2_grpc.IntakeServiceStub(channel)
        assert await tasks(ligny, assigned_agent=agent) == []
        assert all(t.territory == LIGNY for t in await tasks(ligny, page_size=200))
        assert dossier_id not in {t.dossier_id for t in await tasks(ligny, page_size=200)}
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await ligny.ListTasks(intake_pb2.ListTasksRequest(territories=[BAR_LE_DUC]), timeout=10)
        assert (error.value.code(), describe(error.value).reason) == (
            grpc.StatusCode.PERMISSION_DENIED,
            "TERRITORY_NOT_ASSIGNED",
        )
    accueil = app_stack.token("accueil-bar", Role.ACCUEIL, [BAR_LE_DUC])
    async with app_stack.channel("intake", accueil) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await intake_pb2_grpc.IntakeServiceStub(channel).ListTasks(
                intake_pb2.ListTasksRequest(), timeout=10
            )
        assert describe(error.value).reason == "ROLE_NOT_ALLOWED"


async def test_bad_input_and_the_kinds_labels(app_stack: AppStack) -> None:
    async with app_stack.channel("intake") as channel:
        intake = intake_pb2_grpc.IntakeServiceStub(channel)
        for fields, field in (
            ({"territories": ["99999"]}, "territories"),
            ({"assigned_agent": "a b"}, "assigned_agent"),
            ({"page_size": -1}, "page_size"),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as error:
                await intake.ListTasks(intake_pb2.ListTasksRequest(**fields), timeout=10)
            described = describe(error.value)
            assert (error.value.code(), [v.field for v in described.violations]) == (
                grpc.StatusCode.INVALID_ARGUMENT,
                [field],
            )
        reference = await intake.ListReferenceData(intake_pb2.ListReferenceDataRequest(), timeout=10)
    assert {i.code: i.label for i in reference.task_kinds} == {k.value: TASK_KIND_LABELS[k] for k in TaskKind}
    assert {i.code for i in reference.referral_outcomes} == {
        "need_met",
        "rights_opened",
        "support_started",
        "redirected",
        "other",
    }
    assert dict((i.code, i.label) for i in reference.referral_reasons)["no_capacity"] == "Pas de place"
