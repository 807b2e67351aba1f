"""The bilan as a readable French HTML document: one self-contained file (inline CSS
and SVG bar charts, no external assets), printable (A4, no page break inside a table)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from html import escape
from zoneinfo import ZoneInfo

from entraide.v1 import reporting_pb2

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


def _number(value: int) -> str:
    return f"{value:,}".replace(",", "\u202f")


def _percent(value: float) -> str:
    return f"{value:.1f}".replace(".", ",") + "\u00a0%"


def _days(seconds: float) -> str:
    return f"{seconds / 86400:.1f}".replace(".", ",") + "\u00a0j"


def _evolution(current: int, previous: int) -> str:
    if previous == 0:
        return "—"
    change = 100.0 * (current - previous) / previous
    sign = "+" if change >= 0 else "−"
    return f"{sign}{abs(change):.1f}".replace(".", ",") + "\u00a0%"


def _date(stamp: datetime) -> str:
    return stamp.astimezone(PARIS).strftime("%d/%m/%Y")


def bar_chart(title: str, bars: Sequence[tuple[str, float, str]]) -> str:
    """A horizontal bar chart as inline SVG: (label, value, value text) per bar."""
    if not bars:
        return ""
    row, label_w, chart_w = 24, 260, 380
    height = row * len(bars) + 10
    top = max(value for _, value, _ in bars) or 1.0
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(title)}" '
        f'width="{label_w + chart_w + 80}" height="{height}" '
        f'viewBox="0 0 {label_w + chart_w + 80} {height}">',
        f"<title>{escape(title)}</title>",
    ]
    for i, (label, value, text) in enumerate(bars):
        y = 5 + i * row
        width = max(1.0, chart_w * value / top) if value else 0.0
        short = label if len(label) <= 40 else label[:39] + "…"
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 16}" text-anchor="end" font-size="12">{escape(short)}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{width:.1f}" height="{row - 8}" fill="#000091"/>'
            f'<text x="{label_w + width + 4:.1f}" y="{y + 16}" font-size="12">{escape(text)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


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
        f"<small>période précédente : {_number(before)} ({_evolution(now, before)})</small></div>"
        for label, now, before in cards
    )
    people_note = (
        "<p class='note'>Personnes reçues : personnes distinctes ayant ouvert au moins un dossier "
        "dans la période (doublons fusionnés comptés une fois) ; un dossier ouvert sans personne "
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
    partner_html = "<h2>Partenaires : orientations et délais</h2>"
    if bilan.partners:
        partner_html += (
            "<table><thead><tr><th>Partenaire</th><th class='n'>Orientations</th><th class='n'>Acceptées</th>"
            "<th class='n'>Réalisées</th><th class='n'>Refusées</th><th class='n'>Expirées</th>"
            "<th class='n'>Délai de réponse (médiane)</th><th class='n'>Délai de réalisation (médiane)</th>"
            "</tr></thead><tbody>"
            + "".join(
                f"<tr><td>{escape(p.name)}</td><td class='n'>{_number(p.referrals)}</td>"
                f"<td class='n'>{_number(p.accepted)}</td><td class='n'>{_number(p.completed)}</td>"
                f"<td class='n'>{_number(p.rejected)}</td><td class='n'>{_number(p.expired)}</td>"
                f"<td class='n'>{_days(p.median_response_s)}</td>"
                f"<td class='n'>{_days(p.median_completion_s)}</td></tr>"
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
        + "<p class='note'>Un dossier peut porter plusieurs motifs : "
        "les parts peuvent dépasser 100 % au total.</p>"
        + _share_section("Répartition par commune", "Commune", bilan.by_commune)
        + _share_section("Canal d'arrivée", "Canal", bilan.by_channel)
        + _share_section("Issue des dossiers clôturés", "Issue", bilan.by_outcome)
        + duration_html
        + partner_html
        + f"<p class='note'>Document produit le {_date(datetime.now(UTC))} par Entraide, à partir des "
        "événements de l'activité : aucune donnée nominative.</p>"
    )
    html = (
        '<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Bilan d'activité du {_date(start)} au {_date(last_day)}</title><style>{CSS}</style></head>"
        f"<body>{body}</body></html>"
    )
    return html.encode("utf-8")
