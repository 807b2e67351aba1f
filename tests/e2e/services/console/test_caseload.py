"""The caseload page (/mes-dossiers) on the real stack: the service's attention order
inside each stage's table, the filters (stage, motif, commune, agent), a commune's
isolation, the pages of a long list, and French words only."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any

import httpx2 as httpx
import pytest
from entraide.v1 import intake_pb2, intake_pb2_grpc

from kernel.auth import Role
from tests.conftest import AppStack
from tests.e2e.services.console.conftest import AGENTS, BAR, Console

if TYPE_CHECKING:
    from entraide.v1.intake_pb2_grpc import IntakeServiceAsyncStub as Stub


@pytest.fixture
async def intake(app_stack: AppStack) -> AsyncIterator[Stub]:
    """Intake as ts.bar, a social worker of Bar-le-Duc (the console's agent `ts`)."""
    token = app_stack.token(AGENTS["ts"].agent_id, Role.TRAVAILLEUR_SOCIAL, [BAR])
    async with app_stack.channel("intake", token) as channel:
        yield intake_pb2_grpc.IntakeServiceStub(channel)


async def open_dossier(intake: Stub, **fields: Any) -> str:
    defaults: dict[str, Any] = {
        "request_id": uuid.uuid4().hex,
        "territory": BAR,
        "motifs": ["logement"],
        "arrival_channel": "visite_spontanee",
        "assigned_agent": AGENTS["ts"].agent_id,
    }
    reply = await intake.OpenDossier(intake_pb2.OpenDossierRequest(**{**defaults, **fields}), timeout=15)
    return str(reply.dossier.dossier_id)


async def to_suivi(intake: Stub, dossier_id: str) -> None:
    await intake.RecordInterview(intake_pb2.RecordInterviewRequest(dossier_id=dossier_id), timeout=15)
    await intake.CompleteEcoute(
        intake_pb2.CompleteEcouteRequest(dossier_id=dossier_id, next_stage="suivi"), timeout=15
    )


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def visible_text(html: str) -> str:
    """What a person reads (attributes and markup left out), spaces collapsed."""
    parser = _Text()
    parser.feed(html)
    return re.sub(r"\s+", " ", " ".join(parser.parts))


def row_of(html: str, dossier_id: str) -> str:
    start = html.index(f'data-dossier="{dossier_id}"')
    return html[start : html.index("</tr>", start)]


def caseload_pages(http: httpx.Client, url: str, limit: int = 20) -> list[str]:
    """Every page of the list, following "Page suivante"."""
    pages: list[str] = []
    while url and len(pages) < limit:
        reply = http.get(url)
        assert reply.status_code == 200, reply.text
        pages.append(reply.text)
        found = re.search(r'<a href="([^"]+)">Page suivante</a>', reply.text)
        url = found.group(1).replace("&amp;", "&") if found else ""
    return pages


def whole_list(http: httpx.Client, url: str) -> str:
    return "\n".join(caseload_pages(http, url))


def selected(html: str, name: str) -> str:
    select = html[html.index(f'<select id="{name}"') :]
    select = select[: select.index("</select>")]
    found = re.search(r'<option value="([^"]*)" selected>', select)
    return found.group(1) if found else ""


async def test_urgent_first_in_the_stage_table_in_french(
    intake: Stub, signed_in: dict[str, httpx.Client]
) -> None:
    urgent = await open_dossier(intake, urgent=True, motifs=["violences_conjugales"])
    calm = await open_dossier(intake)  # newer: first in a newest-first order, not here
    page = whole_list(signed_in["ts"], "/mes-dossiers")
    assert selected(page, "agent") == "moi"  # a social worker's own dossiers by default
    assert page.index(f'data-dossier="{urgent}"') < page.index(f'data-dossier="{calm}"')
    # Both wait in reception: the same table, after its caption.
    reception = page.index('id="etape-reception"')
    assert reception < page.index(f'data-dossier="{urgent}"')
    assert re.search(r"<caption>Accueil \(\d+\)</caption>", page)
    row = row_of(page, urgent)
    assert '<span class="badge badge-urgent">Urgent</span>' in row
    assert "Violences conjugales" in row and "Bar-le-Duc" in row and "Claire Petit" in row
    assert f'href="/dossiers/{urgent}"' in row and "Ouvrir le dossier" in row
    assert 'class="visually-hidden"> du ' in row
    # An urgent dossier waits for its écoute: the deadline and its kind, in French.
    assert re.search(r"\d\d/\d\d/\d{4} à \d\d:\d\d", row) and "écoute urgente" in row
    assert "Urgent" not in visible_text(row_of(page, calm))
    text = visible_text(page)
    for code in ("violences_conjugales", "reception", "urgent_ecoute", "visite_spontanee"):
        assert code not in text
    # One h1, a labelled filter form.
    assert page.count("<h1") == 1
    for name in ("commune", "etape", "motif", "agent"):
        assert f'<label for="{name}">' in page and f'<select id="{name}" name="{name}"' in page
    assert '<button type="submit">Filtrer</button>' in page


async def test_stage_and_motif_filters_narrow_the_list(
    intake: Stub, signed_in: dict[str, httpx.Client]
) -> None:
    housing = await open_dossier(intake, motifs=["logement"])
    job = await open_dossier(intake, motifs=["emploi"])
    job_in_suivi = await open_dossier(intake, motifs=["emploi", "mobilite"])
    await to_suivi(intake, job_in_suivi)
    http = signed_in["ts"]

    in_suivi = whole_list(http, "/mes-dossiers?etape=suivi")
    assert job_in_suivi in in_suivi and housing not in in_suivi and job not in in_suivi
    assert re.search(r"<caption>Suivi \(\d+\)</caption>", in_suivi) and "etape-reception" not in in_suivi
    assert selected(in_suivi, "etape") == "suivi"

    jobs = whole_list(http, "/mes-dossiers?motif=emploi")
    assert job in jobs and job_in_suivi in jobs and housing not in jobs
    assert selected(jobs, "motif") == "emploi"
    # Tables in lifecycle order: reception before suivi.
    assert jobs.index(f'data-dossier="{job}"') < jobs.index(f'data-dossier="{job_in_suivi}"')

    both = whole_list(http, "/mes-dossiers?motif=emploi&etape=reception&commune=55029")
    assert job in both and job_in_suivi not in both and housing not in both
    assert selected(both, "commune") == BAR

    # htmx asks for the results alone; without it, the whole page.
    partial = http.get("/mes-dossiers?motif=emploi&etape=suivi", headers={"HX-Request": "true"})
    assert partial.status_code == 200 and "<html" not in partial.text and job_in_suivi in partial.text
    assert "<h1" not in partial.text

    # A filter the service refuses: its French sentence, next to the filters.
    refused = http.get("/mes-dossiers?motif=inexistant")
    assert refused.status_code == 400, refused.text
    assert 'role="alert"' in refused.text and "<form" in refused.text
    assert "Motif inconnu" in visible_text(refused.text)  # the service's own sentence
    stale = http.get("/mes-dossiers?motif=emploi&page=perime")
    assert stale.status_code == 400 and 'href="#page_token"' not in stale.text
    assert '<a href="/mes-dossiers?motif=emploi&amp;agent=moi">Revenir à la première page' in stale.text
    hx_refused = http.get("/mes-dossiers?motif=inexistant", headers={"HX-Request": "true"})
    assert hx_refused.status_code == 400 and hx_refused.headers["hx-redirect"].startswith("/mes-dossiers?")


async def test_an_empty_list_says_so_in_french(signed_in: dict[str, httpx.Client]) -> None:
    # Nobody is assigned dossiers of Ligny with the motif "justice" in suivi in these tests.
    page = signed_in["ts_ligny"].get("/mes-dossiers?etape=suivi&motif=justice")
    assert page.status_code == 200
    assert "Aucun dossier en cours ne correspond à ces filtres." in page.text
    assert "<table" not in page.text


async def test_another_communes_worker_never_sees_bar_le_duc(
    intake: Stub, signed_in: dict[str, httpx.Client]
) -> None:
    dossier_id = await open_dossier(intake, urgent=True)
    ligny = signed_in["ts_ligny"]
    page = whole_list(ligny, "/mes-dossiers?agent=tous")
    assert dossier_id not in page and "Bar-le-Duc" not in visible_text(page)
    # Its commune filter offers its own commune only.
    assert f'<option value="{BAR}"' not in page and '<option value="55291"' in page
    # Asking for another commune anyway: the service refuses, the French "not found" page.
    refused = ligny.get(f"/mes-dossiers?commune={BAR}")
    assert refused.status_code == 404 and "Page introuvable" in refused.text


async def test_mine_by_default_for_a_worker_everyone_for_a_manager(
    intake: Stub, signed_in: dict[str, httpx.Client]
) -> None:
    colleagues = await open_dossier(intake, assigned_agent=AGENTS["ts2"].agent_id, urgent=True)
    mine = await open_dossier(intake, urgent=True)
    ts = signed_in["ts"]
    own = whole_list(ts, "/mes-dossiers")
    assert mine in own and colleagues not in own
    everyone = whole_list(ts, "/mes-dossiers?agent=tous")
    assert mine in everyone and colleagues in everyone
    assert "Marc Henry" in row_of(everyone, colleagues)
    assert selected(everyone, "agent") == "tous"
    manager = whole_list(signed_in["responsable"], "/mes-dossiers")
    assert selected(manager, "agent") == "tous"
    assert mine in manager and colleagues in manager


async def test_a_long_list_has_pages_that_keep_the_filters(
    intake: Stub, signed_in: dict[str, httpx.Client]
) -> None:
    # 55 dossiers of one agent unknown to the console, so no other list grows much.
    agent = "ts.pages"
    opened: list[str] = []
    for _ in range(5):
        opened += await asyncio.gather(
            *(open_dossier(intake, assigned_agent=agent, motifs=["justice"]) for _ in range(11))
        )
    try:
        pages = caseload_pages(signed_in["ts"], "/mes-dossiers?agent=tous&motif=justice&commune=55029")
        assert len(pages) >= 2
        assert "Première page" in pages[1] and selected(pages[1], "motif") == "justice"
        assert selected(pages[1], "commune") == BAR and selected(pages[1], "agent") == "tous"
        seen = [found for page in pages for found in re.findall(r'data-dossier="([^"]+)"', page)]
        assert len(seen) == len(set(seen))  # nothing repeated from one page to the next
        assert set(opened) <= set(seen)
        assert "ts.pages" in pages[0]  # an agent outside the directory shows as their id
    finally:
        for dossier_id in opened:
            await intake.CloseDossier(
                intake_pb2.CloseDossierRequest(dossier_id=dossier_id, outcome="ecoute_conseil"), timeout=15
            )


def test_without_session_the_caseload_asks_to_sign_in(console: Console) -> None:
    reply = httpx.get(f"{console.url}/mes-dossiers", follow_redirects=False)
    assert reply.status_code == 303 and reply.headers["location"].startswith("/connexion?retour=")
