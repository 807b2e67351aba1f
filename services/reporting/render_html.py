"""The bilan as a readable French HTML document: one self-contained file (inline CSS
and SVG bar charts, no external assets), printable (A4, no page break inside a table)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from html import escape
from math import ceil
from zoneinfo import ZoneInfo

from entraide.v1 import reporting_pb2

from domain.money import format_euros

PARIS = ZoneInfo("Europe/Paris")
CSS = """
body { font-family: system-ui, 'Segoe UI', Arial, sans-serif; color: #1b1b1b; margin: 2rem auto;
       max-width: 60rem; line-height: 1.45; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; } h2 { font-size: 1.2rem; margin-top: 2rem;
       border-bottom: 2px solid #000091; color: #000091; }
.sub { color: #555; margin-top: 0; }
.cards { display: flex; gap: 1rem; flex-wrap: wrap; }
.card { border: 1px solid #ccc; border-radius: 6px; padding: .6rem 1rem; min-width: 11rem; }
.card b { display: block; font-size: 1.6rem; } .card small { color: #555; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0 1rem; page-break-inside: avoid; }
th, td { border-bottom: 1px solid #ddd; padding: .25rem .5rem; text-align: left; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
svg { max-width: 100%; height: auto; page-break-inside: avoid; }
.note { color: #555; font-size: .9rem; }
@media print { body { margin: 0; max-width: none; font-size: 10pt; } h2 { page-break-after: avoid; }
  @page { size: A4; margin: 15mm; } }
"""


# French number formatting: a narrow no-break space between thousands (12 345), a
# decimal comma and a no-break space before a unit (47,4 %, 3,5 j).
def _number(value: int) -> str:
    return f"{value:,}".replace(",", "\u202f")


def _decimal(value: float) -> str:
    text = f"{value:,.1f}".replace(",", "\u202f").replace(".", ",")
    return "0,0" if text == "-0,0" else text.replace("-", "−")


def _percent(value: float) -> str:
    return _decimal(value) + "\u00a0%"


def _days(seconds: float) -> str:
    return _decimal(seconds / 86400) + "\u00a0j"


def _evolution(current: int, previous: int) -> str:
    if previous == 0:
        return "—"
    change = _decimal(100.0 * (current - previous) / previous)
    return ("" if change.startswith("−") or change == "0,0" else "+") + change + "\u00a0%"


def partner_label(partner: reporting_pb2.PartnerFigures) -> str:
    """The partner's name; its id when no event carried a name (older bilans: `name`)."""
    return partner.partner_name or partner.name or partner.partner_id


def _date(stamp: datetime) -> str:
    return stamp.astimezone(PARIS).strftime("%d/%m/%Y")


# Bar charts lay their text out from an estimated width, nothing is measured: a
# character is taken as CHAR_EM times the font size, more than the average advance of
# mixed-case French text and numbers in the usual sans-serif fonts (about 0.5 em in
# Arial, 0.6 em in DejaVu Sans), so a label or a value never runs past its room.
FONT_PX = 12
CHAR_EM = 0.7
LINE_PX = 15  # between two lines of a wrapped label
ROW_PX = 24  # height of a one-line row
BAR_PX = 16
LABEL_MAX_PX = 300  # longer labels wrap onto several lines
CHART_PX = 360  # length of the longest bar
GAP_PX = 6
EDGE_PX = 4


def text_width(text: str, font_px: float = FONT_PX) -> float:
    """The room given to `text`: its characters times CHAR_EM times the font size."""
    return len(text) * CHAR_EM * font_px


def _pieces(word: str, max_chars: int) -> list[str]:
    """A word cut where it may break (after a hyphen or slash), then every `max_chars`."""
    if len(word) <= max_chars:
        return [word]
    pieces = re.findall(r"[^-/]+[-/]*|[-/]+", word)
    return [p[i : i + max_chars] for p in pieces for i in range(0, len(p), max_chars)]


def wrap(text: str, max_chars: int) -> list[str]:
    """`text` on lines of at most `max_chars` characters, broken at spaces (never at a
    no-break space) or inside a word too long for a line; only blanks are dropped."""
    lines: list[str] = []
    line = ""
    for word in re.split(r"[ \t\r\n]+", text):
        if word.isspace() or not word:
            continue  # nothing to see
        for i, piece in enumerate(_pieces(word, max_chars)):
            joined = line + (" " if i == 0 and line else "") + piece
            if len(joined) <= max_chars or not line:
                line = joined
            else:
                lines.append(line)
                line = piece
    return [*lines, line] if line else lines or [""]


def bar_chart(title: str, bars: Sequence[tuple[str, float, str]]) -> str:
    """A horizontal bar chart as inline SVG: (label, value, value text) per bar. The
    label column is as wide as the longest label line (long labels wrap), and room for
    the longest value text is kept right of the longest bar: no text is ever cut."""
    if not bars:
        return ""
    char_px = CHAR_EM * FONT_PX
    max_chars = max(1, int(LABEL_MAX_PX // char_px))
    labels = [wrap(label, max_chars) for label, _, _ in bars]
    label_px = max(text_width(line) for lines in labels for line in lines)
    value_px = max(text_width(text) for _, _, text in bars)
    bar_x = EDGE_PX + label_px + GAP_PX
    width = bar_x + CHART_PX + GAP_PX + value_px + EDGE_PX
    top = max(value for _, value, _ in bars) or 1.0
    rows = []
    y = EDGE_PX
    for lines, (_, value, text) in zip(labels, bars, strict=True):
        row = max(ROW_PX, len(lines) * LINE_PX + ROW_PX - LINE_PX)
        middle = y + row / 2
        baseline = middle + 0.35 * FONT_PX  # the middle of a digit's height
        bar_w = max(1.0, CHART_PX * value / top) if value > 0 else 0.0
        first = baseline - (len(lines) - 1) * LINE_PX / 2
        spans = "".join(
            f'<tspan x="{bar_x - GAP_PX:.1f}" y="{first + i * LINE_PX:.1f}">{escape(line)}</tspan>'
            for i, line in enumerate(lines)
        )
        rows.append(
            f'<text text-anchor="end" font-size="{FONT_PX}">{spans}</text>'
            f'<rect x="{bar_x:.1f}" y="{middle - BAR_PX / 2:.1f}" width="{bar_w:.1f}" height="{BAR_PX}" '
            'fill="#000091"/>'
            f'<text x="{bar_x + bar_w + GAP_PX:.1f}" y="{baseline:.1f}" font-size="{FONT_PX}">'
            f"{escape(text)}</text>"
        )
        y += row
    height = y + EDGE_PX
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(title)}" '
        f'width="{ceil(width)}" height="{ceil(height)}" viewBox="0 0 {ceil(width)} {ceil(height)}">'
        f"<title>{escape(title)}</title>{''.join(rows)}</svg>"
    )


def _share_section(title: str, total_label: str, shares: Sequence[reporting_pb2.Share]) -> str:
    if not shares:
        return f"<h2>{escape(title)}</h2><p class='note'>Aucune donnée sur la période.</p>"
    chart = bar_chart(
        title, [(s.label, float(s.count), f"{_number(s.count)} ({_percent(s.percent)})") for s in shares]
    )
    rows = "".join(
        f"<tr><td>{escape(s.label)}</td><td class='n'>{_number(s.count)}</td>"
        f"<td class='n'>{_percent(s.percent)}</td><td class='n'>{_number(s.previous_count)}</td>"
        f"<td class='n'>{_evolution(s.count, s.previous_count)}</td></tr>"
        for s in shares
    )
    return (
        f"<h2>{escape(title)}</h2>{chart}<table><thead><tr><th>{escape(total_label)}</th>"
        "<th class='n'>Nombre</th><th class='n'>Part</th><th class='n'>Période précédente</th>"
        "<th class='n'>Évolution</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )


def _activity_table(
    title: str, column: str, shares: Sequence[reporting_pb2.ActivityShare], visits: int
) -> str:
    """A share of the permanences' activity: a bar chart of the visits and its table."""
    if not shares:
        return ""
    chart = bar_chart(
        title,
        [
            (
                s.label,
                float(s.visits),
                f"{_number(s.visits)} ({_percent(100.0 * s.visits / visits if visits else 0)})",
            )
            for s in shares
        ],
    )
    rows = "".join(
        f"<tr><td>{escape(s.label)}</td><td class='n'>{_number(s.appointments)}</td>"
        f"<td class='n'>{_number(s.visits)}</td><td class='n'>{_number(s.no_shows)}</td>"
        f"<td class='n'>{_percent(s.no_show_rate)}</td><td class='n'>{_number(s.previous_visits)}</td>"
        f"<td class='n'>{_evolution(s.visits, s.previous_visits)}</td></tr>"
        for s in shares
    )
    return (
        f"<h2>{escape(title)}</h2>{chart}<table><thead><tr><th>{escape(column)}</th>"
        "<th class='n'>Rendez-vous</th><th class='n'>Visites</th><th class='n'>Absences</th>"
        "<th class='n'>Taux d'absence</th><th class='n'>Visites période précédente</th>"
        "<th class='n'>Évolution des visites</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )


def _activity_section(a: reporting_pb2.ActivityFigures) -> str:
    """The permanences' appointments and visits (nothing but a note when there were none)."""
    html = "<h2>Permanences\u00a0: rendez-vous et visites</h2>"
    if not (a.appointments or a.previous_appointments):
        return html + "<p class='note'>Aucun rendez-vous sur la période.</p>"
    cards = [
        ("Rendez-vous", a.appointments, a.previous_appointments),
        ("Visites", a.visits, a.previous_visits),
        ("Absences", a.no_shows, a.previous_no_shows),
    ]
    html += (
        "<div class='cards'>"
        + "".join(
            f"<div class='card'><small>{label}</small><b>{_number(now)}</b>"
            f"<small>période précédente\u00a0: {_number(before)} ({_evolution(now, before)})</small></div>"
            for label, now, before in cards
        )
        + f"<div class='card'><small>Taux d'absence</small><b>{_percent(a.no_show_rate)}</b>"
        f"<small>dont {_number(a.excused_no_shows)} absences excusées</small></div>"
        f"<div class='card'><small>Venues sans rendez-vous</small><b>{_number(a.walk_ins)}</b>"
        "<small>reçues à la permanence</small></div></div>"
        "<p class='note'>Rendez-vous\u00a0: rendez-vous commençant dans la période, hors annulés "
        "(venues sans rendez-vous comprises)\u202f; visites\u00a0: personnes arrivées ou reçues\u202f; "
        "taux d'absence\u00a0: absences (excusées comprises) sur visites et absences.</p>"
    )
    return (
        html
        + _activity_table("Visites par catégorie de permanence", "Catégorie", a.by_category, a.visits)
        + _activity_table("Visites par partenaire", "Partenaire", a.by_partner, a.visits)
        + _activity_table("Visites par lieu d'accueil", "Lieu", a.by_site, a.visits)
    )


def _cards(cards: Sequence[tuple[str, str, str]]) -> str:
    return (
        "<div class='cards'>"
        + "".join(
            f"<div class='card'><small>{escape(label)}</small><b>{value}</b><small>{note}</small></div>"
            for label, value, note in cards
        )
        + "</div>"
    )


def _before(now: int, before: int) -> str:
    return f"période précédente\u00a0: {_number(before)} ({_evolution(now, before)})"


def _collective_section(c: reporting_pb2.CollectiveFigures) -> str:
    """The collective actions' sessions, participants, attendance, goals and outcomes."""
    html = "<h2>Actions collectives</h2>"
    if not (c.sessions_held or c.previous_sessions_held or c.by_outcome):
        return html + "<p class='note'>Aucune séance collective sur la période.</p>"
    html += _cards(
        [
            ("Séances tenues", _number(c.sessions_held), _before(c.sessions_held, c.previous_sessions_held)),
            ("Participants", _number(c.participants), _before(c.participants, c.previous_participants)),
            (
                "Taux de présence",
                _percent(c.attendance_rate),
                f"{_number(c.presences)} présences, {_number(c.absences)} absences",
            ),
            (
                "Objectifs atteints",
                _number(c.goals_reached),
                f"{_number(c.goals_given_up)} abandonnés, {_number(c.goals_set)} fixés",
            ),
            ("Liste d'attente", _number(c.waiting_list), "inscriptions en attente d'une place"),
        ]
    ) + (
        "<p class='note'>Participants\u00a0: personnes distinctes inscrites (hors liste d'attente) à une "
        "action ayant tenu une séance dans la période, comptées une fois même inscrites dans plusieurs "
        "communes\u202f; taux de présence\u00a0: présences sur présences et absences (excusées "
        "comprises).</p>"
    )
    if c.by_outcome:
        html += _share_section("Suite pour les participants", "Suite", c.by_outcome)
    return html


def _signals_section(s: reporting_pb2.SignalFigures) -> str:
    """The signals received ("aller vers") and what became of them."""
    html = "<h2>Signalements (aller vers)</h2>"
    if not (s.received or s.previous_received):
        return html + "<p class='note'>Aucun signalement sur la période.</p>"
    html += _cards(
        [
            ("Signalements reçus", _number(s.received), _before(s.received, s.previous_received)),
            ("Qualifiés", _number(s.qualified), "par un agent du CIAS"),
            ("Dossiers ouverts", _number(s.dossiers_opened), "personnes contactées"),
            ("Non qualifiés dans le délai", _number(s.escalated), "délai de qualification dépassé"),
        ]
    )
    return (
        html
        + _share_section("Signalements par commune", "Commune", s.by_commune)
        + _share_section("Signalements par signalant", "Signalant", s.by_signaller)
        + _share_section("Signalements par statut", "Statut", s.by_status)
    )


def _aid_table(title: str, column: str, rows: Sequence[reporting_pb2.AidBreakdown]) -> str:
    if not rows:
        return ""
    body = "".join(
        f"<tr><td>{escape(b.label)}</td><td class='n'>{_number(b.requests)}</td>"
        f"<td class='n'>{_number(b.granted)}</td><td class='n'>{_number(b.postponed)}</td>"
        f"<td class='n'>{_number(b.refused)}</td><td class='n'>{format_euros(b.asked_cents)}</td>"
        f"<td class='n'>{format_euros(b.granted_cents)}</td>"
        f"<td class='n'>{format_euros(b.paid_cents)}</td></tr>"
        for b in rows
    )
    return (
        f"<h2>{escape(title)}</h2><table><thead><tr><th>{escape(column)}</th>"
        "<th class='n'>Demandes</th><th class='n'>Accords</th><th class='n'>Ajournements</th>"
        "<th class='n'>Refus</th><th class='n'>Demandé</th><th class='n'>Accordé</th>"
        f"<th class='n'>Payé</th></tr></thead><tbody>{body}</tbody></table>"
    )


def _budget_lines(lines: Sequence[reporting_pb2.BudgetLineFigures]) -> str:
    if not lines:
        return ""
    body = "".join(
        f"<tr><td>{escape(b.label)} ({b.year})</td><td class='n'>{format_euros(b.envelope_cents)}</td>"
        f"<td class='n'>{format_euros(b.committed_cents)}</td><td class='n'>{format_euros(b.paid_cents)}</td>"
        f"<td class='n'>{format_euros(b.remaining_cents)}</td></tr>"
        for b in lines
    )
    return (
        "<h2>Lignes budgétaires</h2><table><thead><tr><th>Ligne</th><th class='n'>Enveloppe</th>"
        "<th class='n'>Engagé</th><th class='n'>Payé</th><th class='n'>Disponible</th></tr></thead>"
        f"<tbody>{body}</tbody></table><p class='note'>Engagé : montants accordés sur la ligne, "
        "paiements annulés déduits, à la fin de la période ; un disponible négatif vient d'un "
        "dépassement autorisé par un responsable.</p>"
    )


def _aides_section(a: reporting_pb2.AidFigures) -> str:
    """The CCAS's own aid: requests, decisions, amounts, breakdowns, refusals, budget lines."""
    html = "<h2>Aides facultatives</h2>"
    if not (a.requests or a.granted or a.refused or a.postponed or a.paid_cents or a.budget_lines):
        return html + "<p class='note'>Aucune demande d'aide sur la période.</p>"
    html += _cards(
        [
            ("Demandes", _number(a.requests), f"{_number(a.households)} foyers demandeurs"),
            ("Accordées", _number(a.granted), f"dont {_number(a.urgent)} décisions en urgence"),
            (
                "Refusées",
                _number(a.refused),
                f"{_number(a.postponed)} ajournées, {_number(a.withdrawn)} retirées",
            ),
            ("Montant accordé", format_euros(a.granted_cents), f"demandé : {format_euros(a.asked_cents)}"),
            ("Montant payé", format_euros(a.paid_cents), "paiements effectués dans la période"),
            (
                "Microcrédits",
                _number(a.loans),
                f"{format_euros(a.loan_cents)}, {_number(a.loan_incidents)} incidents",
            ),
        ]
    ) + (
        "<p class='note'>Demandes : déposées dans la période ; décisions et montants accordés : "
        "décisions prises dans la période (une demande ajournée puis décidée compte dans chacune) ; "
        "montants payés : paiements effectués dans la période ; foyers comptés une fois.</p>"
    )
    html += _aid_table("Aides par type", "Type d'aide", a.by_type)
    html += _aid_table("Aides par commune", "Commune", a.by_commune)
    html += _aid_table("Aides par mois", "Mois", a.by_month)
    if a.refusal_reasons:
        html += _share_section("Motifs de refus", "Motif", a.refusal_reasons)
    return html + _budget_lines(a.budget_lines)


def render(bilan: reporting_pb2.Bilan) -> bytes:
    start = getattr(bilan, "from").ToDatetime(tzinfo=UTC)
    end = bilan.to.ToDatetime(tzinfo=UTC)
    last_day = end - timedelta(seconds=1)
    communes = ", ".join(bilan.territory_labels) or "—"
    cards = [
        ("Personnes reçues", bilan.people_received, bilan.previous_people_received),
        ("Dossiers ouverts", bilan.dossiers_opened, bilan.previous_dossiers_opened),
        ("Dossiers réglés", bilan.dossiers_solved, bilan.previous_dossiers_solved),
        ("Dossiers clôturés", bilan.dossiers_closed, bilan.previous_dossiers_closed),
    ]
    card_html = "".join(
        f"<div class='card'><small>{label}</small><b>{_number(now)}</b>"
        f"<small>période précédente\u00a0: {_number(before)} ({_evolution(now, before)})</small></div>"
        for label, now, before in cards
    )
    people_note = (
        "<p class='note'>Personnes reçues\u00a0: personnes distinctes ayant ouvert au moins un dossier "
        "dans la période (doublons fusionnés comptés une fois)\u202f; un dossier ouvert sans personne "
        "enregistrée compte pour une personne.</p>"
    )
    durations = [d for d in bilan.stage_durations if d.dossiers]
    duration_html = "<h2>Durée passée dans chaque étape</h2>"
    if durations:
        duration_html += bar_chart(
            "Durée médiane par étape (jours)",
            [(d.label, d.median_s, _days(d.median_s)) for d in durations],
        )
        duration_html += (
            "<table><thead><tr><th>Étape</th><th class='n'>Dossiers</th><th class='n'>Médiane</th>"
            "<th class='n'>90e centile</th></tr></thead><tbody>"
            + "".join(
                f"<tr><td>{escape(d.label)}</td><td class='n'>{_number(d.dossiers)}</td>"
                f"<td class='n'>{_days(d.median_s)}</td><td class='n'>{_days(d.p90_s)}</td></tr>"
                for d in durations
            )
            + "</tbody></table>"
        )
    else:
        duration_html += "<p class='note'>Aucune donnée sur la période.</p>"
    partner_html = "<h2>Partenaires\u00a0: orientations et délais</h2>"
    if bilan.partners:
        partner_html += (
            "<table><thead><tr><th>Partenaire</th><th class='n'>Orientations</th><th class='n'>Acceptées</th>"
            "<th class='n'>Réalisées</th><th class='n'>Refusées</th><th class='n'>Expirées</th>"
            "<th class='n'>Délai de réponse (médiane)</th><th class='n'>Délai de réalisation (médiane)</th>"
            "</tr></thead><tbody>"
            + "".join(
                f"<tr><td>{escape(partner_label(p))}</td><td class='n'>{_number(p.referrals)}</td>"
                f"<td class='n'>{_number(p.accepted)}</td><td class='n'>{_number(p.completed)}</td>"
                f"<td class='n'>{_number(p.rejected)}</td><td class='n'>{_number(p.expired)}</td>"
                f"<td class='n'>{_days(p.median_response_s)}</td>"
                f"<td class='n'>{_days(p.median_completion_s) if p.completed else '—'}</td></tr>"
                for p in bilan.partners
            )
            + "</tbody></table>"
        )
    else:
        partner_html += "<p class='note'>Aucune orientation vers un partenaire sur la période.</p>"
    body = (
        f"<h1>Bilan d'activité</h1><p class='sub'>Du {_date(start)} au {_date(last_day)} inclus — "
        f"{escape(communes)}</p>"
        f"<h2>Synthèse</h2><div class='cards'>{card_html}</div>{people_note}"
        + _share_section("Motifs de la demande", "Motif", bilan.by_motif)
        + "<p class='note'>Un dossier peut porter plusieurs motifs\u00a0: "
        "les parts peuvent dépasser 100\u00a0% au total.</p>"
        + _share_section("Répartition par commune", "Commune", bilan.by_commune)
        + _share_section("Canal d'arrivée", "Canal", bilan.by_channel)
        + _share_section("Issue des dossiers clôturés", "Issue", bilan.by_outcome)
        + duration_html
        + partner_html
        + _activity_section(bilan.activity)
        + _collective_section(bilan.collective)
        + _signals_section(bilan.signals)
        + _aides_section(bilan.aides)
        + f"<p class='note'>Document produit le {_date(datetime.now(UTC))} par Entraide, à partir des "
        "événements de l'activité\u00a0: aucune donnée nominative.</p>"
    )
    html = (
        '<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Bilan d'activité du {_date(start)} au {_date(last_day)}</title><style>{CSS}</style></head>"
        f"<body>{body}</body></html>"
    )
    return html.encode("utf-8")
