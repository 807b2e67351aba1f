"""The protos' comments say which codes a field takes: a test reads them and checks each
documented list against what the server accepts (the domain's enums and the deployment's
reference data, the very sets the services validate with), and that every example a
comment gives ("e.g. …") is a value the server takes."""

from __future__ import annotations

import re
from collections.abc import Iterable

import pytest

from domain import vocabulary as v
from domain.import_fields import FORMATS, ImportField
from kernel import reference
from services.intake.collective.rules import EntryKind
from tests.paths import REPO

PROTOS = sorted((REPO / "proto" / "entraide" / "v1").glob("*.proto"))
FIELD = re.compile(r"^\s*(?:repeated\s+)?[\w.]+\s+(\w+)\s*=\s*\d+;")
BLOCK = re.compile(r"^\s*(message|enum|oneof|service)\s+(\w+)\s*\{(.*)$")
WORD = re.compile(r"(?<![.\w-])[a-z][a-z0-9_-]*")
# What looks like a code wherever it stands: quoted, or snake_case (not a dotted name).
SUSPECT = re.compile(r'"([a-z][a-z0-9_-]*)"|(?<![.\w])([a-z][a-z0-9]*(?:_[a-z0-9]+)+)(?![.\w])')
REF = reference.load({})


def comments() -> dict[str, str]:
    """`Message.field` → the comment lines just above it; `Message` → the message's own."""
    found: dict[str, str] = {}
    for path in PROTOS:
        stack: list[str] = []
        pending: list[str] = []
        for line in path.read_text(encoding="utf-8").splitlines():
            stripped = line.strip()
            if stripped.startswith("//"):
                pending.append(stripped.removeprefix("//").strip())
                continue
            if (m := BLOCK.match(line)) is not None:
                # Fields of a oneof belong to its message; other blocks name a scope.
                stack.append("" if m.group(1) == "oneof" else m.group(2))
                found[".".join(filter(None, stack))] = " ".join(pending)
                if "}" in m.group(3):
                    stack.pop()
            elif (f := FIELD.match(line)) is not None and stack:
                found[f"{'.'.join(filter(None, stack))}.{f.group(1)}"] = " ".join(pending)
            elif stripped.startswith("}") and stack:
                stack.pop()
            pending = []
    return found


COMMENTS = comments()


def codes(text: str, universe: Iterable[str]) -> set[str]:
    """The known codes a comment names, quoted or not."""
    return set(WORD.findall(text)) & set(universe)


def suspects(text: str) -> set[str]:
    return {quoted or bare for quoted, bare in SUSPECT.findall(text)}


def values(items: Iterable[object]) -> set[str]:
    return {str(item) for item in items}


# Every code any list below documents: what a comment may name as a code.
EXACT: dict[str, set[str]] = {
    # The dossier's steps, and what a collective action adds to a participant's timeline.
    "TimelineEntry.kind": values(v.StepKind) | values(EntryKind),
    "Task.kind": values(v.TaskKind),
    "Note.kind": values(v.NoteKind),
    "Deadline.kind": values(v.DeadlineKind),
    "Dossier.next_due_kind": values(v.DeadlineKind) - {v.DeadlineKind.REOPEN_LIMIT},
    "RecordInterviewRequest.visibility": values(v.Visibility),
    "RecordFollowUpRequest.visibility": values(v.Visibility),
    "Note.visibility": values(v.Visibility),
    "CompleteEcouteRequest.next_stage": values(v.AFTER_ECOUTE),
    "RecordConsentRequest.kind": values(v.ConsentKind),
    "RecordConsentRequest.channel": values(v.ConsentChannel),
    "RevokeConsentRequest.channel": values(v.ConsentChannel),
    "ReferralActionRequest.reason": values(v.REFERRAL_REASONS),
    "ReferralActionRequest.outcome": values(v.REFERRAL_OUTCOMES),
    "ReferralStatusChanged": values(v.ReferralStatus) | {v.REFERRAL_REMINDER},
    "ReferralStatusChanged.reason": values(v.ReferralReason),
    "CreateReferralRequest.data_scope": {"motif", *REF.consent_data_scopes} - {"situation"},
    "ExportBilanRequest.format": {"csv", "html"},
    "ImportDossiersRequest.format": set(FORMATS),
    "ImportDuplicate.kind": {"same_person", "possible"},
}
# Examples ("e.g.") that must be values the server takes.
EXAMPLES: dict[str, set[str]] = {
    "RecordConsentRequest.data_scope": set(REF.consent_data_scopes),
    "CategoryCount.code": set(REF.motifs),
    "ImportValue.field": values(ImportField),
    "ImportValue.code": set(REF.closure_outcomes),
}
UNIVERSE = set().union(
    *EXACT.values(),
    *EXAMPLES.values(),
    values(v.Stage),
    set(REF.motifs),
    set(REF.arrival_channels),
    set(REF.closure_outcomes),
    values(ImportField),
)


def test_the_parser_finds_the_fields_it_is_asked_about() -> None:
    missing = sorted(key for key in [*EXACT, *EXAMPLES] if key not in COMMENTS)
    assert missing == []


@pytest.mark.parametrize("key", sorted(EXACT))
def test_each_documented_list_is_exactly_what_the_server_accepts(key: str) -> None:
    text = COMMENTS[key]
    # Every code the server takes is documented…
    assert EXACT[key] <= codes(text, EXACT[key]), text
    # …and nothing that looks like a code is one it does not take.
    assert suspects(text) <= EXACT[key], text


@pytest.mark.parametrize("key", sorted(EXAMPLES))
def test_each_example_is_accepted(key: str) -> None:
    named = codes(COMMENTS[key], UNIVERSE)
    assert named and named <= EXAMPLES[key], COMMENTS[key]


def test_no_comment_names_a_code_the_server_does_not_know() -> None:
    """A quoted lower-case token after "e.g." anywhere must be a known code."""
    unknown = []
    for key, text in COMMENTS.items():
        for example in re.findall(r"e\.g\.\s*((?:\"[^\"]+\"[,\s]*)+)", text):
            for token in re.findall(r'"([a-z][a-z0-9_-]*)"', example):
                if token not in UNIVERSE:
                    unknown.append(f"{key}: {token}")
    assert unknown == []
