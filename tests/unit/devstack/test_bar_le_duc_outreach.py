"""The generated Bar-le-Duc-like year of collective actions and signals
(devstack/synthetic/outreach.py): byte-identical for a seed, plausible (15 communes of
the reference data, weekly sessions of 4 to 8, a waiting list, goals reached and given
up, outcomes, signals of élus and secrétaires de mairie, some escalated), and its
oracle's figures consistent with the records."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, datetime, timedelta

from entraide.v1 import events_pb2

from devstack.synthetic import bar_le_duc, outreach_oracle
from devstack.synthetic.outreach import generate_outreach_year
from domain.collective import EnrolmentStatus, GoalStatus
from domain.events import EventType
from domain.signals import SignallerKind, SignalStatus
from kernel import reference
from kernel.timestamps import from_timestamp

YEAR = 2014
START, END = datetime(2013, 12, 31, 23, tzinfo=UTC), datetime(2014, 12, 31, 23, tzinfo=UTC)
REFERENCE = reference.load({})


def test_the_same_seed_gives_the_same_events_byte_for_byte() -> None:
    a, b = generate_outreach_year(3, year=YEAR), generate_outreach_year(3, year=YEAR)
    assert [(e.id, e.type, e.time, e.data) for e in a.events] == [
        (e.id, e.type, e.time, e.data) for e in b.events
    ]
    assert a == b
    other = generate_outreach_year(4, year=YEAR)
    assert {e.id for e in other.events}.isdisjoint({e.id for e in a.events})
    assert {e.id for e in generate_outreach_year(3, year=YEAR + 1).events}.isdisjoint(
        {e.id for e in a.events}
    )


def test_fifteen_communes_of_the_reference_data() -> None:
    assert len(bar_le_duc.COMMUNES) == 15 and set(bar_le_duc.COMMUNES) <= set(REFERENCE.territories)
    year = generate_outreach_year(1, year=YEAR)
    assert {s.territory for s in year.signals} == set(bar_le_duc.COMMUNES)
    kinds = Counter(s.signaller_kind for s in year.signals)
    assert kinds[SignallerKind.ELU] > 0 and kinds[SignallerKind.SECRETAIRE_MAIRIE] > 0
    assert kinds[SignallerKind.ELU] + kinds[SignallerKind.SECRETAIRE_MAIRIE] > 0.8 * len(year.signals)
    statuses = Counter(s.status for s in year.signals)
    assert set(statuses) == set(SignalStatus) and sum(s.escalated for s in year.signals) > 0
    assert all(s.status == SignalStatus.CONTACTED for s in year.signals if s.dossier_id)
    assert all(s.escalated for s in year.signals if s.status == SignalStatus.RECEIVED)


def test_weekly_sessions_of_four_to_eight_with_a_waiting_list() -> None:
    year = generate_outreach_year(1, year=YEAR)
    by_programme: dict[str, list[datetime]] = {}
    for s in year.sessions:
        by_programme.setdefault(s.programme_id, []).append(s.held_at)
        assert 4 <= s.expected <= 8 == s.capacity and s.present + s.absent == s.expected
        assert 0 <= s.excused <= s.absent
    assert len(by_programme) == 6 and {len(v) for v in by_programme.values()} == {10, 12}
    for times in by_programme.values():
        gaps = {(b - a).days for a, b in itertools.pairwise(times)}
        assert 7 in gaps and gaps <= {7, 14, 21}  # weekly, public holidays skipped (1 and 8 May)
    enrolled = [e.payload() for e in year.events if e.type == EventType.PARTICIPANT_ENROLLED]
    waiting = [e for e in enrolled if isinstance(e, events_pb2.ParticipantEnrolled) and e.waiting]
    assert len(waiting) == sum(e.waited for e in year.enrolments) > 0
    # Those still waiting at the end are withdrawn (the list closes with the cycle).
    assert not any(e.status == EnrolmentStatus.WAITING for e in year.enrolments)
    assert any(e.waited and e.ever_enrolled for e in year.enrolments)  # a place freed
    assert any(e.waited and not e.ever_enrolled for e in year.enrolments)
    assert Counter(g.status for g in year.goals).keys() >= {GoalStatus.REACHED, GoalStatus.GIVEN_UP}
    assert any(e.status == EnrolmentStatus.WITHDRAWN for e in year.enrolments)
    persons = Counter(e.person_id for e in year.enrolments)
    assert max(persons.values()) > 1  # some come back: counted once
    held = {s.session_id: s.held_at for s in year.sessions}
    sheets = [e.payload() for e in year.events if e.type == EventType.GROUP_SESSION_HELD]
    assert all(isinstance(s, events_pb2.GroupSessionHeld) for s in sheets)
    assert all(from_timestamp(s.at) == held[s.session_id] for s in sheets)  # type: ignore[attr-defined]
    assert any(s.sequence == 2 for s in sheets)  # type: ignore[attr-defined]  # corrected sheets


def test_the_oracle_counts_the_records() -> None:
    year = generate_outreach_year(1, year=YEAR)
    communes = list(bar_le_duc.COMMUNES)
    c = outreach_oracle.collective([year], communes, START, END)
    assert c.sessions_held == len(year.sessions) == 64
    assert c.presences + c.absences == sum(s.expected for s in year.sessions)
    assert c.participants == len({e.person_id for e in year.enrolments if e.ever_enrolled})
    assert c.waiting_list == sum(e.waited for e in year.enrolments) > 0
    assert c.goals_set == len(year.goals) and c.goals_reached > 0 and c.goals_given_up > 0
    assert c.previous_sessions_held == 0 and sum(s.count for s in c.by_outcome) > 0
    only_ligny = outreach_oracle.collective([year], [bar_le_duc.LIGNY], START, END)
    assert only_ligny.sessions_held == 32 and only_ligny.participants < c.participants
    s = outreach_oracle.signals([year], communes, START, END, REFERENCE)
    assert s.received == len(year.signals) == bar_le_duc.SIGNALS and s.previous_received == 0
    assert sum(x.count for x in s.by_commune) == sum(x.count for x in s.by_status) == s.received
    assert s.dossiers_opened == next(x.count for x in s.by_status if x.code == SignalStatus.CONTACTED)
    assert {x.label for x in s.by_commune} >= {"Bar-le-Duc", "Savonnières-devant-Bar"}
    half = outreach_oracle.signals([year], communes, START + timedelta(days=182), END, REFERENCE)
    assert 0 < half.received < s.received and half.previous_received == s.received - half.received
