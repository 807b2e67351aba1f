"""The S3 backend of the document store against a real S3-compatible server (moto's,
started here on a free port): a bucket created, sealed bytes put, read back and deleted,
requests path-style and SigV4-signed (moto does not check signatures: a real bucket's
credentials are a deployment test); an unreachable store or an error answer is
StoreUnavailable (UNAVAILABLE to the caller), never a silent success."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.intake.documents.storage import S3Store, StoreUnavailable, store_from_env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = shutil.which("moto_server") or str(Path(sys.executable).parent / "moto_server")
    port = free_port()
    process = subprocess.Popen(
        [server, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


async def test_put_get_delete_on_an_s3_compatible_store(s3_endpoint: str) -> None:
    store = store_from_env(
        {
            "ENTRAIDE_DOCUMENT_STORE": f"s3://pieces-ccas?endpoint={s3_endpoint}&region=eu-west-3",
            "ENTRAIDE_S3_ACCESS_KEY_ID": "testing",
            "ENTRAIDE_S3_SECRET_ACCESS_KEY": "testing",
        }
    )
    assert isinstance(store, S3Store)
    await store.create_bucket()
    await store.put("0f1e2d3c-document", b"\x00sealed bytes\xff")
    assert await store.get("0f1e2d3c-document") == b"\x00sealed bytes\xff"
    await store.delete("0f1e2d3c-document")
    with pytest.raises(StoreUnavailable):
        await store.get("0f1e2d3c-document")


async def test_an_unreachable_store_is_unavailable() -> None:
    store = S3Store(f"http://127.0.0.1:{free_port()}", "pieces", "eu-west-3", "k", "s")
    with pytest.raises(StoreUnavailable):
        await store.put("key", b"x")
