"""The bilan page's collective actions and signals sections (services/console/
bilan_outreach.py and templates/bilan_outreach.html), rendered without servers: a table
of totals with the previous period and a table per breakdown, with the service's labels;
only the heading and one sentence when the period had nothing to count."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from entraide.v1 import reporting_pb2

from devstack.synthetic import bar_le_duc, outreach_oracle
from devstack.synthetic.outreach import generate_outreach_year
from kernel import reference
from services.console.bilan import _figures, _formatters
from services.console.templating import make_environment

START, END = datetime(2013, 12, 31, 23, tzinfo=UTC), datetime(2014, 12, 31, 23, tzinfo=UTC)


def render(bilan: reporting_pb2.Bilan) -> str:
    template = make_environment({}).get_template("bilan_outreach.html")
    return re.sub(r"\s+", " ", template.render(**_figures(bilan), **_formatters()))


def bilan_of(collective: bool) -> reporting_pb2.Bilan:
    bilan = reporting_pb2.Bilan()
    getattr(bilan, "from").FromDatetime(START)
    bilan.to.FromDatetime(END)
    if collective:
        year = generate_outreach_year(1, year=2014)
        communes = list(bar_le_duc.COMMUNES)
        bilan.collective.CopyFrom(outreach_oracle.collective([year], communes, START, END))
        bilan.signals.CopyFrom(outreach_oracle.signals([year], communes, START, END, reference.load({})))
    return bilan


def test_the_sections_show_the_totals_and_a_table_per_breakdown() -> None:
    bilan = bilan_of(True)
    html = render(bilan)
    c, s = bilan.collective, bilan.signals
    assert f'<th scope="row">Séances tenues</th><td>{c.sessions_held}</td><td>0</td>' in html
    assert f'<th scope="row">Participants</th><td>{c.participants}</td>' in html
    assert f'<th scope="row">Signalements reçus</th><td>{s.received}</td>' in html
    for key in (
        "collectif-suites",
        "signalements-communes",
        "signalements-signalants",
        "signalements-statuts",
    ):
        assert f'<table id="{key}-donnees">' in html
    assert html.count('<th scope="row">') == 9 + 4 + len(c.by_outcome) + len(s.by_commune) + len(
        s.by_signaller
    ) + len(s.by_status)
    assert "Savonnières-devant-Bar" in html and "secrétaire de mairie" in html


def test_nothing_to_count_is_one_sentence_each() -> None:
    html = render(bilan_of(False))
    assert (
        '<h2 id="collectif-section">Actions collectives</h2> <p>Aucune séance collective sur la période.</p>'
        in html
    )
    assert "<p>Aucun signalement sur la période.</p>" in html and "<table" not in html
