"""The synthetic year without any server: deterministic for a seed, its expected figures
(the oracle) equal to an independent fold of the generated events, every event as the
catalogue declares it, every code one the system knows."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections import Counter
from contextlib import redirect_stdout
from pathlib import Path

import pytest
from entraide.v1 import events_pb2

from devstack.synthetic import cli, generator, mixes, oracle
from domain import referral
from domain.events import CATALOGUE, EventType, Subject, spec_of
from domain.vocabulary import REFERRAL_OUTCOMES, REFERRAL_REASONS, REFERRAL_REMINDER, ReferralStatus, Stage
from kernel.events import Event, new_event

ROOT = Path(__file__).resolve().parents[3]
DOSSIERS, PEOPLE = 120, 100


@pytest.fixture(scope="module")
def events() -> list[Event]:
    return generator.generate_year(5, year=2024, dossiers=DOSSIERS, people=PEOPLE)


def wire(events: list[Event]) -> list[tuple[str, ...]]:
    return [
        (str(e.id), e.type, e.source, e.subject, e.time.isoformat(), e.data_schema, e.data.hex())
        for e in events
    ]


def test_the_same_seed_gives_the_same_events_another_seed_others(events: list[Event]) -> None:
    again = generator.generate_year(5, year=2024, dossiers=DOSSIERS, people=PEOPLE)
    assert wire(again) == wire(events)  # ids, times and bytes
    other = generator.generate_year(6, year=2024, dossiers=DOSSIERS, people=PEOPLE)
    assert wire(other) != wire(events)
    assert {e.id for e in other}.isdisjoint({e.id for e in events})
    counts = {"logement": 7, "emploi": 3}
    assert wire(generator.generate_with_counts(2, counts)) == wire(generator.generate_with_counts(2, counts))


def test_the_oracle_matches_an_independent_fold_of_the_events(events: list[Event]) -> None:
    per_commune: Counter[str] = Counter()
    persons_created: set[str] = set()
    persons_seen: set[str] = set()
    urgent = 0
    last_closure: dict[str, str] = {}
    last_status: dict[str, str] = {}
    for event in sorted(events, key=lambda e: e.time):  # the order a consumer reads them in
        message = event.payload()
        if isinstance(message, events_pb2.PersonCreated):
            persons_created.add(message.person_id)
        elif isinstance(message, events_pb2.DossierOpened):
            per_commune[message.territory] += 1
            persons_seen.add(message.person_id)
            urgent += message.urgent
        elif isinstance(message, events_pb2.DossierClosed):
            last_closure[message.dossier_id] = message.outcome
        elif isinstance(message, events_pb2.ReferralStatusChanged) and message.status != REFERRAL_REMINDER:
            last_status[message.referral_id] = message.status
    expected = oracle.figures(events)
    assert expected.dossiers == sum(per_commune.values()) == DOSSIERS
    assert expected.by_territory == dict(per_commune)
    assert expected.people == len(persons_seen) == len(persons_created) == PEOPLE
    assert expected.urgent == urgent
    assert expected.by_outcome == dict(Counter(last_closure.values()))
    assert expected.solved == Counter(last_closure.values())[mixes.SOLVED]
    assert expected.referrals == len(last_status)
    assert expected.referrals_by_final_status == dict(Counter(last_status.values()))
    assert expected.events_by_type == dict(Counter(e.type for e in events))
    # And the quotas the generator allocated, computed from the mixes.
    assert Counter(expected.by_territory) == Counter(mixes.quota(DOSSIERS, mixes.DEFAULT_TERRITORIES))
    assert Counter(expected.by_outcome) == Counter(mixes.quota(DOSSIERS, mixes.DEFAULT_OUTCOME_MIX))
    assert Counter(expected.by_channel) == Counter(mixes.quota(DOSSIERS, mixes.DEFAULT_CHANNEL_MIX))


def test_every_event_passes_the_catalogue_check(events: list[Event]) -> None:
    assert {e.type for e in events} <= set(CATALOGUE)
    for event in events:
        spec = spec_of(event.type)
        assert event.data_schema == spec.message.DESCRIPTOR.full_name
        message = event.payload()
        # Built again through new_event (which checks the type ↔ message pairing): the same event.
        e = event
        rebuilt = new_event(e.type, e.source, e.subject, message, event_id=e.id, time=e.time)
        assert rebuilt == event
        aggregate = {
            Subject.DOSSIER: "dossier_id",
            Subject.PERSON: "person_id",
            Subject.REFERRAL: "referral_id",
        }
        assert event.subject == getattr(message, aggregate[spec.subject])


def test_every_code_is_one_the_system_knows(events: list[Event]) -> None:
    stages, outcomes, reasons = set(), set(), set()
    moves: set[tuple[str, str]] = set()
    for event in events:
        if event.type == EventType.DOSSIER_STAGE_CHANGED:
            changed = event.parse(events_pb2.DossierStageChanged)
            stages |= {changed.from_stage, changed.to_stage}
        elif event.type == EventType.REFERRAL_STATUS_CHANGED:
            status = event.parse(events_pb2.ReferralStatusChanged)
            if status.status == ReferralStatus.COMPLETED:
                outcomes.add(status.outcome)
            else:
                assert status.outcome == ""
            if status.reason:
                reasons.add(status.reason)
            if status.status != REFERRAL_REMINDER:
                moves.add((status.previous_status, status.status))
    assert stages <= set(Stage) and outcomes and reasons
    assert outcomes <= set(REFERRAL_OUTCOMES)
    assert reasons <= set(REFERRAL_REASONS)
    # Every status change is one of the referral's transitions (expiry: the workflow's timer).
    allowed = {("", ReferralStatus.REQUESTED), (ReferralStatus.REQUESTED, ReferralStatus.EXPIRED)}
    allowed |= {(before, after) for befores, after in referral.TRANSITIONS.values() for before in befores}
    assert moves <= allowed, moves - allowed


def test_the_command_prints_the_oracles_figures() -> None:
    args = ["--year", "2024", "--dossiers", "40", "--seed", "9", "--people", "35"]
    out = io.StringIO()
    with redirect_stdout(out):
        assert cli.main(args) == 0
    expected = oracle.figures(generator.generate_year(9, year=2024, dossiers=40, people=35)).as_json()
    assert json.loads(out.getvalue()) == expected
    done = subprocess.run(
        [sys.executable, "-m", "devstack.synthetic", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout == out.getvalue()
