"""OpenID Connect sign-in: authorization code with PKCE (S256), against any compliant
provider (ProConnect for public agents, a CCAS's Keycloak…), by configuration.

Authlib builds the authorization request and exchanges the code; the ID token is
verified with PyJWT against the provider's JWKS, fetched again when a token names a key
it does not hold (the provider rotated its keys), never more than once per
JWKS_REFRESH_MIN_S.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx2
import jwt
from authlib.integrations.httpx_client import AsyncOAuth2Client

from kernel.db import Connection
from kernel.errors import Unauthenticated
from services.console.directory import SCHEMA
from services.console.settings import OidcSettings

JWKS_REFRESH_MIN_S = 2.0
SIGN_IN_MAX_AGE_S = 600
HTTP_TIMEOUT_S = 10.0
ID_TOKEN_ALGORITHMS = ["RS256", "ES256", "PS256"]


@dataclass(frozen=True)
class Identity:
    """Who the provider says signed in (ProConnect's claims among them)."""

    issuer: str
    subject: str
    email: str
    display_name: str
    siret: str
    id_token: str


def _refused(reason: str, fr: str) -> Unauthenticated:
    return Unauthenticated(f"sign-in refused: {reason}", fr=fr, reason="SIGN_IN_REFUSED")


def display_name(claims: dict[str, Any]) -> str:
    """ProConnect gives given_name and usual_name (nom d'usage); others give name or family_name."""
    given = str(claims.get("given_name", "")).strip()
    family = str(claims.get("usual_name") or claims.get("family_name") or "").strip()
    return " ".join(p for p in (given, family) if p) or str(claims.get("name", "")).strip()


class OidcClient:
    def __init__(self, settings: OidcSettings, redirect_uri: str) -> None:
        self.settings = settings
        self.redirect_uri = redirect_uri
        self._metadata: dict[str, Any] | None = None
        self._jwks: jwt.PyJWKSet | None = None
        self._jwks_fetched_at = 0.0
        self._lock = asyncio.Lock()

    def _http(self) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(timeout=HTTP_TIMEOUT_S)

    async def metadata(self) -> dict[str, Any]:
        if self._metadata is None:
            async with self._http() as http:
                reply = await http.get(f"{self.settings.issuer}/.well-known/openid-configuration")
                reply.raise_for_status()
                found: dict[str, Any] = reply.json()
            if found.get("issuer", "").rstrip("/") != self.settings.issuer:
                raise RuntimeError("the provider's metadata names another issuer")
            self._metadata = found
        return self._metadata

    def _oauth(self) -> AsyncOAuth2Client:
        secret = self.settings.client_secret
        return AsyncOAuth2Client(
            client_id=self.settings.client_id,
            client_secret=secret or None,
            token_endpoint_auth_method="client_secret_basic" if secret else "none",
            scope=self.settings.scopes,
            redirect_uri=self.redirect_uri,
            code_challenge_method="S256",
            timeout=HTTP_TIMEOUT_S,
        )

    async def begin(self, conn: Connection, return_to: str) -> str:
        """The provider's authorization URL; the state, PKCE verifier and nonce are kept
        in PostgreSQL (any console process may receive the callback)."""
        meta = await self.metadata()
        state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
        async with self._oauth() as oauth:
            url, _ = oauth.create_authorization_url(
                meta["authorization_endpoint"], state=state, code_verifier=verifier, nonce=nonce
            )
        await conn.execute(
            f"""INSERT INTO {SCHEMA}.sign_ins (state, code_verifier, nonce, return_to, created_at)
                VALUES ($1, $2, $3, $4, $5)""",
            state,
            verifier,
            nonce,
            return_to,
            datetime.now(UTC),
        )
        return str(url)

    async def finish(self, conn: Connection, state: str, code: str) -> tuple[Identity, str]:
        """Exchanges the code (once: the state is consumed) and verifies the ID token;
        returns the identity and where the person was going."""
        row = await conn.fetchrow(f"DELETE FROM {SCHEMA}.sign_ins WHERE state = $1 RETURNING *", state)
        if row is None or (datetime.now(UTC) - row["created_at"]).total_seconds() > SIGN_IN_MAX_AGE_S:
            raise _refused(
                "unknown or expired state",
                "Cette connexion a expiré ou a déjà servi : recommencez la connexion.",
            )
        meta = await self.metadata()
        async with self._oauth() as oauth:
            try:
                token = await oauth.fetch_token(
                    meta["token_endpoint"], code=code, code_verifier=row["code_verifier"]
                )
            except Exception as exc:  # authlib raises OAuthError, httpx2 its own errors
                raise _refused(
                    f"token exchange failed ({type(exc).__name__})",
                    "Le fournisseur d'identité a refusé la connexion : recommencez.",
                ) from None
        id_token = str(token.get("id_token", ""))
        claims = await self.verify_id_token(id_token, row["nonce"])
        email = str(claims.get("email", ""))
        if not email and "userinfo_endpoint" in meta:
            claims = {
                **(await self._userinfo(meta["userinfo_endpoint"], str(token["access_token"]))),
                **claims,
            }
            email = str(claims.get("email", ""))
        identity = Identity(
            issuer=str(claims["iss"]),
            subject=str(claims["sub"]),
            email=email,
            display_name=display_name(claims),
            siret=str(claims.get("siret", "")),
            id_token=id_token,
        )
        return identity, row["return_to"]

    async def _userinfo(self, url: str, access_token: str) -> dict[str, Any]:
        async with self._http() as http:
            reply = await http.get(url, headers={"Authorization": f"Bearer {access_token}"})
            reply.raise_for_status()
            found: dict[str, Any] = reply.json()
            return found

    async def _keys(self, refresh: bool) -> jwt.PyJWKSet:
        async with self._lock:
            stale = time.monotonic() - self._jwks_fetched_at > JWKS_REFRESH_MIN_S
            if self._jwks is None or (refresh and stale):
                meta = await self.metadata()
                async with self._http() as http:
                    reply = await http.get(meta["jwks_uri"])
                    reply.raise_for_status()
                    self._jwks = jwt.PyJWKSet.from_dict(reply.json())
                self._jwks_fetched_at = time.monotonic()
            return self._jwks

    async def _key_for(self, kid: str) -> jwt.PyJWK:
        for refresh in (False, True):
            keys = await self._keys(refresh)
            for key in keys.keys:
                if key.key_id == kid:
                    return key
        raise _refused(
            f"no key {kid!r} in the provider's JWKS", "Le jeton du fournisseur d'identité est invalide."
        )

    async def verify_id_token(self, id_token: str, nonce: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(id_token)
        except jwt.InvalidTokenError:
            raise _refused("malformed id_token", "Le jeton du fournisseur d'identité est invalide.") from None
        key = await self._key_for(str(header.get("kid", "")))
        try:
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key.key,
                algorithms=ID_TOKEN_ALGORITHMS,
                audience=self.settings.client_id,
                issuer=self.settings.issuer,
                leeway=30,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
        except jwt.InvalidTokenError as exc:
            raise _refused(
                f"id_token rejected ({type(exc).__name__})",
                "Le jeton du fournisseur d'identité est invalide.",
            ) from None
        if not secrets.compare_digest(str(claims.get("nonce", "")), nonce):
            raise _refused("nonce mismatch", "Le jeton du fournisseur d'identité est invalide.")
        return claims

    async def end_session_url(self, id_token: str, post_logout_redirect_uri: str) -> str | None:
        """RP-initiated sign-out at the provider, when it offers it."""
        meta = await self.metadata()
        endpoint = meta.get("end_session_endpoint")
        if not endpoint:
            return None
        query = httpx2.QueryParams(
            {
                "id_token_hint": id_token,
                "post_logout_redirect_uri": post_logout_redirect_uri,
                "client_id": self.settings.client_id,
            }
        )
        return f"{endpoint}?{query}"
