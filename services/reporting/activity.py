"""The bilan's activity figures: appointments and visits of the permanences, from the
appointment facts and their day cells (migration 007).

Definitions (an appointment counts on the day it starts, at its latest placement):
- appointments: starting in [start, end), not cancelled (walk-ins included);
- visits: status arrived or seen; no-shows: no_show or no_show_excused (excused: the
  latter); an appointment with nothing recorded is an appointment only;
- no-show rate: no-shows / (visits + no-shows), percent, one decimal (0 when nothing
  was recorded); visits growth: visits against the previous period of equal length,
  percent, one decimal (0 without previous visits);
- walk-ins: appointments of people received without appointment;
- by partner: the partner-hosted appointments, by partner id (label: the latest name
  the events carried, the id when none did); by category: the host's reference data
  category, or for a host without one its kind's (an élu → `elus`, an agent → `ccas`);
  by site: the site code. A share is listed when it has appointments in the period or
  in the previous one; shares are ordered by visits, appointments, previous visits
  (all descending), then code.
Counts are exact: the whole days from the day cells, the partial days at the edges of
a period not aligned on days from the fact rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from domain.planning import NO_SHOWS, VISITED, AppointmentStatus, HostKind
from kernel.db import Connection
from services.reporting.bilan_periods import days
from services.reporting.projection.tables import Tables

# The category of a host without one (reference data partner_categories codes).
HOST_CATEGORIES: Mapping[str, str] = {HostKind.ELU: "elus", HostKind.AGENT: "ccas"}


@dataclass
class Counts:
    appointments: int = 0
    visits: int = 0
    no_shows: int = 0
    excused: int = 0
    walk_ins: int = 0

    def add(self, status: str, walk_in: bool, n: int) -> None:
        if status == AppointmentStatus.CANCELLED:
            return
        self.appointments += n
        self.walk_ins += n if walk_in else 0
        self.visits += n if status in VISITED else 0
        self.no_shows += n if status in NO_SHOWS else 0
        self.excused += n if status == AppointmentStatus.NO_SHOW_EXCUSED else 0

    def merge(self, other: Counts) -> None:
        self.appointments += other.appointments
        self.visits += other.visits
        self.no_shows += other.no_shows
        self.excused += other.excused
        self.walk_ins += other.walk_ins


Group = tuple[str, str, str, str]  # site, host_kind, partner_id, category
Grouped = dict[Group, Counts]


@dataclass(frozen=True)
class ActivityShare:
    code: str
    appointments: int
    visits: int
    no_shows: int
    no_show_rate: float
    previous_visits: int
    visits_growth: float
    name: str = ""  # a partner's latest name (by_partner only), else empty


@dataclass(frozen=True)
class ActivityFigures:
    appointments: int = 0
    visits: int = 0
    no_shows: int = 0
    excused_no_shows: int = 0
    no_show_rate: float = 0.0
    previous_appointments: int = 0
    previous_visits: int = 0
    previous_no_shows: int = 0
    visits_growth: float = 0.0
    walk_ins: int = 0
    by_partner: list[ActivityShare] = field(default_factory=list)
    by_category: list[ActivityShare] = field(default_factory=list)
    by_site: list[ActivityShare] = field(default_factory=list)


def no_show_rate(no_shows: int, visits: int) -> float:
    recorded = visits + no_shows
    return round(100.0 * no_shows / recorded, 1) if recorded else 0.0


def growth(current: int, previous: int) -> float:
    return round(100.0 * (current - previous) / previous, 1) if previous else 0.0


_GROUPS = "site, host_kind, partner_id, category, status, walk_in"


async def grouped(
    conn: Connection, tables: Tables, territories: list[str], start: datetime, end: datetime
) -> Grouped:
    """The appointments starting in [start, end) by site, host, category: day cells + edges."""
    inner, edges = days(start, end)
    rows = []
    if inner:
        rows += await conn.fetch(
            f"""SELECT {_GROUPS}, sum(n) AS n FROM {tables.appointment_cells}
                 WHERE territory = ANY($1::text[]) AND day >= $2 AND day < $3
                 GROUP BY {_GROUPS} HAVING sum(n) <> 0""",
            territories,
            *inner,
        )
    for a, b in edges:
        rows += await conn.fetch(
            f"""SELECT site, host_kind, partner_id, category, COALESCE(status, '') AS status, walk_in,
                       count(*) AS n
                  FROM {tables.appointments}
                 WHERE territory = ANY($1::text[]) AND starts_at >= $2 AND starts_at < $3
                 GROUP BY 1, 2, 3, 4, 5, 6""",
            territories,
            a,
            b,
        )
    out: Grouped = {}
    for row in rows:
        group = (row["site"], row["host_kind"], row["partner_id"], row["category"])
        out.setdefault(group, Counts()).add(row["status"], row["walk_in"], int(row["n"]))
    return out


async def host_names(conn: Connection, tables: Tables, partner_ids: Iterable[str]) -> dict[str, str]:
    rows = await conn.fetch(
        f"SELECT partner_id, name FROM {tables.appointment_hosts} WHERE partner_id = ANY($1::text[])",
        sorted(set(partner_ids)),
    )
    return {row["partner_id"]: row["name"] for row in rows}


def partner_of(group: Group) -> str | None:
    _, host_kind, partner_id, _ = group
    return partner_id if host_kind == HostKind.PARTENAIRE else None


def category_of(group: Group) -> str | None:
    _, host_kind, _, category = group
    return category or HOST_CATEGORIES.get(host_kind, "")


def site_of(group: Group) -> str | None:
    return group[0]


def _by(grouped_counts: Grouped, key: Callable[[Group], str | None]) -> dict[str, Counts]:
    out: dict[str, Counts] = {}
    for group, counts in grouped_counts.items():
        code = key(group)
        if code is not None:
            out.setdefault(code, Counts()).merge(counts)
    return out


def _shares(
    current: Grouped, previous: Grouped, key: Callable[[Group], str | None], names: Mapping[str, str]
) -> list[ActivityShare]:
    now, before = _by(current, key), _by(previous, key)
    shares = []
    for code in set(now) | set(before):
        c, p = now.get(code, Counts()), before.get(code, Counts())
        if c.appointments or p.appointments:
            shares.append(
                ActivityShare(
                    code,
                    c.appointments,
                    c.visits,
                    c.no_shows,
                    no_show_rate(c.no_shows, c.visits),
                    p.visits,
                    growth(c.visits, p.visits),
                    names.get(code, ""),
                )
            )
    return sorted(shares, key=lambda s: (-s.visits, -s.appointments, -s.previous_visits, s.code))


def partner_ids(*groups: Grouped) -> set[str]:
    return {code for g in groups for group in g if (code := partner_of(group))}


def figures(current: Grouped, previous: Grouped, names: Mapping[str, str]) -> ActivityFigures:
    now, before = Counts(), Counts()
    for counts in current.values():
        now.merge(counts)
    for counts in previous.values():
        before.merge(counts)
    return ActivityFigures(
        appointments=now.appointments,
        visits=now.visits,
        no_shows=now.no_shows,
        excused_no_shows=now.excused,
        no_show_rate=no_show_rate(now.no_shows, now.visits),
        previous_appointments=before.appointments,
        previous_visits=before.visits,
        previous_no_shows=before.no_shows,
        visits_growth=growth(now.visits, before.visits),
        walk_ins=now.walk_ins,
        by_partner=_shares(current, previous, partner_of, names),
        by_category=_shares(current, previous, category_of, {}),
        by_site=_shares(current, previous, site_of, {}),
    )
