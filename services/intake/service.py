"""Intake's service declaration for the kernel runtime."""

from __future__ import annotations

from pathlib import Path

from entraide.v1 import (
    aides_pb2,
    aides_pb2_grpc,
    collective_pb2,
    collective_pb2_grpc,
    documents_pb2,
    documents_pb2_grpc,
    intake_pb2,
    intake_pb2_grpc,
    planning_pb2,
    planning_pb2_grpc,
    signals_pb2,
    signals_pb2_grpc,
)

from kernel import reference
from kernel.db import ScopedPool
from kernel.grpc_server import ServiceBinding
from kernel.runtime import ServiceContext, ServiceSpec
from kernel.settings import Settings
from services.intake.access import RULES
from services.intake.activities import IntakeActivities
from services.intake.aides.access import RULES as AID_RULES
from services.intake.aides.activities import AidActivities
from services.intake.aides.servicer import AidServicer
from services.intake.aides.settings import aid_settings
from services.intake.collective.access import RULES as COLLECTIVE_RULES
from services.intake.collective.servicer import CollectiveServicer
from services.intake.documents.access import RULES as DOCUMENT_RULES
from services.intake.documents.retention import DocumentRetention
from services.intake.documents.servicer import DocumentServicer
from services.intake.documents.storage import store_from_env
from services.intake.grpc_api import IntakeServicer
from services.intake.importing.starts import ImportStartActivities
from services.intake.legacy_sites import map_known as map_legacy_sites
from services.intake.notices import sender as notice_sender
from services.intake.notices.queue import NoticeActivities
from services.intake.planning.access import RULES as PLANNING_RULES
from services.intake.planning.servicer import PlanningServicer
from services.intake.referral_gate import ReferralGate
from services.intake.retention import activities as retention_activities
from services.intake.retention import ensure_retention_schedule, retention_input
from services.intake.schema import SCHEMA
from services.intake.signals.access import RULES as SIGNAL_RULES
from services.intake.signals.activities import SignalActivities
from services.intake.signals.servicer import SignalServicer, signal_settings
from workflows.contracts import INTAKE_TASK_QUEUE, AppointmentTimers, LifecycleTimers


def _bindings(ctx: ServiceContext) -> list[ServiceBinding]:
    servicer = IntakeServicer(
        ScopedPool(ctx.pool),
        ctx.temporal,
        reference.load(ctx.settings.env),
        timers(ctx.settings),
        retention_input(ctx.settings.env).retention_days,
    )
    return [
        ServiceBinding(
            intake_pb2_grpc.add_IntakeServiceServicer_to_server,
            servicer,
            intake_pb2.DESCRIPTOR.services_by_name["IntakeService"].full_name,
        ),
        ServiceBinding(
            planning_pb2_grpc.add_PlanningServiceServicer_to_server,
            PlanningServicer(
                ScopedPool(ctx.pool),
                ctx.temporal,
                reference.load(ctx.settings.env),
                appointment_timers(ctx.settings),
            ),
            planning_pb2.DESCRIPTOR.services_by_name["PlanningService"].full_name,
        ),
        ServiceBinding(
            signals_pb2_grpc.add_SignalServiceServicer_to_server,
            # The dossier opened from a signal goes through IntakeService's OpenDossier.
            SignalServicer(
                ScopedPool(ctx.pool),
                ctx.temporal,
                reference.load(ctx.settings.env),
                servicer,
                signal_settings(ctx.settings),
            ),
            signals_pb2.DESCRIPTOR.services_by_name["SignalService"].full_name,
        ),
        ServiceBinding(
            collective_pb2_grpc.add_CollectiveServiceServicer_to_server,
            CollectiveServicer(ScopedPool(ctx.pool), reference.load(ctx.settings.env)),
            collective_pb2.DESCRIPTOR.services_by_name["CollectiveService"].full_name,
        ),
        ServiceBinding(
            aides_pb2_grpc.add_AidServiceServicer_to_server,
            AidServicer(
                ScopedPool(ctx.pool),
                ctx.temporal,
                reference.load(ctx.settings.env),
                aid_settings(ctx.settings),
            ),
            aides_pb2.DESCRIPTOR.services_by_name["AidService"].full_name,
        ),
        ServiceBinding(
            documents_pb2_grpc.add_DocumentServiceServicer_to_server,
            DocumentServicer(ScopedPool(ctx.pool), reference.load(ctx.settings.env), ctx.settings),
            documents_pb2.DESCRIPTOR.services_by_name["DocumentService"].full_name,
        ),
    ]


def timers(settings: Settings) -> LifecycleTimers:
    """The deployment's lifecycle durations (ENTRAIDE_<NAME>_S), defaults in docs/domain.md."""
    defaults = LifecycleTimers()
    return LifecycleTimers(
        urgent_ecoute_s=settings.seconds("urgent_ecoute", defaults.urgent_ecoute_s),
        suivi_reminder_s=settings.seconds("suivi_reminder", defaults.suivi_reminder_s),
        closure_proposal_s=settings.seconds("closure_proposal", defaults.closure_proposal_s),
        reopen_delay_s=settings.seconds("reopen_delay", defaults.reopen_delay_s),
        max_steps_per_run=int(settings.env.get("ENTRAIDE_MAX_STEPS_PER_RUN", defaults.max_steps_per_run)),
    )


def appointment_timers(settings: Settings) -> AppointmentTimers:
    """The appointments' reminder and no-show delays (ENTRAIDE_APPOINTMENT_*_S, docs/planning.md)."""
    defaults = AppointmentTimers()
    return AppointmentTimers(
        reminder_s=settings.seconds("appointment_reminder", defaults.reminder_s),
        second_reminder_s=settings.seconds("appointment_second_reminder", defaults.second_reminder_s),
        no_show_grace_s=settings.seconds("appointment_no_show_grace", defaults.no_show_grace_s),
    )


def _activities(ctx: ServiceContext) -> list[object]:
    activities = IntakeActivities(ctx.pool, reference.load(ctx.settings.env))
    gate = ReferralGate(ctx.pool)
    starts = ImportStartActivities(ctx.pool, ctx.temporal, timers(ctx.settings))
    notices = NoticeActivities(ctx.pool, reference.load(ctx.settings.env))
    return [
        activities.record_dossier_opened,
        activities.record_transition,
        gate.check_referral_consent,
        starts.start_imported_dossiers,
        *retention_activities(ctx),
        notices.queue_person_message,
        notices.propose_no_show,
        SignalActivities(ctx.pool).escalate_signal,
        DocumentRetention(
            ctx.pool, reference.load(ctx.settings.env), store_from_env(ctx.settings.env)
        ).purge_documents,
        AidActivities(ctx.pool).aid_deadline_passed,
    ]


async def _on_start(ctx: ServiceContext) -> None:
    await ensure_retention_schedule(ctx)
    # Dossiers' free-text sites of before (migration 012) whose text names a site.
    await map_legacy_sites(ctx.pool, reference.load(ctx.settings.env))


SPEC = ServiceSpec(
    task_queue=INTAKE_TASK_QUEUE,
    name="intake",
    schema=SCHEMA,
    migrations_dir=Path(__file__).parent / "migrations",
    bindings=_bindings,
    activities=_activities,  # type: ignore[arg-type]
    on_start=_on_start,
    loops=notice_sender.service_loops,
    access_rules={
        **RULES,
        **PLANNING_RULES,
        **SIGNAL_RULES,
        **COLLECTIVE_RULES,
        **AID_RULES,
        **DOCUMENT_RULES,
    },
)
