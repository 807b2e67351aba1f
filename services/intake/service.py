"""Intake's service declaration for the kernel runtime."""

from __future__ import annotations

from pathlib import Path

from entraide.v1 import intake_pb2, intake_pb2_grpc

from kernel import reference
from kernel.grpc_server import ServiceBinding
from kernel.runtime import ServiceContext, ServiceSpec
from services.intake.activities import IntakeActivities
from services.intake.grpc_api import IntakeServicer
from services.intake.repository import SCHEMA


def _bindings(ctx: ServiceContext) -> list[ServiceBinding]:
    servicer = IntakeServicer(ctx.pool, ctx.temporal, reference.load(ctx.settings.env))
    return [
        ServiceBinding(
            intake_pb2_grpc.add_IntakeServiceServicer_to_server,
            servicer,
            intake_pb2.DESCRIPTOR.services_by_name["IntakeService"].full_name,
        )
    ]


def _activities(ctx: ServiceContext) -> list[object]:
    activities = IntakeActivities(ctx.pool)
    return [activities.record_dossier_opened]


SPEC = ServiceSpec(
    name="intake",
    schema=SCHEMA,
    migrations_dir=Path(__file__).parent / "migrations",
    bindings=_bindings,
    activities=_activities,  # type: ignore[arg-type]
)
