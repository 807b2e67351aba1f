"""The CCAS's aid in the bilan's documents and in `entraide bilan`, without servers:
French rows with euros to the cent in the CSV, French sections and tables in the HTML,
French lines in the CLI (euros the French way), one note when there was nothing."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from entraide.v1 import reporting_pb2

from devstack.synthetic import aides, aides_oracle
from devstack.synthetic.aides import generate_aid_year
from domain.money import format_euros
from entraide_cli.render import render_text
from kernel import reference
from services.reporting import render_csv, render_html
from tests.unit.services.reporting.test_render_html import sample_bilan

START, END = datetime(2029, 12, 31, 23, tzinfo=UTC), datetime(2030, 12, 31, 23, tzinfo=UTC)


def with_aides() -> reporting_pb2.Bilan:
    bilan = sample_bilan()
    year = generate_aid_year(1, year=2030)
    bilan.aides.CopyFrom(aides_oracle.figures([year], list(aides.COMMUNES), START, END, reference.load({})))
    return bilan


def test_csv_rows_of_the_aides() -> None:
    bilan = with_aides()
    a = bilan.aides
    out = list(csv.reader(io.StringIO(render_csv.render(bilan).decode("utf-8-sig")), delimiter=";"))
    by_code = {(r[0], r[1]): r for r in out}
    assert by_code[("Aides facultatives", "demandes")][3] == str(a.requests)
    assert by_code[("Aides facultatives", "montant_accorde")][2:4] == [
        "Montant accordé (€)",
        f"{a.granted_cents // 100},{a.granted_cents % 100:02d}",
    ]
    types = [r for r in out if r[0] == "Aides par type : demandes"]
    assert [r[1] for r in types] == [b.code for b in a.by_type]
    assert sum(int(r[3]) for r in types) == a.requests
    assert [r[1] for r in out if r[0] == "Motifs de refus"] == [s.code for s in a.refusal_reasons]
    assert len([r for r in out if r[0] == "Ligne budgétaire : disponible"]) == len(a.budget_lines)
    negative = [r for r in out if r[0] == "Ligne budgétaire : disponible" and r[3].startswith("-")]
    assert negative  # an override
    assert all(len(r) == len(render_csv.HEADERS) for r in out)


def test_html_section_of_the_aides() -> None:
    bilan = with_aides()
    html = render_html.render(bilan).decode("utf-8")
    for heading in ("Aides facultatives", "Aides par type", "Aides par commune", "Aides par mois"):
        assert f"<h2>{heading}</h2>" in html
    assert "<h2>Motifs de refus</h2>" in html and "<h2>Lignes budgétaires</h2>" in html
    assert format_euros(bilan.aides.granted_cents) in html and "Ligny-en-Barrois" in html
    assert "mars 2030" in html and "Aide au loyer (impayés)" in html


def test_cli_lines_of_the_aides() -> None:
    bilan = with_aides()
    text = render_text(bilan)
    a = bilan.aides
    assert "Aides facultatives :" in text
    assert f"Montant accordé : {format_euros(a.granted_cents)}, payé : {format_euros(a.paid_cents)}" in text
    assert "Lignes budgétaires :" in text and "Motifs de refus :" in text


def test_nothing_to_count_is_one_sentence() -> None:
    bilan = sample_bilan()
    bilan.ClearField("aides")
    assert "Aides facultatives : aucune demande sur la période" in render_text(bilan)
    assert "Aucune demande d'aide sur la période." in render_html.render(bilan).decode("utf-8")
    rows = render_csv.render(bilan).decode("utf-8-sig")
    assert "Aides facultatives;demandes;Demandes déposées;0" in rows
