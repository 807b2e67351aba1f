"""French labels of the bilan (reference data for codes, fixed texts for the rest)."""

from __future__ import annotations

from domain.labels_fr import PARTICIPANT_OUTCOME_LABELS, SIGNAL_STATUS_LABELS, SIGNALLER_KIND_LABELS
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
