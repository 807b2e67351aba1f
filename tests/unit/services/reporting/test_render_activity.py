"""The permanences' activity in the bilan's documents, without servers: French headers
and numbers in the CSV, a French section with its charts (every text inside) and tables
in the HTML, a plain note when there was no appointment."""

from __future__ import annotations

import csv
import io
from html import escape

from entraide.v1 import reporting_pb2

from devstack.synthetic import dijon
from kernel import reference
from services.reporting import render_csv, render_html
from tests.unit.services.reporting.test_render_html import assert_svg_text_fits, sample_bilan

REFERENCE = reference.load({})


def share(code: str, label: str, visits: int, previous: int) -> reporting_pb2.ActivityShare:
    no_shows = visits // 9
    return reporting_pb2.ActivityShare(
        code=code,
        label=label,
        appointments=visits + no_shows + 3,
        visits=visits,
        no_shows=no_shows,
        no_show_rate=round(100.0 * no_shows / (visits + no_shows), 1),
        previous_visits=previous,
        visits_growth=round(100.0 * (visits - previous) / previous, 1) if previous else 0.0,
    )


def with_activity() -> reporting_pb2.Bilan:
    bilan = sample_bilan()
    partners = [share(p.host_id, p.name, 400 - 17 * i, 380 - 11 * i) for i, p in enumerate(dijon.PARTNERS)]
    categories = [
        share(c, label, 900 - 60 * i, 0 if i == 3 else 850)
        for i, (c, label) in enumerate(REFERENCE.partner_categories.items())
    ]
    bilan.activity.CopyFrom(
        reporting_pb2.ActivityFigures(
            appointments=6703,
            visits=6000,
            no_shows=667,
            excused_no_shows=200,
            no_show_rate=10.0,
            previous_appointments=6414,
            previous_visits=5742,
            previous_no_shows=638,
            visits_growth=4.5,
            walk_ins=240,
            by_partner=partners,
            by_category=categories,
            by_site=[share(dijon.SITE, "Maison de la solidarité de Dijon", 6000, 5742)],
        )
    )
    return bilan


def test_the_csv_has_the_activity_rows() -> None:
    rows = list(
        csv.reader(io.StringIO(render_csv.render(with_activity()).decode("utf-8-sig")), delimiter=";")
    )
    by_key = {(r[0], r[1]): r for r in rows[1:]}
    assert by_key[("Activité des permanences", "rendez_vous")][3:6] == ["6703", "", "6414"]
    assert by_key[("Activité des permanences", "evolution_visites")][4] == "4,5"
    assert by_key[("Activité des permanences", "taux_absence")][4] == "10,0"
    assert by_key[("Activité des permanences", "venues_sans_rendez_vous")][3] == "240"
    caf = by_key[("Visites par partenaire", "caf-21")]
    assert caf[2:6] == ["Caisse d'allocations familiales de la Côte-d'Or", "400", "6,7", "380"]
    assert by_key[("Absences par lieu", dijon.SITE)][3:5] == ["666", "10,0"]
    assert all(len(r) == len(render_csv.HEADERS) for r in rows)
    assert all("." not in cell for row in rows[1:] for cell in row[3:])  # decimal commas


def test_the_html_has_a_french_section_with_charts_that_fit() -> None:
    html = render_html.render(with_activity()).decode("utf-8")
    for heading in (
        "Permanences\u00a0: rendez-vous et visites",
        "Visites par catégorie de permanence",
        "Visites par partenaire",
        "Visites par lieu d'accueil",
    ):
        assert escape(heading) in html
    assert "6\u202f000" in html and "10,0\u00a0%" in html and "+4,5\u00a0%" in html
    assert escape("CRÉSUS Bourgogne-Franche-Comté") in html
    without = render_html.render(sample_bilan()).decode("utf-8")
    assert assert_svg_text_fits(html) == assert_svg_text_fits(without) + 3


def test_no_appointment_no_chart() -> None:
    html = render_html.render(sample_bilan()).decode("utf-8")
    assert "Aucun rendez-vous sur la période." in html and "Visites par partenaire" not in html
