"""IntakeService gRPC handlers: validate, then go through the dossier's workflow for
changes; read from intake's tables."""

from __future__ import annotations

import asyncpg
from entraide.v1 import intake_pb2, intake_pb2_grpc
from google.protobuf.timestamp_pb2 import Timestamp
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from kernel.db import Pool
from kernel.errors import AlreadyExists, NotFound
from kernel.grpc_server import Context, remaining
from kernel.reference import ReferenceData
from services.intake import repository, validation
from workflows import search_attributes as sa
from workflows.contracts import DOSSIER_TASK_QUEUE, DossierSpec, dossier_workflow_id
from workflows.dossier import DossierWorkflow


def dossier_message(row: asyncpg.Record) -> intake_pb2.Dossier:
    opened_at = Timestamp()
    opened_at.FromDatetime(row["opened_at"])
    return intake_pb2.Dossier(
        dossier_id=str(row["dossier_id"]),
        territory=row["territory"],
        site=row["site"],
        motifs=list(row["motifs"]),
        arrival_channel=row["arrival_channel"],
        urgent=row["urgent"],
        stage=row["stage"],
        opened_at=opened_at,
    )


def _same_request(row: asyncpg.Record, spec: DossierSpec) -> bool:
    return (row["territory"], row["site"], list(row["motifs"]), row["arrival_channel"], row["urgent"]) == (
        spec.territory,
        spec.site,
        spec.motifs,
        spec.arrival_channel,
        spec.urgent,
    )


class IntakeServicer(intake_pb2_grpc.IntakeServiceServicer):
    def __init__(self, pool: Pool, temporal: Client, reference: ReferenceData) -> None:
        self.pool = pool
        self.temporal = temporal
        self.reference = reference

    async def OpenDossier(
        self, request: intake_pb2.OpenDossierRequest, context: Context
    ) -> intake_pb2.OpenDossierResponse:
        spec = validation.open_dossier_spec(request, self.reference)
        start = WithStartWorkflowOperation(
            DossierWorkflow.run,
            spec,
            id=dossier_workflow_id(spec.dossier_id),
            task_queue=DOSSIER_TASK_QUEUE,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=sa.initial(spec.territory, spec.urgent),
        )
        created = False
        try:
            opened = await self.temporal.execute_update_with_start_workflow(
                DossierWorkflow.open,
                start_workflow_operation=start,
                rpc_timeout=remaining(context),
            )
            created = opened.created
        except WorkflowAlreadyStartedError:
            pass  # the dossier's workflow has already ended: the dossier exists
        async with self.pool.acquire() as conn:
            row = await repository.get_dossier(conn, spec.dossier_id)
        if row is None:
            raise NotFound("the dossier of this request id no longer exists")
        if not _same_request(row, spec):
            raise AlreadyExists("this request_id already opened a different dossier; use a new request_id")
        return intake_pb2.OpenDossierResponse(dossier=dossier_message(row), created=created)

    async def GetDossier(self, request: intake_pb2.GetDossierRequest, context: Context) -> intake_pb2.Dossier:
        dossier_id = validation.parse_dossier_id(request.dossier_id)
        async with self.pool.acquire() as conn:
            row = await repository.get_dossier(conn, dossier_id)
        if row is None:
            raise NotFound("no dossier with this id")
        return dossier_message(row)

    async def ListReferenceData(
        self, request: intake_pb2.ListReferenceDataRequest, context: Context
    ) -> intake_pb2.ReferenceData:
        def items(table: dict[str, str]) -> list[intake_pb2.ReferenceItem]:
            return [intake_pb2.ReferenceItem(code=c, label=label) for c, label in table.items()]

        return intake_pb2.ReferenceData(
            motifs=items(dict(self.reference.motifs)),
            arrival_channels=items(dict(self.reference.arrival_channels)),
            territories=items(dict(self.reference.territories)),
        )
