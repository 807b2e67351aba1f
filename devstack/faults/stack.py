"""The stack a fault run drives: what `entraide-stack up` starts (private PostgreSQL, NATS and
Temporal, the five application processes under supervisord), in its own state dir with free
ports, without demo data and with short timers; the partner directory is the demo one plus
one partner notified by webhook only, whose receiver the run itself serves."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import psutil

from devstack import cli, demo, ports, processes, supervision
from devstack.servers import (
    Endpoints,
    Ports,
    _stop_postgres,
    ensure_servers,
    ports_from_env,
)
from kernel import reference
from kernel.auth import Role, mint
from kernel.settings import Settings
from services.referral import webhooks

NATS_PARTNER = "caf-meuse"  # a demo partner, notified on the PARTNERS stream
WEBHOOK_PARTNER = "faults-webhook"  # added by the run, notified by signed webhook only
WEBHOOK_PATH = "/entraide/referrals"
AGENT = "faults.agent"
TOKEN_TTL_S = 6 * 3600
# Short enough that an urgent dossier's écoute deadline falls due during a worker outage;
# every other timer long enough never to fire during a run (their steps would not be in the
# driver's tally).
TIMERS = {
    "ENTRAIDE_URGENT_ECOUTE_S": "2",
    "ENTRAIDE_SUIVI_REMINDER_S": "7200",
    "ENTRAIDE_CLOSURE_PROPOSAL_S": "7200",
    "ENTRAIDE_REOPEN_DELAY_S": "7200",
    "ENTRAIDE_REFERRAL_REMINDER_S": "7200",
    "ENTRAIDE_REFERRAL_EXPIRY_S": "14400",
    # A webhook receiver down for seconds is retried within seconds (8 attempts: 0.5 s … 4 s).
    "ENTRAIDE_WEBHOOK_BACKOFF_BASE_S": "0.5",
    "ENTRAIDE_WEBHOOK_BACKOFF_CAP_S": "4",
    "ENTRAIDE_WEBHOOK_TIMEOUT_S": "5",
}
_SERVER_DATA = ("postgres", "postgres-run", "nats", "temporal.db", "temporal.db-shm", "temporal.db-wal")


@dataclass
class Stack:
    state: Path
    env: dict[str, str]  # the application processes' environment
    endpoints: Endpoints
    ports: Ports
    webhook_port: int
    webhook_secret: str

    @property
    def fault_dir(self) -> Path:
        """Where the relay fault hook looks for its arm files (kernel/outbox.py)."""
        return self.state / "fault-arms"

    @property
    def settings(self) -> Settings:
        return Settings.from_env(self.env)

    def address(self, service: str) -> str:
        return self.settings.grpc_address(service)

    def token(self, subject: str, role: Role, partner_id: str = "") -> str:
        territories = () if role is Role.PARTENAIRE else reference.load(self.env).territories
        return mint(
            self.env["ENTRAIDE_JWT_SECRET"],
            subject,
            role,
            territories,
            partner_id=partner_id,
            ttl_s=TOKEN_TTL_S,
        )

    # --- supervised programs -------------------------------------------------------------

    def programs(self) -> dict[str, supervision.ProgramStatus]:
        return supervision.program_status(self.state, [app.name for app in cli.APPS])

    def pid(self, program: str) -> int | None:
        status = self.programs().get(program)
        return status.pid if status is not None and status.state == "RUNNING" else None

    def kill(self, program: str) -> int | None:
        """SIGKILL to the program's process (a crash): supervisord starts it again by itself."""
        status = self.programs().get(program)
        if status is None or not status.pid:
            return None
        with contextlib.suppress(ProcessLookupError):
            os.kill(status.pid, signal.SIGKILL)
        return status.pid

    def status_text(self) -> str:
        """What `entraide-stack status` prints for this stack."""
        done = subprocess.run(
            [sys.executable, "-m", "devstack.cli", "status"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        return done.stdout + done.stderr

    # --- private servers ------------------------------------------------------------------
    # In a child process: PostgreSQL's tools run as another user (we are root), which makes
    # subprocess fork without exec at once, and a fork of this process (gRPC's threads busy)
    # crashes now and then (pg_ctl exit -11 or -6 seen).

    def stop_server(self, name: str) -> None:
        subprocess.run([sys.executable, "-m", "devstack.faults.stack", "stop", name], check=True, timeout=90)

    def start_servers(self) -> None:
        """Starts whichever private server is not running (same ports, same data)."""
        subprocess.run([sys.executable, "-m", "devstack.faults.stack", "start"], check=True, timeout=120)


def prepare_environment(state: Path, webhook_secret: str) -> None:
    """This process's environment as `entraide-stack up` would need it for a stack of its
    own: no external server, no setting of the caller's, free ports, short timers."""
    for key in list(os.environ):
        if key.startswith("ENTRAIDE_") or key in {
            "DATABASE_URL",
            "NATS_URL",
            "TEMPORAL_ADDRESS",
            "TEMPORAL_UI_URL",
        }:
            del os.environ[key]
    os.environ.update(
        {
            "ENTRAIDE_STATE_DIR": str(state),
            **{f"ENTRAIDE_{name.upper()}_PORT": str(ports.free_port()) for name in ports.STACK_PORTS},
            **TIMERS,
            webhooks.secret_env_name(WEBHOOK_PARTNER): webhook_secret,
            # The relay crash between PubAck and mark (kernel/outbox.py), armed per schema by a
            # file the run writes into this folder, one crash per file.
            "ENTRAIDE_FAULT_RELAY_EXIT_AFTER_PUBLISH": "1",
            "ENTRAIDE_FAULT_RELAY_EXIT_ARM_DIR": str(state / "fault-arms"),
            "ENTRAIDE_LOG_LEVEL": "INFO",
        }
    )


def start(state: Path, webhook_port: int, webhook_secret: str) -> Stack:
    """Servers, then supervisord and its programs, as `entraide-stack up` does; no demo data.
    Raises RuntimeError, with the stack left to `down`, when something does not start."""
    state.mkdir(parents=True, exist_ok=True)
    state.chmod(0o755)  # PostgreSQL runs as another user when we are root
    (state / "fault-arms").mkdir(exist_ok=True)
    ports = ports_from_env(os.environ)
    endpoints = ensure_servers(state, ports, env=os.environ)
    env = cli.app_env(state, endpoints)
    cli.ensure_supervisor(state, env)
    for app in cli.APPS:
        status = supervision.wait_started(state, app.name)
        if status is None or not status.pid:
            raise RuntimeError(f"{app.name} did not start; see {processes.log_file(state, app.name)}")
    for app in cli.APPS:
        if app.is_grpc and not cli.wait_serving(state, app, env):
            raise RuntimeError(f"{app.name} is not SERVING")
    cli.write_stack_env(state, endpoints, env)  # `source <state>/stack.env` to look around (--keep)
    return Stack(state, env, endpoints, ports, webhook_port, webhook_secret)


def directory_document(webhook_url: str) -> str:
    """The demo partners (NATS) and the run's webhook partner, serving every motif and commune."""
    document = json.loads(demo.PARTNERS_FILE.read_text(encoding="utf-8"))
    data = reference.load({})
    document["organizations"].append(
        {
            "id": WEBHOOK_PARTNER,
            "name": "Partenaire à webhook (essai de pannes)",
            "kind": "association",
            "services": [
                {
                    "id": "accueil",
                    "name": "Accueil",
                    "motifs": sorted(data.motifs),
                    "communes": sorted(data.territories),
                }
            ],
            "notification": {
                "nats": False,
                "webhook_url": webhook_url,
                "webhook_secret_ref": webhooks.secret_env_name(WEBHOOK_PARTNER),
            },
        }
    )
    return json.dumps(document, ensure_ascii=False)


def down(state: Path) -> str:
    """`entraide-stack down` for the run's state dir (this process's environment names it);
    what it printed."""
    done = subprocess.run(
        [sys.executable, "-m", "devstack.cli", "down"],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    return (done.stdout + done.stderr).strip()


def leftovers(state: Path) -> list[psutil.Process]:
    """Live processes started for this state dir (services, supervisord, private servers)."""
    found = []
    marker = str(state)
    for proc in psutil.process_iter(["cmdline", "environ"]):
        try:
            text = " ".join(proc.info["cmdline"] or [])
            environ = proc.info["environ"] or {}
            if proc.pid == os.getpid() or proc.status() == psutil.STATUS_ZOMBIE:
                continue
        except (psutil.Error, TypeError):
            continue
        if marker in text or environ.get("ENTRAIDE_STATE_DIR") == marker:
            found.append(proc)
    return found


def remove_server_data(state: Path) -> None:
    """The servers' data (hundreds of MB over many runs); logs and the report stay."""
    for name in _SERVER_DATA:
        path = state / name
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def main(argv: list[str]) -> int:
    """`python -m devstack.faults.stack stop <server>` / `start`: the run's server faults, in a
    fresh process (see Stack.stop_server); the state dir and ports come from the environment."""
    state = cli.state_dir()
    if argv[:1] == ["stop"] and len(argv) == 2:
        name = argv[1]
        if name == "postgres":
            _stop_postgres(state)
        else:
            processes.stop_process(state, name, timeout=15)
        return 0
    if argv == ["start"]:
        ensure_servers(state, ports_from_env(os.environ), env=os.environ)
        return 0
    print("usage: python -m devstack.faults.stack stop <postgres|nats|temporal> | start", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
