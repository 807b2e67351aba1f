"""Envelope encryption of supporting documents: each document's bytes are sealed with a
data key of their own (AES-256-GCM, the document id as associated data); the data key
is sealed with the deployment's current key (ENTRAIDE_DOCUMENT_KEYS, the format of
kernel.codec's ENTRAIDE_PAYLOAD_KEYS: `<id>:<base64 32 bytes>,...`, the first one seals,
all of them open). Rotating keys means re-sealing the data keys only
(services.intake.documents.rotate), never the documents."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kernel.codec import parse_keys

KEYS_VAR = "ENTRAIDE_DOCUMENT_KEYS"
NONCE = 12


@dataclass(frozen=True)
class Sealed:
    content: bytes
    key_id: str
    wrapped_key: bytes


class DocumentKeys:
    def __init__(self, keys: list[tuple[str, bytes]]) -> None:
        if not keys:
            raise ValueError(f"{KEYS_VAR} holds no key")
        self.current = keys[0][0]
        self._keys = {key_id: AESGCM(key) for key_id, key in keys}

    def seal(self, document_id: str, content: bytes) -> Sealed:
        data_key = AESGCM.generate_key(bit_length=256)
        nonce = os.urandom(NONCE)
        sealed = nonce + AESGCM(data_key).encrypt(nonce, content, document_id.encode())
        return Sealed(sealed, self.current, self.wrap(document_id, data_key))

    def wrap(self, document_id: str, data_key: bytes, key_id: str | None = None) -> bytes:
        key_id = key_id or self.current
        nonce = os.urandom(NONCE)
        return nonce + self._keys[key_id].encrypt(nonce, data_key, f"{key_id}:{document_id}".encode())

    def unwrap(self, document_id: str, key_id: str, wrapped: bytes) -> bytes:
        if key_id not in self._keys:
            raise KeyError(f"document key {key_id!r} is not in {KEYS_VAR}: add it back to read this document")
        return self._keys[key_id].decrypt(
            wrapped[:NONCE], wrapped[NONCE:], f"{key_id}:{document_id}".encode()
        )

    def open(self, document_id: str, key_id: str, wrapped: bytes, sealed: bytes) -> bytes:
        data_key = self.unwrap(document_id, key_id, wrapped)
        return AESGCM(data_key).decrypt(sealed[:NONCE], sealed[NONCE:], document_id.encode())


def keys_from_env(env: Mapping[str, str]) -> DocumentKeys:
    raw = env.get(KEYS_VAR, "").strip()
    if not raw:
        raise RuntimeError(
            f"{KEYS_VAR} is not set: documents are always encrypted (devstack.secrets makes one)"
        )
    return DocumentKeys(parse_keys(raw))
