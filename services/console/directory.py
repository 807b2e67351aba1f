"""The agents directory: who may sign in to the console, with which role and communes.

Identity providers (ProConnect, a CCAS's Keycloak) say who a person is, not what they do
in Entraide; the directory says that. A provider identity (issuer + subject) is bound
to its agent at the first sign-in, found by e-mail; afterwards only that identity signs
in as that agent.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from kernel.auth import Role
from kernel.db import Connection

SCHEMA = "console"
# People sign in; internal services never do.
PERSON_ROLES = tuple(r for r in Role if r is not Role.SERVICE)


@dataclass(frozen=True)
class Agent:
    agent_id: str
    display_name: str
    email: str
    role: Role
    territories: frozenset[str] = field(default_factory=frozenset)
    site: str = ""
    team: str = ""
    partner_id: str = ""
    active: bool = True
    # The organisation's SIRET the provider must give for this agent (empty: not checked).
    siret: str = ""

    @classmethod
    def from_row(cls, row: asyncpg.Record | Mapping[str, Any]) -> Agent:
        return cls(
            agent_id=row["agent_id"],
            display_name=row["display_name"],
            email=row["email"],
            role=Role(row["role"]),
            territories=frozenset(row["territories"]),
            site=row["site"],
            team=row["team"],
            partner_id=row["partner_id"],
            active=row["active"],
            siret=row["siret"],
        )


def parse(entries: Iterable[Mapping[str, Any]]) -> list[Agent]:
    """Directory entries from a deployment's file; a wrong entry is an error naming it."""
    agents = []
    for number, entry in enumerate(entries, start=1):
        try:
            role = Role(entry["role"])
            if role not in PERSON_ROLES:
                raise ValueError(f"role {role.value!r} is not a person's role")
            agents.append(
                Agent(
                    agent_id=str(entry["agent_id"]),
                    display_name=str(entry["display_name"]),
                    email=str(entry["email"]).strip(),
                    role=role,
                    territories=frozenset(str(t) for t in entry.get("territories", [])),
                    site=str(entry.get("site", "")),
                    team=str(entry.get("team", "")),
                    partner_id=str(entry.get("partner_id", "")),
                    active=bool(entry.get("active", True)),
                    siret=str(entry.get("siret", "")),
                )
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise ValueError(f"agents directory entry {number}: {exc}") from None
    return agents


def load_file(path: Path) -> list[Agent]:
    raw = json.loads(path.read_text(encoding="utf-8"))
    return parse(raw["agents"] if isinstance(raw, dict) else raw)


# The directory entry's columns, written by upsert and add alike.
_COLUMNS = "agent_id, display_name, email, role, territories, site, team, partner_id, active, siret"
_PLACEHOLDERS = ", ".join(f"${n}" for n in range(1, 11))


def _values(agent: Agent) -> tuple[object, ...]:
    return (
        agent.agent_id,
        agent.display_name,
        agent.email,
        agent.role.value,
        sorted(agent.territories),
        agent.site,
        agent.team,
        agent.partner_id,
        agent.active,
        agent.siret,
    )


async def upsert(conn: Connection, agents: Iterable[Agent]) -> int:
    """Adds or updates agents (their bound identity is kept); returns how many."""
    count = 0
    for agent in agents:
        await conn.execute(
            f"""INSERT INTO {SCHEMA}.agents ({_COLUMNS}) VALUES ({_PLACEHOLDERS})
                ON CONFLICT (agent_id) DO UPDATE
                   SET display_name = EXCLUDED.display_name, email = EXCLUDED.email,
                       role = EXCLUDED.role, territories = EXCLUDED.territories, site = EXCLUDED.site,
                       team = EXCLUDED.team, partner_id = EXCLUDED.partner_id, active = EXCLUDED.active,
                       siret = EXCLUDED.siret, updated_at = now()""",
            *_values(agent),
        )
        count += 1
    return count


async def get(conn: Connection, agent_id: str) -> Agent | None:
    row = await conn.fetchrow(f"SELECT * FROM {SCHEMA}.agents WHERE agent_id = $1", agent_id)
    return Agent.from_row(row) if row is not None else None


async def active_agents(conn: Connection) -> list[Agent]:
    rows = await conn.fetch(f"SELECT * FROM {SCHEMA}.agents WHERE active ORDER BY role, agent_id")
    return [Agent.from_row(row) for row in rows]


async def bind_identity(conn: Connection, issuer: str, subject: str, email: str, siret: str) -> Agent | None:
    """The active agent of this provider identity; at the first sign-in, the agent of
    this e-mail not yet bound to another identity is bound to it. None when no active
    agent matches, or the agent's organisation (SIRET) is not the identity's."""
    row = await conn.fetchrow(
        f"SELECT * FROM {SCHEMA}.agents WHERE issuer = $1 AND subject = $2", issuer, subject
    )
    if row is None and email:
        row = await conn.fetchrow(
            f"SELECT * FROM {SCHEMA}.agents WHERE lower(email) = lower($1) AND issuer IS NULL FOR UPDATE",
            email.strip(),
        )
        if row is not None and (not row["active"] or not _same_organisation(row["siret"], siret)):
            return None
        if row is not None:
            row = await conn.fetchrow(
                f"""UPDATE {SCHEMA}.agents SET issuer = $2, subject = $3, updated_at = now()
                     WHERE agent_id = $1 RETURNING *""",
                row["agent_id"],
                issuer,
                subject,
            )
    if row is None or not row["active"] or not _same_organisation(row["siret"], siret):
        return None
    return Agent.from_row(row)


def _same_organisation(expected: str, given: str) -> bool:
    return not expected or expected == given


# ---- administration (a responsable's page; the role and commune checks are the page's) ----


@dataclass(frozen=True)
class Listed:
    """An agent of the directory as the administration lists it: whether a provider
    identity is bound, never the identity itself."""

    agent: Agent
    identity_bound: bool


async def all_agents(conn: Connection) -> list[Listed]:
    """Every agent, active or not, by name."""
    rows = await conn.fetch(
        f"""SELECT *, issuer IS NOT NULL AS identity_bound FROM {SCHEMA}.agents
             ORDER BY active DESC, lower(display_name), agent_id"""
    )
    return [Listed(Agent.from_row(row), row["identity_bound"]) for row in rows]


async def add(conn: Connection, agent: Agent) -> bool:
    """Adds a new agent (their identity is bound at the first sign-in, by e-mail); False
    when the agent id or the e-mail is already in the directory."""
    added = await conn.fetchval(
        f"""INSERT INTO {SCHEMA}.agents ({_COLUMNS}) VALUES ({_PLACEHOLDERS})
            ON CONFLICT DO NOTHING RETURNING agent_id""",
        *_values(agent),
    )
    return added is not None


async def email_taken(conn: Connection, email: str) -> bool:
    return bool(
        await conn.fetchval(f"SELECT true FROM {SCHEMA}.agents WHERE lower(email) = lower($1)", email.strip())
    )


async def assign(
    conn: Connection,
    agent_id: str,
    role: Role,
    territories: Iterable[str],
    site: str,
    team: str,
    partner_id: str,
) -> bool:
    """Changes what an agent does (role, communes, site, team, partner); applies at
    their next page. False when there is no such agent."""
    status = await conn.execute(
        f"""UPDATE {SCHEMA}.agents
               SET role = $2, territories = $3, site = $4, team = $5, partner_id = $6, updated_at = now()
             WHERE agent_id = $1""",
        agent_id,
        role.value,
        sorted(territories),
        site,
        team,
        partner_id,
    )
    return status.split()[-1] != "0"


async def set_active(conn: Connection, agent_id: str, active: bool) -> bool:
    """Deactivates (their sessions end at their next request, sign-in is refused) or
    reactivates an agent; False when there is no such agent."""
    status = await conn.execute(
        f"UPDATE {SCHEMA}.agents SET active = $2, updated_at = now() WHERE agent_id = $1", agent_id, active
    )
    return status.split()[-1] != "0"
