"""deploy/systemd: one unit per process of `make up`, an entraide.target, an example env file.

`systemd-analyze verify` checks the units when it is installed (ExecStart's interpreter is
pointed at this one in a temporary copy: verify insists that it exists); the keys that make the
single-server story are checked with configparser in any case.
"""

from __future__ import annotations

import configparser
import re
import subprocess
import sys
from pathlib import Path

import pytest

from devstack.cli import APPS
from tests.paths import REPO

ROOT = REPO
UNITS = ROOT / "deploy" / "systemd"
ENV_FILE = "/etc/entraide/entraide.env"
INTERPRETER = "/opt/entraide/venv/bin/python"
SYSTEMD_ANALYZE = Path("/usr/bin/systemd-analyze")
SERVICES = {f"entraide-{app.name}.service": app.module for app in APPS}
# Local-stack-only variables of the README's configuration table, not for a server.
NOT_ON_A_SERVER = {
    "ENTRAIDE_STATE_DIR",
    "ENTRAIDE_POSTGRES_PORT",
    "ENTRAIDE_NATS_PORT",
    "ENTRAIDE_NATS_MONITOR_PORT",
    "ENTRAIDE_TEMPORAL_PORT",
    "ENTRAIDE_TEMPORAL_UI_PORT",
    "ENTRAIDE_TOKEN",
    "ENTRAIDE_DEMO_SYNTHETIC_YEAR",
}
SECRETS = (
    "ENTRAIDE_JWT_SECRET",
    "ENTRAIDE_PAYLOAD_KEYS",
    "ENTRAIDE_WEBHOOK_SECRET_",
    "ENTRAIDE_OIDC_CLIENT_SECRET",
    "ENTRAIDE_LINK_SECRET",
)


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment, method-assign]  # systemd keys are case-sensitive
    parser.read_string((UNITS / name).read_text(), source=name)
    return parser


def test_one_unit_per_process_of_make_up_and_a_target() -> None:
    present = {path.name for path in UNITS.glob("*.service")}
    assert present == set(SERVICES)
    target = unit("entraide.target")
    assert set(target["Unit"]["Wants"].split()) == set(SERVICES)
    assert target["Install"]["WantedBy"] == "multi-user.target"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_service_unit_restarts_is_hardened_and_waits_for_the_servers(name: str) -> None:
    parsed = unit(name)
    section, service = parsed["Unit"], parsed["Service"]
    assert service["ExecStart"] == f"{INTERPRETER} -m {SERVICES[name]}"
    assert service["Restart"] == "on-failure"
    assert service["RestartSec"]
    assert int(section["StartLimitIntervalSec"]) > 0 and int(section["StartLimitBurst"]) > 1
    assert service["EnvironmentFile"] == ENV_FILE
    assert service["User"] == "entraide" and service["Group"] == "entraide"
    assert service["KillSignal"] == "SIGTERM" and service["TimeoutStopSec"]
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "CapabilityBoundingSet": "",
    }.items():
        assert service[key] == value, key
    assert service["ReadWritePaths"] == f"/var/lib/{service['StateDirectory']}"
    assert service["WorkingDirectory"] == service["ReadWritePaths"]
    for server in ("postgresql.service", "nats.service", "temporal.service"):
        assert server in section["After"].split() and server in section["Wants"].split()
    assert section["PartOf"] == "entraide.target"
    assert parsed["Install"]["WantedBy"] == "entraide.target"


def readme_variables() -> set[str]:
    """The variables of the README's configuration table (`ENTRAIDE_{A,B}_PORT` expanded)."""
    readme = (ROOT / "README.md").read_text()
    table = readme.partition("### Configuration")[2].lstrip("\n").partition("\n\n")[0]
    names: set[str] = set()
    for row in table.splitlines():
        first = row.split("|")[1] if row.startswith("|") else ""
        for quoted in re.findall(r"`([^`]+)`", first):
            braces = re.fullmatch(r"([A-Z_]*)\{([A-Z_,]+)\}([A-Z_]*)", quoted)
            if braces:
                names |= {braces[1] + part + braces[3] for part in braces[2].split(",")}
            elif re.fullmatch(r"[A-Z][A-Z0-9_]*", quoted):
                names.add(quoted)
    return names


def test_example_env_file_lists_the_variables_and_no_secret() -> None:
    text = (UNITS / "entraide.env.example").read_text()
    assigned: dict[str, str] = {}
    for line in text.splitlines():
        match = re.match(r"^#?([A-Z][A-Z0-9_]*)=(.*)$", line)
        if match:
            assigned[match[1]] = match[2]
    wanted = readme_variables() - NOT_ON_A_SERVER
    assert "DATABASE_URL" in wanted and "ENTRAIDE_PAYLOAD_KEYS" in wanted, "README table not found"
    mentioned = {name for name in wanted if name in assigned or f"{name}_" in text}
    assert mentioned == wanted, f"not in the example: {sorted(wanted - mentioned)}"
    for name, value in assigned.items():
        if name.startswith(SECRETS):
            assert value == "", f"{name} has a value in the example"
    assert all("REPLACE_ME@" in assigned[url] for url in ("DATABASE_URL", "ENTRAIDE_MIGRATION_DATABASE_URL"))


@pytest.mark.skipif(not SYSTEMD_ANALYZE.exists(), reason="systemd-analyze is not installed")
def test_systemd_analyze_verify(tmp_path: Path) -> None:
    for path in UNITS.iterdir():
        if path.suffix in {".service", ".target"}:
            text = path.read_text().replace(f"ExecStart={INTERPRETER} ", f"ExecStart={sys.executable} ")
            (tmp_path / path.name).write_text(text)
    files = sorted(str(p) for p in tmp_path.iterdir())
    done = subprocess.run(
        [str(SYSTEMD_ANALYZE), "verify", "--man=no", *files],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    # Unknown keys and bad values are only warnings (exit 0): none may name our units.
    ours = [line for line in output.splitlines() if str(tmp_path) in line or "entraide" in line]
    assert ours == [], output
