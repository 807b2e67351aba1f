"""The console's settings, read from the environment once at start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

CONSOLE_PORT_VAR = "ENTRAIDE_CONSOLE_PORT"
DEFAULT_PORT = 58080
DEFAULT_IDLE_TIMEOUT_S = 30 * 60
# Lifetime of the bearer token minted for one page's gRPC calls: short, since it is
# minted again for every request from the agents directory.
SERVICE_TOKEN_TTL_S = 300


@dataclass(frozen=True)
class Theme:
    """What a deployment re-themes: its name, logo and main colour."""

    name: str
    logo_url: str
    primary_colour: str


@dataclass(frozen=True)
class OidcSettings:
    issuer: str
    client_id: str
    client_secret: str
    # Space-separated scopes; ProConnect needs "openid email given_name usual_name siret".
    scopes: str
    label: str


@dataclass(frozen=True)
class ConsoleSettings:
    host: str
    port: int
    # The address people type (https://… behind TLS); redirect URIs derive from it.
    public_url: str
    idle_timeout_s: int
    # uvicorn worker processes on this machine.
    workers: int
    dev_sign_in: bool
    oidc: OidcSettings | None
    theme: Theme
    env: Mapping[str, str]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ConsoleSettings:
        env = dict(os.environ if env is None else env)
        host = env.get("ENTRAIDE_CONSOLE_HOST", "127.0.0.1")
        port = int(env.get(CONSOLE_PORT_VAR, str(DEFAULT_PORT)))
        issuer = env.get("ENTRAIDE_OIDC_ISSUER", "")
        oidc = (
            OidcSettings(
                issuer=issuer.rstrip("/"),
                client_id=env.get("ENTRAIDE_OIDC_CLIENT_ID", "entraide-console"),
                client_secret=env.get("ENTRAIDE_OIDC_CLIENT_SECRET", ""),
                scopes=env.get("ENTRAIDE_OIDC_SCOPES", "openid email profile"),
                label=env.get("ENTRAIDE_OIDC_LABEL", "Se connecter avec votre compte professionnel"),
            )
            if issuer
            else None
        )
        return cls(
            host=host,
            port=port,
            public_url=env.get("ENTRAIDE_CONSOLE_URL", f"http://{host}:{port}").rstrip("/"),
            idle_timeout_s=int(env.get("ENTRAIDE_CONSOLE_IDLE_TIMEOUT_S", str(DEFAULT_IDLE_TIMEOUT_S))),
            workers=max(1, int(env.get("ENTRAIDE_CONSOLE_WORKERS", "1"))),
            dev_sign_in=env.get("ENTRAIDE_CONSOLE_DEV_SIGN_IN", "") == "1",
            oidc=oidc,
            theme=Theme(
                name=env.get("ENTRAIDE_CONSOLE_NAME", "Entraide"),
                logo_url=env.get("ENTRAIDE_CONSOLE_LOGO_URL", ""),
                primary_colour=env.get("ENTRAIDE_CONSOLE_COLOUR", "#1d4e89"),
            ),
            env=env,
        )

    @property
    def secure_cookies(self) -> bool:
        """Secure cookies behind TLS (a plain-HTTP local stack cannot use them)."""
        return urlsplit(self.public_url).scheme == "https"

    @property
    def redirect_uri(self) -> str:
        return f"{self.public_url}/connexion/retour"
