"""The bilan page's section on the CCAS's aid (Bilan.aides): requests, decisions and
amounts asked, granted and paid, by aid type, commune and month, the refusal reasons,
the micro-credits and each budget line's consumption. Every figure and label is the
reporting service's; amounts are cents, written the French way (domain.money). Shown
when the period has an aid request, a decision, a payment or a budget line, else its
heading and one sentence."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from entraide.v1 import reporting_pb2

from domain.labels_fr import MONTHS_FR


@dataclass(frozen=True)
class AidTable:
    key: str
    title: str
    column: str
    rows: Sequence[reporting_pb2.AidBreakdown]
    caption: str


def month_label(code: str, label: str) -> str:
    """« mars 2031 » for "2031-03" (when the service gives no label)."""
    if label:
        return label
    try:
        year, month = code.split("-")
        return f"{MONTHS_FR[int(month) - 1]} {year}"
    except (ValueError, IndexError):
        return code


def aides(bilan: reporting_pb2.Bilan) -> dict[str, object]:
    a = bilan.aides
    shown = a.requests or a.granted or a.refused or a.postponed or a.paid_cents or a.budget_lines
    return {
        "aides": a if shown else None,
        "aid_tables": [
            AidTable(
                "aides-types", "Par type d'aide", "Aide", a.by_type, "Demandes et montants par type d'aide"
            ),
            AidTable(
                "aides-communes", "Par commune", "Commune", a.by_commune, "Demandes et montants par commune"
            ),
            AidTable("aides-mois", "Par mois", "Mois", a.by_month, "Demandes et montants par mois"),
        ],
        "month_label": month_label,
    }
