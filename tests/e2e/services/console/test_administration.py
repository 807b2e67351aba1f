"""Administration on the real stack: the agents directory (invite, edit, deactivate and
reactivate, with the responsable's own limits), the access log of each change, the
deactivated agent's open session and new sign-in refused, the partner directory's
import errors against their JSON path, the reference data, the refusal of a social
worker, and the pages in Chromium checked with axe-core."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

import asyncpg
import httpx2 as httpx

from tests.e2e.services.console import browser
from tests.e2e.services.console.conftest import AGENTS, BAR, LIGNY, TRONVILLE, Console
from tests.e2e.services.console.helpers import csrf_of, form_tokens, letters
from tests.e2e.services.console.test_browser_journey import sign_in

TIMEOUT_MS = 20_000
AGENTS_URL = "/administration/agents"


def text_of(reply: httpx.Response) -> str:
    return html.unescape(reply.text)


def post(http: httpx.Client, page_url: str, action: str, data: dict[str, object]) -> httpx.Response:
    csrf, request_id = form_tokens(http, page_url)
    return http.post(action, data={"csrf_token": csrf, "request_id": request_id, **data})


async def console_log_rows(
    pool: asyncpg.Pool, since: datetime, agent_ids: list[str]
) -> list[tuple[str, str]]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            """SELECT method, resource_id FROM audit.access_log
                WHERE service = 'console' AND actor = $1 AND role = 'responsable' AND action = 'write'
                  AND resource_type = 'agent' AND resource_id = ANY($2::text[]) AND at >= $3
                ORDER BY id""",
            AGENTS["responsable"].agent_id,
            agent_ids,
            since,
        )
    return [(row["method"], row["resource_id"]) for row in rows]


async def test_the_responsable_invites_edits_deactivates_and_reactivates_agents(
    console: Console, signed_in: dict[str, httpx.Client], pool: asyncpg.Pool
) -> None:
    since = datetime.now(UTC)
    resp = signed_in["responsable"]
    home = text_of(resp.get("/administration"))
    for link in ("/administration/agents", "/administration/partenaires", "/administration/referentiel"):
        assert f'href="{link}"' in home
    new_id, email = f"test.{letters()}", f"{letters()}@ccas.example"

    # A commune the responsable does not cover is refused, the values kept.
    refused = post(
        resp,
        AGENTS_URL,
        AGENTS_URL,
        {
            "agent_id": new_id,
            "display_name": "Agent Essai",
            "email": email,
            "role": "travailleur_social",
            "communes": [BAR, TRONVILLE],
            "site": "Mairie annexe",
        },
    )
    assert refused.status_code == 400
    page = text_of(refused)
    assert "Vous ne pouvez donner que les communes que vous couvrez vous-même" in page
    assert "Ce site n'existe pas : indiquez le code d'un site du référentiel" in page  # sites are codes
    assert f'value="{new_id}"' in page and f'value="{email}"' in page

    added = post(
        resp,
        AGENTS_URL,
        AGENTS_URL,
        {
            "agent_id": new_id,
            "display_name": "Agent Essai",
            "email": email,
            "role": "travailleur_social",
            "communes": [BAR],
            "site": "ccas-bar-le-duc",
            "team": "action-sociale",
        },
    )
    assert added.status_code == 303 and added.headers["location"] == f"{AGENTS_URL}?fait=ajout"
    listing = text_of(resp.get(added.headers["location"]))
    assert "L'agent a été ajouté à l'annuaire" in listing
    row = re.search(rf'<tr data-agent="{re.escape(new_id)}">.*?</tr>', listing, re.S)
    assert row, listing
    assert "Travailleur social" in row.group(0) and "Non" in row.group(0) and email in row.group(0)
    # The same e-mail again: refused against the field.
    again = post(
        resp,
        AGENTS_URL,
        AGENTS_URL,
        {
            "agent_id": f"{new_id}.b",
            "display_name": "X",
            "email": email,
            "role": "accueil",
            "communes": [BAR],
        },
    )
    assert again.status_code == 400 and "déjà celle d'un agent" in text_of(again)

    edit_url = f"{AGENTS_URL}/{new_id}"
    edited = post(
        resp,
        edit_url,
        edit_url,
        {"role": "accueil", "communes": [LIGNY], "site": "mairie-ligny", "team": "accueil"},
    )
    assert edited.status_code == 303, edited.text
    async with pool.acquire() as conn:
        stored = await conn.fetchrow(
            "SELECT role, territories, site, team, active FROM console.agents WHERE agent_id = $1", new_id
        )
    assert (stored["role"], list(stored["territories"]), stored["site"], stored["team"]) == (
        "accueil",
        [LIGNY],
        "mairie-ligny",
        "accueil",
    )

    # The responsable may not deactivate themselves.
    own = AGENTS["responsable"].agent_id
    self_refused = post(resp, AGENTS_URL, f"{AGENTS_URL}/{own}/desactiver", {})
    assert self_refused.status_code == 409
    assert "Vous ne pouvez pas désactiver votre propre compte" in text_of(self_refused)

    # ts2's open session ends at their next page; signing in again is refused.
    ts2 = signed_in["ts2"]
    assert ts2.get("/mes-dossiers").status_code == 200
    ts2_id = AGENTS["ts2"].agent_id
    try:
        off = post(resp, AGENTS_URL, f"{AGENTS_URL}/{ts2_id}/desactiver", {})
        assert off.status_code == 303 and off.headers["location"] == f"{AGENTS_URL}?fait=desactivation"
        out = ts2.get("/mes-dossiers")
        assert out.status_code == 303
        assert (
            out.headers["location"].startswith("/connexion?retour=") and "expire=1" in out.headers["location"]
        )
        with httpx.Client(base_url=console.url, timeout=15, follow_redirects=False) as fresh:
            back = fresh.get(console.callback_for(fresh, AGENTS["ts2"]))
            assert back.status_code == 403
            assert "Compte inconnu" in text_of(back)
            assert "entraide_session" not in back.headers.get("set-cookie", "")
        listing = text_of(resp.get(AGENTS_URL))
        row = re.search(rf'<tr data-agent="{re.escape(ts2_id)}">.*?</tr>', listing, re.S)
        assert row and "Désactivé" in row.group(0) and "Réactiver" in row.group(0)
    finally:
        on = post(resp, AGENTS_URL, f"{AGENTS_URL}/{ts2_id}/reactiver", {})
        if on.status_code != 303:  # never leave the shared directory changed
            async with pool.acquire() as conn:
                await conn.execute("UPDATE console.agents SET active = true WHERE agent_id = $1", ts2_id)
        assert on.status_code == 303
    assert console.sign_in(AGENTS["ts2"]).get("/mes-dossiers").status_code == 200

    off = post(resp, AGENTS_URL, f"{AGENTS_URL}/{new_id}/desactiver", {})
    assert off.status_code == 303
    assert await console_log_rows(pool, since, [new_id, ts2_id]) == [
        ("console/AddAgent", new_id),
        ("console/UpdateAgent", new_id),
        ("console/DeactivateAgent", ts2_id),
        ("console/ReactivateAgent", ts2_id),
        ("console/DeactivateAgent", new_id),
    ]
    async with pool.acquire() as conn:
        names = await conn.fetchval(
            "SELECT count(*) FROM audit.access_log WHERE service = 'console' AND at >= $1"
            " AND (purpose LIKE '%Essai%' OR resource_id LIKE '%@%')",
            since,
        )
    assert names == 0


def test_a_social_worker_is_refused_administration(signed_in: dict[str, httpx.Client]) -> None:
    ts = signed_in["ts"]
    for url in ("/administration", AGENTS_URL, "/administration/partenaires", "/administration/referentiel"):
        reply = ts.get(url)
        assert reply.status_code == 403, url
        page = text_of(reply)
        assert "Accès refusé" in page and "réservée aux agents de rôle responsable" in page
        assert AGENTS["ts2"].email not in page and "Inviter un agent" not in page
    csrf = csrf_of(ts.get("/taches"))
    target = AGENTS["ts2"].agent_id
    assert ts.post(f"{AGENTS_URL}/{target}/desactiver", data={"csrf_token": csrf}).status_code == 403


def test_a_bad_partner_directory_is_refused_against_its_json_path(signed_in: dict[str, httpx.Client]) -> None:
    resp = signed_in["responsable"]
    page = resp.get("/administration/partenaires")
    assert page.status_code == 200
    assert "Télécharger l'annuaire (JSON)" in text_of(page)
    download = resp.get("/administration/partenaires/annuaire.json")
    assert download.status_code == 200 and "organizations" in download.json()

    document = (
        '{"organizations": [{"id": "essai-org", "kind": "association", "services": [], "locations": []}]}'
    )
    refused = post(resp, "/administration/partenaires", "/administration/partenaires", {"document": document})
    assert refused.status_code == 400
    text = text_of(refused)
    assert "L'annuaire n'a pas été importé" in text
    assert "<code>$.organizations[0].name</code>" in text, text
    assert document in text  # kept in the textarea (escaped, then unescaped here)

    broken = post(
        resp, "/administration/partenaires", "/administration/partenaires", {"document": "{ pas du json"}
    )
    assert broken.status_code == 400
    assert "n'est pas du JSON valable" in text_of(broken)


def test_the_reference_data_tables(signed_in: dict[str, httpx.Client]) -> None:
    page = text_of(signed_in["responsable"].get("/administration/referentiel"))
    for caption in (
        "Motifs de demande",
        "Canaux d'arrivée",
        "Communes (code INSEE)",
        "Issues de clôture d'un dossier",
        "Résultats d'une orientation",
        "Raisons d'un refus ou d'un échec d'orientation",
        "Types de tâches à traiter",
        "Données qu'un consentement peut couvrir",
    ):
        assert f"<caption>{caption}" in page, caption
    assert "Bar-le-Duc" in page


def test_the_administration_pages_in_chromium(console: Console) -> None:
    with (
        browser.chromium() as chromium,
        browser.browsing(chromium, console.artefacts / "administration") as (page, checked),
    ):
        page.set_default_timeout(TIMEOUT_MS)
        sign_in(page, console, AGENTS["responsable"], "/administration")
        checked.accessible(page, "administration")
        page.get_by_role("link", name="Annuaire des agents").click()
        page.wait_for_url(re.compile(r"/administration/agents$"))
        checked.accessible(page, "annuaire des agents")
        # The invitation refused (no field filled): the errors next to the fields.
        page.get_by_role("button", name="Inviter l'agent").click()
        page.wait_for_load_state()
        assert page.locator("#erreurs").count() == 1
        checked.accessible(page, "annuaire des agents, erreurs")
        page.goto(f"{console.url}{AGENTS_URL}/{AGENTS['ts'].agent_id}")
        checked.accessible(page, "modifier un agent")
        page.goto(f"{console.url}/administration/partenaires")
        checked.accessible(page, "annuaire des partenaires")
        page.fill("#document", '{"organizations": [{"id": "x"}]}')
        page.get_by_role("button", name="Importer l'annuaire").click()
        page.wait_for_load_state()
        assert page.locator("#erreurs code").count() >= 1
        checked.accessible(page, "annuaire des partenaires, erreurs")
        page.goto(f"{console.url}/administration/referentiel")
        checked.accessible(page, "référentiel")
