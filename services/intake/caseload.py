"""Checks on the caseload reads (ListDossiers' filters and order, ListTasks) and
ListDossiers' page tokens, with messages a person understands.

A page token is opaque to callers: base64url JSON holding the order, a digest of the
filters it was asked with (a token is refused under other filters), the keyset of the
page's last row and, in the attention order, the time the first page judged "overdue"
at (kept by the following pages so that rows never move between pages).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from entraide.v1 import intake_pb2

from domain.labels_fr import stage_label
from domain.vocabulary import STAGES
from kernel import auth
from kernel.errors import InvalidArgument, Violation
from kernel.reference import ReferenceData
from services.intake import validation

DEFAULT_PAGE_SIZE = 50
_AGENT = re.compile(r"^[\x21-\x7e]{1,100}$")
_TOKEN_VERSION = 1


@dataclass(frozen=True)
class DossierListing:
    # The communes asked for (territory and territories merged); empty: the caller's.
    territories: list[str]
    page_size: int
    stage: str | None
    assigned_agent: str | None
    motif: str | None
    person_id: str | None
    active_only: bool
    attention_first: bool

    def digest(self) -> str:
        filters = [
            sorted(self.territories),
            self.stage,
            self.assigned_agent,
            self.motif,
            self.person_id,
            self.active_only,
            self.attention_first,
        ]
        return hashlib.sha256(json.dumps(filters).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class TaskListing:
    territories: list[str]
    assigned_agent: str | None
    page_size: int


@dataclass(frozen=True)
class Page:
    """Where the previous page ended (repository.DossierQuery.after), and the attention
    order's fixed time."""

    after: tuple[Any, ...]
    now: datetime | None


def _territories(
    problems: list[Violation], single: str, several: Iterable[str], reference: ReferenceData
) -> list[str]:
    # Each commune refused is named in the sentence; the field is the request's.
    asked = [("territory", single)] if single else []
    asked += [("territories", t) for t in several]
    for field, territory in asked:
        found = validation.territory_violation(territory, reference, field=field)
        if found is not None:
            problems.append(found)
    return list(dict.fromkeys(t for _, t in asked))


def _page_size(problems: list[Violation], raw: int, what: str, what_fr: str) -> int:
    if not 0 <= raw <= validation.MAX_PAGE_SIZE:
        problems.append(
            Violation(
                "page_size",
                f"page_size is between 1 and {validation.MAX_PAGE_SIZE} (0 for {DEFAULT_PAGE_SIZE})",
                f"Le nombre de {what_fr} par page va de 1 à {validation.MAX_PAGE_SIZE}"
                f" (0 pour {DEFAULT_PAGE_SIZE}).",
                "OUT_OF_RANGE",
            )
        )
    return raw or DEFAULT_PAGE_SIZE


def _agent(problems: list[Violation], raw: str) -> str | None:
    if not raw:
        return None
    if not _AGENT.match(raw):
        problems.append(
            Violation(
                "assigned_agent",
                "assigned_agent is an agent's id, 1 to 100 printable characters (empty: any agent)",
                "L'agent attribué doit être l'identifiant d'un agent : 1 à 100 caractères, sans espace"
                " (vide : tous les agents).",
                "INVALID_FORMAT",
            )
        )
        return None
    return raw


def dossier_listing(request: intake_pb2.ListDossiersRequest, reference: ReferenceData) -> DossierListing:
    problems: list[Violation] = []
    territories = _territories(problems, request.territory, request.territories, reference)
    if request.stage and request.stage not in STAGES:
        problems.append(
            Violation(
                "stage",
                f"stage is one of {', '.join(STAGES)}",
                f"Étape inconnue : « {request.stage[:20]} ». Les étapes d'un dossier sont "
                + ", ".join(stage_label(s) for s in STAGES[:-1])
                + f" et {stage_label(STAGES[-1])}.",
                "INVALID_CHOICE",
            )
        )
    page_size = _page_size(problems, request.page_size, "dossiers", "dossiers")
    agent = _agent(problems, request.assigned_agent)
    if request.motif and request.motif not in reference.motifs:
        problems.append(validation.unknown_motifs_violation([request.motif[:40]], field="motif"))
    person_id: str | None = None
    if request.person_id:
        try:
            person_id = str(uuid.UUID(request.person_id))
        except ValueError:
            problems.append(
                Violation(
                    "person_id",
                    "person_id must be a person's id (a UUID) or empty",
                    "L'identifiant de la personne n'est pas valable : laissez-le vide"
                    " ou copiez l'identifiant en entier (36 caractères).",
                    "INVALID_ID",
                )
            )
    if problems:
        raise InvalidArgument.of(problems)
    return DossierListing(
        territories=territories,
        page_size=page_size,
        stage=request.stage or None,
        assigned_agent=agent,
        motif=request.motif or None,
        person_id=person_id,
        active_only=request.active_only,
        attention_first=request.attention_first,
    )


def task_listing(request: intake_pb2.ListTasksRequest, reference: ReferenceData) -> TaskListing:
    problems: list[Violation] = []
    territories = _territories(problems, "", request.territories, reference)
    agent = _agent(problems, request.assigned_agent)
    page_size = _page_size(problems, request.page_size, "tasks", "tâches")
    if problems:
        raise InvalidArgument.of(problems)
    return TaskListing(territories=territories, assigned_agent=agent, page_size=page_size)


def caller_territories(asked: list[str]) -> list[str]:
    """The communes asked for, each one the caller's (PERMISSION_DENIED otherwise, naming
    it); none asked: all of the caller's."""
    claims = auth.current()
    if not asked:
        return sorted(claims.territories)
    for territory in asked:
        claims.require_territory(territory)
    return asked


# ---- page tokens -------------------------------------------------------------------------


def _bad_token() -> InvalidArgument:
    return validation.invalid(
        "page_token",
        "page_token is not one this server returned for this listing (same filters and order)",
        "Le jeton de page n'est pas valable pour cette liste : repartez de la première page.",
        "INVALID_PAGE_TOKEN",
    )


def page_token(listing: DossierListing, last: asyncpg.Record, now: datetime) -> str:
    """The token of the page after the one ending with `last` (a repository._VIEW row)."""
    key: list[Any]
    if listing.attention_first:
        due = last["next_due_at"]
        key = [last["attention_rank"], due.isoformat() if due else None, last["opened_at"].isoformat()]
    else:
        key = [last["opened_at"].isoformat()]
    body = {
        "v": _TOKEN_VERSION,
        "f": listing.digest(),
        "k": [*key, str(last["dossier_id"])],
        "t": now.isoformat() if listing.attention_first else None,
    }
    return base64.urlsafe_b64encode(json.dumps(body, separators=(",", ":")).encode()).decode().rstrip("=")


def _instant(raw: Any) -> datetime:
    if not isinstance(raw, str):
        raise TypeError(raw)
    parsed = datetime.fromisoformat(raw)
    if parsed.tzinfo is None:
        raise ValueError(raw)
    return parsed


def parse_page_token(token: str, listing: DossierListing) -> Page | None:
    if not token:
        return None
    if len(token) > 1000:
        raise _bad_token()
    try:
        body = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if not isinstance(body, dict) or body.get("v") != _TOKEN_VERSION or body.get("f") != listing.digest():
            raise _bad_token()
        key = body["k"]
        dossier_id = str(uuid.UUID(key[-1]))
        if listing.attention_first:
            rank, due, opened_at = key[:-1]
            if not isinstance(rank, int) or isinstance(rank, bool):
                raise _bad_token()
            return Page(
                after=(
                    rank,
                    _instant(due) if due is not None else None,
                    _instant(opened_at),
                    dossier_id,
                ),
                now=_instant(body["t"]),
            )
        (opened_at,) = key[:-1]
        return Page(after=(_instant(opened_at), dossier_id), now=None)
    except (ValueError, TypeError, KeyError, AttributeError, binascii.Error, UnicodeDecodeError):
        raise _bad_token() from None
