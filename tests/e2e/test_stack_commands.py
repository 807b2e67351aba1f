"""`make up` / `make status` / `make down` as a person runs them, on a machine with
no server of ours: private PostgreSQL, NATS and Temporal, the four services, demo data, all
application processes under supervisord. One `up` for the whole module (it takes about a
minute): its tests run in file order and the last one is `down`."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiosmtplib
import httpx2 as httpx
import psutil
import pytest

from devstack import ports
from tests.conftest import serving
from tests.e2e import test_readme_usage as readme_usage
from tests.paths import REPO

BIN = Path(sys.executable).parent
REPO = REPO


def stack_env(state: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("ENTRAIDE_") and k not in {"DATABASE_URL", "NATS_URL", "TEMPORAL_ADDRESS"}
    }
    env["ENTRAIDE_STATE_DIR"] = str(state)
    for name in ports.STACK_PORTS:
        env[f"ENTRAIDE_{name.upper()}_PORT"] = str(ports.free_port())
    return env


def run(env: dict[str, str], *argv: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout)


def ours(state: Path) -> list[psutil.Process]:
    """Processes started for this state folder (the services and private servers)."""
    found = []
    for proc in psutil.process_iter(["cmdline", "environ"]):
        try:
            text = " ".join(proc.info["cmdline"] or [])
            environ = proc.info["environ"] or {}
        except (psutil.Error, TypeError):
            continue
        if str(state) in text or environ.get("ENTRAIDE_STATE_DIR") == str(state):
            found.append(proc)
    return found


@dataclass
class Stack:
    state: Path
    env: dict[str, str]
    up: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp_path = tmp_path_factory.mktemp("stack")
    state = tmp_path / "state"
    tmp_path.chmod(0o755)
    env = stack_env(state)
    up = run(env, str(BIN / "entraide-stack"), "up")
    stack_file = state / "stack.env"
    if stack_file.exists():
        for line in stack_file.read_text().splitlines():
            key, _, value = line.removeprefix("export ").partition("=")
            env[key] = value.strip("'\"")
    try:
        yield Stack(state, env, up)
    finally:
        # test_down_leaves_no_process checks `down`; this is the cleanup when it did not run.
        run(env, str(BIN / "entraide-stack"), "down")
        for proc in ours(state):
            proc.kill()


def status_line(status: str, name: str) -> str:
    return next(line for line in status.splitlines() if line.split()[:1] == [name])


def supervised_pid(status: str, name: str) -> int:
    found = re.search(r"\bpid (\d+)", status_line(status, name))
    assert found, status
    return int(found.group(1))


def test_up_open_count_status(stack: Stack) -> None:
    up, env, state = stack.up, stack.env, stack.state
    assert up.returncode == 0, up.stdout + up.stderr
    assert "Temporal UI" in up.stdout and "make down" in up.stdout
    assert "supervisord: started" in up.stdout
    assert (state / "supervisord.conf").exists()
    # Three fictional people oriented to the demo partner, who answered two of them.
    assert "demo data: 3 people oriented to caf-meuse now, 0 already there" in up.stdout
    # The private NATS asks for a password: the services' is in stack.env only (redacted on
    # screen), the demo partner's is printed with the example to run.
    assert "nats://entraide:***@" in up.stdout and "PARTNER_ID=caf-meuse PARTNER_PASSWORD=" in up.stdout
    assert env["NATS_URL"].startswith("nats://entraide:") and env["NATS_URL"] not in up.stdout

    status = run(env, str(BIN / "entraide-stack"), "status")
    assert status.returncode == 0, status.stdout + status.stderr
    # Three gRPC services, the console, the mail catcher and the SMS stand-in.
    assert status.stdout.count("SERVING") == 6
    for name in (
        "mail-catcher",
        "sms-standin",
        "intake",
        "referral",
        "reporting",
        "workflows",
        "codec",
        "console",
    ):
        line = status_line(status.stdout, name)
        assert "RUNNING" in line and "uptime" in line and "restarts: 0" in line, status.stdout

    def motif_count() -> int:
        done = run(env, str(BIN / "entraide"), "--json", "chiffres", "--commune", "55519", timeout=30)
        assert done.returncode == 0, done.stderr
        counts = json.loads(done.stdout)
        return next((int(m["count"]) for m in counts["motifs"] if m["code"] == "justice"), 0)

    before = motif_count()
    opened = run(
        env,
        str(BIN / "entraide"),
        "ouvrir",
        "--commune",
        "55519",
        "--motif",
        "justice",
        "--canal",
        "courriel",
        "--request-id",
        uuid.uuid4().hex,
        timeout=30,
    )
    assert opened.returncode == 0, opened.stderr
    assert "Dossier ouvert" in opened.stdout
    started = time.monotonic()
    while motif_count() != before + 1:
        assert time.monotonic() - started < 2.0, "the count did not move within 2 seconds"
        time.sleep(0.05)

    again = run(env, str(BIN / "entraide-stack"), "up")
    assert again.returncode == 0, again.stdout + again.stderr
    # Four services, the codec server, the console, the mail catcher, the SMS stand-in.
    assert again.stdout.count("already running") == 8
    assert "supervisord: reused" in again.stdout
    assert "demo data: 0 people oriented to caf-meuse now, 3 already there" in again.stdout
    assert (
        "demo data: planning: 0 permanences placed now, 4 already there; 0 appointments booked now"
        in again.stdout
    )
    assert motif_count() == before + 1  # demo data not loaded twice, nothing reopened


def test_the_readme_matches_what_make_up_prints(stack: Stack) -> None:
    """The README's "What you see after `make up`" block is what `up` prints (ports and
    paths aside): each of its lines, digits masked, is a line of the output."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    found = re.search(r"### What you see after `make up`\n\n```\n(.*?)\n```", readme, re.DOTALL)
    assert found

    def shape(line: str) -> str:
        line = re.sub(r"PASSWORD=\S+", "PASSWORD=X", line.strip())  # generated once per stack
        return re.sub(r"\d+|…", "N", re.sub(r"/\S*state\S*|\.state\S*", "STATE", line))

    printed = {shape(line) for line in stack.up.stdout.splitlines()}
    missing = [line for line in found.group(1).splitlines() if line.strip() and shape(line) not in printed]
    assert not missing, f"README lines not printed by `make up`: {missing}\n{stack.up.stdout}"


def caught_lines(path: Path, deadline_s: float = 60) -> Callable[[Callable[[dict[str, Any]], bool]], bool]:
    """Whether a line of the JSON-lines file matches, read again until the deadline."""

    def wait_for(match: Callable[[dict[str, Any]], bool]) -> bool:
        deadline = time.monotonic() + deadline_s
        while True:
            if path.exists():
                lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
                if any(match(line) for line in lines):
                    return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.5)

    return wait_for


def test_the_mail_catcher_and_the_sms_standin_receive_the_demo_confirmations(stack: Stack) -> None:
    """`make up` runs a mail catcher and an SMS stand-in, says where they keep what they
    receive, and points the intake's sender at them: the demo appointments' confirmations
    (one by e-mail, one by SMS) arrive there; the catcher keeps any mail sent to it."""
    env, state = stack.env, stack.state
    mail, sms = state / "mail", state / "sms"
    assert f"caught mails in {mail}/" in stack.up.stdout
    assert f"SMS received in {sms}/sms.jsonl" in stack.up.stdout
    assert "demo data: planning: 4 permanences placed now, 0 already there; 3 appointments booked now" in (
        stack.up.stdout
    )
    assert caught_lines(mail / "received.jsonl")(
        lambda m: "morgan.courriel@demo.entraide.localhost" in m["rcpt_tos"]
    ), "the e-mail confirmation did not reach the mail catcher"
    assert caught_lines(sms / "sms.jsonl")(lambda m: str(m["recipient"]).endswith("600000011")), (
        "the SMS confirmation did not reach the SMS stand-in"
    )
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "test@example.org", "x@example.org", "Essai"
    message.set_content("Un message pour le collecteur.")
    port = int(env["ENTRAIDE_MAIL_CATCHER_PORT"])
    errors, reply = asyncio.run(aiosmtplib.send(message, hostname="127.0.0.1", port=port, timeout=10))
    assert not errors and "queued as" in reply
    assert caught_lines(mail / "received.jsonl", 5)(lambda m: m["rcpt_tos"] == ["x@example.org"])
    eml = sorted(mail.glob("*.eml"))
    assert any(b"Un message pour le collecteur." in path.read_bytes() for path in eml)


def test_the_console_lists_the_demo_accounts_and_signs_one_in(stack: Stack) -> None:
    """`make up`'s console: its URL printed, the development sign-in listing the demo
    accounts, one of them signed in and shown its caseload."""
    url = f"http://127.0.0.1:{stack.env['ENTRAIDE_CONSOLE_PORT']}"
    assert f"Web console: {url}" in stack.up.stdout
    with httpx.Client(base_url=url, timeout=15, follow_redirects=False) as http:
        page = http.get("/connexion")
        assert page.status_code == 200 and "Comptes de démonstration" in page.text
        assert "Claire Petit" in page.text and "Nadia Benali" in page.text
        token = re.search(r'name="login_token" value="([^"]+)"', page.text)
        assert token
        signed = http.post("/connexion/dev", data={"agent_id": "ts.bar", "login_token": token.group(1)})
        assert signed.status_code == 303, signed.text
        caseload = http.get("/mes-dossiers")
        assert caseload.status_code == 200 and "Claire Petit" in caseload.text


def test_a_new_user_follows_the_readme_on_the_make_up_stack(stack: Stack) -> None:
    """The README's usage block, line by line as written, on the stack `make up` started
    (demo data, one synthetic year: the 2025 bilan has figures)."""
    env = {**stack.env, "TEMPORAL_ADDRESS": f"127.0.0.1:{stack.env['ENTRAIDE_TEMPORAL_PORT']}"}
    _, _, files = readme_usage.follow_the_readme(env)
    assert files
    for path, content in files.items():
        assert "dossiers" in content.decode("utf-8").lower(), path


def test_a_killed_service_is_restarted_by_supervisord(stack: Stack) -> None:
    env = stack.env
    before = run(env, str(BIN / "entraide-stack"), "status")
    assert before.returncode == 0, before.stdout + before.stderr
    pid = supervised_pid(before.stdout, "intake")
    supervisor = supervised_pid(before.stdout, "supervisord")
    address = f"127.0.0.1:{env['ENTRAIDE_INTAKE_PORT']}"

    os.kill(pid, signal.SIGKILL)  # a crash: nobody runs `make up` after it
    killed = time.monotonic()
    while psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() - killed < 5, "SIGKILL did not end intake"
        time.sleep(0.05)
    while not serving(address, env):
        assert time.monotonic() - killed < 20, "intake was not SERVING again within 20 s"
        time.sleep(0.2)

    after = run(env, str(BIN / "entraide-stack"), "status")
    deadline = time.monotonic() + 10
    while after.returncode != 0 and time.monotonic() < deadline:  # STARTING until startsecs passed
        time.sleep(0.5)
        after = run(env, str(BIN / "entraide-stack"), "status")
    assert after.returncode == 0, after.stdout + after.stderr
    line = status_line(after.stdout, "intake")
    assert "RUNNING" in line and "restarts: 1 (last unexpected exit" in line and "SERVING" in line, line
    assert supervised_pid(after.stdout, "intake") != pid
    assert supervised_pid(after.stdout, "supervisord") == supervisor
    for name in ("referral", "reporting", "workflows", "codec", "console"):
        assert "restarts: 0" in status_line(after.stdout, name), after.stdout


def test_down_leaves_no_process(stack: Stack) -> None:
    env, state = stack.env, stack.state
    assert ours(state), "nothing of this stack is running"
    down = run(env, str(BIN / "entraide-stack"), "down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert "supervisord" in down.stdout
    deadline = time.monotonic() + 10
    while ours(state) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert ours(state) == [], "make down left processes running"
    assert run(env, str(BIN / "entraide-stack"), "status").returncode == 1
