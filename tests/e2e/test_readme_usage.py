"""The README's usage block (the `sh` block after "Then:") runs as written: every line,
in one bash session (`set -euo pipefail`) from the repository root, against this
session's stack (its addresses, the demo agent's token and TEMPORAL_ADDRESS come from the
fixtures' environment, as `make up` gives them to a shell). A line that does not run
fails the test, named with its output."""

from __future__ import annotations

import asyncio
import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import AppStack
from tests.paths import REPO

REPO = REPO
README = REPO / "README.md"
MARK = "@@readme-line@@"
END = "@@readme-end@@"


def usage_block(readme: str) -> list[str]:
    """The lines of the fenced `sh` block right after "Then:"."""
    found = re.search(r"Then:\n\n```sh\n(.*?)\n```", readme, re.DOTALL)
    assert found, "no ```sh block after “Then:” in README.md"
    lines = [line for line in found.group(1).splitlines() if line.strip()]
    assert lines, "the README's usage block is empty"
    return lines


def script(lines: list[str]) -> str:
    """One bash session: a marker before each line (to tell which one failed and what
    it printed), an end marker after the last."""
    parts = ["set -euo pipefail", "shopt -s inherit_errexit", "exec 2>&1"]
    for number, line in enumerate(lines):
        parts += [f"echo {MARK}{number}", line]
    parts.append(f"echo {END}")
    return "\n".join(parts) + "\n"


@dataclass
class Ran:
    returncode: int
    outputs: dict[int, str]  # line number → what it printed (stdout and stderr)
    finished: bool


def run_block(lines: list[str], env: dict[str, str]) -> Ran:
    done = subprocess.run(
        ["bash", "-c", script(lines)], cwd=REPO, env=env, capture_output=True, text=True, timeout=240
    )
    outputs: dict[int, str] = {}
    current = -1
    for line in done.stdout.splitlines(keepends=True):
        if line.startswith(MARK):
            current = int(line[len(MARK) :])
            outputs[current] = ""
        elif line.rstrip("\n") == END:
            current = -1
        elif current >= 0:
            outputs[current] += line
    return Ran(done.returncode, outputs, END in done.stdout.splitlines())


def notes_written(lines: list[str]) -> list[str]:
    """The texts given to --notes in the block."""
    notes = []
    for line in lines:
        words = shlex.split(line, comments=True)
        notes += [words[at + 1] for at, word in enumerate(words[:-1]) if word == "--notes"]
    return notes


def exports(lines: list[str]) -> list[Path]:
    """Files the block writes in the repository (`--sortie FILE`)."""
    found = []
    for line in lines:
        words = shlex.split(line, comments=True)
        found += [REPO / words[at + 1] for at, word in enumerate(words[:-1]) if word == "--sortie"]
    return found


def check(lines: list[str], ran: Ran) -> None:
    for number, line in enumerate(lines):
        output = ran.outputs.get(number)
        assert output is not None, f"README line {number + 1} never ran: {line}"
        assert "command not found" not in output and "No such file or directory" not in output, (
            f"README line {number + 1} does not run: {line}\n{output}"
        )
        if number == max(ran.outputs) and not ran.finished:
            raise AssertionError(f"README line {number + 1} exits {ran.returncode}: {line}\n{output}")
    assert ran.finished and ran.returncode == 0, f"the block exits {ran.returncode}"


def follow_the_readme(env: dict[str, str]) -> tuple[list[str], Ran, dict[Path, bytes]]:
    """Runs the usage block as written and checks every line ran; returns the lines,
    what each printed and the files it wrote (removed again, or put back as they were)."""
    lines = usage_block(README.read_text(encoding="utf-8"))
    targets = exports(lines)
    kept = {path: path.read_bytes() for path in targets if path.exists()}
    written: dict[Path, bytes] = {}
    try:
        ran = run_block(lines, env)
        check(lines, ran)
        written = {path: path.read_bytes() for path in targets if path.is_file()}
    finally:
        for path in targets:
            if path in kept:
                path.write_bytes(kept[path])
            else:
                path.unlink(missing_ok=True)
    return lines, ran, written


async def test_the_readme_usage_block_runs_as_written(app_stack: AppStack) -> None:
    lines, ran, files = await asyncio.to_thread(follow_the_readme, dict(app_stack.env))
    written = notes_written(lines)
    assert len(written) >= 3, "the usage block writes an interview, a contact and a closure note"
    [timeline] = [ran.outputs[n] for n, line in enumerate(lines) if " chronologie " in line]
    for note in written:
        assert note in timeline, f"note {note!r} not in the timeline:\n{timeline}"
    for head in ("Entretien — ", "Contact de suivi — ", "Note de clôture — "):
        assert head in timeline, timeline
    assert files and set(files) == set(exports(lines))
    for path, content in files.items():
        assert b"<html" in content[:2000].lower(), path


def test_a_line_that_does_not_run_fails_the_check(tmp_path: Path) -> None:
    """The checker itself: a placeholder left in a line stops the block at that line."""
    lines = ["echo one", ".venv/bin/entraide chronologie <dossier>", "echo three"]
    ran = run_block(lines, {"PATH": "/usr/bin:/bin", "ENTRAIDE_STATE_DIR": str(tmp_path)})
    assert not ran.finished and max(ran.outputs) == 1
    try:
        check(lines, ran)
    except AssertionError as refused:
        assert "README line 2" in str(refused)
    else:
        raise AssertionError("a line that does not run passed the check")
    masked = ["export X=$(.venv/bin/entraide-nothing)", "echo after"]
    ran = run_block(masked, {"PATH": "/usr/bin:/bin"})
    try:
        check(masked, ran)
    except AssertionError as refused:
        assert "README line 1" in str(refused)
    else:
        raise AssertionError("a failure hidden by export passed the check")
