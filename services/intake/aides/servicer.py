"""AidService, served by the intake process beside IntakeService (dossiers and persons
live there): the mixins of each group of methods over their shared base (base.py)."""

from __future__ import annotations

from entraide.v1 import aides_pb2_grpc
from temporalio.client import Client

from kernel.db import ScopedPool
from kernel.reference import ReferenceData
from services.intake.aides.budget_api import BudgetHandlers
from services.intake.aides.commissions_api import CommissionHandlers
from services.intake.aides.decisions_api import DecisionHandlers
from services.intake.aides.letters_api import LetterHandlers
from services.intake.aides.loans_api import LoanHandlers
from services.intake.aides.requests_api import RequestHandlers
from services.intake.aides.settings import AidSettings


class AidServicer(
    RequestHandlers,
    CommissionHandlers,
    DecisionHandlers,
    BudgetHandlers,
    LoanHandlers,
    LetterHandlers,
    aides_pb2_grpc.AidServiceServicer,
):
    def __init__(
        self, pool: ScopedPool, temporal: Client, reference: ReferenceData, settings: AidSettings
    ) -> None:
        self.pool = pool
        self.temporal = temporal
        self.reference = reference
        self.settings = settings
