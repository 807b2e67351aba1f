"""Referral's service declaration for the kernel runtime."""

from __future__ import annotations

from pathlib import Path

from entraide.v1 import referral_pb2, referral_pb2_grpc

from kernel import reference
from kernel.grpc_server import ServiceBinding
from kernel.runtime import ServiceContext, ServiceSpec
from services.referral import notifier
from services.referral.access import RULES
from services.referral.directory import SCHEMA
from services.referral.grpc_api import ReferralServicer


def _bindings(ctx: ServiceContext) -> list[ServiceBinding]:
    servicer = ReferralServicer(ctx.pool, reference.load(ctx.settings.env))
    return [
        ServiceBinding(
            referral_pb2_grpc.add_ReferralServiceServicer_to_server,
            servicer,
            referral_pb2.DESCRIPTOR.services_by_name["ReferralService"].full_name,
        )
    ]


SPEC = ServiceSpec(
    name="referral",
    schema=SCHEMA,
    migrations_dir=Path(__file__).parent / "migrations",
    bindings=_bindings,
    access_rules=RULES,
    consumers=lambda ctx: [notifier.service_consumer(ctx)],
    loops=notifier.service_loops,
)
