"""Who may call each ReportingService method: aggregates only, no personal data."""

from __future__ import annotations

from kernel.access import Rule, rule
from kernel.auth import Role

AGGREGATES = (Role.ELU, Role.RESPONSABLE, Role.OPS, Role.TRAVAILLEUR_SOCIAL, Role.ACCUEIL)

RULES: dict[str, Rule] = {
    "GetMotifCounts": rule(*AGGREGATES),
}
