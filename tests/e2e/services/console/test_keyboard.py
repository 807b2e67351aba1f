"""Keyboard-only use (RGAA 12.x): the skip link comes first and moves the focus to the
content, the focus is always visible, and a form is filled and sent without a mouse."""

from __future__ import annotations

from playwright.sync_api import Page

from tests.e2e.services.console import browser
from tests.e2e.services.console.conftest import AGENTS, Console


def focused(page: Page) -> dict[str, str]:
    found: dict[str, str] = page.evaluate(
        """() => { const e = document.activeElement; const s = getComputedStyle(e);
                   return {tag: e.tagName, text: (e.innerText || e.value || '').trim(), id: e.id || '',
                           outline: s.outlineStyle, shadow: s.boxShadow}; }"""
    )
    return found


def test_sign_in_and_search_with_the_keyboard_only(console: Console) -> None:
    with (
        browser.chromium() as chromium,
        browser.browsing(chromium, console.artefacts / "clavier") as (page, checked),
    ):
        page.goto(f"{console.url}/connexion")
        page.keyboard.press("Tab")
        first = focused(page)
        assert first["text"] == "Aller au contenu" and first["outline"] != "none"
        page.keyboard.press("Tab")
        page.keyboard.press("Tab")
        button = focused(page)
        assert button["text"] == "Se connecter avec votre compte professionnel"
        assert button["outline"] != "none" or button["shadow"] != "none"
        page.keyboard.press("Enter")
        page.wait_for_selector("#login")
        page.focus("#login")
        page.keyboard.type(AGENTS["accueil"].email)
        page.keyboard.press("Enter")
        page.wait_for_url(f"{console.url}/accueil")

        page.keyboard.press("Tab")
        assert focused(page)["text"] == "Aller au contenu"
        page.keyboard.press("Enter")
        assert focused(page)["id"] == "contenu"
        # From the content, the search field is reached by tabbing, and Enter submits it.
        for _ in range(15):
            page.keyboard.press("Tab")
            if focused(page)["id"] == "nom":
                break
        assert focused(page)["id"] == "nom"
        page.keyboard.type("zz")
        page.keyboard.press("Enter")
        page.wait_for_url(f"{console.url}/personnes?**")
        checked.accessible(page, "recherche au clavier")
