"""French labels of the bilan (reference data for codes, fixed texts for the rest)."""

from __future__ import annotations

from domain.labels_fr import (
    MONTHS_FR,
    PARTICIPANT_OUTCOME_LABELS,
    SIGNAL_STATUS_LABELS,
    SIGNALLER_KIND_LABELS,
)
from kernel.reference import ReferenceData

STAGE_LABELS = {
    "reception": "Accueil → écoute",
    "ecoute": "Écoute",
    "orientation": "Orientation",
    "suivi": "Suivi",
    "total": "Ouverture → clôture",
    "cloture": "Clôturé",
}


class Labels:
    def __init__(self, reference: ReferenceData) -> None:
        self.reference = reference

    def motif(self, code: str) -> str:
        return self.reference.motifs.get(code, code or "non renseigné")

    def commune(self, code: str) -> str:
        return self.reference.territories.get(code, code or "non renseignée")

    def channel(self, code: str) -> str:
        return self.reference.arrival_channels.get(code, code or "non renseigné")

    def outcome(self, code: str) -> str:
        return self.reference.closure_outcomes.get(code, code or "non renseignée")

    def stage(self, code: str) -> str:
        return STAGE_LABELS.get(code, code)

    def category(self, code: str) -> str:
        return self.reference.partner_categories.get(code, code or "non renseignée")

    def site(self, code: str) -> str:
        site = self.reference.sites.get(code)
        return site.label if site else code or "non renseigné"

    def participant_outcome(self, code: str) -> str:
        return PARTICIPANT_OUTCOME_LABELS.get(code, code or "non renseignée")

    def signaller_kind(self, code: str) -> str:
        return SIGNALLER_KIND_LABELS.get(code, code or "non renseigné")

    def signal_status(self, code: str) -> str:
        return SIGNAL_STATUS_LABELS.get(code, code)

    def aid_type(self, code: str) -> str:
        aid = self.reference.aid_types.get(code)
        return aid.label if aid else code or "non renseigné"

    def refusal_reason(self, code: str) -> str:
        return self.reference.aid_refusal_reasons.get(code, code or "non renseigné")

    @staticmethod
    def month(code: str) -> str:
        """« mars 2031 » for "2031-03"."""
        year, _, month = code.partition("-")
        if not (year.isdigit() and month.isdigit() and 1 <= int(month) <= 12):
            return code
        return f"{MONTHS_FR[int(month) - 1]} {year}"
