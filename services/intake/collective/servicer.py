"""CollectiveService, served by the intake process beside IntakeService (persons and
dossiers live there)."""

from __future__ import annotations

from entraide.v1 import collective_pb2_grpc

from kernel.db import ScopedPool
from kernel.reference import ReferenceData
from services.intake.collective.participants_api import ParticipantHandlers


class CollectiveServicer(ParticipantHandlers, collective_pb2_grpc.CollectiveServiceServicer):
    def __init__(self, pool: ScopedPool, reference: ReferenceData) -> None:
        self.pool = pool
        self.reference = reference
