"""AccessPolicy.admit remembers a verified token until its expiry (at most a minute),
and still refuses what the verifier refuses."""

from __future__ import annotations

from typing import Any

import pytest

from kernel import access
from kernel.access import AccessPolicy, rule
from kernel.auth import Claims, Role, TokenVerifier, mint
from kernel.errors import PermissionDenied, Unauthenticated

SECRET = "token-cache-test-secret-of-enough-length"


class CountingVerifier:
    def __init__(self) -> None:
        self.real = TokenVerifier.from_env({"ENTRAIDE_JWT_SECRET": SECRET})
        self.calls = 0

    def verify(self, token: str) -> Claims:
        self.calls += 1
        return self.real.verify(token)


def policy(verifier: Any) -> AccessPolicy:
    return AccessPolicy("test", {"Read": rule(Role.TRAVAILLEUR_SOCIAL, access="read")}, verifier)


def header(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def test_a_token_is_verified_once_then_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    verifier = CountingVerifier()
    admitting = policy(verifier)
    token = mint(SECRET, "agent-a", Role.TRAVAILLEUR_SOCIAL, ["55029"], ttl_s=3600)
    now = [1_000_000.0]
    monkeypatch.setattr(access, "_now", lambda: now[0])
    first = admitting.admit("/s/Read", header(token))
    assert admitting.admit("/s/Read", header(token)) == first
    assert verifier.calls == 1 and first.subject == "agent-a"
    now[0] += access.TOKEN_CACHE_S + 1  # past the bound: verified again
    admitting.admit("/s/Read", header(token))
    assert verifier.calls == 2


def test_a_remembered_token_is_forgotten_at_its_expiry(monkeypatch: pytest.MonkeyPatch) -> None:
    verifier = CountingVerifier()
    admitting = policy(verifier)
    token = mint(SECRET, "agent-a", Role.TRAVAILLEUR_SOCIAL, ["55029"], ttl_s=10)
    expiry = access._expiry(token)
    assert expiry > 0
    monkeypatch.setattr(access, "_now", lambda: expiry - 5)
    admitting.admit("/s/Read", header(token))
    monkeypatch.setattr(access, "_now", lambda: expiry + 1)
    admitting.admit("/s/Read", header(token))  # within the verifier's leeway, verified again
    assert verifier.calls == 2


def test_bad_tokens_and_roles_are_still_refused() -> None:
    verifier = CountingVerifier()
    admitting = policy(verifier)
    forged = mint("another-secret-of-enough-length-too", "agent-a", Role.TRAVAILLEUR_SOCIAL, ["55029"])
    for _ in range(2):
        with pytest.raises(Unauthenticated):
            admitting.admit("/s/Read", header(forged))
    assert verifier.calls == 2  # a refused token is never remembered
    reception = mint(SECRET, "agent-b", Role.ACCUEIL, ["55029"])
    for _ in range(2):
        with pytest.raises(PermissionDenied):
            admitting.admit("/s/Read", header(reception))
    assert verifier.calls == 3  # remembered as verified, the role checked on every call


def test_the_expiry_of_an_unreadable_token_is_zero() -> None:
    assert access._expiry("not-a-jwt") == 0.0
    assert access._expiry("a.!!!.c") == 0.0
