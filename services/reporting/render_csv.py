"""The bilan as CSV for a spreadsheet: UTF-8 with BOM (Excel), `;` separator,
French headers and decimal commas; one table, one row per figure (the permanences'
activity last: its totals, then visits, appointments and no-shows by partner, category
and site, the percentage being the share of the visits or the no-show rate; then the
collective actions and the signals, their totals and their shares; then the CCAS's own
aid: counts in « Nombre », amounts in euros with a decimal comma, by aid type, commune
and month, refusal reasons and budget lines)."""

from __future__ import annotations

import csv
import io
from typing import Any

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
    _activity(writer, bilan.activity)
    _collective(writer, bilan.collective)
    _signals(writer, bilan.signals)
    _aides(writer, bilan.aides)
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _activity(writer: Any, activity: reporting_pb2.ActivityFigures) -> None:
    """The permanences' appointments and visits: the totals, then by partner, category, site."""
    a = activity
    section = "Activité des permanences"
    for code, label, count, percent, previous in (
        ("rendez_vous", "Rendez-vous (hors annulés)", a.appointments, "", a.previous_appointments),
        ("visites", "Visites", a.visits, "", a.previous_visits),
        ("evolution_visites", "Évolution des visites (%)", "", _decimal(a.visits_growth), ""),
        ("absences", "Absences (excusées comprises)", a.no_shows, "", a.previous_no_shows),
        ("absences_excusees", "Absences excusées", a.excused_no_shows, "", ""),
        ("taux_absence", "Taux d'absence (%)", "", _decimal(a.no_show_rate), ""),
        ("venues_sans_rendez_vous", "Venues sans rendez-vous", a.walk_ins, "", ""),
    ):
        writer.writerow([section, code, label, count, percent, previous, "", ""])
    for dimension, shares in (
        ("par partenaire", a.by_partner),
        ("par catégorie", a.by_category),
        ("par lieu", a.by_site),
    ):
        for share in shares:
            of_visits = _decimal(100.0 * share.visits / a.visits) if a.visits else ""
            rate = _decimal(share.no_show_rate)
            for rubric, count, percent, previous in (
                (f"Visites {dimension}", share.visits, of_visits, share.previous_visits),
                (f"Rendez-vous {dimension}", share.appointments, "", ""),
                (f"Absences {dimension}", share.no_shows, rate, ""),
            ):
                writer.writerow([rubric, share.code, share.label, count, percent, previous, "", ""])


def _share_rows(writer: Any, section: str, shares: Any) -> None:
    for s in shares:
        writer.writerow([section, s.code, s.label, s.count, _decimal(s.percent), s.previous_count, "", ""])


def _collective(writer: Any, c: reporting_pb2.CollectiveFigures) -> None:
    """The collective actions' sessions, participants, attendance, goals, then outcomes."""
    section = "Actions collectives"
    for code, label, count, percent, previous in (
        ("seances_tenues", "Séances tenues", c.sessions_held, "", c.previous_sessions_held),
        ("participants", "Participants (personnes distinctes)", c.participants, "", c.previous_participants),
        ("presences", "Présences", c.presences, "", ""),
        ("absences", "Absences (excusées comprises)", c.absences, "", ""),
        ("taux_presence", "Taux de présence (%)", "", _decimal(c.attendance_rate), ""),
        ("objectifs_fixes", "Objectifs fixés", c.goals_set, "", ""),
        ("objectifs_atteints", "Objectifs atteints", c.goals_reached, "", ""),
        ("objectifs_abandonnes", "Objectifs abandonnés", c.goals_given_up, "", ""),
        ("liste_attente", "Sur liste d'attente", c.waiting_list, "", ""),
    ):
        writer.writerow([section, code, label, count, percent, previous, "", ""])
    _share_rows(writer, "Suite des participants", c.by_outcome)


def _signals(writer: Any, s: reporting_pb2.SignalFigures) -> None:
    """The signals received and what became of them, then by commune, signaller, status."""
    section = "Signalements"
    for code, label, count, previous in (
        ("signalements_recus", "Signalements reçus", s.received, s.previous_received),
        ("signalements_qualifies", "Signalements qualifiés", s.qualified, ""),
        ("dossiers_ouverts", "Dossiers ouverts à partir d'un signalement", s.dossiers_opened, ""),
        ("signalements_relances", "Signalements non qualifiés dans le délai", s.escalated, ""),
    ):
        writer.writerow([section, code, label, count, "", previous, "", ""])
    _share_rows(writer, "Signalements par commune", s.by_commune)
    _share_rows(writer, "Signalements par signalant", s.by_signaller)
    _share_rows(writer, "Signalements par statut", s.by_status)


def _euros(cents: int) -> str:
    """Euros with a decimal comma and no thousands separator (a spreadsheet reads it)."""
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}{whole},{part:02d}"


def _aides(writer: Any, a: reporting_pb2.AidFigures) -> None:
    """The aid requests, decisions and amounts; by type, commune and month; refusal
    reasons; each budget line's envelope, committed, paid and remaining."""
    section = "Aides facultatives"
    for code, label, value in (
        ("demandes", "Demandes déposées", a.requests),
        ("foyers", "Foyers demandeurs (distincts)", a.households),
        ("accordees", "Décisions d'accord", a.granted),
        ("ajournees", "Décisions d'ajournement", a.postponed),
        ("refusees", "Décisions de refus", a.refused),
        ("urgentes", "Décisions en urgence (hors commission)", a.urgent),
        ("retirees", "Demandes retirées", a.withdrawn),
        ("montant_demande", "Montant demandé (€)", _euros(a.asked_cents)),
        ("montant_accorde", "Montant accordé (€)", _euros(a.granted_cents)),
        ("montant_paye", "Montant payé (€)", _euros(a.paid_cents)),
        ("microcredits", "Microcrédits mis en place", a.loans),
        ("montant_microcredits", "Montant des microcrédits (€)", _euros(a.loan_cents)),
        ("incidents_microcredit", "Incidents de remboursement", a.loan_incidents),
    ):
        writer.writerow([section, code, label, value, "", "", "", ""])
    for title, rows in (("type", a.by_type), ("commune", a.by_commune), ("mois", a.by_month)):
        for b in rows:
            for rubric, value in (
                ("demandes", b.requests),
                ("accords", b.granted),
                ("ajournements", b.postponed),
                ("refus", b.refused),
                ("montant demandé", _euros(b.asked_cents)),
                ("montant accordé", _euros(b.granted_cents)),
                ("montant payé", _euros(b.paid_cents)),
            ):
                writer.writerow([f"Aides par {title} : {rubric}", b.code, b.label, value, "", "", "", ""])
    _share_rows(writer, "Motifs de refus", a.refusal_reasons)
    for line in a.budget_lines:
        label = f"{line.label} ({line.year})"
        for rubric, cents in (
            ("enveloppe", line.envelope_cents),
            ("engagé", line.committed_cents),
            ("payé", line.paid_cents),
            ("disponible", line.remaining_cents),
        ):
            writer.writerow(
                [f"Ligne budgétaire : {rubric}", line.budget_line_id, label, _euros(cents), "", "", "", ""]
            )
