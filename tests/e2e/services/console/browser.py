"""Debian's Chromium driven by Playwright, with axe-core run in every page checked.

Playwright's own browser download is not used: the tests drive /usr/bin/chromium
(ENTRAIDE_CHROMIUM overrides), installed with apt when missing. Each checked page gets
an axe-core run (vendored in tests/console/vendor, WCAG 2.1 A/AA rules) and a
screenshot kept in the artefacts folder; a page that breaks the CSP fails its test.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

CHROMIUM = os.environ.get("ENTRAIDE_CHROMIUM", "/usr/bin/chromium")
# As the machine's own check starts it: headless, and no call to Google's hosts.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AXE_SOURCE = (Path(__file__).parent / "vendor" / "axe.min.js").read_text(encoding="utf-8")
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BLOCKING_IMPACTS = frozenset({"serious", "critical"})
_RUN_AXE = """async (tags) => {
  const result = await axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']});
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))
  }));
}"""


def ensure_chromium() -> str:
    """The Chromium binary, installed from Debian's packages when it is missing."""
    if Path(CHROMIUM).exists():
        return CHROMIUM
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    apt = shutil.which("apt-get")
    if apt is None:
        raise RuntimeError(f"{CHROMIUM} is missing and apt-get is not available: install chromium")
    install = [*sudo, apt, "install", "-y", "chromium"]
    if subprocess.run(install, check=False, capture_output=True).returncode != 0:
        subprocess.run([*sudo, apt, "update"], check=True, capture_output=True)
        subprocess.run(install, check=True, capture_output=True)
    return CHROMIUM


@dataclass
class Checked:
    """What the checked pages of one test gave."""

    artefacts: Path
    pages: list[str] = field(default_factory=list)
    csp_violations: list[str] = field(default_factory=list)

    def page(self, page: Page, name: str) -> list[dict[str, Any]]:
        """axe-core's serious and critical violations of this page (also screenshots it)."""
        page.wait_for_load_state("networkidle")
        safe = re.sub(r"[^a-z0-9_-]+", "-", name.lower())
        page.screenshot(path=str(self.artefacts / f"{len(self.pages):02d}-{safe}.png"), full_page=True)
        self.pages.append(name)
        # Evaluated through the DevTools protocol: the page's CSP does not apply to it.
        page.evaluate(AXE_SOURCE)
        violations: list[dict[str, Any]] = page.evaluate(_RUN_AXE, AXE_TAGS)
        return [v for v in violations if v["impact"] in BLOCKING_IMPACTS]

    def accessible(self, page: Page, name: str) -> None:
        blocking = self.page(page, name)
        assert not blocking, f"axe-core on {name} ({page.url}): {blocking}"


@contextmanager
def chromium() -> Iterator[Browser]:
    executable = ensure_chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def browsing(browser: Browser, artefacts: Path) -> Iterator[tuple[Page, Checked]]:
    """A fresh browser profile (its own cookies) in French, Paris time."""
    artefacts.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(
        locale="fr-FR", timezone_id="Europe/Paris", viewport={"width": 1280, "height": 900}
    )
    page = context.new_page()
    checked = Checked(artefacts)

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            checked.csp_violations.append(message.text)

    page.on("console", on_console)
    try:
        yield page, checked
    finally:
        context.close()
    assert not checked.csp_violations, f"the pages broke their CSP: {checked.csp_violations}"
