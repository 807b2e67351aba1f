"""Backup and restore as docs/backup.md says, into empty servers: a reporting database and
an events stream are backed up (pg_dumpall --roles-only, pg_dump -Fc, kernel.stream_backup
export), restored into a private PostgreSQL and a private NATS started for the test
(psql, pg_restore, kernel.stream_backup import); the bilan read on the restored database is
the same, and the projections rebuilt from the restored stream give the same figures."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from devstack.scratch import create_database, with_database
from devstack.servers import ensure_servers, free_ports, pg_tool, stop_servers
from kernel import messaging
from kernel.events import Event
from kernel.settings import Settings
from services.reporting.bilan import BilanFigures, compute
from services.reporting.rebuild import rebuild
from tests.paths import REPO
from tests.reporting_events import mix, referral_events, shuffled
from tests.reporting_projection import project_in_batches, reporting_database

LIGNY = "55291"
YEAR = (datetime(2019, 1, 1, tzinfo=UTC), datetime(2020, 1, 1, tzinfo=UTC))


def run(argv: list[str], env: dict[str, str] | None = None) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=REPO, check=False, timeout=300)
    assert done.returncode == 0, f"{argv[0]} failed: {done.stderr[-2000:]}"
    return done.stdout


async def back_up(
    tmp_path: Path,
    database_url: str,
    settings: Settings,
    stream: str,
    root: str,
    events: list[Event],
) -> BilanFigures:
    """Projects `events` into a reporting database and publishes them to `stream`, takes
    the bilan, then the backup into `tmp_path`; the bilan."""
    async with reporting_database(database_url, "backup") as source_url:
        source = await asyncpg.connect(source_url)
        try:
            await project_in_batches(source, events, seed=5, sizes=(40, 160))
            before = await compute(source, [LIGNY], *YEAR)
        finally:
            await source.close()
        assert before.dossiers_opened == 200 and before.dossiers_solved == 70
        nc = await messaging.connect(settings.nats_url, "backup-test")
        js = nc.jetstream()
        try:
            await messaging.ensure_events_stream(js, stream, root)
            for event in events:
                await js.publish(event.nats_subject(root), event.data, headers=event.headers())
            # The backup, as docs/backup.md gives it.
            roles = run([str(pg_tool("pg_dumpall")), "--roles-only", "-d", source_url])
            (tmp_path / "roles.sql").write_text(roles)
            run([str(pg_tool("pg_dump")), "-Fc", "-f", str(tmp_path / "entraide.dump"), source_url])
            backup_env = {**os.environ, "NATS_URL": settings.nats_url}
            run(
                [
                    sys.executable,
                    "-m",
                    "kernel.stream_backup",
                    "export",
                    "--stream",
                    stream,
                    "--file",
                    str(tmp_path / "events.jsonl"),
                ],
                backup_env,
            )
        finally:
            await js.delete_stream(stream)
            await nc.close()
    return before


async def test_a_restore_into_empty_servers_keeps_the_bilan_and_rebuilds_to_it(
    tmp_path: Path, settings: Settings
) -> None:
    tag = uuid.uuid4().hex[:8]
    stream, root = f"BACKUP_{tag.upper()}", f"backup{tag}"
    dossiers = mix(LIGNY, 2019, [("logement", 160), ("emploi", 40)], solved=70, seed=21, returning=0.2)
    events = [e for d in dossiers for e in d.events()]
    events += referral_events(dossiers[0], "caf-meuse", [("requested", 0), ("completed", 48)], "CAF 55")
    events = shuffled(events, seed=4)

    # The running deployment: its projections on a PostgreSQL of the pinned version (the
    # machine's may carry options of its own extensions), its stream on the machine's NATS.
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "NATS_URL", "TEMPORAL_ADDRESS")}
    running = tmp_path / "running"
    source_server = ensure_servers(running, free_ports(), env, components=("postgres",))
    try:
        before = await back_up(tmp_path, source_server.database_url, settings, stream, root, events)
    finally:
        stop_servers(running)

    # Empty servers: a private PostgreSQL and a private NATS.
    servers = tmp_path / "servers"
    endpoints = ensure_servers(servers, free_ports(), env, components=("postgres", "nats"))
    try:
        admin = with_database(endpoints.database_url, "postgres")
        run(
            [str(pg_tool("psql")), "-q", "-d", admin, "-f", str(tmp_path / "roles.sql")]
        )  # "postgres" exists: said, skipped
        _, restored_url = await create_database(admin, "restored")
        run(
            [
                str(pg_tool("pg_restore")),
                "--exit-on-error",
                "-d",
                restored_url,
                str(tmp_path / "entraide.dump"),
            ]
        )
        out = run(
            [
                sys.executable,
                "-m",
                "kernel.stream_backup",
                "import",
                "--file",
                str(tmp_path / "events.jsonl"),
            ],
            {**env, "NATS_URL": endpoints.nats_url},
        )
        assert out.strip() == f"{len(events)} messages"

        restored = await asyncpg.connect(restored_url)
        try:
            assert await compute(restored, [LIGNY], *YEAR) == before
            rebuilt_settings = Settings.from_env(
                {
                    **env,
                    "DATABASE_URL": restored_url,
                    "NATS_URL": endpoints.nats_url,
                    "ENTRAIDE_EVENTS_STREAM": stream,
                    "ENTRAIDE_SUBJECT_ROOT": root,
                }
            )
            result = await rebuild(rebuilt_settings, batch=100)
            assert result.events == len(events) and result.skipped == 0
            assert await compute(restored, [LIGNY], *YEAR) == before
        finally:
            await restored.close()
    finally:
        stop_servers(servers)
