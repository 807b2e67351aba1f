"""The local stack's private NATS runs with authentication (devstack/servers.py): the
services' own user, one user per partner of the demo directory with only its own
subjects; a wrong password is refused, partner A cannot read partner B's subjects, and
the partner example in docs/partners runs against it as written."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import nats
import nats.errors
import pytest

from devstack import partner_nats, processes, servers
from services.referral import notifier
from tests.conftest import free_port
from tests.integration.services.referral.test_partner_notifier import connect_as
from tests.paths import REPO

A, B = "caf-meuse", "cresus"


@pytest.fixture
def private_nats(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    url = servers._ensure_nats(tmp_path, free_port(), free_port())
    try:
        yield url, servers.nats_credentials(tmp_path)
    finally:
        processes.stop_process(tmp_path, "nats")


def plain(url: str) -> str:
    parts = urlsplit(url)
    return f"nats://{parts.hostname}:{parts.port}"


async def test_the_services_user_is_in_the_url_and_the_config_is_private(
    private_nats: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    url, passwords = private_nats
    assert urlsplit(url).username == partner_nats.SERVICE_USER
    assert servers.redact(url).count("***") == 1 and passwords[
        partner_nats.SERVICE_USER
    ] not in servers.redact(url)
    for secret_file in (tmp_path / "nats" / "credentials.json", tmp_path / "nats" / "nats.conf"):
        assert secret_file.stat().st_mode & 0o077 == 0, secret_file
    assert set(partner_nats.demo_partner_ids()) <= set(passwords)
    service = await nats.connect(url, allow_reconnect=False)
    await service.close()


async def test_without_or_with_a_wrong_password_nobody_connects(
    private_nats: tuple[str, dict[str, str]],
) -> None:
    url, _ = private_nats
    for user, password in ((None, None), (A, "not-the-password"), (partner_nats.SERVICE_USER, "guess")):
        with pytest.raises((nats.errors.Error, OSError)):
            await nats.connect(
                plain(url), user=user, password=password, allow_reconnect=False, max_reconnect_attempts=0
            )


async def test_partner_a_reads_its_own_subjects_only(private_nats: tuple[str, dict[str, str]]) -> None:
    url, passwords = private_nats
    service = await nats.connect(url, allow_reconnect=False)
    config = notifier.NotifierConfig(schema="unused", events_stream="unused", subject_root="entraide")
    await notifier.ensure_partner_stream(service.jetstream(), config)
    await service.jetstream().publish(f"partners.{A}.referrals.requested", b'{"i": 1}')
    await service.jetstream().publish(f"partners.{B}.referrals.requested", b'{"i": 2}')
    errors: list[str] = []
    a = await connect_as(plain(url), A, passwords[A], errors)
    try:
        own = await a.jetstream().pull_subscribe(f"partners.{A}.>", durable=A, stream="PARTNERS")
        assert [m.subject for m in await own.fetch(5, timeout=2)] == [f"partners.{A}.referrals.requested"]
        seen: list[str] = []

        async def collect(msg: Any) -> None:
            seen.append(msg.subject)

        await a.subscribe(f"partners.{B}.>", cb=collect)
        await a.flush()
        await service.jetstream().publish(f"partners.{B}.referrals.accepted", b"{}")
        await asyncio.sleep(0.3)
        assert seen == [] and any("permissions violation for subscription" in e.lower() for e in errors)
    finally:
        await a.close()
        await service.close()


async def test_the_partner_example_runs_as_written(private_nats: tuple[str, dict[str, str]]) -> None:
    url, passwords = private_nats
    service = await nats.connect(url, allow_reconnect=False)
    config = notifier.NotifierConfig(schema="unused", events_stream="unused", subject_root="entraide")
    await notifier.ensure_partner_stream(service.jetstream(), config)
    message = {
        "time": "2026-12-02T10:00:00+00:00",
        "data": {"referral_id": "r-1", "previous_status": "", "status": "requested", "sequence": 1},
    }
    await service.jetstream().publish(f"partners.{A}.referrals.requested", json.dumps(message).encode())
    await service.close()
    env = {**os.environ, "ENTRAIDE_NATS_URL": plain(url), "PARTNER_ID": A, "PARTNER_PASSWORD": passwords[A]}
    example = await asyncio.create_subprocess_exec(
        sys.executable,
        str(REPO / "examples" / "partner_consumer" / "nats_consumer.py"),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert example.stdout is not None
        line = await asyncio.wait_for(example.stdout.readline(), timeout=20)
        assert line.decode().strip() == "2026-12-02T10:00:00+00:00 referral r-1:  -> requested (#1)"
    finally:
        example.terminate()
        await example.wait()
