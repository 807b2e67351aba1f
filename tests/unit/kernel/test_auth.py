"""TokenVerifier remembers a verified token until its expiry (at most a minute, a
bounded number of tokens), and never remembers what it refuses."""

from __future__ import annotations

from typing import Any

import jwt
import pytest

from kernel import auth
from kernel.auth import Role, TokenVerifier, mint
from kernel.errors import Unauthenticated

SECRET = "token-cache-test-secret-of-enough-length"


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The tokens whose signature was checked, in order."""
    checked: list[str] = []
    real = jwt.decode

    def counting(token: str, *args: Any, **kwargs: Any) -> Any:
        checked.append(token)
        return real(token, *args, **kwargs)

    monkeypatch.setattr(auth.jwt, "decode", counting)
    return checked


def verifier() -> TokenVerifier:
    return TokenVerifier.from_env({"ENTRAIDE_JWT_SECRET": SECRET})


def test_claims_carry_the_token_expiry() -> None:
    token = mint(SECRET, "agent-a", Role.TRAVAILLEUR_SOCIAL, ["55029"], ttl_s=3600)
    claims = verifier().verify(token)
    assert claims.expires_at == float(jwt.decode(token, options={"verify_signature": False})["exp"])


def test_a_token_is_verified_once_then_remembered(
    monkeypatch: pytest.MonkeyPatch, decodes: list[str]
) -> None:
    checking = verifier()
    token = mint(SECRET, "agent-a", Role.TRAVAILLEUR_SOCIAL, ["55029"], ttl_s=3600)
    now = [1_000_000.0]
    monkeypatch.setattr(auth, "_now", lambda: now[0])
    first = checking.verify(token)
    assert checking.verify(token) == first
    assert len(decodes) == 1 and first.subject == "agent-a"
    now[0] += auth.TOKEN_CACHE_S + 1  # past the bound: verified again
    checking.verify(token)
    assert len(decodes) == 2


def test_a_remembered_token_is_forgotten_at_its_expiry(
    monkeypatch: pytest.MonkeyPatch, decodes: list[str]
) -> None:
    checking = verifier()
    token = mint(SECRET, "agent-a", Role.TRAVAILLEUR_SOCIAL, ["55029"], ttl_s=10)
    expiry = checking.verify(token).expires_at
    checking = verifier()  # a fresh cache
    monkeypatch.setattr(auth, "_now", lambda: expiry - 5)
    checking.verify(token)
    monkeypatch.setattr(auth, "_now", lambda: expiry + 1)
    checking.verify(token)  # within the verifier's leeway, verified again
    checking.verify(token)  # and not remembered past its expiry
    assert len(decodes) == 4


def test_a_refused_token_is_never_remembered(decodes: list[str]) -> None:
    checking = verifier()
    forged = mint("another-secret-of-enough-length-too", "agent-a", Role.TRAVAILLEUR_SOCIAL, ["55029"])
    expired = mint(SECRET, "agent-a", Role.TRAVAILLEUR_SOCIAL, ["55029"], ttl_s=-120)
    for token in (forged, forged, expired, expired):
        with pytest.raises(Unauthenticated):
            checking.verify(token)
    assert len(decodes) == 4


def test_the_cache_is_bounded_oldest_first(monkeypatch: pytest.MonkeyPatch, decodes: list[str]) -> None:
    monkeypatch.setattr(auth, "TOKEN_CACHE_SIZE", 3)
    checking = verifier()
    tokens = [mint(SECRET, f"agent-{n}", Role.ACCUEIL, ["55029"]) for n in range(4)]
    for token in tokens:
        checking.verify(token)
    assert len(checking._cache) == 3 and tokens[0] not in checking._cache
    checking.verify(tokens[3])  # still remembered
    checking.verify(tokens[0])  # evicted: verified again
    assert len(decodes) == 5


def test_verifiers_compare_and_hash_by_configuration() -> None:
    a, b = verifier(), verifier()
    a.verify(mint(SECRET, "agent-a", Role.ACCUEIL, ["55029"]))
    assert a == b and hash(a) == hash(b) and "_cache" not in repr(a)
