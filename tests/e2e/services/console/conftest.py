"""Fixtures of the console's tests: a real OpenID provider (devstack/oidc), the console
process on this session's stack, agents of the directory, and Debian's Chromium."""

from __future__ import annotations

import json
import os
import secrets
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx2 as httpx
import pytest

from devstack import oidc_provider, processes
from devstack.oidc_provider import Account, Client, Provider
from devstack.ports import free_port
from tests.conftest import AppStack
from tests.paths import REPO

CLIENT_ID = "entraide-console"
REPO = REPO
# Communes of the demo deployment (Tronville: the browser journey's own, nothing else there).
BAR, LIGNY, TRONVILLE = "55029", "55291", "55519"


@dataclass(frozen=True)
class Person:
    """An agent of the directory and the provider account they sign in with."""

    agent_id: str
    login: str
    role: str
    territories: tuple[str, ...]
    given_name: str
    usual_name: str
    # The SIRET the directory expects for this agent (empty: none checked).
    directory_siret: str = ""
    # For a partner organisation's agent (role partenaire).
    partner_id: str = ""

    @property
    def email(self) -> str:
        return f"{self.login}@ccas.example"

    def directory_entry(self) -> dict[str, object]:
        return {
            "agent_id": self.agent_id,
            "display_name": f"{self.given_name} {self.usual_name}",
            "email": self.email,
            "role": self.role,
            "territories": list(self.territories),
            "site": "ccas-bar-le-duc",
            "team": "accueil" if self.role == "accueil" else "action-sociale",
            "siret": self.directory_siret,
            "partner_id": self.partner_id,
        }

    def account(self) -> Account:
        # ProConnect's claims: given_name, usual_name, email, siret, uid.
        return Account(
            sub=f"pc-{self.login}",
            email=self.email,
            given_name=self.given_name,
            usual_name=self.usual_name,
            siret="21550029700015",
            uid=self.login,
        )


AGENTS = {
    "accueil": Person("accueil.bar", "awa.diallo", "accueil", (BAR,), "Awa", "Diallo"),
    "ts": Person("ts.bar", "claire.petit", "travailleur_social", (BAR,), "Claire", "Petit"),
    "ts2": Person("ts2.bar", "marc.henry", "travailleur_social", (BAR,), "Marc", "Henry"),
    "ts_ligny": Person("ts.ligny", "lea.roux", "travailleur_social", (LIGNY,), "Léa", "Roux"),
    "responsable": Person("resp.bar", "nadia.benali", "responsable", (BAR, LIGNY), "Nadia", "Benali"),
    "accueil_tronville": Person(
        "accueil.tronville", "ines.garnier", "accueil", (TRONVILLE,), "Inès", "Garnier"
    ),
    "ts_tronville": Person("ts.tronville", "omar.fall", "travailleur_social", (TRONVILLE,), "Omar", "Fall"),
    "partenaire": Person(
        "caf.julie", "julie.morel", "partenaire", (), "Julie", "Morel", partner_id="caf-meuse"
    ),
    "partenaire_cresus": Person(
        "cresus.yann", "yann.leroy", "partenaire", (), "Yann", "Leroy", partner_id="cresus-grand-est"
    ),
    "elu": Person("elu.bar", "paul.girard", "elu", (BAR,), "Paul", "Girard"),
    "ops": Person("ops.cias", "samir.haddad", "ops", (BAR, LIGNY, TRONVILLE), "Samir", "Haddad"),
    "ts2_tronville": Person("ts2.tronville", "eva.blanc", "travailleur_social", (TRONVILLE,), "Éva", "Blanc"),
    # Town-hall accounts that can only signal residents (role signaleur).
    "signaleur": Person("mairie.bar", "lucie.mercier", "signaleur", (BAR,), "Lucie", "Mercier"),
    "signaleur2": Person("mairie.bar2", "remi.vasseur", "signaleur", (BAR,), "Rémi", "Vasseur"),
}
# A provider account that the directory does not know.
STRANGER = Person("nobody", "jean.inconnu", "accueil", (BAR,), "Jean", "Inconnu")
# In the directory for another organisation than the one the provider now says (SIRET).
MOVED = Person("ts.parti", "paul.parti", "travailleur_social", (BAR,), "Paul", "Parti", "21540395400011")


@dataclass
class Console:
    url: str
    env: dict[str, str]
    state_dir: Path
    provider: Provider
    client: Client
    artefacts: Path
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = processes.log_file(self.state_dir, "console")

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def callback_for(self, http: httpx.Client, person: Person) -> str:
        """Starts a sign-in with `http` (the console's side) and logs `person` in at the
        provider: the callback URL the provider sends the browser back to."""
        start = http.get("/connexion/oidc")
        assert start.status_code == 303, start.text
        with httpx.Client(timeout=15) as browser_at_provider:
            return oidc_provider.follow_authorization(
                browser_at_provider, start.headers["location"], person.email, f"{self.url}/connexion/retour"
            )

    def sign_in(self, person: Person) -> httpx.Client:
        """An HTTP client signed in as `person` through the whole OpenID code flow."""
        http = httpx.Client(base_url=self.url, timeout=15, follow_redirects=False)
        done = http.get(self.callback_for(http, person))
        assert done.status_code == 303, done.text
        return http


def _wait_healthy(url: str, console_state: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/sante", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if processes.is_running(console_state, "console") is None:
            break
        time.sleep(0.2)
    log = processes.log_file(console_state, "console")
    raise TimeoutError(f"the console did not start; log:\n{processes.tail(log)}")


def start_console(stack: AppStack, directory: Path, extra_env: dict[str, str], name: str = "console") -> str:
    """Starts one console process on this session's stack; returns its URL."""
    port = int(extra_env.get("ENTRAIDE_CONSOLE_PORT") or free_port())
    url = f"http://127.0.0.1:{port}"
    env = {
        **stack.env,
        "ENTRAIDE_CONSOLE_PORT": str(port),
        "ENTRAIDE_CONSOLE_URL": url,
        "ENTRAIDE_CONSOLE_AGENTS_FILE": str(directory),
        **extra_env,
    }
    processes.start_process(stack.state_dir, name, [sys.executable, "-m", "services.console"], env)
    _wait_healthy(url, stack.state_dir)
    return url


@pytest.fixture(scope="session")
def console_directory(state_dir: Path) -> Path:
    path = state_dir / "console-agents.json"
    entries = [p.directory_entry() for p in (*AGENTS.values(), MOVED)]
    path.write_text(json.dumps({"agents": entries}, ensure_ascii=False))
    return path


@pytest.fixture(scope="session")
async def console(app_stack: AppStack, state_dir: Path, console_directory: Path) -> AsyncIterator[Console]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    client = Client(CLIENT_ID, secrets.token_urlsafe(24), [f"{url}/connexion/retour"], [f"{url}/deconnecte"])
    provider = oidc_provider.start_provider(
        state_dir / "oidc",
        free_port(),
        [client],
        [p.account() for p in (*AGENTS.values(), STRANGER, MOVED)],
        test_admin=True,
    )
    # Screenshots of the browser tests, kept after the run (ENTRAIDE_TEST_ARTEFACTS moves them).
    artefacts = Path(os.environ.get("ENTRAIDE_TEST_ARTEFACTS", REPO / "test-artefacts")) / "console"
    artefacts.mkdir(parents=True, exist_ok=True)
    try:
        start_console(
            app_stack,
            console_directory,
            {
                "ENTRAIDE_CONSOLE_PORT": str(port),
                "ENTRAIDE_OIDC_ISSUER": provider.issuer,
                "ENTRAIDE_OIDC_CLIENT_ID": CLIENT_ID,
                "ENTRAIDE_OIDC_CLIENT_SECRET": client.client_secret or "",
                "ENTRAIDE_OIDC_SCOPES": "openid email profile siret uid",
            },
        )
        yield Console(url, app_stack.env, app_stack.state_dir, provider, client, artefacts)
    finally:
        processes.stop_process(app_stack.state_dir, "console")
        provider.stop()


@pytest.fixture
def signed_in(console: Console) -> Iterator[dict[str, httpx.Client]]:
    """One signed-in HTTP client per agent of AGENTS, closed after the test."""
    clients: dict[str, httpx.Client] = {}

    class Lazy(dict[str, httpx.Client]):
        def __missing__(self, key: str) -> httpx.Client:
            clients[key] = self[key] = console.sign_in(AGENTS[key])
            return clients[key]

    yield Lazy()
    for http in clients.values():
        http.close()
