"""Authentication: bearer tokens shaped like OpenID Connect ID tokens.

Tokens are JWTs signed with the deployment's key (HS256 with ENTRAIDE_JWT_SECRET, or
RS256/ES256 verified with ENTRAIDE_JWT_PUBLIC_KEY when an identity provider issues
them). Standard claims: iss, sub, aud, exp, iat, name. Entraide's claims:
`entraide_role`, `entraide_territories` (commune codes) and, for partners,
`entraide_partner_id`. The caller's claims live in a context variable for the
duration of one RPC.
"""

from __future__ import annotations

import contextvars
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import jwt

from kernel.errors import InvalidArgument, PermissionDenied, Unauthenticated

ISSUER = "entraide"
AUDIENCE = "entraide"
DEFAULT_TTL_S = 8 * 3600
# Verified tokens remembered per verifier: how many, and how long at most (a revoked
# signing key or a changed role takes effect within this bound).
TOKEN_CACHE_SIZE = 4096
TOKEN_CACHE_S = 60.0


class Role(StrEnum):
    ACCUEIL = "accueil"
    TRAVAILLEUR_SOCIAL = "travailleur_social"
    RESPONSABLE = "responsable"
    PARTENAIRE = "partenaire"
    ELU = "elu"
    OPS = "ops"
    # An élu référent's or a secrétaire de mairie's account that can only signal residents
    # (SignalService) for the communes it covers, and read its own signals' status.
    SIGNALEUR = "signaleur"
    # Internal services (workflow activities, notifier): never minted for people.
    SERVICE = "service"


# Who works on case files (reads and writes dossiers of their territories).
CASE_ROLES = frozenset({Role.ACCUEIL, Role.TRAVAILLEUR_SOCIAL, Role.RESPONSABLE})
# What a person reads for each role (error messages, the CLI).
ROLE_LABELS: dict[Role, str] = {
    Role.ACCUEIL: "accueil",
    Role.TRAVAILLEUR_SOCIAL: "travailleur social",
    Role.RESPONSABLE: "responsable",
    Role.PARTENAIRE: "partenaire",
    Role.ELU: "élu",
    Role.OPS: "exploitation",
    Role.SIGNALEUR: "signaleur (élu référent, secrétaire de mairie)",
    Role.SERVICE: "service interne",
}
# Refusals a person can act on: the token is missing, expired, or not right.
NO_TOKEN_FR = "Connexion requise : la demande ne porte aucun jeton d'accès. Connectez-vous, puis réessayez."
BAD_TOKEN_FR = (
    "Votre jeton d'accès est mal formé ({what}) : signalez-le à l'exploitation,"
    " qui vous en donnera un nouveau."
)


@dataclass(frozen=True)
class Claims:
    subject: str
    role: Role
    territories: frozenset[str] = field(default_factory=frozenset)
    partner_id: str = ""
    name: str = ""
    # The token's `exp` (epoch seconds); 0 for claims not read from a token.
    expires_at: float = 0.0

    def covers(self, territory: str) -> bool:
        return territory in self.territories

    def require_territory(self, territory: str) -> None:
        """PERMISSION_DENIED unless the caller works in this commune, one the caller named
        (it is quoted back); for a record's commune, see require_dossier_territory."""
        if not self.covers(territory):
            raise PermissionDenied(
                f"the commune {territory[:20]!r} is not one of your territories (entraide_territories)",
                fr=f"La commune « {territory[:20]} » ne fait pas partie de vos communes d'intervention :"
                " demandez à un responsable de vous y affecter.",
                reason="TERRITORY_NOT_ASSIGNED",
            )

    def require_dossier_territory(self, territory: str) -> None:
        """PERMISSION_DENIED unless the caller works in the dossier's commune (not named)."""
        if not self.covers(territory):
            raise PermissionDenied(
                "this dossier belongs to a territory you are not assigned to",
                fr="Ce dossier relève d'une commune qui ne fait pas partie de vos communes d'intervention.",
                reason="TERRITORY_NOT_ASSIGNED",
            )


_current: contextvars.ContextVar[Claims | None] = contextvars.ContextVar("entraide_claims", default=None)


def current() -> Claims:
    """The caller of the RPC being served (set by the auth interceptor)."""
    claims = _current.get()
    if claims is None:
        raise Unauthenticated("this call needs a bearer token", fr=NO_TOKEN_FR, reason="TOKEN_MISSING")
    return claims


def acting_subject(requested: str) -> str:
    """The acting agent is the caller: a request may name it, never someone else."""
    caller = current().subject
    if requested and requested != caller:
        raise InvalidArgument(
            f"agent is the caller (the token's subject, {caller!r}): leave it empty or give your own id",
            fr=f"Le champ agent doit être vide ou égal à votre identifiant (« {caller} ») :"
            " l'agent qui agit est celui du jeton.",
            reason="AGENT_NOT_CALLER",
            field="agent",
        )
    return caller


def set_current(claims: Claims | None) -> contextvars.Token[Claims | None]:
    return _current.set(claims)


def reset_current(token: contextvars.Token[Claims | None]) -> None:
    _current.reset(token)


def _now() -> float:
    return time.time()


@dataclass(frozen=True)
class TokenVerifier:
    """Checks signature, issuer, audience and expiry, then reads Entraide's claims.

    A verified token's claims are remembered until its expiry (at most TOKEN_CACHE_S):
    a console session calls many times with one token, and each signature check costs
    more CPU than the rest of a small read's platform work."""

    key: str
    algorithms: tuple[str, ...]
    issuer: str = ISSUER
    audience: str = AUDIENCE
    leeway_s: float = 30.0
    # Token → (claims, until when they are taken as verified, epoch seconds), oldest
    # first. Mutable state of an otherwise immutable verifier: not compared nor hashed.
    _cache: dict[str, tuple[Claims, float]] = field(
        default_factory=dict, init=False, compare=False, hash=False, repr=False
    )

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> TokenVerifier:
        public_key = env.get("ENTRAIDE_JWT_PUBLIC_KEY")
        if public_key:
            return cls(
                public_key,
                ("RS256", "ES256"),
                env.get("ENTRAIDE_JWT_ISSUER", ISSUER),
                env.get("ENTRAIDE_JWT_AUDIENCE", AUDIENCE),
            )
        secret = env.get("ENTRAIDE_JWT_SECRET")
        if not secret:
            raise RuntimeError("set ENTRAIDE_JWT_SECRET (or ENTRAIDE_JWT_PUBLIC_KEY) to verify bearer tokens")
        return cls(
            secret,
            ("HS256",),
            env.get("ENTRAIDE_JWT_ISSUER", ISSUER),
            env.get("ENTRAIDE_JWT_AUDIENCE", AUDIENCE),
        )

    def verify(self, token: str) -> Claims:
        """The token's claims; raises UNAUTHENTICATED for a bad or expired token."""
        now = _now()
        known = self._cache.get(token)
        if known is not None:
            if now < known[1]:
                return known[0]
            del self._cache[token]
        claims = self._decode(token)  # raises: a refused token is never remembered
        until = min(now + TOKEN_CACHE_S, claims.expires_at)
        # Past its exp (accepted within the leeway), a token is verified on every call.
        if until > now:
            if len(self._cache) >= TOKEN_CACHE_SIZE:
                # The oldest entry: the nearest to its TOKEN_CACHE_S bound anyway.
                self._cache.pop(next(iter(self._cache)), None)
            self._cache[token] = (claims, until)
        return claims

    def _decode(self, token: str) -> Claims:
        try:
            payload: dict[str, Any] = jwt.decode(
                token,
                self.key,
                algorithms=list(self.algorithms),
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway_s,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated(
                "the token has expired",
                fr="Votre session a expiré : reconnectez-vous pour obtenir un nouveau jeton d'accès.",
                reason="TOKEN_EXPIRED",
            ) from None
        except jwt.InvalidTokenError:
            raise Unauthenticated(
                "the token is not valid for this deployment",
                fr="Votre jeton d'accès n'est pas valable pour ce service : reconnectez-vous.",
                reason="TOKEN_INVALID",
            ) from None
        return claims_from(payload)


def claims_from(payload: Mapping[str, Any]) -> Claims:
    try:
        role = Role(payload.get("entraide_role", ""))
    except ValueError:
        raise Unauthenticated(
            "the token carries no Entraide role (entraide_role)",
            fr="Votre jeton d'accès ne vous donne aucun rôle dans Entraide :"
            " demandez à un responsable de vous en attribuer un.",
            reason="TOKEN_CLAIMS_INVALID",
        ) from None
    territories = payload.get("entraide_territories", [])
    if not isinstance(territories, list) or not all(isinstance(t, str) for t in territories):
        raise Unauthenticated(
            "entraide_territories must be a list of commune codes",
            fr=BAD_TOKEN_FR.format(what="liste des communes d'intervention"),
            reason="TOKEN_CLAIMS_INVALID",
        )
    partner_id = str(payload.get("entraide_partner_id", ""))
    if role is Role.PARTENAIRE and not partner_id:
        raise Unauthenticated(
            "a partner's token must carry entraide_partner_id",
            fr=BAD_TOKEN_FR.format(what="il ne dit pas quel partenaire vous représentez"),
            reason="TOKEN_CLAIMS_INVALID",
        )
    subject = str(payload["sub"])
    if not subject or len(subject) > 100:
        raise Unauthenticated(
            "the token's subject (sub) is missing or too long",
            fr=BAD_TOKEN_FR.format(what="votre identifiant manque ou dépasse 100 caractères"),
            reason="TOKEN_CLAIMS_INVALID",
        )
    return Claims(
        subject,
        role,
        frozenset(territories),
        partner_id,
        str(payload.get("name", "")),
        float(payload.get("exp", 0)),
    )


def mint(
    secret: str,
    subject: str,
    role: Role,
    territories: Iterable[str] = (),
    *,
    partner_id: str = "",
    name: str = "",
    ttl_s: int = DEFAULT_TTL_S,
    issuer: str = ISSUER,
    audience: str = AUDIENCE,
) -> str:
    """A development/demo token (HS256). Production tokens come from an identity provider."""
    now = int(time.time())
    payload: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "iat": now,
        "exp": now + ttl_s,
        "jti": uuid.uuid4().hex,
        "entraide_role": role.value,
        "entraide_territories": sorted(territories),
    }
    if name:
        payload["name"] = name
    if partner_id:
        payload["entraide_partner_id"] = partner_id
    return jwt.encode(payload, secret, algorithm="HS256")
