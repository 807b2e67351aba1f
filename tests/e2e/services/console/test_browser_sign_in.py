"""Signing in with a real browser: the provider's login page, back to the console."""

from __future__ import annotations

from tests.e2e.services.console import browser
from tests.e2e.services.console.conftest import AGENTS, Console


def test_a_reception_agent_signs_in_and_out_in_chromium(console: Console) -> None:
    with (
        browser.chromium() as chromium,
        browser.browsing(chromium, console.artefacts / "sign-in") as (page, checked),
    ):
        page.goto(f"{console.url}/")
        assert "/connexion" in page.url
        checked.accessible(page, "connexion")
        page.get_by_role("link", name="Se connecter avec votre compte professionnel").click()
        page.fill("#login", AGENTS["accueil"].email)
        page.click("#login-submit")
        page.wait_for_url(f"{console.url}/accueil**")
        checked.accessible(page, "accueil")
        assert "Awa Diallo" in page.inner_text("header")
        page.get_by_role("button", name="Se déconnecter").click()
        page.wait_for_load_state()
        if page.locator("#logout-confirm").count():
            page.click("#logout-confirm")
        page.wait_for_url(f"{console.url}/deconnecte**")
        checked.accessible(page, "déconnecté")
        page.goto(f"{console.url}/accueil")
        assert "/connexion" in page.url
