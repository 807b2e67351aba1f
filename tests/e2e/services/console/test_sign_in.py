"""Sign-in through a real OpenID provider, the directory's mapping, sessions and sign-out."""

from __future__ import annotations

import json
import time

import httpx2 as httpx

from services.console.oidc import JWKS_REFRESH_MIN_S
from tests.e2e.services.console.conftest import AGENTS, MOVED, STRANGER, Console
from tests.e2e.services.console.helpers import csrf_of


def test_a_visitor_without_session_is_sent_to_sign_in(console: Console) -> None:
    reply = httpx.get(f"{console.url}/", follow_redirects=False)
    assert reply.status_code == 303
    assert reply.headers["location"].startswith("/connexion?retour=")


def test_the_code_flow_signs_an_agent_of_the_directory_in(console: Console) -> None:
    http = console.sign_in(AGENTS["ts"])
    home = http.get("/")
    assert home.status_code == 303 and home.headers["location"] == "/mes-dossiers"


def test_an_identity_outside_the_directory_is_refused_in_french(console: Console) -> None:
    http = httpx.Client(base_url=console.url, timeout=15, follow_redirects=False)
    callback = console.callback_for(http, STRANGER)
    reply = http.get(callback)
    assert reply.status_code == 403
    assert "annuaire des agents" in reply.text
    assert "entraide_session" not in reply.headers.get("set-cookie", "")


def test_a_callback_replayed_is_refused(console: Console) -> None:
    http = httpx.Client(base_url=console.url, timeout=15, follow_redirects=False)
    callback = console.callback_for(http, AGENTS["ts"])
    assert http.get(callback).status_code == 303
    again = httpx.get(callback, follow_redirects=False)
    assert again.status_code == 401
    assert "expiré ou a déjà servi" in again.text


def test_security_headers_on_every_page(console: Console) -> None:
    reply = httpx.get(f"{console.url}/connexion")
    csp = reply.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert reply.headers["x-frame-options"] == "DENY"
    assert reply.headers["cache-control"] == "no-store"


def test_the_development_sign_in_is_refused_without_its_flag(console: Console) -> None:
    http = httpx.Client(base_url=console.url, timeout=15, follow_redirects=False)
    page = http.get("/connexion")
    assert "Comptes de démonstration" not in page.text
    reply = http.post(
        "/connexion/dev", data={"agent_id": AGENTS["responsable"].agent_id, "login_token": "x", "retour": "/"}
    )
    assert reply.status_code == 403
    assert "entraide_session" not in reply.headers.get("set-cookie", "")


def test_sign_out_ends_the_session(console: Console) -> None:
    http = console.sign_in(AGENTS["accueil"])
    assert http.get("/").status_code == 303
    page = http.get("/deconnecte")
    assert page.status_code == 200
    token = csrf_of(http.get("/taches"))
    out = http.post("/deconnexion", data={"csrf_token": token})
    assert out.status_code == 303
    assert http.get("/mes-dossiers").headers["location"].startswith("/connexion")


def test_a_sign_in_after_the_provider_rotated_its_keys(console: Console) -> None:
    """The provider signs with a new key: the console fetches the JWKS again (no fixed key)."""
    console.sign_in(AGENTS["ts"]).close()
    new_kid = console.provider.rotate_keys()
    time.sleep(JWKS_REFRESH_MIN_S)  # the console refetches at most this often
    http = console.sign_in(AGENTS["responsable"])
    assert http.get("/").headers["location"] == "/mes-dossiers"
    assert new_kid in json.dumps(console.provider.jwks())


def test_session_cookie_attributes(console: Console) -> None:
    http = httpx.Client(base_url=console.url, timeout=15, follow_redirects=False)
    callback = console.callback_for(http, AGENTS["ts"])
    done = http.get(callback)
    cookie = next(
        v for k, v in done.headers.multi_items() if k == "set-cookie" and v.startswith("entraide_session=")
    )
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite", "path"} <= attributes
    assert "samesite=lax" in cookie.lower()
    # Plain HTTP here (a local console): Secure is set when ENTRAIDE_CONSOLE_URL is https.
    assert "secure" not in attributes


def test_an_agent_whose_organisation_changed_is_refused(console: Console) -> None:
    """ProConnect's siret claim: the directory expects another organisation."""
    http = httpx.Client(base_url=console.url, timeout=15, follow_redirects=False)
    callback = console.callback_for(http, MOVED)
    refused = http.get(callback)
    assert refused.status_code == 403 and "annuaire des agents" in refused.text
