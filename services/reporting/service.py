"""Reporting's service declaration for the kernel runtime."""

from __future__ import annotations

from pathlib import Path

from entraide.v1 import reporting_pb2, reporting_pb2_grpc

from kernel import reference
from kernel.consumer import ConsumerSpec
from kernel.grpc_server import ServiceBinding
from kernel.runtime import ServiceContext, ServiceSpec
from services.reporting.access import RULES
from services.reporting.grpc_api import ReportingServicer
from services.reporting.projection.apply import prepare_batch, project, project_batch
from services.reporting.projection.tables import CONSUMER, PROJECTION_LOCK, SCHEMA


def _bindings(ctx: ServiceContext) -> list[ServiceBinding]:
    servicer = ReportingServicer(
        ctx.pool, reference.load(ctx.settings.env), ctx.js, ctx.settings.events_stream
    )
    return [
        ServiceBinding(
            reporting_pb2_grpc.add_ReportingServiceServicer_to_server,
            servicer,
            reporting_pb2.DESCRIPTOR.services_by_name["ReportingService"].full_name,
        )
    ]


def projector_spec(ctx: ServiceContext) -> ConsumerSpec:
    return ConsumerSpec(
        schema=SCHEMA,
        stream=ctx.settings.events_stream,
        durable=CONSUMER,
        filter_subject=f"{ctx.settings.subject_root}.>",
        handler=project,
        batch_handler=project_batch,
        # Folded while the previous batch is in the database (bench.projector).
        batch_prepare=prepare_batch,
        lock_key=PROJECTION_LOCK,
        batch_size=1000,
        max_deliveries=ctx.settings.consumer_max_deliveries,
    )


SPEC = ServiceSpec(
    name="reporting",
    schema=SCHEMA,
    migrations_dir=Path(__file__).parent / "migrations",
    bindings=_bindings,
    access_rules=RULES,
    consumers=lambda ctx: [projector_spec(ctx)],
)
