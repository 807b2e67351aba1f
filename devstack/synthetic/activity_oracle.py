"""The expected activity figures of a generated Dijon-like year: what a bilan must report,
counted by brute force from the generated appointments (their final place and status as
the generator decided them), never from the events nor from reporting's projection.

The definitions are the bilan's (services/reporting/activity.py says them in words):
appointments starting in the period and not cancelled, visits = arrived or seen,
no-shows (excused included), the rates and growths in percent with one decimal, the
shares by partner (partner-hosted only), by category (an élu's → `elus`, an agent's →
`ccas` when the host has none) and by site, listed when they have appointments in the
period or the previous one, ordered by visits, appointments, previous visits
(descending), then code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from entraide.v1 import reporting_pb2

from devstack.synthetic.activity import GeneratedAppointment
from domain.planning import AppointmentStatus, HostKind
from kernel.reference import ReferenceData

S = AppointmentStatus


@dataclass
class _Tally:
    appointments: int = 0
    visits: int = 0
    no_shows: int = 0
    excused: int = 0
    walk_ins: int = 0


def _tally(appointments: Iterable[GeneratedAppointment]) -> _Tally:
    t = _Tally()
    for a in appointments:
        if a.status == S.CANCELLED:
            continue
        t.appointments += 1
        t.walk_ins += a.walk_in
        t.visits += a.status in (S.ARRIVED, S.SEEN)
        t.no_shows += a.status in (S.NO_SHOW, S.NO_SHOW_EXCUSED)
        t.excused += a.status == S.NO_SHOW_EXCUSED
    return t


def _percent(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 1) if whole else 0.0


def _growth(now: int, before: int) -> float:
    return round(100.0 * (now - before) / before, 1) if before else 0.0


def _category(a: GeneratedAppointment) -> str | None:
    if a.host.category:
        return a.host.category
    return {HostKind.ELU: "elus", HostKind.AGENT: "ccas"}.get(a.host.kind, "")


def _partner(a: GeneratedAppointment) -> str | None:
    return a.host.host_id if a.host.kind == HostKind.PARTENAIRE else None


def _shares(
    now: Sequence[GeneratedAppointment],
    before: Sequence[GeneratedAppointment],
    code_of: Callable[[GeneratedAppointment], str | None],
    label_of: Callable[[str], str],
) -> list[reporting_pb2.ActivityShare]:
    codes = sorted({c for a in [*now, *before] if (c := code_of(a)) is not None})
    shares = []
    for code in codes:
        t = _tally(a for a in now if code_of(a) == code)
        p = _tally(a for a in before if code_of(a) == code)
        if t.appointments or p.appointments:
            shares.append(
                reporting_pb2.ActivityShare(
                    code=code,
                    label=label_of(code),
                    appointments=t.appointments,
                    visits=t.visits,
                    no_shows=t.no_shows,
                    no_show_rate=_percent(t.no_shows, t.visits + t.no_shows),
                    previous_visits=p.visits,
                    visits_growth=_growth(t.visits, p.visits),
                )
            )
    shares.sort(key=lambda s: (-s.visits, -s.appointments, -s.previous_visits, s.code))
    return shares


def expected(
    appointments: Iterable[GeneratedAppointment],
    territories: Iterable[str],
    start: datetime,
    end: datetime,
    reference: ReferenceData,
) -> reporting_pb2.ActivityFigures:
    """Bilan.activity for [start, end) and these communes (previous period: the one of
    equal length just before)."""
    wanted = set(territories)
    every = [a for a in appointments if a.territory in wanted]
    previous_start = start - (end - start)
    now = [a for a in every if start <= a.slot.starts_at < end]
    before = [a for a in every if previous_start <= a.slot.starts_at < start]
    t, p = _tally(now), _tally(before)
    names = {a.host.host_id: a.host.name for a in every if a.host.kind == HostKind.PARTENAIRE}
    categories = reference.partner_categories
    return reporting_pb2.ActivityFigures(
        appointments=t.appointments,
        visits=t.visits,
        no_shows=t.no_shows,
        excused_no_shows=t.excused,
        no_show_rate=_percent(t.no_shows, t.visits + t.no_shows),
        previous_appointments=p.appointments,
        previous_visits=p.visits,
        previous_no_shows=p.no_shows,
        visits_growth=_growth(t.visits, p.visits),
        walk_ins=t.walk_ins,
        by_partner=_shares(now, before, _partner, lambda code: names.get(code) or code),
        by_category=_shares(now, before, _category, lambda code: categories.get(code, code)),
        by_site=_shares(now, before, lambda a: a.site, lambda code: reference.sites[code].label),
    )
