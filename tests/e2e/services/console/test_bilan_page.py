"""The bilan page for élus and responsables, on the real stack: the reporting
projection fed with known events (Bar-le-Duc, 2013 and the year before), the page shows
the service's figures exactly, each chart an accessible SVG followed by its data table
with the same numbers, the permanences' appointments and visits among them (their totals,
by partner category with its chart, by partner, by site; one sentence for communes
without any); the CSV and HTML exports download; refusals are French; an élu reaches
no dossier; the page passes axe-core in Chromium."""

from __future__ import annotations

import csv
import html
import io
import re
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import httpx2 as httpx
import pytest
from entraide.v1 import intake_pb2

from devstack.synthetic import outreach_events as ev
from domain.collective import EnrolmentStatus as E
from domain.collective import GoalStatus as G
from domain.collective import ParticipantOutcome as O
from domain.planning import AppointmentStatus, HostKind
from domain.signals import SignallerKind as K
from domain.signals import SignalStatus
from kernel.events import Event
from kernel.settings import Settings
from tests.conftest import AppStack
from tests.e2e.services.console import browser
from tests.e2e.services.console.conftest import AGENTS, BAR, LIGNY, Console
from tests.e2e.services.console.helpers import create_person
from tests.e2e.services.console.helpers import intake as intake  # the fixture: intake as a responsable
from tests.reporting_events import (
    Dossier,
    appointment_booked,
    appointment_cancelled,
    appointment_place,
    attendance_recorded,
    drained,
    publish,
    referral_events,
    shuffled,
)

if TYPE_CHECKING:
    from entraide.v1.intake_pb2_grpc import IntakeServiceAsyncStub as Stub

SVG = "{http://www.w3.org/2000/svg}"
PERIOD = "du=2013-01-01&au=2013-12-31"
NBSP = "\u00a0"
# 2013 in Bar-le-Duc: 27 dossiers of 24 persons (3 came twice), 9 solved and 2 closed
# without a solution; 2012 (the previous period): 13 dossiers, 13 persons, 5 solved.
MOTIFS_2013 = ["logement"] * 17 + ["famille"] * 6 + ["emploi"] * 4
CHANNELS_2013 = ["visite_spontanee"] * 12 + ["telephone"] * 10 + ["rendez_vous"] * 5
OUTCOMES_2013 = ["regle"] * 9 + ["sans_solution"] * 2
# The permanences of Bar-le-Duc in 2013: (host, partner, category, site, status, walk-in).
# The ADIL holds 4 appointments at the CIAS (2 seen, 2 no-shows, one excused); Crésus 2
# at the antenne (one cancelled: not counted); the élu 2 (one a walk-in); an agent one
# with nothing recorded. In 2012: the ADIL 2 visits, the élu 1.
CIAS, ANTENNE = "ccas-bar-le-duc", "antenne-cote-sainte-catherine"
ADIL = (HostKind.PARTENAIRE, "adil-55", "ADIL de la Meuse", "logement")
CRESUS = (HostKind.PARTENAIRE, "cresus-55", "Crésus Lorraine", "budget_endettement")
ELU = (HostKind.ELU, "", "", "")
AGENT = (HostKind.AGENT, "", "", "")
S = AppointmentStatus
APPOINTMENTS = {
    2013: [
        (ADIL, CIAS, S.SEEN, False),
        (ADIL, CIAS, S.SEEN, False),
        (ADIL, CIAS, S.NO_SHOW, False),
        (ADIL, CIAS, S.NO_SHOW_EXCUSED, False),
        (CRESUS, ANTENNE, S.ARRIVED, False),
        (CRESUS, ANTENNE, S.CANCELLED, False),
        (ELU, CIAS, S.SEEN, False),
        (ELU, CIAS, S.SEEN, True),
        (AGENT, CIAS, S.BOOKED, False),
    ],
    2012: [(ADIL, CIAS, S.SEEN, False), (ADIL, CIAS, S.SEEN, False), (ELU, CIAS, S.SEEN, False)],
}


def appointment_events() -> list[Event]:
    """The booking of each appointment of APPOINTMENTS, then what was recorded of it."""
    events: list[Event] = []
    for year, appointments in APPOINTMENTS.items():
        for i, ((host_kind, partner_id, partner_name, category), site, status, walk_in) in enumerate(
            appointments
        ):
            appointment_id = str(uuid.uuid4())
            starts = datetime(year, 4, 2, 8, tzinfo=UTC) + timedelta(days=7 * i)
            place = appointment_place(
                starts,
                territory=BAR,
                site=site,
                room="bureau-1" if site == CIAS else "salle-reunion",
                host_kind=host_kind,
                partner_id=partner_id,
                partner_name=partner_name,
                category=category,
            )
            booked = starts if walk_in else starts - timedelta(days=5)
            events.append(appointment_booked(appointment_id, place, booked, walk_in=walk_in))
            if status == S.CANCELLED:
                events.append(
                    appointment_cancelled(appointment_id, starts - timedelta(days=1), territory=BAR)
                )
            elif status != S.BOOKED:
                events.append(attendance_recorded(appointment_id, status, starts, territory=BAR))
    return events


@pytest.fixture(scope="module")
async def seeded(app_stack: AppStack, settings: Settings) -> None:
    persons = [str(uuid.uuid4()) for _ in range(24)]
    year = [
        Dossier(
            BAR,
            [motif],
            datetime(2013, 2, 1, 10, tzinfo=UTC) + timedelta(days=9 * i),
            channel=CHANNELS_2013[i],
            outcome=OUTCOMES_2013[i] if i < len(OUTCOMES_2013) else "",
            # Persons 0, 1 and 2 come back at the end of the year.
            person_id=persons[i] if i < 24 else persons[i - 24],
        )
        for i, motif in enumerate(MOTIFS_2013)
    ]
    before = [
        Dossier(
            BAR,
            ["logement"],
            datetime(2012, 3, 1, 10, tzinfo=UTC) + timedelta(days=15 * i),
            channel="telephone",
            outcome="regle" if i < 5 else "",
            person_id=str(uuid.uuid4()),
        )
        for i in range(13)
    ]
    events = [e for d in year + before for e in d.events()]
    events += referral_events(
        year[0], "caf-meuse", [("requested", 0), ("received", 24), ("completed", 96)], "CAF de la Meuse"
    )
    events += appointment_events()
    await publish(settings, shuffled(events))
    await drained(settings)


def squeezed(text: str) -> str:
    """Blanks collapsed (no-break spaces kept: they are part of the French numbers)."""
    return re.sub(r"[ \t\r\n]+", " ", text).strip(" \t\r\n")


@dataclass
class Table:
    id: str
    caption: str = ""
    rows: list[list[str]] = field(default_factory=list)


class Tables(HTMLParser):
    """The page's tables (caption, rows of cell texts) and SVG charts (as XML)."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[Table] = []
        self.h1 = 0
        self._table: Table | None = None
        self._cell: list[str] | None = None
        self._caption = False
        self.feed(text)
        # The SVG is XML: read as such, it shows what a screen reader and a browser get.
        self.svgs = [ET.fromstring(m) for m in re.findall(r"<svg\b.*?</svg>", text, re.S)]
        self.order = [
            (m.group(1) or "", m.group(2) or "")
            for m in re.finditer(r'<svg[^>]* id="([^"]+)"|<table id="([^"]+)"', text)
        ]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "h1":
            self.h1 += 1
        elif tag == "table":
            self._table = Table(dict(attrs).get("id") or "")
            self.tables.append(self._table)
        elif tag == "caption":
            self._caption = True
        elif tag == "tr" and self._table is not None:
            self._table.rows.append([])
        elif tag in ("th", "td") and self._table is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._table = None
        elif tag == "caption":
            self._caption = False
        elif tag in ("th", "td") and self._table is not None and self._cell is not None:
            self._table.rows[-1].append(squeezed("".join(self._cell)))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._caption and self._table is not None:
            self._table.caption += data
        elif self._cell is not None:
            self._cell.append(data)

    def table(self, table_id: str) -> Table:
        found = [t for t in self.tables if t.id == table_id]
        assert found, f"no table {table_id}: {[t.id for t in self.tables]}"
        return found[0]


def body(table: Table) -> dict[str, list[str]]:
    return {row[0]: row[1:] for row in table.rows[1:]}


def chart_texts(svg: ET.Element) -> list[str]:
    # A long label wraps onto several <tspan> lines: read as one text.
    return [" ".join(squeezed(x) for x in t.itertext() if x.strip()) for t in svg.iter(f"{SVG}text")]


def percent(text: str) -> str:
    return f"{text}{NBSP}%"


def paris_today() -> date:
    return datetime.now(ZoneInfo("Europe/Paris")).date()


def days(text: str) -> str:
    return f"{text}{NBSP}j"


async def test_the_page_shows_the_services_figures_with_charts_and_their_tables(
    seeded: None, signed_in: dict[str, httpx.Client]
) -> None:
    reply = signed_in["elu"].get(f"/bilan?{PERIOD}")
    assert reply.status_code == 200, reply.text
    page = Tables(reply.text)
    text = html.unescape(reply.text)
    assert page.h1 == 1
    assert "Du 01/01/2013 au 31/12/2013 inclus — Bar-le-Duc" in text
    assert "<title>Bilan d'activité du 01/01/2013 au 31/12/2013" in text

    synthesis = next(t for t in page.tables if t.caption.startswith("Synthèse"))
    assert body(synthesis) == {
        "Personnes reçues": ["24", "13"],
        "Dossiers ouverts": ["27", "13"],
        "Dossiers réglés": ["9", "5"],
        "Dossiers clôturés": ["11", "5"],
    }
    expected = {
        "graphique-motifs": {
            "Logement / hébergement": ["17", percent("63,0"), "13"],
            "Famille (conflits, séparation, violences)": ["6", percent("22,2"), "0"],
            "Emploi": ["4", percent("14,8"), "0"],
        },
        "graphique-communes": {"Bar-le-Duc": ["27", percent("100,0"), "13"]},
        "graphique-canaux": {
            "Visite spontanée": ["12", percent("44,4"), "0"],
            "Téléphone": ["10", percent("37,0"), "13"],
            "Rendez-vous": ["5", percent("18,5"), "0"],
        },
        "graphique-issues": {
            "Réglé : une solution a été trouvée": ["9", percent("81,8"), "5"],
            "Aucune solution trouvée": ["2", percent("18,2"), "0"],
        },
    }
    charts = {svg.get("id"): svg for svg in page.svgs}
    assert set(charts) == {
        *expected,
        "graphique-durees",
        "graphique-partenaires",
        "graphique-activite-categories",
    }
    for chart_id, rows in expected.items():
        table = page.table(f"{chart_id}-donnees")
        assert body(table) == rows, chart_id
        # The chart draws the table's numbers: "17 (63,0 %)" next to its bar.
        texts = chart_texts(charts[chart_id])
        for label, (count, share, _) in rows.items():
            assert label in " ".join(texts)
            assert f"{count} ({share})" in texts, (chart_id, texts)

    durations = body(page.table("graphique-durees-donnees"))
    assert durations["Accueil → écoute"] == ["27", days("1,0"), days("1,0")]
    assert durations["Suivi"] == ["11", days("1,0"), days("1,0")]
    assert durations["Ouverture → clôture"] == ["11", days("4,0"), days("4,0")]
    assert days("1,0") in chart_texts(charts["graphique-durees"])
    partners = body(page.table("graphique-partenaires-donnees"))
    assert partners == {"CAF de la Meuse": ["1", "0", "1", "0", "0", days("1,0"), days("4,0")]}
    assert days("1,0") in chart_texts(charts["graphique-partenaires"])

    # Every chart: an image labelled by its own <title>, then the table of its figures.
    for svg in page.svgs:
        title = svg.find(f"{SVG}title")
        assert svg.get("role") == "img" and title is not None and (title.text or "").strip()
        assert svg.get("aria-labelledby") == title.get("id")
        assert "style" not in svg.attrib and all("style" not in e.attrib for e in svg.iter())
        at = page.order.index((svg.get("id") or "", ""))
        assert page.order[at + 1] == ("", f"{svg.get('id')}-donnees")
    for table in page.tables:
        assert table.caption.strip()
    assert 'scope="col"' in reply.text and 'scope="row"' in reply.text
    # Aggregates only: nothing on the page leads to a dossier or a person.
    assert "/dossiers" not in reply.text and "/personnes" not in reply.text
    # The exports, with the same filters.
    assert 'href="/bilan/export?du=2013-01-01&amp;au=2013-12-31&amp;format=csv"' in reply.text
    assert "Télécharger en CSV" in text and "Télécharger la page HTML" in text


async def test_the_permanences_appointments_and_visits_are_shown(
    seeded: None, signed_in: dict[str, httpx.Client]
) -> None:
    reply = signed_in["elu"].get(f"/bilan?{PERIOD}")
    assert reply.status_code == 200, reply.text
    page = Tables(reply.text)
    section = html.unescape(reply.text).split('<h2 id="activite-section">')[1]
    assert section.startswith("Permanences et rendez-vous</h2>")
    no_previous = "—aucune visite sur la période précédente"
    assert body(page.table("activite-synthese")) == {
        "Rendez-vous": ["8", "3"],
        "Visites": ["5", "3"],
        "Absences": ["2", "0"],
        "dont absences excusées": ["1", "—non disponible"],
        "Taux d'absence": [percent("28,6"), "—non disponible"],
        "Venues sans rendez-vous": ["1", "—non disponible"],
        "Évolution des visites sur la période précédente": [f"+{percent('66,7')}", "—sans objet"],
    }
    # Columns: appointments, visits, share of the visits, no-shows, no-show rate,
    # previous visits, growth of the visits.
    categories = page.table("graphique-activite-categories-donnees")
    assert categories.caption.startswith("Données du graphique « Visites par catégorie de partenaire »")
    assert categories.rows[0] == [
        "Catégorie",
        "Rendez-vous",
        "Visites",
        "Part des visites",
        "Absences",
        "Taux d'absence",
        "Visites période précédente",
        "Évolution des visites",
    ]
    assert categories.rows[1:] == [
        ["Logement", "4", "2", percent("40,0"), "2", percent("50,0"), "2", percent("0,0")],
        ["Permanences d'élus", "2", "2", percent("40,0"), "0", percent("0,0"), "1", f"+{percent('100,0')}"],
        ["Budget et surendettement", "1", "1", percent("20,0"), "0", percent("0,0"), "0", no_previous],
        ["Agents du CCAS / CIAS", "1", "0", percent("0,0"), "0", percent("0,0"), "0", no_previous],
    ]
    assert body(page.table("activite-partenaires-donnees")) == {
        "ADIL de la Meuse": ["4", "2", percent("40,0"), "2", percent("50,0"), "2", percent("0,0")],
        "Crésus Lorraine": ["1", "1", percent("20,0"), "0", percent("0,0"), "0", no_previous],
    }
    assert body(page.table("activite-sites-donnees")) == {
        "CIAS du Pays Barrois – accueil": [
            "7",
            "4",
            percent("80,0"),
            "2",
            percent("33,3"),
            "3",
            f"+{percent('33,3')}",
        ],
        "Antenne de la Côte Sainte-Catherine": [
            "1",
            "1",
            percent("20,0"),
            "0",
            percent("0,0"),
            "0",
            no_previous,
        ],
    }
    # The chart of the visits by category draws the table's figures, then the table.
    chart = next(svg for svg in page.svgs if svg.get("id") == "graphique-activite-categories")
    texts = chart_texts(chart)
    for label, visits, share in [
        ("Logement", "2", "40,0"),
        ("Permanences d'élus", "2", "40,0"),
        ("Budget et surendettement", "1", "20,0"),
        ("Agents du CCAS / CIAS", "0", "0,0"),
    ]:
        assert label in " ".join(texts) and f"{visits} ({percent(share)})" in texts, texts
    title = chart.find(f"{SVG}title")
    assert title is not None and title.text == "Visites par catégorie de partenaire : nombre de visites"
    at = page.order.index(("graphique-activite-categories", ""))
    assert page.order[at + 1] == ("", "graphique-activite-categories-donnees")

    # A commune without any appointment (Ligny-en-Barrois): the heading and one sentence.
    ligny = signed_in["responsable"].get(f"/bilan?{PERIOD}&communes={LIGNY}")
    assert ligny.status_code == 200, ligny.text
    empty = html.unescape(ligny.text).split('<h2 id="activite-section">')[1].split("</section>")[0]
    assert (
        squeezed(re.sub(r"<[^>]+>", " ", empty))
        == "Permanences et rendez-vous Aucun rendez-vous sur la période."
    )
    assert "activite-synthese" not in ligny.text and "graphique-activite" not in ligny.text


async def test_default_period_quick_links_and_communes(
    seeded: None, signed_in: dict[str, httpx.Client]
) -> None:
    reply = signed_in["elu"].get("/bilan")
    assert reply.status_code == 200, reply.text
    today = paris_today()
    assert f'value="{today.year}-01-01"' in reply.text and f'value="{today.isoformat()}"' in reply.text
    text = html.unescape(reply.text)
    previous_month_end = today.replace(day=1) - timedelta(days=1)
    links = dict(re.findall(r'<a href="(/bilan\?[^"]+)"[^>]*>([^<]+)</a>', text))
    assert links[f"/bilan?du={today.year - 1}-01-01&au={today.year - 1}-12-31"] == "Année précédente"
    assert links[f"/bilan?du={today.year}-01-01&au={today.isoformat()}"] == "Année en cours"
    assert (
        links[
            f"/bilan?du={previous_month_end.replace(day=1).isoformat()}&au={previous_month_end.isoformat()}"
        ]
        == "Mois précédent"
    )
    # The élu's one commune, checked; the responsable's two, and one of them alone.
    assert re.search(r'name="communes" value="55029" checked', reply.text)
    responsable = signed_in["responsable"]
    both = responsable.get(f"/bilan?{PERIOD}")
    assert both.status_code == 200
    assert re.search(r'value="55029" checked', both.text) and re.search(r'value="55291" checked', both.text)
    only_bar = responsable.get(f"/bilan?{PERIOD}&communes={BAR}")
    assert only_bar.status_code == 200
    assert re.search(r'value="55029" checked', only_bar.text)
    assert not re.search(r'value="55291" checked', only_bar.text)
    synthesis = next(t for t in Tables(only_bar.text).tables if t.caption.startswith("Synthèse"))
    assert body(synthesis)["Dossiers ouverts"] == ["27", "13"]


async def test_the_csv_and_html_exports_download(seeded: None, signed_in: dict[str, httpx.Client]) -> None:
    elu = signed_in["elu"]
    reply = elu.get(f"/bilan/export?format=csv&{PERIOD}&communes={BAR}")
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("text/csv")
    assert reply.headers["content-disposition"] == 'attachment; filename="bilan-2013-01-01-2013-12-31.csv"'
    rows = list(csv.reader(io.StringIO(reply.content.decode("utf-8-sig")), delimiter=";"))
    by_key = {(r[0], r[1]): r for r in rows[1:]}
    assert by_key[("Synthèse", "dossiers_ouverts")][3:6] == ["27", "", "13"]
    assert by_key[("Synthèse", "personnes_recues")][3] == "24"
    assert by_key[("Synthèse", "dossiers_regles")][3] == "9"
    assert by_key[("Motif", "logement")][3:6] == ["17", "63,0", "13"]
    assert by_key[("Canal d'arrivée", "telephone")][3:6] == ["10", "37,0", "13"]

    page = elu.get(f"/bilan/export?format=html&{PERIOD}")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["content-disposition"] == 'attachment; filename="bilan-2013-01-01-2013-12-31.html"'
    document = html.unescape(page.text)
    assert "Du 01/01/2013 au 31/12/2013 inclus" in document and "Bar-le-Duc" in document
    assert "<svg" in document

    # A format the service does not make: its French sentence, on the page.
    refused = elu.get(f"/bilan/export?format=pdf&{PERIOD}")
    assert refused.status_code == 400
    assert "« csv » (tableur) ou « html » (page web)" in html.unescape(refused.text)


async def test_refusals_are_french_next_to_their_field(
    seeded: None, signed_in: dict[str, httpx.Client]
) -> None:
    elu = signed_in["elu"]
    # A commune the élu does not work in: the reporting service's refusal.
    other = elu.get(f"/bilan?{PERIOD}&communes=55291")
    assert other.status_code == 403, other.text
    text = html.unescape(other.text)
    assert "« 55291 » ne fait pas partie de vos communes d'intervention" in text
    assert 'id="communes-erreur"' in other.text
    assert "graphique" not in other.text  # no figure of a commune refused
    for url, status, field_name, sentence in [
        ("/bilan?du=2013-12-31&au=2013-01-01", 400, "du", "Le début de la période doit précéder sa fin."),
        ("/bilan?du=&au=2013-01-01", 400, "du", "Un bilan demande une date de début et une date de fin."),
        ("/bilan?du=31/02/2013&au=2013-12-31", 400, "du", "Date de début invalide"),
        ("/bilan?du=2013-01-01&au=0001-01-01", 400, "au", "Date de fin invalide"),
        ("/bilan?du=2001-01-01&au=2013-12-31", 400, "au", "Un bilan couvre au plus dix ans"),
    ]:
        reply = elu.get(url)
        assert reply.status_code == status, (url, reply.text)
        refused = html.unescape(reply.text)
        assert sentence in refused, url
        assert f'id="{field_name}-erreur"' in reply.text and 'aria-invalid="true"' in reply.text, url
        assert "Erreur : " in refused.split("<title>")[1], url
    # The values typed are kept.
    kept = elu.get("/bilan?du=2013-12-31&au=2013-01-01")
    assert 'value="2013-12-31"' in kept.text and 'value="2013-01-01"' in kept.text
    # A dd/mm/yyyy date typed by hand is read as such.
    typed = elu.get("/bilan?du=01/01/2013&au=31/12/2013")
    assert typed.status_code == 200 and "Du 01/01/2013 au 31/12/2013 inclus" in html.unescape(typed.text)
    # A social worker has no bilan: the service refuses the role, the console's 404 page.
    worker = signed_in["ts"].get(f"/bilan?{PERIOD}")
    assert worker.status_code == 404 and "Page introuvable" in worker.text


async def test_an_elu_reaches_no_dossier(
    seeded: None, signed_in: dict[str, httpx.Client], intake: Stub
) -> None:
    person = await create_person(intake)
    opened = await intake.OpenDossier(
        intake_pb2.OpenDossierRequest(
            request_id=uuid.uuid4().hex,
            territory=BAR,
            motifs=["logement"],
            arrival_channel="visite_spontanee",
            person_id=person.person_id,
        ),
        timeout=15,
    )
    dossier_id = opened.dossier.dossier_id
    elu = signed_in["elu"]
    for url in (f"/dossiers/{dossier_id}", f"/personnes/{person.person_id}"):
        reply = elu.get(url)
        assert reply.status_code == 404, (url, reply.status_code)
        text = html.unescape(reply.text)
        assert "Page introuvable" in text and "Cette page n'existe pas, ou vous n'y avez pas accès." in text
        assert "Logement" not in text and person.last_name not in text


def test_the_bilan_passes_axe_core_in_chromium(seeded: None, console: Console) -> None:
    url = f"{console.url}/bilan?{PERIOD}"
    with (
        browser.chromium() as chromium,
        browser.browsing(chromium, console.artefacts / "bilan") as (page, checked),
    ):
        page.goto(url)
        page.get_by_role("link", name="Se connecter avec votre compte professionnel").click()
        page.fill("#login", AGENTS["elu"].email)
        page.click("#login-submit")
        page.wait_for_url(f"{url}**")
        assert page.locator("svg[role='img']").count() == 7
        assert "Permanences et rendez-vous" in page.inner_text("#activite-section")
        assert page.locator("#graphique-motifs-donnees").inner_text().count("17") >= 1
        checked.accessible(page, "bilan")
        # The form: a reversed period, refused next to its field.
        page.fill("#du", "2013-12-31")
        page.fill("#au", "2013-01-01")
        page.get_by_role("button", name="Afficher le bilan").click()
        page.wait_for_load_state()
        assert "Le début de la période doit précéder sa fin." in page.inner_text("#du-erreur")
        checked.accessible(page, "bilan-refus")
        page.get_by_role("link", name="Année en cours").click()
        page.wait_for_load_state()
        assert page.input_value("#du") == paris_today().replace(month=1, day=1).isoformat()
        checked.accessible(page, "bilan-annee-en-cours")


def ligny_outreach() -> list[Event]:
    """Ligny-en-Barrois in 2013: a programme of two sessions (8 places, 3 asked, the 3rd
    waiting then taking the place the 2nd left), two goals (one reached), an outcome;
    three signals (two of a secrétaire de mairie, one contacted, one escalated)."""
    at = datetime(2013, 5, 7, 12, tzinfo=UTC)
    p = "programme-ligny-2013"
    return [
        ev.participant_enrolled(p, "e1", LIGNY, str(uuid.uuid4()), at - timedelta(days=9)),
        ev.participant_enrolled(p, "e2", LIGNY, str(uuid.uuid4()), at - timedelta(days=8)),
        ev.participant_enrolled(p, "e3", LIGNY, str(uuid.uuid4()), at - timedelta(days=7), waiting=True),
        ev.group_session_held(
            p, "s1", LIGNY, at, capacity=8, expected=2, present=2, absent=0, excused=0, sequence=1
        ),
        ev.enrolment_changed(p, "e2", LIGNY, E.WITHDRAWN, at + timedelta(days=2), 2),
        ev.enrolment_changed(p, "e3", LIGNY, E.ENROLLED, at + timedelta(days=2), 2),
        ev.group_session_held(
            p,
            "s2",
            LIGNY,
            at + timedelta(days=7),
            capacity=8,
            expected=2,
            present=1,
            absent=1,
            excused=0,
            sequence=1,
        ),
        ev.goal_changed(p, "e1", "g1", LIGNY, G.PROPOSED, at, 1),
        ev.goal_changed(p, "e1", "g1", LIGNY, G.REACHED, at + timedelta(days=7), 2),
        ev.goal_changed(p, "e3", "g2", LIGNY, G.PROPOSED, at + timedelta(days=7), 1),
        ev.outcome_recorded(p, "e1", LIGNY, O.TRAINING, at + timedelta(days=8), 1),
        ev.signal_submitted("sig-l1", LIGNY, K.SECRETAIRE_MAIRIE, at),
        ev.signal_qualified(
            "sig-l1",
            LIGNY,
            K.SECRETAIRE_MAIRIE,
            SignalStatus.CONTACTED,
            at + timedelta(days=1),
            dossier_id="d",
        ),
        ev.signal_submitted("sig-l2", LIGNY, K.SECRETAIRE_MAIRIE, at + timedelta(days=3)),
        ev.signal_escalated("sig-l2", LIGNY, at + timedelta(days=10)),
        ev.signal_submitted("sig-l3", LIGNY, K.ELU, at + timedelta(days=4)),
    ]


async def test_the_collective_actions_and_signals_are_shown(
    seeded: None, settings: Settings, signed_in: dict[str, httpx.Client]
) -> None:
    await publish(settings, shuffled(ligny_outreach()))
    await drained(settings)
    reply = signed_in["responsable"].get(f"/bilan?{PERIOD}&communes={LIGNY}")
    assert reply.status_code == 200, reply.text
    page = Tables(reply.text)
    na = "—non disponible"
    assert body(page.table("collectif-synthese")) == {
        "Séances tenues": ["2", "0"],
        "Participants": ["3", "0"],
        "Présences": ["3", na],
        "Absences": ["1", na],
        "Taux de présence": [percent("75,0"), na],
        "Objectifs fixés": ["2", na],
        "Objectifs atteints": ["1", na],
        "Objectifs abandonnés": ["0", na],
        "Sur liste d'attente": ["1", na],
    }
    assert body(page.table("collectif-suites-donnees")) == {"formation": ["1", percent("100,0"), "0"]}
    assert body(page.table("signalements-synthese")) == {
        "Signalements reçus": ["3", "0"],
        "Qualifiés": ["1", na],
        "Dossiers ouverts": ["1", na],
        "Non qualifiés dans le délai": ["1", na],
    }
    assert body(page.table("signalements-communes-donnees")) == {
        "Ligny-en-Barrois": ["3", percent("100,0"), "0"]
    }
    assert body(page.table("signalements-signalants-donnees")) == {
        "secrétaire de mairie": ["2", percent("66,7"), "0"],
        "élu référent": ["1", percent("33,3"), "0"],
    }
    assert body(page.table("signalements-statuts-donnees")) == {
        "à qualifier": ["2", percent("66,7"), "0"],
        "personne contactée (dossier ouvert)": ["1", percent("33,3"), "0"],
    }
    for table in page.tables:
        assert table.caption.strip()
    # Bar-le-Duc had none: each section is its heading and one sentence.
    bar = html.unescape(signed_in["elu"].get(f"/bilan?{PERIOD}").text)
    for key, sentence in (
        ("collectif", "Actions collectives Aucune séance collective sur la période."),
        ("signalements", "Signalements (aller vers) Aucun signalement sur la période."),
    ):
        section = bar.split(f'<h2 id="{key}-section">')[1].split("</section>")[0]
        assert squeezed(re.sub(r"<[^>]+>", " ", section)) == sentence
