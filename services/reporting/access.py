"""Who may call each ReportingService method: aggregates only, no personal data."""

from __future__ import annotations

from kernel.access import Rule, rule
from kernel.auth import Role

AGGREGATES = (Role.ELU, Role.RESPONSABLE, Role.OPS, Role.TRAVAILLEUR_SOCIAL, Role.ACCUEIL)
# The bilan goes to the board and elected officials: not to case workers or partners.
BILAN = (Role.ELU, Role.RESPONSABLE, Role.OPS)
OPS = (Role.OPS, Role.RESPONSABLE)

RULES: dict[str, Rule] = {
    "GetMotifCounts": rule(*AGGREGATES, action="consulter les chiffres par motif"),
    "GetBilan": rule(*BILAN, action="consulter le bilan d'activité"),
    "ExportBilan": rule(*BILAN, action="exporter le bilan d'activité"),
    "GetOpsOverview": rule(*OPS, action="consulter le tableau de bord d'exploitation"),
}
