"""The collective actions and signals in the bilan's documents and in `entraide bilan`,
without servers: French rows in the CSV, French sections with their tables in the HTML,
French lines in the CLI, a plain note (one line) when there was nothing to count."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from entraide.v1 import reporting_pb2

from devstack.synthetic import bar_le_duc, outreach_oracle
from devstack.synthetic.outreach import generate_outreach_year
from entraide_cli.render import render_text
from kernel import reference
from services.reporting import render_csv, render_html
from tests.unit.services.reporting.test_render_html import sample_bilan

START, END = datetime(2013, 12, 31, 23, tzinfo=UTC), datetime(2014, 12, 31, 23, tzinfo=UTC)


def with_outreach() -> reporting_pb2.Bilan:
    bilan = sample_bilan()
    year = generate_outreach_year(1, year=2014)
    communes = list(bar_le_duc.COMMUNES)
    bilan.collective.CopyFrom(outreach_oracle.collective([year], communes, START, END))
    bilan.signals.CopyFrom(outreach_oracle.signals([year], communes, START, END, reference.load({})))
    return bilan


def rows(bilan: reporting_pb2.Bilan) -> list[list[str]]:
    return list(csv.reader(io.StringIO(render_csv.render(bilan).decode("utf-8-sig")), delimiter=";"))


def test_csv_rows_of_the_collective_actions_and_signals() -> None:
    bilan = with_outreach()
    c, s = bilan.collective, bilan.signals
    out = rows(bilan)
    by_code = {(r[0], r[1]): r for r in out}
    assert by_code[("Actions collectives", "seances_tenues")][3] == str(c.sessions_held)
    assert by_code[("Actions collectives", "participants")][2:4] == [
        "Participants (personnes distinctes)",
        str(c.participants),
    ]
    rate = by_code[("Actions collectives", "taux_presence")][4]
    assert rate == f"{c.attendance_rate:.1f}".replace(".", ",")
    assert by_code[("Signalements", "signalements_recus")][3] == str(s.received)
    assert by_code[("Signalements", "dossiers_ouverts")][3] == str(s.dossiers_opened)
    communes = [r for r in out if r[0] == "Signalements par commune"]
    assert len(communes) == 15 and sum(int(r[3]) for r in communes) == s.received
    assert {r[2] for r in out if r[0] == "Signalements par signalant"} == {
        "élu référent",
        "secrétaire de mairie",
        "agent du CIAS",
    }
    assert [r[1] for r in out if r[0] == "Suite des participants"] == [o.code for o in c.by_outcome]
    assert all(len(r) == len(render_csv.HEADERS) for r in out)


def test_html_sections_of_the_collective_actions_and_signals() -> None:
    html = render_html.render(with_outreach()).decode()
    for text in (
        "<h2>Actions collectives</h2>",
        "Séances tenues",
        "Taux de présence",
        "<h2>Suite pour les participants</h2>",
        "<h2>Signalements (aller vers)</h2>",
        "<h2>Signalements par commune</h2>",
        "Savonnières-devant-Bar",
        "secrétaire de mairie",
        "personne contactée (dossier ouvert)",
    ):
        assert text in html, text
    empty = render_html.render(sample_bilan()).decode()
    assert "Aucune séance collective sur la période." in empty
    assert "Aucun signalement sur la période." in empty


def test_cli_lines_of_the_collective_actions_and_signals() -> None:
    bilan = with_outreach()
    text = render_text(bilan)
    assert f"  Séances tenues : {bilan.collective.sessions_held} (période précédente : 0)" in text
    assert "Signalements :" in text and "  Par commune :" in text and "Savonnières-devant-Bar" in text
    empty = render_text(sample_bilan())
    assert "Actions collectives : aucune séance sur la période" in empty
    assert "Signalements : aucun signalement sur la période" in empty
