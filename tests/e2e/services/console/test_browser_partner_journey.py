"""A partner answers in Chromium and the referring social worker's dossier page, open in
another browser, shows each status as it comes (htmx refresh): acknowledged, accepted,
started, completed with an outcome."""

from __future__ import annotations

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor

from playwright.sync_api import Page, expect

from tests.conftest import AppStack
from tests.e2e.services.console import browser
from tests.e2e.services.console.conftest import AGENTS, Console, Person
from tests.e2e.services.console.test_partner_portal import (
    directory_imported as directory_imported,  # the fixture
)
from tests.e2e.services.console.test_partner_portal import oriented

TIMEOUT_MS = 20_000


def sign_in(page: Page, console: Console, person: Person, start: str) -> None:
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"{console.url}{start}")
    page.get_by_role("link", name="Se connecter avec votre compte professionnel").click()
    page.fill("#login", person.email)
    page.click("#login-submit")
    page.wait_for_url(re.compile(re.escape(f"{console.url}{start}")))


def test_each_answer_of_the_partner_reaches_the_social_workers_page(
    console: Console, app_stack: AppStack, directory_imported: None
) -> None:
    with ThreadPoolExecutor(1) as pool:  # the gRPC set-up on a loop of its own
        o = pool.submit(asyncio.run, oriented(app_stack)).result(timeout=90)
    with (
        browser.chromium() as chromium,
        browser.browsing(chromium, console.artefacts / "partenaire-parcours") as (partner, checked),
        browser.browsing(chromium, console.artefacts / "partenaire-parcours-ccas") as (
            worker,
            worker_checked,
        ),
    ):
        sign_in(worker, console, AGENTS["ts"], f"/dossiers/{o.dossier_id}")
        referrals = worker.locator("#orientations")
        expect(referrals).to_contain_text("demandée")

        sign_in(partner, console, AGENTS["partenaire"], "/partenaire")
        partner.locator(f'tr[data-referral="{o.caf}"]').get_by_role(
            "link", name=re.compile("Ouvrir l'orientation")
        ).click()
        partner.wait_for_url(f"{console.url}/partenaire/orientations/{o.caf}")
        steps = [
            ("Accuser réception de l'orientation", "accuse-reception", "reçue par le partenaire"),
            ("Accepter l'orientation", "acceptation", "acceptée"),
            ("Démarrer l'accompagnement", "demarrage", "en cours"),
        ]
        for button, done, status in steps:
            partner.get_by_role("button", name=button).click()
            partner.wait_for_url(re.compile(f"fait={done}"))
            checked.accessible(partner, f"partenaire {done}")
            # The social worker's page refreshes its referrals by itself (htmx, every 5 s).
            expect(referrals).to_contain_text(status, timeout=TIMEOUT_MS)
        partner.locator("#fin-outcome").select_option("need_met")
        partner.get_by_role("button", name="Terminer l'orientation").click()
        partner.wait_for_url(re.compile("fait=fin"))
        checked.accessible(partner, "partenaire terminée")
        expect(referrals).to_contain_text("terminée", timeout=TIMEOUT_MS)
        expect(referrals).to_contain_text("besoin satisfait", timeout=TIMEOUT_MS)
        worker_checked.accessible(worker, "dossier : orientation terminée")
