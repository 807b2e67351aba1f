"""The bilan as CSV for a spreadsheet: UTF-8 with BOM (Excel), `;` separator,
French headers and decimal commas; one table, one row per figure."""

from __future__ import annotations

import csv
import io

from entraide.v1 import reporting_pb2

HEADERS = [
    "Rubrique",
    "Code",
    "Libellé",
    "Nombre",
    "Pourcentage",
    "Période précédente",
    "Médiane (jours)",
    "90e centile (jours)",
]


def _decimal(value: float, digits: int = 1) -> str:
    return f"{value:.{digits}f}".replace(".", ",")


def _days(seconds: float) -> str:
    return _decimal(seconds / 86400, 2)


def _partner_label(partner: reporting_pb2.PartnerFigures) -> str:
    """The partner's name; its id when no event carried a name (older bilans: `name`)."""
    return partner.partner_name or partner.name or partner.partner_id


def render(bilan: reporting_pb2.Bilan) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(HEADERS)
    summary = [
        ("personnes_recues", "Personnes reçues", bilan.people_received, bilan.previous_people_received),
        ("dossiers_ouverts", "Dossiers ouverts", bilan.dossiers_opened, bilan.previous_dossiers_opened),
        ("dossiers_regles", "Dossiers réglés", bilan.dossiers_solved, bilan.previous_dossiers_solved),
        ("dossiers_clotures", "Dossiers clôturés", bilan.dossiers_closed, bilan.previous_dossiers_closed),
    ]
    for code, label, count, previous in summary:
        writer.writerow(["Synthèse", code, label, count, "", previous, "", ""])
    sections = [
        ("Motif", bilan.by_motif),
        ("Commune", bilan.by_commune),
        ("Canal d'arrivée", bilan.by_channel),
        ("Issue de clôture", bilan.by_outcome),
    ]
    for section, shares in sections:
        for share in shares:
            writer.writerow(
                [
                    section,
                    share.code,
                    share.label,
                    share.count,
                    _decimal(share.percent),
                    share.previous_count,
                    "",
                    "",
                ]
            )
    for duration in bilan.stage_durations:
        writer.writerow(
            [
                "Durée par étape",
                duration.stage,
                duration.label,
                duration.dossiers,
                "",
                "",
                _days(duration.median_s),
                _days(duration.p90_s),
            ]
        )
    for partner in bilan.partners:
        label = _partner_label(partner)
        writer.writerow(
            ["Partenaire : orientations", partner.partner_id, label, partner.referrals, "", "", "", ""]
        )
        writer.writerow(
            [
                "Partenaire : délai de réponse",
                partner.partner_id,
                label,
                partner.referrals,
                "",
                "",
                _days(partner.median_response_s),
                "",
            ]
        )
        writer.writerow(
            [
                "Partenaire : délai de réalisation",
                partner.partner_id,
                label,
                partner.completed,
                "",
                "",
                _days(partner.median_completion_s) if partner.completed else "",
                "",
            ]
        )
    return ("\ufeff" + out.getvalue()).encode("utf-8")
