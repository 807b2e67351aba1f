"""Records DossierWorkflow histories for the replay tests (tests/histories/).

Run when the workflow changes in a way worth pinning: `python -m tests.record_histories`.
It runs real workflows on a private Temporal dev server with intake's real activities
on a scratch database, then writes each history as JSON. Committed histories are never
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
from pathlib import Path

import asyncpg
from temporalio.client import Client, WithStartWorkflowOperation, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from kernel import migrations, reference
from kernel.codec import data_converter
from services.intake.activities import IntakeActivities
from workflows import search_attributes as sa
from workflows.contracts import (
    DOSSIER_TASK_QUEUE,
    INTAKE_TASK_QUEUE,
    AgentInput,
    AssignInput,
    CloseInput,
    CompleteEcouteInput,
    DossierSpec,
    FollowUpInput,
    InterviewInput,
    LifecycleTimers,
    ReopenInput,
    dossier_workflow_id,
)
from workflows.dossier import DossierWorkflow

HERE = Path(__file__).resolve().parent
# Histories are recorded as production stores them: encrypted (kernel.codec). With this
# key, which is public and for recorded test histories only; the replay test uses it too.
# (Histories recorded before encryption have clear payloads: the codec passes them through.)
HISTORY_PAYLOAD_KEYS = (
    "histories:"
    + base64.b64encode(hashlib.sha256(b"entraide recorded test histories - not a secret").digest()).decode()
)
Handle = WorkflowHandle[DossierWorkflow, str]


async def start(client: Client, urgent: bool, timers: LifecycleTimers) -> Handle:
    dossier_id = str(uuid.uuid4())
    spec = DossierSpec(dossier_id, "55029", "Antenne", ["logement"], "telephone", urgent, timers=timers)
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


SCENARIOS: dict[str, Callable[[Client], Awaitable[Handle]]] = {
    "v2_full_lifecycle": full_lifecycle,
    "v2_escalated_reminded_closed": escalated_then_reminded,
    "v2_continued_as_new": continued_as_new,
}


async def main(database_url: str) -> None:
    database = f"record_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(database_url)
    await admin.execute(f'CREATE DATABASE "{database}"')
    pool = await asyncpg.create_pool(database_url.rsplit("/", 1)[0] + f"/{database}")
    try:
        async with pool.acquire() as conn:
            await migrations.migrate_service(
                conn, "intake", HERE.parent / "services" / "intake" / "migrations"
            )
        activities = IntakeActivities(pool, reference.load({}))
        temporal = Path(sys.executable).parent / "temporal"
        async with (
            await WorkflowEnvironment.start_local(
                dev_server_existing_path=str(temporal),
                search_attributes=sa.ALL,
                data_converter=data_converter({"ENTRAIDE_PAYLOAD_KEYS": HISTORY_PAYLOAD_KEYS}),
            ) as env,
            Worker(env.client, task_queue=DOSSIER_TASK_QUEUE, workflows=[DossierWorkflow]),
            Worker(
                env.client,
                task_queue=INTAKE_TASK_QUEUE,
                activities=[activities.record_dossier_opened, activities.record_transition],
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
    finally:
        await pool.close()
        await admin.execute(f'DROP DATABASE "{database}" WITH (FORCE)')
        await admin.close()


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
