"""Where the sealed bytes of documents live, behind one interface: `LocalDiskStore`
(the default: ENTRAIDE_DOCUMENT_STORE=file:///path, else the state directory's
`documents/`) or `S3Store`, any S3-compatible object store
(ENTRAIDE_DOCUMENT_STORE=s3://bucket?endpoint=https://...&region=..., credentials in
ENTRAIDE_S3_ACCESS_KEY_ID / ENTRAIDE_S3_SECRET_ACCESS_KEY; path-style requests signed
with AWS Signature Version 4). Keys are opaque (a random id): nothing personal in a
path. The store only ever sees sealed bytes (services.intake.documents.crypto)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, quote, urlparse

import httpx2 as httpx

from kernel.errors import Unavailable


class DocumentStore(Protocol):
    async def put(self, key: str, data: bytes) -> None: ...

    async def get(self, key: str) -> bytes: ...

    async def delete(self, key: str) -> None: ...


class LocalDiskStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        if not key.replace("-", "").isalnum():
            raise ValueError("a document key is an opaque id")
        return self.root / key[:2] / key

    async def put(self, key: str, data: bytes) -> None:
        await asyncio.to_thread(self._put, key, data)

    def _put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        partial = path.with_suffix(".part")
        with open(partial, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(partial, path)

    async def get(self, key: str) -> bytes:
        return await asyncio.to_thread(self._path(key).read_bytes)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._path(key).unlink, True)


class StoreUnavailable(Unavailable):
    """The object store answered an error or could not be reached: UNAVAILABLE, the
    caller retries (nothing was written: the row follows the bytes)."""

    def __init__(self, message: str) -> None:
        super().__init__(
            message,
            fr="Le stockage des pièces justificatives ne répond pas : réessayez dans un instant.",
            reason="DOCUMENT_STORE_UNAVAILABLE",
        )


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


class S3Store:
    """An S3-compatible bucket, path-style (`<endpoint>/<bucket>/<key>`), SigV4-signed."""

    def __init__(self, endpoint: str, bucket: str, region: str, access_key: str, secret_key: str) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.bucket = bucket
        self.region = region
        self.access_key = access_key
        self.secret_key = secret_key
        self.host = urlparse(self.endpoint).netloc

    def signed_headers(self, method: str, path: str, payload: bytes, now: datetime) -> dict[str, str]:
        amz_date = now.strftime("%Y%m%dT%H%M%SZ")
        day = amz_date[:8]
        payload_hash = hashlib.sha256(payload).hexdigest()
        headers = {"host": self.host, "x-amz-content-sha256": payload_hash, "x-amz-date": amz_date}
        names = sorted(headers)
        canonical = "\n".join(
            [method, path, "", *(f"{n}:{headers[n]}" for n in names), "", ";".join(names), payload_hash]
        )
        scope = f"{day}/{self.region}/s3/aws4_request"
        to_sign = "\n".join(
            ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
        )
        key = _hmac(
            _hmac(_hmac(_hmac(f"AWS4{self.secret_key}".encode(), day), self.region), "s3"), "aws4_request"
        )
        signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        headers["authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={self.access_key}/{scope}, SignedHeaders={';'.join(names)},"
            f" Signature={signature}"
        )
        return headers

    async def _call(self, method: str, key: str, payload: bytes = b"") -> bytes:
        path = f"/{quote(self.bucket)}/{quote(key)}" if key else f"/{quote(self.bucket)}"
        headers = self.signed_headers(method, path, payload, datetime.now(UTC))
        try:
            async with httpx.AsyncClient(timeout=30) as client:
                response = await client.request(
                    method, self.endpoint + path, headers=headers, content=payload
                )
        except httpx.HTTPError as exc:
            raise StoreUnavailable(f"document store unreachable: {type(exc).__name__}") from None
        if response.status_code == 404 and method == "DELETE":
            return b""
        if response.status_code >= 300:
            raise StoreUnavailable(f"document store answered {response.status_code} to {method}")
        return bytes(response.content)

    async def create_bucket(self) -> None:
        """For a new deployment or a test (production buckets are provisioned)."""
        body = b""
        if self.region != "us-east-1":
            body = (
                "<CreateBucketConfiguration><LocationConstraint>"
                f"{self.region}</LocationConstraint></CreateBucketConfiguration>"
            ).encode()
        await self._call("PUT", "", body)

    async def put(self, key: str, data: bytes) -> None:
        await self._call("PUT", key, data)

    async def get(self, key: str) -> bytes:
        return await self._call("GET", key)

    async def delete(self, key: str) -> None:
        await self._call("DELETE", key)


def store_from_env(env: Mapping[str, str]) -> DocumentStore:
    raw = env.get("ENTRAIDE_DOCUMENT_STORE", "")
    if not raw:
        state = env.get("ENTRAIDE_STATE_DIR") or ".state"
        return LocalDiskStore(Path(state) / "documents")
    url = urlparse(raw)
    if url.scheme == "file":
        return LocalDiskStore(Path(url.path))
    if url.scheme == "s3":
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        return S3Store(
            endpoint=query.get("endpoint", "https://s3.amazonaws.com"),
            bucket=url.netloc,
            region=query.get("region", "us-east-1"),
            access_key=env.get("ENTRAIDE_S3_ACCESS_KEY_ID", ""),
            secret_key=env.get("ENTRAIDE_S3_SECRET_ACCESS_KEY", ""),
        )
    raise ValueError(f"ENTRAIDE_DOCUMENT_STORE: unsupported store {url.scheme!r} (file:// or s3://)")
