"""Secrets of a local stack: the JWT signing secret and the Temporal payload keys.

Generated once per state folder (mode 600) so that restarts keep reading old payloads
and old tokens. A real deployment injects its own (ENTRAIDE_JWT_SECRET or
ENTRAIDE_JWT_PUBLIC_KEY, ENTRAIDE_PAYLOAD_KEYS) from its secret store.
"""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

SECRET_NAMES = ("ENTRAIDE_JWT_SECRET", "ENTRAIDE_PAYLOAD_KEYS", "ENTRAIDE_DOCUMENT_KEYS")


def new_payload_key(key_id: str) -> str:
    """One entry of ENTRAIDE_PAYLOAD_KEYS: `<key id>:<base64 of 32 random bytes>`."""
    return f"{key_id}:{base64.b64encode(secrets.token_bytes(32)).decode()}"


def generate() -> dict[str, str]:
    return {
        "ENTRAIDE_JWT_SECRET": secrets.token_urlsafe(48),
        "ENTRAIDE_PAYLOAD_KEYS": new_payload_key("k1"),
        # Supporting documents' key (services/intake/documents/crypto.py), same format.
        "ENTRAIDE_DOCUMENT_KEYS": new_payload_key("d1"),
    }


def ensure_secrets(state_dir: Path, env: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The environment's secrets when set, else those stored in `state_dir/secrets.env`."""
    path = state_dir / "secrets.env"
    stored: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            key, _, value = line.partition("=")
            stored[key] = value
    missing = {k: v for k, v in generate().items() if k not in stored}
    if missing:
        stored.update(missing)
        state_dir.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text("".join(f"{k}={v}\n" for k, v in stored.items()))
    return {name: env.get(name) or stored[name] for name in SECRET_NAMES}
