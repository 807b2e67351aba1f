"""`entraide-stack up|down|status`: the local stack behind `make up`, `make down` and `make status`."""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import shlex
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from devstack import processes, secrets, servers, standins, supervision, tokens
from devstack.servers import (
    REPO_ROOT,
    Endpoints,
    ServerStartError,
    ensure_servers,
    ports_from_env,
    private_components,
    redact,
    server_status,
    stop_servers,
)
from kernel import metrics, tls
from kernel.codec import CODEC_PORT_VAR, DEFAULT_CODEC_PORT
from services.console import directory
from services.console.settings import CONSOLE_PORT_VAR
from services.console.settings import DEFAULT_PORT as DEFAULT_CONSOLE_PORT

log = logging.getLogger("devstack")

HEALTH_TIMEOUT = 60.0


@dataclass(frozen=True)
class App:
    name: str
    module: str
    port_var: str = ""
    default_port: int = 0
    addr_var: str = ""
    # A web process (the console): its port setting and default; health at /sante.
    web_port_var: str = ""
    web_default_port: int = 0

    @property
    def is_grpc(self) -> bool:
        return bool(self.port_var)

    @property
    def is_web(self) -> bool:
        return bool(self.web_port_var)


APPS = (
    App("intake", "services.intake", "ENTRAIDE_INTAKE_PORT", 50051, "ENTRAIDE_INTAKE_ADDR"),
    App("referral", "services.referral", "ENTRAIDE_REFERRAL_PORT", 50052, "ENTRAIDE_REFERRAL_ADDR"),
    App("reporting", "services.reporting", "ENTRAIDE_REPORTING_PORT", 50053, "ENTRAIDE_REPORTING_ADDR"),
    App("workflows", "workflows.worker"),
    # Shows encrypted Temporal payloads to ops/responsable (kernel.codec_server).
    App("codec", "kernel.codec_server"),
    # The web console (services/console), with the development sign-in of the demo accounts.
    App("console", "services.console", web_port_var=CONSOLE_PORT_VAR, web_default_port=DEFAULT_CONSOLE_PORT),
)
DEMO_AGENTS_FILE = REPO_ROOT / "devstack" / "demo_agents.json"
# Supervised before the applications: the intake's sender sends to them.
SUPERVISED = (*(s.name for s in standins.STANDINS), *(app.name for app in APPS))


def state_dir() -> Path:
    configured = os.environ.get("ENTRAIDE_STATE_DIR")
    return Path(configured).resolve() if configured else REPO_ROOT / ".state"


def grpc_address(app: App, env: Mapping[str, str]) -> str:
    return f"127.0.0.1:{env.get(app.port_var) or app.default_port}"


def health(address: str, env: Mapping[str, str], timeout: float = 2.0) -> str:
    """SERVING / NOT_SERVING / ... from the standard gRPC health service, or "unreachable".
    `env`: the apps' environment, for its ENTRAIDE_TLS_* variables."""
    with tls.secure_or_insecure_channel(address, env) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=timeout
            )
        except grpc.RpcError:
            return "unreachable"
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))


def web_url(app: App, env: Mapping[str, str]) -> str:
    return f"http://127.0.0.1:{env.get(app.web_port_var) or app.web_default_port}"


def web_health(url: str, timeout: float = 2.0) -> str:
    """ "SERVING" when the process answers its /sante page with 200, else what it said."""
    try:
        with urllib.request.urlopen(f"{url}/sante", timeout=timeout) as reply:
            return "SERVING" if reply.status == 200 else f"HTTP {reply.status}"
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"
    except OSError:
        return "unreachable"


def app_env(state: Path, endpoints: Endpoints) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=endpoints.database_url,
        NATS_URL=endpoints.nats_url,
        TEMPORAL_ADDRESS=endpoints.temporal_address,
        **secrets.ensure_secrets(state),
    )
    env.setdefault("ENTRAIDE_LOG_LEVEL", "INFO")
    env[CODEC_PORT_VAR] = env.get(CODEC_PORT_VAR) or str(DEFAULT_CODEC_PORT)
    if endpoints.temporal_ui_url:  # the codec server answers the UI's CORS requests
        env.setdefault("ENTRAIDE_TEMPORAL_UI_ORIGIN", endpoints.temporal_ui_url)
    for app in APPS:
        if app.is_grpc:
            env[app.port_var] = env.get(app.port_var) or str(app.default_port)
        if app.is_web:
            env[app.web_port_var] = env.get(app.web_port_var) or str(app.web_default_port)
    # The local stack is a development stack: the console lists the demo accounts.
    env.setdefault("ENTRAIDE_CONSOLE_DEV_SIGN_IN", "1")
    # The console's address: partner notifications carry answer links to it.
    console = next(app for app in APPS if app.is_web)
    env.setdefault("ENTRAIDE_CONSOLE_URL", web_url(console, env))
    env.setdefault("ENTRAIDE_CONSOLE_AGENTS_FILE", str(DEMO_AGENTS_FILE))
    # Messages to people go to the local mail catcher and SMS stand-in.
    env.update(standins.sender_env(state, env))
    return env


def programs(state: Path, env: Mapping[str, str]) -> list[supervision.Program]:
    """The stand-ins, then the application processes, as supervisord runs them (in this order)."""
    return [
        *(supervision.Program(s.name, s.argv(state, env)) for s in standins.STANDINS),
        *(supervision.Program(app.name, [sys.executable, "-m", app.module]) for app in APPS),
    ]


def cmd_up(state: Path) -> int:
    try:
        endpoints = ensure_servers(state, ports_from_env(os.environ))
    except ServerStartError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    env = app_env(state, endpoints)
    try:
        before = ensure_supervisor(state, env)
    except supervision.SupervisionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for name in SUPERVISED:
        previous = before.get(name)
        if previous is not None and previous.up:
            print(f"{name}: already running (pid {previous.pid})")
            continue
        if before and previous is None:
            print(
                f"error: {name} is not in {supervision.config_file(state)}, written by an older version;"
                " run `make down` then `make up`",
                file=sys.stderr,
            )
            return 1
        if previous is not None:  # stopped, or given up on after too many failed starts
            supervision.start_program(state, name)
        status = supervision.wait_started(state, name)
        if status is not None and status.pid:
            print(f"{name}: started (pid {status.pid})")
        else:
            state_name = status.state if status is not None else "unknown to supervisord"
            print(f"{name}: {state_name}, see {processes.log_file(state, name)}")
    for standin in standins.STANDINS:
        if not wait_listening(state, standin, env):
            return 1
    for app in APPS:
        if (app.is_grpc or app.is_web) and not wait_serving(state, app, env):
            return 1
    if not run_demo(env):
        return 1
    write_stack_env(state, endpoints, env)
    print_summary(state, endpoints, env)
    return 0


def ensure_supervisor(state: Path, env: Mapping[str, str]) -> dict[str, supervision.ProgramStatus]:
    """supervisord running for `state`, started if needed (it then starts every program);
    the programs' status as it was before this call (empty when supervisord was just started)."""
    names = list(SUPERVISED)
    with supervision.lock(state):
        pid = supervision.is_running(state)
        if pid is not None:
            before = supervision.program_status(state, names)
            if before:
                print(f"supervisord: reused (pid {pid})")
                return before
            print(
                f"supervisord (pid {pid}) does not answer on {supervision.socket_file(state)}: restarting it"
            )
            supervision.shutdown(state)
        for name in supervision.kill_orphans(state):
            print(f"{name}: stopped the process a dead supervisord left behind")
        for app in APPS:  # started by an older `make up`, without supervision: supervisord takes over
            old = processes.is_running(state, app.name)
            if old is not None and processes.stop_process(state, app.name):
                print(f"{app.name}: stopped its unsupervised process (pid {old})")
        pid = supervision.start(state, programs(state, env), env, cwd=REPO_ROOT)
        print(f"supervisord: started (pid {pid}), configuration {supervision.config_file(state)}")
        return {}


def wait_serving(state: Path, app: App, env: Mapping[str, str]) -> bool:
    address = grpc_address(app, env) if app.is_grpc else web_url(app, env)
    deadline = time.monotonic() + HEALTH_TIMEOUT
    status = "unreachable"
    supervisor = "still starting"
    while time.monotonic() < deadline:
        status = health(address, env) if app.is_grpc else web_health(address)
        if status == "SERVING":
            return True
        program = supervision.program_status(state, [app.name]).get(app.name)
        if program is None or program.state in supervision.GAVE_UP_STATES:
            supervisor = f"supervisord: {program.describe()}" if program else "not known to supervisord"
            break
        time.sleep(0.5)
    logfile = processes.log_file(state, app.name)
    print(
        f"error: {app.name} is not SERVING on {address} (last health answer: {status}; {supervisor}).\n"
        f"Last lines of {logfile}:\n{processes.tail(logfile)}",
        file=sys.stderr,
    )
    return False


def wait_listening(state: Path, standin: standins.Standin, env: Mapping[str, str]) -> bool:
    address = standin.address(env)
    deadline = time.monotonic() + HEALTH_TIMEOUT
    while time.monotonic() < deadline:
        if standins.listening(address) == "SERVING":
            return True
        program = supervision.program_status(state, [standin.name]).get(standin.name)
        if program is None or program.state in supervision.GAVE_UP_STATES:
            break
        time.sleep(0.2)
    logfile = processes.log_file(state, standin.name)
    print(
        f"error: {standin.name} does not listen on {address}.\n"
        f"Last lines of {logfile}:\n{processes.tail(logfile)}",
        file=sys.stderr,
    )
    return False


def run_demo(env: Mapping[str, str]) -> bool:
    if importlib.util.find_spec("devstack.demo") is None:
        print("demo data: skipped (devstack.demo does not exist yet)")
        return True
    argv = [sys.executable, "-m", "devstack.demo"]
    result = subprocess.run(argv, env=dict(env), cwd=REPO_ROOT, check=False)
    if result.returncode != 0:
        print(
            f"error: loading demo data failed (exit {result.returncode}); the stack is still running, "
            "`make down` stops it",
            file=sys.stderr,
        )
        return False
    return True


def write_stack_env(state: Path, endpoints: Endpoints, env: Mapping[str, str]) -> Path:
    values = {
        "DATABASE_URL": endpoints.database_url,
        "NATS_URL": endpoints.nats_url,
        "TEMPORAL_ADDRESS": endpoints.temporal_address,
        # The `entraide` command acts as this demo social worker (all communes).
        "ENTRAIDE_TOKEN": tokens.demo_token(env),
    }
    for app in APPS:
        if app.is_grpc:
            values[app.addr_var] = grpc_address(app, env)
    path = state / "stack.env"
    path.write_text("".join(f"export {k}={shlex.quote(v)}\n" for k, v in values.items()))
    path.chmod(0o600)  # may hold database credentials
    return path


DEMO_PARTNER = "caf-meuse"


def demo_partner_lines(state: Path, endpoints: Endpoints, private: Iterable[str]) -> list[str]:
    """A demo partner's NATS credentials, to try the partner example on the private NATS
    (an external NATS is the operator's: its users are not ours to print)."""
    if "nats" not in private:
        return []
    password = servers.nats_credentials(state).get(DEMO_PARTNER, "")
    parts = urlsplit(endpoints.nats_url)
    plain = f"nats://{parts.hostname}:{parts.port}"
    return [
        f"  Partner access (demo partner {DEMO_PARTNER}, its own subjects only):",
        f"    ENTRAIDE_NATS_URL={plain} PARTNER_ID={DEMO_PARTNER} PARTNER_PASSWORD={password} \\",
        "    .venv/bin/python examples/partner_consumer/nats_consumer.py",
    ]


def print_summary(state: Path, endpoints: Endpoints, env: Mapping[str, str]) -> None:
    private = private_components(state)

    def origin(name: str) -> str:
        return "private" if name in private else "external"

    lines = ["", "Entraide stack is up.", ""]
    console = next(app for app in APPS if app.is_web)
    lines += [f"Web console: {web_url(console, env)}"]
    if env.get("ENTRAIDE_CONSOLE_DEV_SIGN_IN") == "1":
        lines += ["  development sign-in (ENTRAIDE_CONSOLE_DEV_SIGN_IN=1), demo accounts:"]
        agents = directory.load_file(Path(env.get("ENTRAIDE_CONSOLE_AGENTS_FILE") or DEMO_AGENTS_FILE))
        lines += [f"    {a.agent_id:<14} {a.role.value:<19} {a.display_name}" for a in agents if a.active]
    lines += ["", "gRPC services:"]
    lines += [f"  {app.name:<10} {grpc_address(app, env)}" for app in APPS if app.is_grpc]
    lines += ["", *standins.summary_lines(state, env)]
    lines += ["", "Metrics (Prometheus):"]
    lines += [f"  {name:<10} {metrics.url(name, env)}" for name in metrics.DEFAULT_METRICS_PORTS]
    lines += [
        "",
        "Servers:",
        f"  PostgreSQL {redact(endpoints.database_url)} ({origin('postgres')})",
        f"  NATS       {redact(endpoints.nats_url)} ({origin('nats')})",
        *demo_partner_lines(state, endpoints, private),
        f"  Temporal   {endpoints.temporal_address} ({origin('temporal')})",
        f"  Temporal UI {endpoints.temporal_ui_url or '(not known for an external Temporal)'}",
        f"  Codec server (Temporal UI → Settings → Codec Server): http://127.0.0.1:{env[CODEC_PORT_VAR]}, "
        "with a bearer token of role ops",
        "",
        f"Supervision: supervisord restarts any service that exits ({supervision.config_file(state)}); "
        "`make status` shows restarts",
        f"Logs:        {processes.log_dir(state)}/",
        f"Environment: source {state / 'stack.env'}",
        "Stop with:   make down",
    ]
    print("\n".join(lines))


def cmd_down(state: Path) -> int:
    stopped: list[str] = []
    with supervision.lock(state):
        if supervision.is_running(state) is not None:
            try:
                stopped += [name for name in reversed(SUPERVISED) if supervision.stop_program(state, name)]
            except supervision.SupervisionError as exc:  # supervisord's own shutdown stops them
                log.warning("%s", exc)
            supervision.shutdown(state)
            stopped.append("supervisord")
        stopped += supervision.kill_orphans(state)
    stopped += [app.name for app in reversed(APPS) if processes.stop_process(state, app.name)]
    stopped += stop_servers(state)
    print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")
    return 0


def cmd_status(state: Path) -> int:
    all_up = True
    env = dict(os.environ)
    for name, status in server_status(state, env).items():
        all_up &= status.startswith("up")
        print(f"{name:<12} {status}")
    supervisor_pid = supervision.is_running(state)
    if supervisor_pid is not None:
        print(f"{'supervisord':<12} up (pid {supervisor_pid}), log {supervision.log_file(state)}")
    else:
        print(f"{'supervisord':<12} down")
    all_up &= supervisor_pid is not None
    supervised = supervision.program_status(state, list(SUPERVISED)) if supervisor_pid else {}
    for standin in standins.STANDINS:
        program = supervised.get(standin.name)
        line = f"{standin.name:<12} {program.describe() if program is not None else 'not running'}"
        all_up &= program is not None and program.state == "RUNNING"
        answer = standins.listening(standin.address(env))
        line += f", {standin.address(env)} {answer}"
        all_up &= answer == "SERVING"
        print(line)
    for app in APPS:
        program = supervised.get(app.name)
        if program is not None:
            line = f"{app.name:<12} {program.describe()}"
            all_up &= program.state == "RUNNING"
        else:
            unsupervised = processes.is_running(state, app.name)
            line = f"{app.name:<12} " + (
                f"pid {unsupervised}, not supervised (`make down` then `make up` puts it under supervisord)"
                if unsupervised is not None
                else "not running"
            )
            all_up = False
        if app.is_grpc:
            answer = health(grpc_address(app, env), env)
            line += f", {grpc_address(app, env)} {answer}"
            all_up &= answer == "SERVING"
        if app.is_web:
            answer = web_health(web_url(app, env))
            line += f", {web_url(app, env)} {answer}"
            all_up &= answer == "SERVING"
        print(line)
    return 0 if all_up else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="entraide-stack", description="Run the Entraide stack locally.")
    parser.add_argument("command", choices=["up", "down", "status"])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s", stream=sys.stderr)
    state = state_dir()
    state.mkdir(parents=True, exist_ok=True)
    commands = {"up": cmd_up, "down": cmd_down, "status": cmd_status}
    return commands[str(args.command)](state)


if __name__ == "__main__":
    sys.exit(main())
