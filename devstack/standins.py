"""Local stand-ins for the outside services the stack sends to: a mail catcher (SMTP)
and an SMS stand-in speaking Brevo's API. `make up` runs them under supervisord beside
the application processes and points the intake's message sender at them; what they
receive stays under the state folder (`.state/mail/`, `.state/sms/`).

A deployment that sets its own ENTRAIDE_SMTP_HOST or ENTRAIDE_SMS_PROVIDER keeps them:
the stand-ins then still run, unused.
"""

from __future__ import annotations

import secrets
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from devstack.sms_standin import SEND_PATH

HOST = "127.0.0.1"
SMS_KEY_FILE = "sms-standin.key"
DEMO_MAIL_FROM = "Entraide CCAS <rendez-vous@entraide.localhost>"


@dataclass(frozen=True)
class Standin:
    name: str  # the supervisord program
    module: str
    port_var: str
    default_port: int
    folder: str  # under the state folder: what it received
    # What it stands in for, in the summary `make up` prints.
    label: str

    def port(self, env: Mapping[str, str]) -> int:
        return int(env.get(self.port_var) or self.default_port)

    def directory(self, state: Path) -> Path:
        return state / self.folder

    def argv(self, state: Path, env: Mapping[str, str]) -> list[str]:
        return [
            sys.executable,
            "-m",
            self.module,
            "--host",
            HOST,
            "--port",
            str(self.port(env)),
            "--dir",
            str(self.directory(state)),
        ]

    def address(self, env: Mapping[str, str]) -> str:
        return f"{HOST}:{self.port(env)}"


MAIL_CATCHER = Standin(
    "mail-catcher", "devstack.mail_catcher", "ENTRAIDE_MAIL_CATCHER_PORT", 58025, "mail", "Mail catcher"
)
SMS_STANDIN = Standin(
    "sms-standin", "devstack.sms_standin", "ENTRAIDE_SMS_STANDIN_PORT", 58026, "sms", "SMS stand-in"
)
STANDINS = (MAIL_CATCHER, SMS_STANDIN)


def listening(address: str, timeout: float = 2.0) -> str:
    """ "SERVING" when something accepts connections at host:port, else "unreachable"."""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            return "SERVING"
    except OSError:
        return "unreachable"


def sms_api_key(state: Path) -> str:
    """The stand-in's API key, generated once per state folder (mode 600)."""
    path = state / SMS_KEY_FILE
    if path.exists():
        return path.read_text().strip()
    key = secrets.token_urlsafe(24)
    state.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(key + "\n")
    return key


def sender_env(state: Path, env: Mapping[str, str]) -> dict[str, str]:
    """The intake's sender settings pointing at the stand-ins (ports included), unless the
    environment names a real SMTP server or SMS provider."""
    values = {s.port_var: str(s.port(env)) for s in STANDINS}
    if not env.get("ENTRAIDE_SMTP_HOST"):
        values.update(
            ENTRAIDE_SMTP_HOST=HOST,
            ENTRAIDE_SMTP_PORT=str(MAIL_CATCHER.port(env)),
            ENTRAIDE_SMTP_STARTTLS="0",
        )
    if not env.get("ENTRAIDE_MAIL_FROM"):
        values["ENTRAIDE_MAIL_FROM"] = DEMO_MAIL_FROM
    if not env.get("ENTRAIDE_SMS_PROVIDER"):
        values.update(
            ENTRAIDE_SMS_PROVIDER="brevo",
            ENTRAIDE_SMS_API_URL=f"http://{SMS_STANDIN.address(env)}",
            ENTRAIDE_SMS_API_KEY=sms_api_key(state),
        )
    return values


def summary_lines(state: Path, env: Mapping[str, str]) -> list[str]:
    """Where the caught mails and SMS are, for `make up`'s summary."""
    mail, sms = MAIL_CATCHER.directory(state), SMS_STANDIN.directory(state)
    lines = ["Messages to people (appointment confirmations and reminders):"]
    mail_line = f"  {MAIL_CATCHER.label:<13} SMTP {MAIL_CATCHER.address(env)}, caught mails in {mail}/"
    if env.get("ENTRAIDE_SMTP_HOST", HOST) != HOST:
        mail_line += " (unused: ENTRAIDE_SMTP_HOST is set)"
    sms_line = (
        f"  {SMS_STANDIN.label:<13} Brevo API http://{SMS_STANDIN.address(env)}{SEND_PATH},"
        f" SMS received in {sms}/sms.jsonl"
    )
    if (
        env.get("ENTRAIDE_SMS_API_URL", f"http://{SMS_STANDIN.address(env)}")
        != f"http://{SMS_STANDIN.address(env)}"
    ):
        sms_line += " (unused: ENTRAIDE_SMS_API_URL is set)"
    pages = (
        "  Console pages: /planning (week planning, iCalendar feeds), /accueil/rendez-vous (the day's"
        " appointments, check-in), /messages (what was sent, responsable)"
    )
    return [*lines, mail_line, sms_line, pages]
