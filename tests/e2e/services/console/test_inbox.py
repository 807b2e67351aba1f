"""The inbox page (/taches) on the real stack: a task shows with its French label and
one link to where the agent acts, and is gone once the agent acts; one's own tasks by
default for a social worker, everyone's for a manager; a commune's isolation.

Two fast ways to a task: an urgent dossier whose workflow runs with a one-second
écoute deadline (started as intake starts it), and a referral the partner rejects."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import httpx2 as httpx
import pytest
from entraide.v1 import intake_pb2, intake_pb2_grpc, referral_pb2, referral_pb2_grpc
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy

from kernel import temporal as temporal_kernel
from kernel.auth import Role
from tests.conftest import AppStack
from tests.e2e.services.console import browser
from tests.e2e.services.console.conftest import AGENTS, BAR, Console
from tests.e2e.services.console.test_caseload import open_dossier, row_of, to_suivi, visible_text
from tests.e2e.services.referral.test_referrals import World, create_request, oriented_dossier
from tests.e2e.services.referral.test_referrals import world as world  # the fixture
from tests.helpers import eventually
from workflows import search_attributes as sa
from workflows.contracts import DOSSIER_TASK_QUEUE, DossierSpec, LifecycleTimers, dossier_workflow_id
from workflows.dossier import DossierWorkflow

if TYPE_CHECKING:
    from entraide.v1.intake_pb2_grpc import IntakeServiceAsyncStub as Stub
    from entraide.v1.referral_pb2_grpc import ReferralServiceAsyncStub as ReferralStub


@pytest.fixture
async def temporal(app_stack: AppStack) -> Client:
    return await temporal_kernel.connect(app_stack.settings)


@pytest.fixture
async def intake(app_stack: AppStack) -> AsyncIterator[Stub]:
    """Intake as ts.bar, a social worker of Bar-le-Duc (the console's agent `ts`)."""
    token = app_stack.token(AGENTS["ts"].agent_id, Role.TRAVAILLEUR_SOCIAL, [BAR])
    async with app_stack.channel("intake", token) as channel:
        yield intake_pb2_grpc.IntakeServiceStub(channel)


async def dossier_with_timers(
    temporal: Client, agent: str, timers: LifecycleTimers, urgent: bool = False, territory: str = BAR
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


async def escalating_dossier(temporal: Client, agent: str, territory: str = BAR) -> str:
    """An urgent dossier whose écoute deadline is one second away."""
    return await dossier_with_timers(
        temporal, agent, LifecycleTimers(urgent_ecoute_s=1.0), urgent=True, territory=territory
    )


async def tasks_of(intake: Stub, dossier_id: str) -> list[intake_pb2.Task]:
    reply = await intake.ListTasks(intake_pb2.ListTasksRequest(page_size=200), timeout=10)
    return [t for t in reply.tasks if t.dossier_id == dossier_id]


def count_in_title(html: str) -> int:
    found = re.search(r"<h1>À traiter \((\d+)\)</h1>", html)
    assert found, html
    return int(found.group(1))


async def test_an_escalation_shows_until_the_interview(
    intake: Stub, temporal: Client, signed_in: dict[str, httpx.Client]
) -> None:
    dossier_id = await escalating_dossier(temporal, AGENTS["ts"].agent_id)
    await eventually(lambda: tasks_of(intake, dossier_id), lambda t: len(t) == 1, timeout=30)
    http = signed_in["ts"]
    page = http.get("/taches")
    assert page.status_code == 200
    assert count_in_title(page.text) >= 1 and page.text.count("<h1") == 1
    row = row_of(page.text, dossier_id)
    assert "Écoute urgente en attente" in row and '<span class="badge badge-urgent">Urgent</span>' in row
    assert f'<a href="/dossiers/{dossier_id}#entretien">Recevoir la personne en écoute' in row
    assert "Bar-le-Duc" in row and "Accueil" in row and "Claire Petit" in row
    assert re.search(r"\d\d/\d\d/\d{4} à \d\d:\d\d", row)
    text = visible_text(page.text)
    assert "escalated" not in text and "reception" not in text
    assert '<a href="/taches?tous=1">Voir les tâches de tous les agents</a>' in page.text
    before = count_in_title(page.text)

    # The caseload flags it too.
    listed = row_of(http.get("/mes-dossiers").text, dossier_id)
    assert "Écoute urgente dépassée" in listed and "En retard" in listed

    await intake.RecordInterview(intake_pb2.RecordInterviewRequest(dossier_id=dossier_id), timeout=15)
    after = http.get("/taches")
    assert dossier_id not in after.text
    assert count_in_title(after.text) < before


async def test_a_suivi_reminder_then_a_closure_proposal_until_a_follow_up(
    intake: Stub, temporal: Client, signed_in: dict[str, httpx.Client]
) -> None:
    timers = LifecycleTimers(suivi_reminder_s=1.0, closure_proposal_s=1.0)
    dossier_id = await dossier_with_timers(temporal, AGENTS["ts"].agent_id, timers)
    await to_suivi(intake, dossier_id)
    await eventually(lambda: tasks_of(intake, dossier_id), lambda t: len(t) == 2, timeout=30)
    http = signed_in["ts"]
    page = http.get("/taches").text
    anchors = re.findall(rf'<a href="/dossiers/{dossier_id}#(\w+)">([^<]+)<', page)
    assert sorted(anchors) == [
        ("cloture", "Clôturer ou poursuivre le suivi"),
        ("suivi", "Noter un contact de suivi"),
    ]
    assert "Relance de suivi" in page and "Clôture proposée" in page
    text = visible_text(page)
    assert "suivi_reminder" not in text and "closure_proposed" not in text
    listed = row_of(http.get("/mes-dossiers?etape=suivi").text, dossier_id)
    for badge in ("Relance envoyée", "Clôture proposée", "En retard"):
        assert badge in listed

    await intake.RecordFollowUp(
        intake_pb2.RecordFollowUpRequest(dossier_id=dossier_id, notes="Appel de la personne"), timeout=15
    )
    assert dossier_id not in http.get("/taches").text


async def test_a_rejected_referral_shows_its_partner_until_someone_acts(
    world: World, intake: Stub, app_stack: AppStack, signed_in: dict[str, httpx.Client]
) -> None:
    w = world
    dossier_id = await oriented_dossier(w)  # as the suite's default agent, then given to ts.bar
    await intake.AssignAgent(
        intake_pb2.AssignAgentRequest(dossier_id=dossier_id, assignee=AGENTS["ts"].agent_id), timeout=15
    )
    token = app_stack.token(AGENTS["ts"].agent_id, Role.TRAVAILLEUR_SOCIAL, [BAR])
    async with app_stack.channel("referral", token) as channel:
        referrals: ReferralStub = referral_pb2_grpc.ReferralServiceStub(channel)
        created = await referrals.CreateReferral(create_request(dossier_id), timeout=20)
    caf = app_stack.token("user-caf-meuse", Role.PARTENAIRE, (), partner_id="caf-meuse")
    async with app_stack.channel("referral", caf) as channel:
        partner: ReferralStub = referral_pb2_grpc.ReferralServiceStub(channel)
        await partner.RejectReferral(
            referral_pb2.ReferralActionRequest(referral_id=created.referral_id, reason="no_capacity"),
            timeout=15,
        )
    await eventually(lambda: tasks_of(intake, dossier_id), lambda t: len(t) == 1, timeout=30)
    http = signed_in["ts"]
    page = http.get("/taches")
    row = row_of(page.text, dossier_id)
    assert "Orientation refusée" in row and "Partenaire : CAF de la Meuse" in row
    assert f'<a href="/dossiers/{dossier_id}#orientations">Orienter à nouveau' in row
    assert "Orientation" in row and "Urgent" not in row
    assert "referral_rejected" not in visible_text(page.text)

    await intake.RecordFollowUp(
        intake_pb2.RecordFollowUpRequest(dossier_id=dossier_id, notes="Rappel de la personne"), timeout=15
    )
    assert dossier_id not in http.get("/taches").text


async def test_own_tasks_by_default_everyones_on_demand_and_for_a_manager(
    intake: Stub, temporal: Client, signed_in: dict[str, httpx.Client]
) -> None:
    colleagues = await escalating_dossier(temporal, AGENTS["ts2"].agent_id)
    await eventually(lambda: tasks_of(intake, colleagues), lambda t: len(t) == 1, timeout=30)
    ts = signed_in["ts"]
    assert colleagues not in ts.get("/taches").text
    assert colleagues not in ts.get("/taches?tous=0").text
    everyone = ts.get("/taches?tous=1").text
    assert colleagues in everyone and "Marc Henry" in row_of(everyone, colleagues)
    assert '<a href="/taches?tous=0">Voir seulement les tâches de mes dossiers</a>' in everyone
    manager = signed_in["responsable"]
    assert colleagues in manager.get("/taches").text
    assert colleagues not in manager.get("/taches?tous=0").text

    # Another commune's worker never sees it, even asking for everyone's.
    ligny = signed_in["ts_ligny"]
    assert colleagues not in ligny.get("/taches?tous=1").text
    own = ligny.get("/taches")
    assert "Rien à traiter pour le moment." in own.text and count_in_title(own.text) == 0
    assert "<table" not in own.text
    await intake.RecordInterview(intake_pb2.RecordInterviewRequest(dossier_id=colleagues), timeout=15)


@pytest.fixture
async def listed_urgent(intake: Stub, temporal: Client) -> str:
    """An urgent dossier in the caseload, and a task in the inbox (both ts.bar's)."""
    escalated = await escalating_dossier(temporal, AGENTS["ts"].agent_id)
    await eventually(lambda: tasks_of(intake, escalated), lambda t: len(t) == 1, timeout=30)
    return await open_dossier(intake, urgent=True, motifs=["alimentation"])


def test_both_pages_pass_axe_and_the_filters_work_with_htmx(
    console: Console, signed_in: dict[str, httpx.Client], listed_urgent: str
) -> None:
    session = next(c for c in signed_in["ts"].cookies.jar if c.name == "entraide_session")
    with (
        browser.chromium() as chromium,
        browser.browsing(chromium, console.artefacts / "caseload") as (page, checked),
    ):
        page.context.add_cookies([{"name": session.name, "value": session.value or "", "url": console.url}])
        page.goto(f"{console.url}/mes-dossiers")
        assert page.locator(f'tr[data-dossier="{listed_urgent}"]').count() == 1
        checked.accessible(page, "mes dossiers")
        page.select_option("#motif", "alimentation")
        page.get_by_role("button", name="Filtrer").click()
        page.wait_for_url("**/mes-dossiers?*motif=alimentation*")
        page.wait_for_load_state("networkidle")
        assert page.locator("h1").count() == 1  # the results were swapped in, not a page in a page
        assert page.locator(f'tr[data-dossier="{listed_urgent}"]').count() == 1
        checked.accessible(page, "mes dossiers filtrés")
        page.goto(f"{console.url}/taches")
        assert page.locator("tbody tr").count() >= 1
        checked.accessible(page, "à traiter")
        page.goto(f"{console.url}/mes-dossiers?motif=inexistant")
        checked.accessible(page, "filtre refusé")
