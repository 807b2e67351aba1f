"""The Dijon-like activity year without any server: deterministic for a seed (byte for
byte, whatever the hash seed), plausible (18 partners in 2 rooms without a clash, 6,000
visits, 10 % no-shows, walk-ins, moves, cancellations), its events as the catalogue
declares them and telling the same story as the generator's plan, its oracle printed by
the command."""

from __future__ import annotations

import io
import itertools
import json
import os
import subprocess
import sys
from collections import Counter, defaultdict
from contextlib import redirect_stdout
from datetime import UTC, datetime
from pathlib import Path

import pytest
from entraide.v1 import events_pb2

from devstack.synthetic import activity, cli, dijon
from devstack.synthetic.activity import ActivityYear, generate_dijon_year, generate_dijon_years
from domain.events import CATALOGUE, EventType
from domain.planning import PARIS, AppointmentStatus, HostKind, Recurrence
from kernel import reference
from kernel.events import Event

ROOT = Path(__file__).resolve().parents[3]
S = AppointmentStatus
REFERENCE = reference.load({})


@pytest.fixture(scope="module")
def years() -> tuple[ActivityYear, ActivityYear]:
    return generate_dijon_years(3, year=2025)


def wire(events: tuple[Event, ...] | list[Event]) -> list[tuple[str, ...]]:
    return [
        (str(e.id), e.type, e.source, e.subject, e.time.isoformat(), e.data_schema, e.data.hex())
        for e in events
    ]


def test_the_same_seed_gives_the_same_events_another_seed_others(
    years: tuple[ActivityYear, ActivityYear],
) -> None:
    again = generate_dijon_year(3, year=2025)
    assert wire(again.events) == wire(years[1].events)
    other = generate_dijon_year(4, year=2025)
    assert {e.id for e in other.events}.isdisjoint({e.id for e in years[1].events})
    assert {e.id for e in years[0].events}.isdisjoint({e.id for e in years[1].events})


SERIALIZE = """
import hashlib, sys
from devstack.synthetic.activity import events_of, generate_dijon_years
digest = hashlib.sha256()
for e in events_of(generate_dijon_years(2, year=2024, visits=1500)):
    digest.update(" ".join((str(e.id), e.type, e.subject, e.time.isoformat(), e.data.hex())).encode())
print(digest.hexdigest())
"""


def test_the_same_events_byte_for_byte_whatever_the_hash_seed() -> None:
    digests = set()
    for hash_seed in ("1", "4321"):
        done = subprocess.run(
            [sys.executable, "-c", SERIALIZE],
            cwd=ROOT,
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        digests.add(done.stdout.strip())
    assert len(digests) == 1


def test_eighteen_partners_in_two_rooms_without_a_clash(years: tuple[ActivityYear, ActivityYear]) -> None:
    partners = dijon.PARTNERS
    assert (
        len(partners) == 18
        and len({p.host_id for p in partners}) == 18
        and len({p.name for p in partners}) == 18
    )
    assert all(p.kind == HostKind.PARTENAIRE and p.category in REFERENCE.partner_categories for p in partners)
    assert {p.recurrence for p in partners} == {Recurrence.WEEKLY, Recurrence.FORTNIGHTLY}
    site = REFERENCE.sites[dijon.SITE]
    assert site.territory == dijon.TERRITORY and {r.code for r in site.rooms} == set(dijon.ROOMS)
    for year in years:
        rota = year.permanences
        assert {p.host.host_id for p in rota} == {*(p.host_id for p in partners), dijon.ELU.host_id}
        assert {p.room for p in rota} == set(dijon.ROOMS)
        weeks = Counter(
            (p.room, p.weekday, p.half, parity)
            for p in rota
            for parity in ((0, 1) if p.parity is None else (p.parity,))
        )
        assert max(weeks.values()) == 1  # never two permanences in a room on the same half-day of a week
        by_room: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
        for a in year.appointments:
            if a.slot.room:
                by_room[a.slot.room].append((a.slot.starts_at, a.slot.ends_at))
            else:
                assert a.host.kind == HostKind.AGENT and not a.slot.permanence_id  # agents: outside the rooms
        assert set(by_room) == set(dijon.ROOMS)
        for intervals in by_room.values():
            intervals.sort()
            assert all(end <= nxt for (_, end), (nxt, _) in itertools.pairwise(intervals))


def test_a_year_of_six_thousand_visits(years: tuple[ActivityYear, ActivityYear]) -> None:
    previous, year = years
    for y, visits in ((previous, 5742), (year, 6000)):
        statuses = Counter(a.status for a in y.appointments)
        assert statuses[S.ARRIVED] + statuses[S.SEEN] == visits
        recorded = visits + statuses[S.NO_SHOW] + statuses[S.NO_SHOW_EXCUSED]
        assert 0.09 < (statuses[S.NO_SHOW] + statuses[S.NO_SHOW_EXCUSED]) / recorded < 0.11
        assert 0 < statuses[S.NO_SHOW_EXCUSED] < statuses[S.NO_SHOW]
        assert 0.05 < statuses[S.CANCELLED] / len(y.appointments) < 0.09 and statuses[S.BOOKED] > 0
        assert 0 < sum(a.walk_in for a in y.appointments) < 0.06 * visits
        assert 0.04 < sum(a.moves > 0 for a in y.appointments) / len(y.appointments) < 0.09
        assert any(a.moves == 2 for a in y.appointments)
        assert all(a.slot.starts_at.astimezone(PARIS).year == y.year for a in y.appointments)
        hosts = Counter(a.host.host_id for a in y.appointments)
        assert len(hosts) == 18 + 1 + len(dijon.AGENTS)  # every partner, the élu, the agents receive
        for a in y.appointments:
            local = a.slot.starts_at.astimezone(PARIS)
            assert local.weekday() < 5 and local.date() not in dijon.closed_days(y.year)
    assert round(100 * (6000 - 5742) / 5742, 1) == 4.5


def test_the_events_tell_the_plan(years: tuple[ActivityYear, ActivityYear]) -> None:
    """Replayed naively in time order, the events end where the plan says, and every
    event is its catalogue's message with no personal data (ids, codes, names of bodies)."""
    for y in years:
        final: dict[str, tuple[str, datetime, bool]] = {}
        for event in y.events:
            data = event.payload()
            assert type(data) is CATALOGUE[EventType(event.type)].message
            if isinstance(data, events_pb2.AppointmentBooked | events_pb2.AppointmentMoved):
                walk_in = isinstance(data, events_pb2.AppointmentBooked) and data.walk_in
                status = S.ARRIVED if walk_in else S.BOOKED
                walk_in = walk_in or final.get(data.appointment_id, (S.BOOKED, None, False))[2]
                final[data.appointment_id] = (status, data.place.starts_at.ToDatetime(tzinfo=UTC), walk_in)
                assert data.place.site == dijon.SITE and data.place.territory == dijon.TERRITORY
            elif isinstance(data, events_pb2.AppointmentCancelled):
                _, start, walk_in = final[data.appointment_id]
                final[data.appointment_id] = (S.CANCELLED, start, walk_in)
            else:
                assert isinstance(data, events_pb2.AttendanceRecorded)
                _, start, walk_in = final[data.appointment_id]
                final[data.appointment_id] = (data.status, start, walk_in)
            assert event.subject == data.appointment_id
        assert final == {a.appointment_id: (a.status, a.slot.starts_at, a.walk_in) for a in y.appointments}


def test_the_command_prints_the_oracles_figures() -> None:
    out = io.StringIO()
    with redirect_stdout(out):
        assert cli.main(["--dijon", "--year", "2025", "--seed", "3", "--visits", "1200"]) == 0
    figures = json.loads(out.getvalue())
    assert figures["visits"] == "1200" and figures["previous_visits"] == str(round(1200 / 1.045))
    assert (
        len(figures["by_partner"]) == 18
        and figures["by_site"][0]["label"] == "Maison de la solidarité de Dijon"
    )
    assert activity.DEFAULT_VISITS == 6000
