"""The generated year of aid activity (devstack/synthetic/aides.py): byte-identical for a
seed, plausible (six communes of the reference data, every aid type, grants within the
ceilings and the lines' envelopes but for one override per line, payments and loans
dated in the year, persons merged) and its oracle's figures consistent with the records."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from entraide.v1 import events_pb2

from devstack.synthetic import aides, aides_oracle
from devstack.synthetic.aides import generate_aid_year
from domain.aides import Decision, DecisionChannel, PaymentStatus
from domain.events import CATALOGUE, EventType
from domain.planning import PARIS
from kernel import reference
from kernel.timestamps import from_timestamp

YEAR = 2030
REFERENCE = reference.load({})
START = datetime(YEAR, 1, 1, tzinfo=PARIS).astimezone(UTC)
END = datetime(YEAR + 1, 1, 1, tzinfo=PARIS).astimezone(UTC)


def test_the_same_seed_gives_the_same_events_byte_for_byte() -> None:
    a, b = generate_aid_year(3, year=YEAR), generate_aid_year(3, year=YEAR)
    assert [(e.id, e.type, e.time, e.data) for e in a.events] == [
        (e.id, e.type, e.time, e.data) for e in b.events
    ]
    assert a == b
    assert {e.id for e in generate_aid_year(4, year=YEAR).events}.isdisjoint({e.id for e in a.events})
    assert {e.id for e in generate_aid_year(3, year=YEAR + 1).events}.isdisjoint({e.id for e in a.events})


def test_every_event_is_catalogued_and_dated_in_the_year_but_the_budget_vote() -> None:
    year = generate_aid_year(1, year=YEAR)
    for event in year.events:
        message = CATALOGUE[EventType(event.type)].message.FromString(event.data)
        assert message.ByteSize() > 0
        if event.type == EventType.BUDGET_LINE_CREATED:
            assert event.time < START
        else:
            assert START <= event.time < END, event.type
    kinds = Counter(e.type for e in year.events)
    assert {
        EventType.AID_REQUESTED,
        EventType.AID_INSTRUCTED,
        EventType.AID_SCHEDULED,
        EventType.AID_DECIDED,
        EventType.AID_WITHDRAWN,
        EventType.AID_PAYMENT_CHANGED,
        EventType.LOAN_SET_UP,
        EventType.LOAN_INCIDENT_RECORDED,
        EventType.BUDGET_LINE_CREATED,
        EventType.PERSONS_MERGED,
    } <= set(kinds)


def test_communes_types_and_decisions_of_every_kind() -> None:
    year = generate_aid_year(1, year=YEAR)
    assert set(aides.COMMUNES) <= set(REFERENCE.territories)
    assert {r.territory for r in year.requests} == set(aides.COMMUNES)
    assert {r.aid_type for r in year.requests} == set(REFERENCE.aid_types)
    assert len(year.requests) == aides.REQUESTS
    decisions = Counter((d.decision, d.channel) for d in year.decisions)
    assert decisions[(Decision.GRANTED, DecisionChannel.COMMISSION)] > 0
    assert decisions[(Decision.GRANTED, DecisionChannel.URGENT)] > 0
    assert decisions[(Decision.REFUSED, DecisionChannel.COMMISSION)] > 0
    assert decisions[(Decision.POSTPONED, DecisionChannel.COMMISSION)] > 0
    assert all(d.refusal_reason in REFERENCE.aid_refusal_reasons for d in year.decisions if d.refusal_reason)
    assert any(d.overridden for d in year.decisions)
    final = Counter(p.changes[-1][1] for p in year.payments)
    assert final[PaymentStatus.PAID] > 0 and final[PaymentStatus.CANCELLED] > 0


def test_grants_stay_under_the_ceilings_and_envelopes_but_for_an_override() -> None:
    year = generate_aid_year(2, year=YEAR)
    household: Counter[tuple[str, str]] = Counter()
    per_line: Counter[str] = Counter()
    lines = {line.budget_line_id: line for line in year.lines}
    overrides: Counter[str] = Counter()
    requests = {r.aid_request_id: r for r in year.requests}
    for d in sorted(year.decisions, key=lambda d: d.at):
        if d.decision != Decision.GRANTED:
            continue
        ref = REFERENCE.aid_types[d.aid_type]
        r = requests[d.aid_request_id]
        assert 0 < d.granted_cents <= min(r.asked_cents, ref.ceiling_per_request_cents)
        household[(r.person_id, d.aid_type)] += d.granted_cents
        assert household[(r.person_id, d.aid_type)] <= ref.ceiling_per_household_year_cents
        assert d.aid_type in lines[d.budget_line_id].aid_types
        per_line[d.budget_line_id] += d.granted_cents
        overrides[d.budget_line_id] += d.overridden
        if not overrides[d.budget_line_id]:
            assert per_line[d.budget_line_id] <= lines[d.budget_line_id].envelope_cents
    assert max(overrides.values()) == 1


def test_payments_add_up_to_their_grant() -> None:
    year = generate_aid_year(1, year=YEAR)
    paid: Counter[str] = Counter()
    for p in year.payments:
        assert p.changes[0][1] == PaymentStatus.TO_PAY and len(p.changes) == 2
        paid[p.aid_request_id] += p.amount_cents
    for d in year.decisions:
        if d.decision == Decision.GRANTED:
            nature = REFERENCE.aid_types[d.aid_type].nature
            assert paid[d.aid_request_id] == (0 if nature == "loan" else d.granted_cents)
    assert {loan.aid_request_id for loan in year.loans} == {
        d.aid_request_id
        for d in year.decisions
        if d.decision == Decision.GRANTED and d.aid_type == "microcredit"
    }


def test_the_events_carry_the_records() -> None:
    year = generate_aid_year(1, year=YEAR)
    asked = sum(
        events_pb2.AidRequested.FromString(e.data).amount_asked_cents
        for e in year.events
        if e.type == EventType.AID_REQUESTED
    )
    assert asked == sum(r.asked_cents for r in year.requests)
    granted = [
        events_pb2.AidDecided.FromString(e.data) for e in year.events if e.type == EventType.AID_DECIDED
    ]
    assert sum(d.amount_granted_cents for d in granted) == sum(d.granted_cents for d in year.decisions)
    assert sorted(from_timestamp(d.at) for d in granted) == sorted(d.at for d in year.decisions)


def test_the_oracle_adds_up() -> None:
    year = generate_aid_year(1, year=YEAR)
    f = aides_oracle.figures([year], list(aides.COMMUNES), START, END, REFERENCE)
    assert f.requests == len(year.requests)
    assert f.asked_cents == sum(r.asked_cents for r in year.requests)
    assert f.granted + f.postponed + f.refused == len(year.decisions)
    assert (
        f.granted_cents == sum(b.granted_cents for b in f.by_type) == sum(b.granted_cents for b in f.by_month)
    )
    assert f.paid_cents == sum(b.paid_cents for b in f.by_commune)
    assert sum(s.count for s in f.refusal_reasons) == f.refused
    assert f.households == len({r.person_id for r in year.requests}) - len(year.merges)
    assert [b.code for b in f.by_month] == [f"{YEAR}-{m:02d}" for m in range(1, 13)]
    assert f.by_month[0].label == f"janvier {YEAR}"
    assert [b.code for b in f.by_type] == [
        c for c in REFERENCE.aid_types if any(b.code == c for b in f.by_type)
    ]
    paid_lines = sum(line.paid_cents for line in f.budget_lines)
    assert paid_lines == f.paid_cents  # every payment of the year is paid in the year
    # One commune's figures are a part of the whole.
    ligny = aides_oracle.figures([year], [aides.LIGNY], START, END, REFERENCE)
    assert 0 < ligny.requests < f.requests and len(ligny.budget_lines) == len(aides.LINES)
    assert aides_oracle.figures([year], ["02722"], START, END, REFERENCE) == type(f)()
