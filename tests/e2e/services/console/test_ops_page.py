"""The operations page (/exploitation) on the real stack: GetOpsOverview's figures in
French tables, a dead letter injected in reporting's table, the services' gRPC health,
the Temporal UI link of a dossier's workflow, the refusal of a social worker, and the
page in Chromium checked with axe-core."""

from __future__ import annotations

import html
import re
import uuid

import asyncpg
import httpx2 as httpx

from tests.e2e.services.console import browser
from tests.e2e.services.console.conftest import AGENTS, Console
from tests.e2e.services.console.test_browser_journey import sign_in

TIMEOUT_MS = 20_000


def text_of(reply: httpx.Response) -> str:
    return html.unescape(reply.text)


async def test_ops_sees_the_overview_in_french_with_an_injected_dead_letter(
    console: Console, signed_in: dict[str, httpx.Client], pool: asyncpg.Pool
) -> None:
    error_type = f"ProbeError{uuid.uuid4().hex[:8]}"
    subject = "entraide.intake.probe_noted"
    async with pool.acquire() as conn:
        await conn.execute(
            """INSERT INTO reporting.dead_letters (consumer, stream_seq, subject, headers, data, deliveries,
                   error_type) VALUES ('reporting-projector', $1, $2, '{}', '\\x00', 3, $3)""",
            20_000_000 + uuid.uuid4().int % 1_000_000,
            subject,
            error_type,
        )
    reply = signed_in["ops"].get("/exploitation")
    assert reply.status_code == 200, reply.text
    page = text_of(reply)
    for heading in (
        "<h1>Exploitation</h1>",
        "État des services",
        "Dossiers par étape",
        "Échéances dépassées",
        "Dossiers sans avancement",
        "Retard des consommateurs d'événements",
        "Événements pas encore publiés",
        "Événements rejetés",
        "Canaux de notification des partenaires mal configurés",
        "Voir le workflow d'un dossier",
    ):
        assert heading in page, heading
    assert error_type in page and subject in page
    assert "Statistiques (reporting)" in page
    # Each service answers the standard health check, seen from the console process.
    assert page.count("En service") == 3, page
    assert "reporting-projector" in page

    # "Depuis N jours": kept in the field; a wrong value is refused in French.
    assert 'value="7"' in signed_in["ops"].get("/exploitation?stuck_after_days=7").text
    wrong = signed_in["ops"].get("/exploitation?stuck_after_days=abc")
    assert wrong.status_code == 400
    assert "Indiquez un nombre entier de jours" in text_of(wrong)


def test_the_workflow_link_of_a_dossier(signed_in: dict[str, httpx.Client]) -> None:
    dossier_id = str(uuid.uuid4())
    page = text_of(signed_in["ops"].get(f"/exploitation?dossier={dossier_id}"))
    assert f"http://127.0.0.1:58233/namespaces/default/workflows/dossier-{dossier_id}" in page
    refused = signed_in["ops"].get("/exploitation?dossier=pas-un-dossier")
    assert refused.status_code == 400
    assert "identifiant de dossier n'est pas valable" in text_of(refused)


def test_a_social_worker_is_refused_and_sees_no_figure(signed_in: dict[str, httpx.Client]) -> None:
    reply = signed_in["ts"].get("/exploitation")
    assert reply.status_code in (403, 404)
    page = text_of(reply)
    assert "Accès refusé" in page or "Page introuvable" in page
    assert "Dossiers par étape" not in page and "Événements rejetés" not in page
    assert "reporting-projector" not in page


def test_the_responsable_may_read_it_if_the_service_allows(signed_in: dict[str, httpx.Client]) -> None:
    # GetOpsOverview admits responsables (the service's rule).
    reply = signed_in["responsable"].get("/exploitation")
    assert reply.status_code == 200
    assert "Dossiers par étape" in text_of(reply)


def test_the_ops_page_in_chromium(console: Console) -> None:
    with (
        browser.chromium() as chromium,
        browser.browsing(chromium, console.artefacts / "ops") as (page, checked),
    ):
        page.set_default_timeout(TIMEOUT_MS)
        sign_in(page, console, AGENTS["ops"], "/exploitation")
        assert page.locator("h1").inner_text() == "Exploitation"
        checked.accessible(page, "exploitation")
        page.fill("#dossier", str(uuid.uuid4()))
        page.get_by_role("button", name="Trouver le workflow").click()
        page.wait_for_url(re.compile(r"dossier="))
        assert page.get_by_role("link", name=re.compile("Ouvrir dans Temporal")).count() == 1
        checked.accessible(page, "exploitation, lien du workflow")
        page.fill("#stuck_after_days", "zéro")
        page.get_by_role("button", name="Afficher ces dossiers").click()
        page.wait_for_url(re.compile(r"stuck_after_days="))
        checked.accessible(page, "exploitation, erreur du formulaire")
