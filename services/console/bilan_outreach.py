"""The bilan page's collective actions and signals sections (Bilan.collective and
Bilan.signals): the totals with the previous period's, then the outcomes of the
participants and the signals by commune, by signaller and by status, each a table.
A section is shown when its period or the one before it had something to count, else
its heading and one sentence (as the service's HTML document). Every figure and label
is the reporting service's."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from entraide.v1 import reporting_pb2


@dataclass(frozen=True)
class ShareTable:
    """One breakdown of a section: its heading, its table's caption and first column."""

    key: str
    title: str
    column: str
    shares: Sequence[reporting_pb2.Share]
    caption: str
    empty: str


def outreach(bilan: reporting_pb2.Bilan) -> dict[str, object]:
    """What the template shows of the collective actions and signals."""
    c, s = bilan.collective, bilan.signals
    shown = c.sessions_held or c.previous_sessions_held or c.by_outcome
    return {
        "collective": c if shown else None,
        "collective_tables": [
            ShareTable(
                "collectif-suites",
                "Suite pour les participants",
                "Suite",
                c.by_outcome,
                "Suites enregistrées pour les participants",
                "Aucune suite enregistrée sur la période.",
            )
        ],
        "signals": s if s.received or s.previous_received else None,
        "signal_tables": [
            ShareTable(
                "signalements-communes",
                "Par commune",
                "Commune",
                s.by_commune,
                "Signalements reçus par commune",
                "Aucun signalement sur la période.",
            ),
            ShareTable(
                "signalements-signalants",
                "Par signalant",
                "Signalant",
                s.by_signaller,
                "Signalements reçus par type de signalant",
                "Aucun signalement sur la période.",
            ),
            ShareTable(
                "signalements-statuts",
                "Par statut",
                "Statut",
                s.by_status,
                "Signalements reçus selon leur qualification",
                "Aucun signalement sur la période.",
            ),
        ],
    }
