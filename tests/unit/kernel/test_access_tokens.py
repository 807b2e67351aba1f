"""AccessPolicy.admit refuses what the verifier refuses and checks the role on every
call, a verified token being remembered by the verifier (tests/unit/kernel/test_auth.py)."""

from __future__ import annotations

from typing import Any

import pytest

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


def test_admit_asks_the_verifier_on_every_call() -> None:
    verifier = CountingVerifier()
    admitting = policy(verifier)
    token = mint(SECRET, "agent-a", Role.TRAVAILLEUR_SOCIAL, ["55029"], ttl_s=3600)
    first = admitting.admit("/s/Read", header(f" {token} "))
    assert admitting.admit("/s/Read", header(token)) == first
    assert verifier.calls == 2 and first.subject == "agent-a"
    assert verifier.real._cache.keys() == {token}  # the verifier remembers it, stripped


def test_bad_tokens_and_roles_are_still_refused() -> None:
    verifier = CountingVerifier()
    admitting = policy(verifier)
    forged = mint("another-secret-of-enough-length-too", "agent-a", Role.TRAVAILLEUR_SOCIAL, ["55029"])
    for _ in range(2):
        with pytest.raises(Unauthenticated):
            admitting.admit("/s/Read", header(forged))
    assert not verifier.real._cache  # a refused token is never remembered
    reception = mint(SECRET, "agent-b", Role.ACCUEIL, ["55029"])
    for _ in range(2):
        with pytest.raises(PermissionDenied):
            admitting.admit("/s/Read", header(reception))
    assert reception in verifier.real._cache  # remembered as verified, the role checked on every call
    with pytest.raises(Unauthenticated):
        admitting.admit("/s/Read", {"authorization": "Basic abc"})
