"""Records DossierWorkflow (and ReferralWorkflow) histories for the replay tests
(tests/histories/).

Run when the workflow changes in a way worth pinning: `python -m tests.record_histories`.
It runs real workflows on a private Temporal dev server with intake's and referral's
real activities on a scratch database (a fictional person, their consent and a partner
are inserted with SQL first), then writes each history as JSON. Committed histories are never
re-recorded: they stand for dossiers already running in production.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import sys
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from temporalio.client import Client, WithStartWorkflowOperation, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from devstack import scratch
from kernel import migrations, reference
from kernel.codec import data_converter
from kernel.db import Connection
from services.intake.activities import IntakeActivities
from services.intake.referral_gate import ReferralGate
from services.referral.referrals import ReferralActivities
from workflows import search_attributes as sa
from workflows.contracts import (
    DOSSIER_TASK_QUEUE,
    INTAKE_TASK_QUEUE,
    REFERRAL_TASK_QUEUE,
    ActInput,
    AgentInput,
    AssignInput,
    CloseInput,
    CompleteEcouteInput,
    DossierSpec,
    FollowUpInput,
    InterviewInput,
    LifecycleTimers,
    OrientInput,
    ReopenInput,
    dossier_workflow_id,
    referral_workflow_id,
)
from workflows.dossier import DossierWorkflow
from workflows.referral import ReferralWorkflow

HERE = Path(__file__).resolve().parent
# Histories are recorded as production stores them: encrypted (kernel.codec). With this
# key, which is public and for recorded test histories only; the replay test uses it too.
# (Histories recorded before encryption have clear payloads: the codec passes them through.)
HISTORY_PAYLOAD_KEYS = (
    "histories:"
    + base64.b64encode(hashlib.sha256(b"entraide recorded test histories - not a secret").digest()).decode()
)
Handle = WorkflowHandle[DossierWorkflow, str]
# The fictional person and partner of the referral scenario (inserted with SQL).
RECORD_PERSON_ID = "6d1f6f8e-2b1c-4c53-9d57-0c5e3f1a7b01"
RECORD_PARTNER_ID = "caf-meuse"


async def start(client: Client, urgent: bool, timers: LifecycleTimers, person_id: str = "") -> Handle:
    dossier_id = str(uuid.uuid4())
    spec = DossierSpec(
        dossier_id,
        "55029",
        "Antenne",
        ["logement"],
        "telephone",
        urgent,
        person_id=person_id,
        timers=timers,
    )
    operation = WithStartWorkflowOperation(
        DossierWorkflow.run,
        spec,
        id=dossier_workflow_id(dossier_id),
        task_queue=DOSSIER_TASK_QUEUE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        search_attributes=sa.initial("55029", urgent),
    )
    await client.execute_update_with_start_workflow(DossierWorkflow.open, start_workflow_operation=operation)
    return await operation.workflow_handle()


async def full_lifecycle(client: Client) -> Handle:
    handle = await start(client, False, LifecycleTimers())
    await handle.execute_update(
        DossierWorkflow.record_interview, InterviewInput("agent-1", "entretien fictif")
    )
    await handle.execute_update(
        DossierWorkflow.complete_ecoute, CompleteEcouteInput("agent-1", "orientation")
    )
    await handle.execute_update(DossierWorkflow.record_follow_up, FollowUpInput("agent-1", "appel fictif"))
    await handle.execute_update(DossierWorkflow.start_suivi, AgentInput("agent-1"))
    await handle.execute_update(DossierWorkflow.assign, AssignInput("agent-1", "agent-2"))
    await handle.execute_update(DossierWorkflow.close, CloseInput("agent-2", "regle"))
    await handle.execute_update(DossierWorkflow.reopen, ReopenInput("agent-2", "rechute fictive"))
    await handle.execute_update(DossierWorkflow.close, CloseInput("agent-2", "ecoute_conseil"))
    return handle


async def escalated_then_reminded(client: Client) -> Handle:
    timers = LifecycleTimers(
        urgent_ecoute_s=1.0, suivi_reminder_s=1.0, closure_proposal_s=1.0, reopen_delay_s=1.0
    )
    handle = await start(client, True, timers)
    await asyncio.sleep(2.0)  # the escalation fires
    await handle.execute_update(DossierWorkflow.record_interview, InterviewInput("agent-1"))
    await handle.execute_update(DossierWorkflow.complete_ecoute, CompleteEcouteInput("agent-1", "suivi"))
    await asyncio.sleep(3.0)  # reminder, then closure proposal
    await handle.execute_update(DossierWorkflow.close, CloseInput("agent-1", "abandon"))
    await handle.result()  # ends at the reopen limit
    return handle


async def continued_as_new(client: Client) -> Handle:
    handle = await start(client, False, LifecycleTimers(max_steps_per_run=3))
    await handle.execute_update(DossierWorkflow.record_interview, InterviewInput("agent-1"))
    await handle.execute_update(
        DossierWorkflow.complete_ecoute, CompleteEcouteInput("agent-1", "orientation")
    )
    await handle.execute_update(DossierWorkflow.record_follow_up, FollowUpInput("agent-1"))
    await asyncio.sleep(1.0)  # the first run continues as new
    return client.get_workflow_handle(handle.id, run_id=handle.first_execution_run_id or handle.run_id)


async def referral_closed_loop(client: Client) -> dict[str, WorkflowHandle[Any, Any]]:
    """orient → child ReferralWorkflow → partner acknowledge, accept, start, complete →
    dossier closed. Records the dossier's history and the referral's."""
    handle = await start(client, False, LifecycleTimers(), person_id=RECORD_PERSON_ID)
    await handle.execute_update(DossierWorkflow.record_interview, InterviewInput("agent-1"))
    await handle.execute_update(
        DossierWorkflow.complete_ecoute, CompleteEcouteInput("agent-1", "orientation")
    )
    referral_id = str(uuid.uuid4())
    await handle.execute_update(
        DossierWorkflow.orient,
        OrientInput(
            agent="agent-1",
            referral_id=referral_id,
            partner_id=RECORD_PARTNER_ID,
            partner_name="CAF de la Meuse",
            motif="logement",
            message_for_partner="Demande d'aide au logement (fictive)",
            data_scope=["identite", "contact"],
        ),
    )
    referral = client.get_workflow_handle_for(ReferralWorkflow.run, referral_workflow_id(referral_id))
    for action in (
        ActInput("acknowledge", "caf-agent"),
        ActInput("accept", "caf-agent"),
        ActInput("start", "caf-agent"),
        ActInput("complete", "caf-agent", outcome="rights_opened", comment="dossier fictif"),
    ):
        await referral.execute_update(ReferralWorkflow.act, action)
    assert await referral.result() == "completed"
    # The dossier has seen the last change (signalled) before it is closed.
    for _ in range(50):
        view = await handle.query(DossierWorkflow.view)
        if view.state.referrals.get(referral_id) == "completed":
            break
        await asyncio.sleep(0.1)
    await handle.execute_update(DossierWorkflow.close, CloseInput("agent-1", "regle"))
    return {"v3_referral_closed_loop": handle, "v3_referral_workflow_completed": referral}


SCENARIOS: dict[str, Callable[[Client], Awaitable[Handle]]] = {
    "v2_full_lifecycle": full_lifecycle,
    "v2_escalated_reminded_closed": escalated_then_reminded,
    "v2_continued_as_new": continued_as_new,
}
# Scenarios that record several histories (file stem → workflow).
MULTI_SCENARIOS: dict[str, Callable[[Client], Awaitable[dict[str, WorkflowHandle[Any, Any]]]]] = {
    "referral_closed_loop": referral_closed_loop,
}
MULTI_SCENARIO_FILES = {"referral_closed_loop": ("v3_referral_closed_loop", "v3_referral_workflow_completed")}


async def seed_referral_scenario(conn: Connection) -> None:
    """A fictional person with a consent covering the partner, and the partner itself."""
    now = datetime.now(UTC)
    await conn.execute(
        """INSERT INTO intake.persons (person_id, territory, request_id, first_name, last_name, name_key,
                                       phone, created_at, updated_at)
           VALUES ($1, '55029', 'record-person', 'Camille', 'Exemple', 'exemple|camille',
                   '0600000000', $2, $2)""",
        uuid.UUID(RECORD_PERSON_ID),
        now,
    )
    await conn.execute(
        """INSERT INTO intake.consents (consent_id, territory, person_id, partner_id, data_scope, kind,
                                        channel, agent, recorded_at)
           VALUES ($1, '55029', $2, $3, ARRAY['identite', 'contact'], 'consent', 'oral', 'agent-1', $4)""",
        uuid.uuid4(),
        uuid.UUID(RECORD_PERSON_ID),
        RECORD_PARTNER_ID,
        now,
    )
    await conn.execute(
        """INSERT INTO referral.partners (partner_id, name, kind, motifs, territories)
           VALUES ($1, 'CAF de la Meuse', 'caf', ARRAY['logement'], ARRAY['55029'])""",
        RECORD_PARTNER_ID,
    )


async def main(database_url: str) -> None:
    database, scratch_url = await scratch.create_database(database_url, "record")
    pool = await asyncpg.create_pool(scratch_url)
    try:
        async with pool.acquire() as conn:
            await migrations.migrate_service(
                conn, "intake", HERE.parent / "services" / "intake" / "migrations"
            )
            await migrations.migrate_service(
                conn, "referral", HERE.parent / "services" / "referral" / "migrations"
            )
            await seed_referral_scenario(conn)
        activities = IntakeActivities(pool, reference.load({}))
        gate = ReferralGate(pool)
        referral_activities = ReferralActivities(pool)
        temporal = Path(sys.executable).parent / "temporal"
        async with (
            await WorkflowEnvironment.start_local(
                dev_server_existing_path=str(temporal),
                search_attributes=sa.ALL,
                data_converter=data_converter({"ENTRAIDE_PAYLOAD_KEYS": HISTORY_PAYLOAD_KEYS}),
            ) as env,
            Worker(env.client, task_queue=DOSSIER_TASK_QUEUE, workflows=[DossierWorkflow, ReferralWorkflow]),
            Worker(
                env.client,
                task_queue=INTAKE_TASK_QUEUE,
                activities=[
                    activities.record_dossier_opened,
                    activities.record_transition,
                    gate.check_referral_consent,
                ],
            ),
            Worker(
                env.client,
                task_queue=REFERRAL_TASK_QUEUE,
                activities=[referral_activities.record_status, referral_activities.record_reminder],
            ),
        ):
            for name, scenario in SCENARIOS.items():
                path = HERE / "histories" / f"{name}.json"
                if path.exists():
                    print(f"kept {path.name} (recorded histories are never rewritten)")
                    continue
                handle = await scenario(env.client)
                history = await handle.fetch_history()
                path.write_text(history.to_json())
                print(f"recorded {path.name}: {len(history.events)} events")
            for group, multi in MULTI_SCENARIOS.items():
                paths = [HERE / "histories" / f"{stem}.json" for stem in MULTI_SCENARIO_FILES[group]]
                if any(path.exists() for path in paths):
                    print(f"kept {group} (recorded histories are never rewritten)")
                    continue
                handles = await multi(env.client)
                for stem, workflow_handle in handles.items():
                    path = HERE / "histories" / f"{stem}.json"
                    history = await workflow_handle.fetch_history()
                    path.write_text(history.to_json())
                    print(f"recorded {path.name}: {len(history.events)} events")
    finally:
        await pool.close()
        await scratch.drop_database(database_url, database)


if __name__ == "__main__":
    from devstack.servers import ensure_servers, free_ports, stop_servers

    state = Path(tempfile.mkdtemp(prefix="entraide-record-"))
    state.chmod(0o755)
    endpoints = ensure_servers(
        state, free_ports(), {k: v for k, v in __import__("os").environ.items() if k == "DATABASE_URL"}
    )
    try:
        asyncio.run(main(endpoints.database_url))
    finally:
        stop_servers(state)
