"""Temporal payload encryption: what Temporal stores (inputs, results, update arguments,
query answers, memos, failures' details, messages and stack traces) is AES-256-GCM
ciphertext, never a person's data. Search attributes are not encrypted: codes only.

Each encrypted payload carries the id of the key that encrypted it, so keys rotate:
ENTRAIDE_PAYLOAD_KEYS = `<id>:<base64 32 bytes>,<id>:<base64>...`, the first one encrypts,
all of them decrypt. The key id is also bound to the ciphertext (associated data): a
payload relabelled with another key id fails authentication. Payloads without the
encrypted marker (histories recorded before encryption) are passed through unchanged.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
from collections.abc import Mapping, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes, PayloadCodec

KEYS_VAR = "ENTRAIDE_PAYLOAD_KEYS"
# The codec server (kernel.codec_server) that shows payloads in the Temporal UI.
CODEC_PORT_VAR = "ENTRAIDE_CODEC_PORT"
DEFAULT_CODEC_PORT = 58234
ENCODING = b"binary/encrypted"
KEY_ID_METADATA = "encryption-key-id"
NONCE_SIZE = 12
KEY_SIZE = 32


class EncryptionCodec(PayloadCodec):
    """Encrypts with the first key; decrypts with whichever key the payload names."""

    def __init__(self, keys: Sequence[tuple[str, bytes]]) -> None:
        super().__init__()
        if not keys:
            raise ValueError("EncryptionCodec needs at least one key")
        self._ciphers: dict[str, AESGCM] = {}
        for key_id, key in keys:
            _check_key(key_id, key)
            if key_id in self._ciphers:
                raise ValueError(f"payload key id {key_id!r} appears twice")
            self._ciphers[key_id] = AESGCM(key)
        self.current_key_id = keys[0][0]

    @property
    def key_ids(self) -> list[str]:
        return list(self._ciphers)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(p) for p in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        key_id = self.current_key_id
        nonce = os.urandom(NONCE_SIZE)
        sealed = self._ciphers[key_id].encrypt(nonce, payload.SerializeToString(), key_id.encode())
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID_METADATA: key_id.encode()},
            data=nonce + sealed,
        )

    def decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload  # recorded before encryption, or never encrypted
        key_id = payload.metadata.get(KEY_ID_METADATA, b"").decode(errors="replace")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise ValueError(
                f"payload encrypted with unknown key id {key_id!r} (known: {', '.join(self._ciphers)}); "
                f"add that key to {KEYS_VAR}"
            )
        if len(payload.data) <= NONCE_SIZE:
            raise ValueError(f"encrypted payload (key id {key_id!r}) is truncated")
        try:
            clear = cipher.decrypt(payload.data[:NONCE_SIZE], payload.data[NONCE_SIZE:], key_id.encode())
        except InvalidTag:
            raise ValueError(
                f"encrypted payload (key id {key_id!r}) failed authentication: tampered or wrong key"
            ) from None
        return Payload.FromString(clear)


def _check_key(key_id: str, key: bytes) -> None:
    if not key_id or any(c in key_id for c in ":, \t\n"):
        raise ValueError(f"payload key id {key_id!r} must be non-empty, without ':', ',' or spaces")
    if len(key) != KEY_SIZE:
        raise ValueError(f"payload key {key_id!r} is {len(key)} bytes; AES-256 needs {KEY_SIZE}")


def parse_keys(raw: str) -> list[tuple[str, bytes]]:
    """`<id>:<base64>,<id>:<base64>` → [(id, key)], current key first. Errors name the key id,
    never the key material."""
    keys: list[tuple[str, bytes]] = []
    seen: set[str] = set()
    for position, entry in enumerate(raw.split(","), start=1):
        entry = entry.strip()
        if not entry:
            continue
        key_id, sep, encoded = entry.partition(":")
        key_id = key_id.strip()
        if not sep or not key_id:
            raise ValueError(f"{KEYS_VAR}: entry {position} is not `<key id>:<base64 key>`")
        try:
            key = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"{KEYS_VAR}: key {key_id!r} is not valid base64") from None
        if key_id in seen:
            raise ValueError(f"{KEYS_VAR}: key id {key_id!r} appears twice")
        _check_key(key_id, key)
        seen.add(key_id)
        keys.append((key_id, key))
    if not keys:
        raise ValueError(f"{KEYS_VAR} holds no key")
    return keys


def keys_from_env(env: Mapping[str, str]) -> list[tuple[str, bytes]]:
    raw = env.get(KEYS_VAR)
    if raw is None or not raw.strip():
        raise RuntimeError(
            f"{KEYS_VAR} is not set: Temporal payloads are always encrypted and there is no key "
            "(set `<key id>:<base64 of 32 bytes>`, e.g. from devstack.secrets.new_payload_key)"
        )
    return parse_keys(raw)


def codec_from_env(env: Mapping[str, str]) -> EncryptionCodec:
    return EncryptionCodec(keys_from_env(env))


def data_converter(env: Mapping[str, str]) -> DataConverter:
    """The default converter with payload encryption: for every client, worker and replayer.

    Failures' messages and stack traces are encrypted too (they move into the failure's
    encoded attributes): an activity's exception may quote the values it was given.
    """
    return dataclasses.replace(
        DataConverter.default,
        payload_codec=codec_from_env(env),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
