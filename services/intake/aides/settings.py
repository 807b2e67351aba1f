"""The deployment's settings for aid requests: each step's deadline (domain.aides
defaults, in days; ENTRAIDE_AID_<STEP>_S in seconds overrides, for tests and demos)."""

from __future__ import annotations

from dataclasses import dataclass

from domain.aides import (
    DEFAULT_AID_DOCUMENT_RETENTION_DAYS,
    DEFAULT_COMMISSION_DAYS,
    DEFAULT_INSTRUCTION_DAYS,
    DEFAULT_PAYMENT_DAYS,
)
from kernel.settings import Settings

DAY_S = 86_400


@dataclass(frozen=True)
class AidSettings:
    instruction_s: int = DEFAULT_INSTRUCTION_DAYS * DAY_S
    commission_s: int = DEFAULT_COMMISSION_DAYS * DAY_S
    payment_s: int = DEFAULT_PAYMENT_DAYS * DAY_S
    # The court the decision letters name for an appeal (ENTRAIDE_APPEAL_COURT).
    appeal_court: str = "tribunal administratif de Nancy"
    # Days an aid request's documents are kept after its decision.
    document_retention_days: int = DEFAULT_AID_DOCUMENT_RETENTION_DAYS


def aid_settings(settings: Settings) -> AidSettings:
    defaults = AidSettings()
    return AidSettings(
        instruction_s=int(settings.seconds("aid_instruction", defaults.instruction_s)),
        commission_s=int(settings.seconds("aid_commission", defaults.commission_s)),
        payment_s=int(settings.seconds("aid_payment", defaults.payment_s)),
        appeal_court=settings.env.get("ENTRAIDE_APPEAL_COURT") or defaults.appeal_court,
        document_retention_days=int(
            settings.env.get("ENTRAIDE_AID_DOCUMENT_RETENTION_DAYS") or defaults.document_retention_days
        ),
    )
