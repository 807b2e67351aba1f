"""What the planning pages share: the agent's sites, the days and times of forms in
Europe/Paris, and the planning service's refusals renamed to the forms' inputs.

The rules (who may plan, a room already taken, a slot no longer free) stay in the
planning service: these helpers only translate between a form and the API.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import grpc
from entraide.v1 import planning_pb2
from google.protobuf.timestamp_pb2 import Timestamp

from domain.planning import PARIS
from kernel import rich_status
from kernel.auth import Role
from services.console.web import FormErrors, Page, PageFailure

# The planning service's refusal of a session overlapping another in the same room.
ROOM_TAKEN = "ROOM_TAKEN"
# Who places permanences in rooms (reception keeps the rooms' planning) and who reads
# the messages sent to people: the forms are offered to them; the service decides.
PLANNERS = frozenset({Role.ACCUEIL, Role.RESPONSABLE})
MESSAGE_READERS = frozenset({Role.RESPONSABLE})
# Who books, moves, cancels and records attendance.
BOOKERS = frozenset({Role.ACCUEIL, Role.TRAVAILLEUR_SOCIAL, Role.RESPONSABLE})


def require(page: Page, roles: frozenset[Role], what: str) -> None:
    if page.session.agent.role not in roles:
        raise PageFailure(403, "Accès refusé", what)


def refusal_errors(error: grpc.RpcError, rename: Mapping[str, str] | None = None) -> FormErrors:
    """The service's sentence and one per field, named as the form names its inputs:
    `host.label` is the input `host_label` unless `rename` says otherwise; a room
    already taken is said next to the room too."""
    described = rich_status.describe(error)
    rename = rename or {}
    errors = FormErrors(described.fr)
    for violation in described.violations:
        path = violation.field.split("[")[0].replace(".", "_")
        errors.fields.setdefault(rename.get(path, path), violation.fr)
    if described.reason == ROOM_TAKEN:
        errors.fields.setdefault(rename.get("room", "room"), described.fr)
    return errors


async def agent_sites(page: Page) -> list[Any]:
    """The sites of the agent's communes (ListSites), in the deployment's order."""
    reply = await page.calls.planning.ListSites(planning_pb2.ListSitesRequest())
    return list(reply.sites)


def chosen_site(page: Page, sites: list[Any], asked: str) -> Any:
    """The site asked for, else the agent's own site, else the first; None without sites."""
    by_code = {s.code: s for s in sites}
    if asked:
        if asked not in by_code:
            raise PageFailure(404, "Page introuvable", "Ce lieu n'existe pas, ou vous n'y avez pas accès.")
        return by_code[asked]
    return by_code.get(page.session.agent.site) or (sites[0] if sites else None)


def today() -> date:
    return datetime.now(PARIS).date()


def parse_day(text: str, default: date) -> date:
    try:
        return date.fromisoformat(text) if text else default
    except ValueError:
        return default


def monday_of(day: date) -> date:
    return day - timedelta(days=day.isoweekday() - 1)


def timestamp(at: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(at.astimezone(UTC))
    return stamp


def instant(value: Timestamp) -> datetime:
    return value.ToDatetime(tzinfo=UTC)


def slot_value(value: Timestamp) -> str:
    """A slot's start as a form sends it back (ISO, UTC)."""
    return instant(value).isoformat()


def parse_slot(text: str) -> Timestamp | None:
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        return None
    return timestamp(at if at.tzinfo else at.replace(tzinfo=UTC))


def local_instant(day: str, hour: str) -> Timestamp | None:
    """A day and an HH:MM typed in a form (Paris time) as an instant; None if unreadable."""
    try:
        at = datetime.combine(date.fromisoformat(day), time.fromisoformat(hour), tzinfo=PARIS)
    except ValueError:
        return None
    return timestamp(at)


def minutes(text: str) -> int:
    try:
        return max(0, int(text))
    except ValueError:
        return -1  # the service says what is wrong with it
