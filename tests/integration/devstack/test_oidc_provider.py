"""The local OpenID provider (devstack/oidc, oidc-provider under node), driven with httpx only."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx2 as httpx
import jwt
import pytest

from devstack import oidc_provider
from devstack.oidc_provider import (
    Account,
    Client,
    OidcFlowError,
    OidcProviderError,
    Provider,
    code_flow_with_login,
    exchange_code,
    pkce_pair,
    start_provider,
)
from devstack.ports import free_port

REDIRECT = "http://127.0.0.1:9/auth/callback"
AFTER_LOGOUT = "http://127.0.0.1:9/signed-out"
CONSOLE = Client("entraide-console", "console-secret", [REDIRECT], [AFTER_LOGOUT])
PUBLIC = Client("entraide-cli", None, [REDIRECT], [AFTER_LOGOUT])
ALICE = Account(
    sub="alice",
    email="alice.martin@example.gouv.fr",
    given_name="Alice",
    usual_name="Martin",
    siret="13002526500013",
    uid="alice-uid",
    idp_id="idp-test",
)
BOB = Account(sub="bob", email="bob@example.org", given_name="Bob", usual_name="Durand")


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    state_dir = tmp_path_factory.mktemp("oidc-state")
    started = start_provider(state_dir, free_port(), [CONSOLE, PUBLIC], [ALICE, BOB], test_admin=True)
    try:
        yield started
    finally:
        started.stop()


def sign_in(provider: Provider, client: Client, login: str = "alice") -> tuple[dict[str, Any], str]:
    """(token response, nonce) after a whole code + PKCE flow."""
    verifier, challenge = pkce_pair()
    nonce = secrets.token_urlsafe(16)
    code = code_flow_with_login(
        provider.issuer,
        client,
        login,
        REDIRECT,
        code_challenge=challenge,
        state=secrets.token_urlsafe(16),
        nonce=nonce,
    )
    return exchange_code(provider.issuer, client, code, REDIRECT, verifier), nonce


def verify(provider: Provider, id_token: str, client: Client = CONSOLE) -> dict[str, Any]:
    jwks = jwt.PyJWKClient(provider.discovery()["jwks_uri"], cache_keys=False, cache_jwk_set=False)
    key = jwks.get_signing_key_from_jwt(id_token)
    claims: dict[str, Any] = jwt.decode(
        id_token, key.key, algorithms=["RS256"], audience=client.client_id, issuer=provider.issuer
    )
    return claims


def test_discovery_advertises_pkce_and_proconnect_scopes(provider: Provider) -> None:
    meta = provider.discovery()
    assert meta["issuer"] == provider.issuer
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert {"openid", "email", "profile", "siret", "usual_name", "given_name", "uid", "idp_id"} <= set(
        meta["scopes_supported"]
    )
    assert {"usual_name", "siret", "uid", "idp_id"} <= set(meta["claims_supported"])
    assert meta["end_session_endpoint"].startswith(provider.issuer)


def test_code_flow_with_pkce_gives_a_signed_id_token_with_proconnect_claims(provider: Provider) -> None:
    tokens, nonce = sign_in(provider, CONSOLE)
    claims = verify(provider, tokens["id_token"])
    assert claims["iss"] == provider.issuer
    assert claims["aud"] == CONSOLE.client_id
    assert claims["nonce"] == nonce
    assert claims["sub"] == "alice"
    assert claims["email"] == ALICE.email
    assert claims["given_name"] == "Alice"
    assert claims["usual_name"] == "Martin"
    assert claims["siret"] == ALICE.siret
    assert claims["uid"] == "alice-uid"
    assert claims["idp_id"] == "idp-test"
    assert 3500 <= claims["exp"] - claims["iat"] <= 3600

    userinfo = httpx.get(
        provider.discovery()["userinfo_endpoint"],
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
        timeout=5,
    )
    assert userinfo.status_code == 200
    assert userinfo.json()["siret"] == ALICE.siret
    assert userinfo.json()["usual_name"] == "Martin"


def test_public_client_and_email_login(provider: Provider) -> None:
    tokens, _ = sign_in(provider, PUBLIC, login=BOB.email.upper())
    claims = verify(provider, tokens["id_token"], PUBLIC)
    assert claims["sub"] == "bob"
    assert "siret" not in claims


def test_unknown_login_is_refused(provider: Provider) -> None:
    _, challenge = pkce_pair()
    with pytest.raises(OidcFlowError, match="Identifiant inconnu"):
        code_flow_with_login(
            provider.issuer, CONSOLE, "mallory", REDIRECT, code_challenge=challenge, state="s", nonce="n"
        )


def test_login_page_is_stable_for_browser_tests(provider: Provider) -> None:
    _, challenge = pkce_pair()
    with httpx.Client(timeout=5, follow_redirects=True) as http:
        page = http.get(
            provider.discovery()["authorization_endpoint"],
            params={
                "client_id": CONSOLE.client_id,
                "response_type": "code",
                "redirect_uri": REDIRECT,
                "scope": "openid",
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            },
        )
        assert page.status_code == 200
        assert re.search(r'<label for="login">Identifiant</label>', page.text)
        for marker in ('id="login-form"', 'id="login" name="login"', 'id="password"', 'id="login-submit"'):
            assert marker in page.text
        action = re.search(r'<form id="login-form" method="post" action="([^"]+)"', page.text)
        assert action is not None
        refused = http.post(urljoin(str(page.url), action.group(1)), data={"login": "nobody"})
        assert refused.status_code == 401
        assert 'id="login-error"' in refused.text


def test_pkce_is_required(provider: Provider) -> None:
    response = httpx.get(
        provider.discovery()["authorization_endpoint"],
        params={
            "client_id": CONSOLE.client_id,
            "response_type": "code",
            "redirect_uri": REDIRECT,
            "scope": "openid",
            "state": "xyz",
        },
        timeout=5,
    )
    assert response.is_redirect
    query = parse_qs(urlsplit(response.headers["location"]).query)
    assert query["error"] == ["invalid_request"]
    assert "PKCE" in query["error_description"][0]
    assert "code" not in query


def test_code_verifier_must_match(provider: Provider) -> None:
    _, challenge = pkce_pair()
    code = code_flow_with_login(
        provider.issuer, CONSOLE, "alice", REDIRECT, code_challenge=challenge, state="s", nonce="n"
    )
    wrong_verifier, _ = pkce_pair()
    with pytest.raises(OidcFlowError, match="invalid_grant"):
        exchange_code(provider.issuer, CONSOLE, code, REDIRECT, wrong_verifier)


def test_rp_initiated_logout_redirects_to_post_logout_uri(provider: Provider) -> None:
    verifier, challenge = pkce_pair()
    with httpx.Client(timeout=5) as http:
        code = code_flow_with_login(
            provider.issuer,
            CONSOLE,
            "alice",
            REDIRECT,
            code_challenge=challenge,
            state="s",
            nonce="n",
            http=http,
        )
        id_token = exchange_code(provider.issuer, CONSOLE, code, REDIRECT, verifier)["id_token"]
        page = http.get(
            provider.discovery()["end_session_endpoint"],
            params={"id_token_hint": id_token, "post_logout_redirect_uri": AFTER_LOGOUT, "state": "bye"},
        )
        assert page.status_code == 200
        assert 'id="logout-confirm"' in page.text
        action = re.search(r'<form id="op.logoutForm" method="post" action="([^"]+)"', page.text)
        xsrf = re.search(r'name="xsrf" value="([^"]+)"', page.text)
        assert action is not None and xsrf is not None
        done = http.post(action.group(1), data={"xsrf": xsrf.group(1), "logout": "yes"})
        assert done.is_redirect
        assert done.headers["location"] == f"{AFTER_LOGOUT}?state=bye"


def test_key_rotation_keeps_old_tokens_verifiable(provider: Provider) -> None:
    before, _ = sign_in(provider, CONSOLE)
    old_kid = jwt.get_unverified_header(before["id_token"])["kid"]

    new_kid = provider.rotate_keys()
    assert new_kid != old_kid
    after, _ = sign_in(provider, CONSOLE)
    assert jwt.get_unverified_header(after["id_token"])["kid"] == new_kid
    kids = [key["kid"] for key in provider.jwks()["keys"]]
    assert kids[:2] == [new_kid, old_kid]
    assert all("d" not in key for key in provider.jwks()["keys"])
    assert verify(provider, after["id_token"])["sub"] == "alice"
    assert verify(provider, before["id_token"])["sub"] == "alice"

    # The spare key from Python is used up: node generates the next one.
    third = provider.rotate_keys()
    assert third not in (new_kid, old_kid)
    assert [key["kid"] for key in provider.jwks()["keys"]] == [third, new_kid, old_kid]


def test_restart_keeps_the_same_keys(tmp_path: Path) -> None:
    port = free_port()
    first = start_provider(tmp_path, port, [CONSOLE], [ALICE])
    try:
        kids = [key["kid"] for key in first.jwks()["keys"]]
        again = start_provider(tmp_path, port, [CONSOLE], [ALICE])
        assert again.pid == first.pid  # same config: the running provider is kept
    finally:
        first.stop()
    restarted = start_provider(tmp_path, port, [CONSOLE], [ALICE, BOB])
    try:
        assert restarted.pid != first.pid
        assert [key["kid"] for key in restarted.jwks()["keys"]] == kids
        with pytest.raises(OidcProviderError, match="test_admin"):
            restarted.rotate_keys()
    finally:
        restarted.stop()


def test_missing_node_modules_say_what_to_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(oidc_provider, "OIDC_DIR", tmp_path)
    assert not oidc_provider.node_ready()
    with pytest.raises(OidcProviderError, match="make oidc"):
        start_provider(tmp_path / "state", free_port(), [CONSOLE], [ALICE])
