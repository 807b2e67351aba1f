"""PlanningService, served by the intake process beside IntakeService (persons and
dossiers live there)."""

from __future__ import annotations

from entraide.v1 import planning_pb2_grpc
from temporalio.client import Client

from kernel.db import ScopedPool
from kernel.reference import ReferenceData
from services.intake.planning.appointments_api import AppointmentHandlers
from services.intake.planning.contacts_api import ContactHandlers
from services.intake.planning.permanences_api import PermanenceHandlers
from workflows.contracts import AppointmentTimers


class PlanningServicer(
    PermanenceHandlers, AppointmentHandlers, ContactHandlers, planning_pb2_grpc.PlanningServiceServicer
):
    def __init__(
        self, pool: ScopedPool, temporal: Client, reference: ReferenceData, timers: AppointmentTimers
    ) -> None:
        self.pool = pool
        self.temporal = temporal
        self.reference = reference
        self.timers = timers
