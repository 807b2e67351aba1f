"""Referral's service declaration for the kernel runtime."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from entraide.v1 import referral_pb2, referral_pb2_grpc

from kernel import reference
from kernel.consumer import ConsumerSpec
from kernel.grpc_server import ServiceBinding
from kernel.runtime import ServiceContext, ServiceSpec
from kernel.settings import Settings
from services.referral import consent_withdrawal, links, notifier, projector
from services.referral.access import RULES
from services.referral.grpc_api import ReferralServicer
from services.referral.referrals import ReferralActivities
from services.referral.schema import SCHEMA
from workflows.contracts import REFERRAL_TASK_QUEUE, ReferralTimers


def timers(settings: Settings) -> ReferralTimers:
    """ENTRAIDE_REFERRAL_REMINDER_S / ENTRAIDE_REFERRAL_EXPIRY_S, defaults in docs/domain.md."""
    defaults = ReferralTimers()
    return ReferralTimers(
        reminder_s=settings.seconds("referral_reminder", defaults.reminder_s),
        expiry_s=settings.seconds("referral_expiry", defaults.expiry_s),
    )


def _bindings(ctx: ServiceContext) -> list[ServiceBinding]:
    servicer = ReferralServicer(
        ctx.pool,
        ctx.temporal,
        reference.load(ctx.settings.env),
        timers(ctx.settings),
        links.LinkConfig.from_env(ctx.settings.env),
    )
    return [
        ServiceBinding(
            referral_pb2_grpc.add_ReferralServiceServicer_to_server,
            servicer,
            referral_pb2.DESCRIPTOR.services_by_name["ReferralService"].full_name,
        )
    ]


def _activities(ctx: ServiceContext) -> list[Any]:
    activities = ReferralActivities(ctx.pool)
    return [activities.record_status, activities.record_reminder]


def dossiers_spec(ctx: ServiceContext) -> ConsumerSpec:
    return ConsumerSpec(
        schema=SCHEMA,
        stream=ctx.settings.events_stream,
        durable=projector.CONSUMER,
        filter_subject=f"{ctx.settings.subject_root}.dossier.>",
        handler=projector.project,
        max_deliveries=ctx.settings.consumer_max_deliveries,
    )


def _consumers(ctx: ServiceContext) -> list[ConsumerSpec]:
    return [dossiers_spec(ctx), notifier.service_consumer(ctx), consent_withdrawal.consumer_spec(ctx)]


SPEC = ServiceSpec(
    task_queue=REFERRAL_TASK_QUEUE,
    name="referral",
    schema=SCHEMA,
    migrations_dir=Path(__file__).parent / "migrations",
    bindings=_bindings,
    activities=_activities,
    access_rules=RULES,
    consumers=lambda ctx: [
        dossiers_spec(ctx),
        notifier.service_consumer(ctx),
        consent_withdrawal.consumer_spec(ctx),
    ],
    loops=notifier.service_loops,
)
