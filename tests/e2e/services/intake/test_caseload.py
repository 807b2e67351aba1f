"""ListDossiers as a caseload, on the real stack: several communes at once, filters,
the attention order and its page tokens, and the flags and next deadline projected
from the dossier workflow's steps, with shortened timers (the dossier's workflow is
started as intake starts it, with a spec whose durations are seconds)."""

from __future__ import annotations

import random
import string
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from entraide.v1 import intake_pb2, intake_pb2_grpc
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy

from kernel import temporal as temporal_kernel
from kernel.auth import Role
from kernel.db import Pool
from kernel.rich_status import describe
from tests.conftest import AppStack
from tests.helpers import eventually
from workflows import search_attributes as sa
from workflows.contracts import DOSSIER_TASK_QUEUE, DossierSpec, LifecycleTimers, dossier_workflow_id
from workflows.dossier import DossierWorkflow

if TYPE_CHECKING:
    from entraide.v1.intake_pb2_grpc import IntakeServiceAsyncStub as Stub

BAR_LE_DUC = "55029"
LIGNY = "55291"
TRONVILLE = "55519"
LONG = 30 * 86400.0


def letters(n: int = 8) -> str:
    return "".join(random.choices(string.ascii_lowercase, k=n))


@pytest.fixture
async def intake(app_stack: AppStack) -> AsyncIterator[Stub]:
    async with app_stack.channel("intake") as channel:
        yield intake_pb2_grpc.IntakeServiceStub(channel)


@pytest.fixture
async def temporal(app_stack: AppStack) -> Client:
    return await temporal_kernel.connect(app_stack.settings)


async def open_dossier(intake: Stub, **fields: Any) -> str:
    defaults: dict[str, Any] = {
        "request_id": uuid.uuid4().hex,
        "territory": BAR_LE_DUC,
        "motifs": ["logement"],
        "arrival_channel": "visite_spontanee",
    }
    reply = await intake.OpenDossier(intake_pb2.OpenDossierRequest(**{**defaults, **fields}), timeout=15)
    return str(reply.dossier.dossier_id)


async def open_with_timers(
    temporal: Client, agent: str, timers: LifecycleTimers, urgent: bool = False, territory: str = BAR_LE_DUC
) -> str:
    """A dossier opened as intake opens one, its workflow running with these durations."""
    dossier_id = str(uuid.uuid4())
    spec = DossierSpec(
        dossier_id, territory, "", ["logement"], "telephone", urgent, assigned_agent=agent, timers=timers
    )
    start = WithStartWorkflowOperation(
        DossierWorkflow.run,
        spec,
        id=dossier_workflow_id(dossier_id),
        task_queue=DOSSIER_TASK_QUEUE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        search_attributes=sa.initial(territory, urgent),
    )
    await temporal.execute_update_with_start_workflow(DossierWorkflow.open, start_workflow_operation=start)
    return dossier_id


async def to_suivi(intake: Stub, dossier_id: str) -> None:
    await intake.RecordInterview(intake_pb2.RecordInterviewRequest(dossier_id=dossier_id), timeout=15)
    await intake.CompleteEcoute(
        intake_pb2.CompleteEcouteRequest(dossier_id=dossier_id, next_stage="suivi"), timeout=15
    )


async def listed(intake: Stub, **fields: Any) -> list[intake_pb2.Dossier]:
    reply = await intake.ListDossiers(intake_pb2.ListDossiersRequest(**fields), timeout=10)
    return list(reply.dossiers)


async def dossier(intake: Stub, dossier_id: str) -> intake_pb2.Dossier:
    reply: intake_pb2.Dossier = await intake.GetDossier(
        intake_pb2.GetDossierRequest(dossier_id=dossier_id), timeout=10
    )
    return reply


async def refusal(call: Any, request: Any) -> tuple[grpc.StatusCode, str, list[str]]:
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await call(request, timeout=10)
    described = describe(error.value)
    assert described.fr and described.reason
    return error.value.code(), described.reason, [v.field for v in described.violations]


# ---- communes and filters ------------------------------------------------------------------


async def test_several_communes_and_filters(intake: Stub) -> None:
    agent = f"agent-{letters()}"
    in_bar = await open_dossier(intake, territory=BAR_LE_DUC, assigned_agent=agent)
    in_ligny = await open_dossier(intake, territory=LIGNY, assigned_agent=agent, motifs=["emploi"])
    in_tronville = await open_dossier(intake, territory=TRONVILLE, assigned_agent=agent)
    elsewhere = await open_dossier(intake, territory=BAR_LE_DUC, assigned_agent=f"other-{letters()}")

    def ids(found: list[intake_pb2.Dossier]) -> list[str]:
        return [d.dossier_id for d in found]

    # territory and territories merged; newest first.
    both = await listed(intake, territory=BAR_LE_DUC, territories=[LIGNY], assigned_agent=agent)
    assert ids(both) == [in_ligny, in_bar]
    # None named: every commune of the caller.
    assert ids(await listed(intake, assigned_agent=agent)) == [in_tronville, in_ligny, in_bar]
    assert ids(await listed(intake, assigned_agent=agent, motif="emploi")) == [in_ligny]
    mine = await listed(intake, territory=BAR_LE_DUC, page_size=200)
    assert in_bar in ids(mine) and elsewhere in ids(mine)
    await intake.CloseDossier(
        intake_pb2.CloseDossierRequest(dossier_id=in_tronville, outcome="regle"), timeout=15
    )
    assert ids(await listed(intake, assigned_agent=agent, active_only=True)) == [in_ligny, in_bar]
    assert ids(await listed(intake, assigned_agent=agent, stage="cloture")) == [in_tronville]


async def test_filter_by_person(intake: Stub) -> None:
    person = await intake.CreatePerson(
        intake_pb2.CreatePersonRequest(
            request_id=uuid.uuid4().hex, territory=BAR_LE_DUC, first_name="Léa", last_name="Simon" + letters()
        ),
        timeout=10,
    )
    pid = person.person.person_id
    first = await open_dossier(intake, person_id=pid)
    second = await open_dossier(intake, territory=LIGNY, person_id=pid)
    await open_dossier(intake)
    assert [d.dossier_id for d in await listed(intake, person_id=pid)] == [second, first]


async def test_communes_not_the_callers_are_refused(app_stack: AppStack) -> None:
    token = app_stack.token("agent-bar", Role.TRAVAILLEUR_SOCIAL, [BAR_LE_DUC])
    async with app_stack.channel("intake", token) as channel:
        bar = intake_pb2_grpc.IntakeServiceStub(channel)
        for request in (
            intake_pb2.ListDossiersRequest(territories=[BAR_LE_DUC, LIGNY]),
            intake_pb2.ListDossiersRequest(territory=BAR_LE_DUC, territories=[LIGNY]),
        ):
            code, reason, _ = await refusal(bar.ListDossiers, request)
            assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, "TERRITORY_NOT_ASSIGNED")
        everything = await bar.ListDossiers(intake_pb2.ListDossiersRequest(page_size=200), timeout=10)
        assert {d.territory for d in everything.dossiers} <= {BAR_LE_DUC}


async def test_bad_filters_name_their_field(intake: Stub) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"territories": [BAR_LE_DUC, "99999"]}, "territories"),
        ({"territory": "99999"}, "territory"),
        ({"motif": "licorne"}, "motif"),
        ({"person_id": "nope"}, "person_id"),
        ({"assigned_agent": "a b"}, "assigned_agent"),
        ({"stage": "limbo"}, "stage"),
        ({"page_size": 201}, "page_size"),
        ({"page_token": "garbage"}, "page_token"),
    ]
    for fields, field in cases:
        code, _, fields_at_fault = await refusal(
            intake.ListDossiers, intake_pb2.ListDossiersRequest(**fields)
        )
        assert (code, fields_at_fault) == (grpc.StatusCode.INVALID_ARGUMENT, [field]), fields


async def test_a_page_token_serves_only_its_own_listing(intake: Stub) -> None:
    agent = f"agent-{letters()}"
    for _ in range(3):
        await open_dossier(intake, assigned_agent=agent)
    page = await intake.ListDossiers(intake_pb2.ListDossiersRequest(assigned_agent=agent, page_size=2))
    assert page.next_page_token
    for other in (
        {"assigned_agent": agent, "attention_first": True},
        {"assigned_agent": f"x-{agent}"},
        {"assigned_agent": agent, "motif": "emploi"},
    ):
        code, reason, fields = await refusal(
            intake.ListDossiers, intake_pb2.ListDossiersRequest(page_token=page.next_page_token, **other)
        )
        assert (code, reason, fields) == (
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_PAGE_TOKEN",
            ["page_token"],
        )


# ---- flags, deadlines and the attention order ---------------------------------------------------


async def test_a_shortened_urgent_timer_escalates_and_the_projection_agrees(
    intake: Stub, temporal: Client
) -> None:
    agent = f"agent-{letters()}"
    dossier_id = await open_with_timers(temporal, agent, LifecycleTimers(urgent_ecoute_s=1.5), urgent=True)
    before = await dossier(intake, dossier_id)
    # Escalated within seconds; the deadline was the workflow's own.
    if not before.escalated:
        assert before.next_due_kind == "urgent_ecoute"
        assert before.next_due_at.ToDatetime() - before.opened_at.ToDatetime() == timedelta(seconds=1.5)
    escalated = await eventually(lambda: dossier(intake, dossier_id), lambda d: d.escalated, timeout=30)
    assert (escalated.overdue, escalated.next_due_kind, escalated.HasField("next_due_at")) == (
        True,
        "",
        False,
    )
    timeline = await intake.GetDossierTimeline(
        intake_pb2.GetDossierRequest(dossier_id=dossier_id), timeout=10
    )
    assert [e.kind for e in timeline.entries] == ["opened", "escalated"] and list(timeline.deadlines) == []
    (first,) = await listed(intake, assigned_agent=agent, attention_first=True)
    assert first.escalated and first.overdue
    # Listened to: no longer overdue; "escalated" stays for the cycle, as in the workflow.
    await intake.RecordInterview(intake_pb2.RecordInterviewRequest(dossier_id=dossier_id), timeout=15)
    after = await dossier(intake, dossier_id)
    assert (after.escalated, after.overdue, after.stage) == (True, False, "ecoute")


async def test_suivi_reminder_then_closure_proposal_cleared_by_a_follow_up(
    intake: Stub, temporal: Client
) -> None:
    agent = f"agent-{letters()}"
    timers = LifecycleTimers(suivi_reminder_s=3.0, closure_proposal_s=1.0)
    dossier_id = await open_with_timers(temporal, agent, timers)
    await to_suivi(intake, dossier_id)
    in_suivi = await dossier(intake, dossier_id)
    timeline = await intake.GetDossierTimeline(
        intake_pb2.GetDossierRequest(dossier_id=dossier_id), timeout=10
    )
    if not in_suivi.reminded:
        # Intake's deadline is the workflow's, to within the time a step takes to be written.
        (deadline,) = timeline.deadlines
        assert (in_suivi.next_due_kind, deadline.kind) == ("suivi_reminder", "suivi_reminder")
        gap = abs(in_suivi.next_due_at.ToDatetime() - deadline.due_at.ToDatetime())
        assert gap < timedelta(seconds=1), gap
    reminded = await eventually(lambda: dossier(intake, dossier_id), lambda d: d.reminded, timeout=30)
    assert reminded.overdue
    proposed = await eventually(lambda: dossier(intake, dossier_id), lambda d: d.closure_proposed, timeout=30)
    assert (proposed.reminded, proposed.overdue, proposed.next_due_kind) == (True, True, "")
    await intake.RecordFollowUp(
        intake_pb2.RecordFollowUpRequest(dossier_id=dossier_id, notes="appel"), timeout=15
    )
    cleared = await dossier(intake, dossier_id)
    assert (cleared.reminded, cleared.closure_proposed, cleared.next_due_kind) == (
        False,
        False,
        "suivi_reminder",
    )
    assert not cleared.overdue  # the next reminder is 3 s away


async def test_attention_order_and_its_pages(intake: Stub, temporal: Client) -> None:
    agent = f"agent-{letters()}"
    escalated = await open_with_timers(temporal, agent, LifecycleTimers(urgent_ecoute_s=1.0), urgent=True)
    reminded = await open_with_timers(
        temporal, agent, LifecycleTimers(suivi_reminder_s=1.0, closure_proposal_s=LONG)
    )
    await to_suivi(intake, reminded)
    urgent_soon = await open_dossier(intake, urgent=True, assigned_agent=agent)  # due in 24 h
    suivi_later = await open_dossier(intake, assigned_agent=agent)  # due in 30 days once in suivi
    await to_suivi(intake, suivi_later)
    nothing_due = await open_dossier(intake, assigned_agent=agent)  # reception, not urgent: newest
    await eventually(lambda: dossier(intake, escalated), lambda d: d.escalated, timeout=30)
    await eventually(lambda: dossier(intake, reminded), lambda d: d.reminded, timeout=30)

    expected = [escalated, reminded, urgent_soon, suivi_later, nothing_due]
    found = await listed(intake, assigned_agent=agent, attention_first=True)
    assert [d.dossier_id for d in found] == expected
    kinds = [(d.overdue, d.next_due_kind) for d in found]
    assert kinds == [
        (True, ""),
        (True, "closure_proposal"),
        (False, "urgent_ecoute"),
        (False, "suivi_reminder"),
        (False, ""),
    ]
    # The newest first by default.
    assert [d.dossier_id for d in await listed(intake, assigned_agent=agent)] == list(reversed(expected))
    # Pages of two: the same order, nothing skipped or repeated.
    seen: list[str] = []
    token = ""
    while True:
        page = await intake.ListDossiers(
            intake_pb2.ListDossiersRequest(
                assigned_agent=agent, attention_first=True, page_size=2, page_token=token
            ),
            timeout=10,
        )
        seen += [d.dossier_id for d in page.dossiers]
        token = page.next_page_token
        if not token:
            break
    assert seen == expected


async def test_each_dossier_listed_is_access_logged(intake: Stub, pool: Pool) -> None:
    agent = f"agent-{letters()}"
    opened = [await open_dossier(intake, assigned_agent=agent) for _ in range(2)]
    await listed(intake, assigned_agent=agent)
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            """SELECT resource_id FROM audit.access_log
                WHERE method LIKE '%/ListDossiers' AND resource_type = 'dossier'
                  AND resource_id = ANY($1::text[])""",
            opened,
        )
    assert sorted(r["resource_id"] for r in rows) == sorted(opened)
