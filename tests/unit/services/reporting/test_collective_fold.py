"""The collective actions' and signals' fold (services.reporting.projection.collective_fold),
without any server: their events folded into one delta per session, enrolment, goal and
signal, the same whatever the arrival order, the duplicates and the batch split (each
batch's delta merged by the rules of the upserts, projection/collective.py); and the
generated Bar-le-Duc-like year folded into exactly the generator's records."""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devstack.synthetic import outreach_events as ev
from devstack.synthetic.outreach import generate_outreach_year
from domain.collective import EnrolmentStatus, GoalStatus, ParticipantOutcome
from domain.signals import SignallerKind, SignalStatus
from kernel.events import Event
from services.reporting.projection.collective_fold import (
    ENROLLED_SEQUENCE,
    CollectiveFold,
    EnrolmentDelta,
    GoalDelta,
    SignalDelta,
)
from services.reporting.projection.fold import Fold, fold

T0 = datetime(2014, 3, 4, 13, 0, tzinfo=UTC)
E, G, S = EnrolmentStatus, GoalStatus, SignalStatus
PROG, BLD, LIGNY = "prog-1", "55029", "55291"


def h(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def scenario() -> list[Event]:
    """An enrolment that withdraws, a waiting one promoted, a corrected sheet, a goal
    reached after being under way, a corrected outcome, a signal re-qualified, an
    escalated one qualified later, one never qualified."""
    return [
        ev.participant_enrolled(PROG, "e1", BLD, "p1", h(0)),
        ev.participant_enrolled(PROG, "e2", BLD, "p2", h(1), waiting=True),
        ev.enrolment_changed(PROG, "e1", BLD, E.WITHDRAWN, h(200), 1),
        ev.enrolment_changed(PROG, "e2", BLD, E.ENROLLED, h(200), 1),
        ev.enrolment_changed(PROG, "e2", BLD, E.COMPLETED, h(900), 2),
        ev.group_session_held(
            PROG, "s1", BLD, h(24), capacity=8, expected=6, present=4, absent=2, excused=1, sequence=1
        ),
        ev.group_session_held(
            PROG, "s1", BLD, h(24), capacity=8, expected=6, present=5, absent=1, excused=1, sequence=2
        ),
        ev.group_session_held(
            PROG, "s2", BLD, h(192), capacity=8, expected=5, present=5, absent=0, excused=0, sequence=1
        ),
        ev.goal_changed(PROG, "e2", "g1", BLD, G.PROPOSED, h(201), 1),
        ev.goal_changed(PROG, "e2", "g1", BLD, G.UNDER_WAY, h(300), 2),
        ev.goal_changed(PROG, "e2", "g1", BLD, G.REACHED, h(300), 3),  # same time: the sequence wins
        ev.outcome_recorded(PROG, "e2", BLD, ParticipantOutcome.NONE, h(901), 1),
        ev.outcome_recorded(PROG, "e2", BLD, ParticipantOutcome.TRAINING, h(950), 2),
        ev.signal_submitted("sig1", LIGNY, SignallerKind.ELU, h(2)),
        ev.signal_qualified("sig1", LIGNY, SignallerKind.ELU, S.UNREACHABLE, h(30)),
        ev.signal_qualified("sig1", LIGNY, SignallerKind.ELU, S.CONTACTED, h(80), dossier_id="d1"),
        ev.signal_submitted("sig2", "55476", SignallerKind.SECRETAIRE_MAIRIE, h(3)),
        ev.signal_escalated("sig2", "55476", h(3 + 168)),
        ev.signal_qualified("sig2", "55476", SignallerKind.SECRETAIRE_MAIRIE, S.DECLINED, h(250)),
        ev.signal_submitted("sig3", "55120", SignallerKind.ELU, h(4)),
        ev.signal_escalated("sig3", "55120", h(4 + 168)),
    ]


def _greatest(a: Any, b: Any) -> Any:
    return b if a is None else a if b is None else max(a, b)


def _least_text(a: str, b: str) -> str:
    return b if not a else a if not b else min(a, b)


def _least_time(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else min(a, b)


def merge_row(a: Any, b: Any) -> Any:
    """The upsert's merge of a row (a) with a batch's delta (b), field by field."""
    values = {}
    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if f.name.endswith("_id") and f.name == dataclasses.fields(a)[0].name:
            values[f.name] = x
        elif isinstance(x, bool):
            values[f.name] = x or y
        elif isinstance(x, str) or isinstance(y, str):
            values[f.name] = _least_text(x, y)
        elif f.name in ("status", "outcome", "qualification"):
            values[f.name] = _greatest(x, y)
        else:
            values[f.name] = _least_time(x, y)
    return type(a)(**values)


def merge(a: CollectiveFold, b: CollectiveFold) -> CollectiveFold:
    out = CollectiveFold(dict(a.sessions), dict(a.enrolments), dict(a.goals), dict(a.signals))
    for k, sheet in b.sessions.items():
        out.sessions[k] = _greatest(out.sessions.get(k), sheet)
    pairs: list[tuple[dict[str, Any], dict[str, Any]]] = [
        (out.enrolments, b.enrolments),
        (out.goals, b.goals),
        (out.signals, b.signals),
    ]
    for rows, more in pairs:
        for k, d in more.items():
            rows[k] = merge_row(rows[k], d) if k in rows else d
    return out


def test_any_order_duplicates_and_batch_split_give_the_same_deltas() -> None:
    events = scenario()
    expected = fold(events).collective
    rng = random.Random(15)
    for _ in range(300):
        shuffled = rng.sample(events, len(events))
        shuffled += rng.sample(events, rng.randint(0, 6))  # duplicates the inbox did not catch
        assert fold(shuffled).collective == expected
        cuts = sorted(rng.sample(range(1, len(shuffled)), rng.randint(1, 10)))
        combined = CollectiveFold()
        for a, b in zip([0, *cuts], [*cuts, len(shuffled)], strict=True):
            combined = merge(combined, fold(shuffled[a:b]).collective)
        assert combined == expected


def test_each_row_keeps_its_latest_state() -> None:
    c = fold(scenario()).collective
    assert c.sessions["s1"] == (2, h(24), PROG, BLD, 8, 6, 5, 1, 1)  # the corrected sheet
    assert c.enrolments["e1"] == EnrolmentDelta(
        "e1", PROG, BLD, "p1", h(0), (1, h(200), E.WITHDRAWN), waited=False, ever_enrolled=True
    )
    promoted = c.enrolments["e2"]
    assert promoted.status == (2, h(900), E.COMPLETED) and promoted.enrolled_at == h(1)
    assert promoted.waited and promoted.ever_enrolled  # a place freed for it
    assert promoted.outcome == (2, h(950), ParticipantOutcome.TRAINING)
    assert c.goals["g1"] == GoalDelta("g1", PROG, "e2", BLD, h(201), (3, h(300), G.REACHED))
    assert c.signals["sig1"] == SignalDelta(
        "sig1", LIGNY, SignallerKind.ELU, h(2), (h(80), S.CONTACTED, "d1")
    )
    assert c.signals["sig2"].qualification == (h(250), S.DECLINED, "") and c.signals["sig2"].escalated_at
    assert c.signals["sig3"].qualification is None and c.signals["sig3"].escalated_at == h(172)


def test_an_enrolment_seen_first_by_its_change_waits_for_its_person() -> None:
    early = fold([ev.enrolment_changed(PROG, "e9", BLD, E.ENROLLED, h(5), 1)]).collective.enrolments["e9"]
    assert early.person_id == "" and early.status == (1, h(5), E.ENROLLED)
    both = fold(
        [
            ev.enrolment_changed(PROG, "e9", BLD, E.ENROLLED, h(5), 1),
            ev.participant_enrolled(PROG, "e9", BLD, "p9", h(1), waiting=True),
        ]
    ).collective.enrolments["e9"]
    assert both.person_id == "p9" and both.status == (1, h(5), E.ENROLLED)  # the change, not the waiting
    waiting = fold([ev.participant_enrolled(PROG, "e8", BLD, "p8", h(1), waiting=True)])
    only_waiting = waiting.collective.enrolments["e8"]
    assert only_waiting.status == (ENROLLED_SEQUENCE, h(1), E.WAITING)
    assert only_waiting.waited and not only_waiting.ever_enrolled
    closed = fold(
        [
            ev.participant_enrolled(PROG, "e8", BLD, "p8", h(1), waiting=True),
            ev.enrolment_changed(PROG, "e8", BLD, E.WITHDRAWN, h(9), 2),  # the list closed
        ]
    ).collective.enrolments["e8"]
    assert closed.waited and not closed.ever_enrolled  # never a participant


def test_malformed_events_are_refused() -> None:
    with pytest.raises(ValueError, match="without a person id"):
        fold([ev.participant_enrolled(PROG, "e1", BLD, "", h(0))])
    with pytest.raises(ValueError, match="without enrolment, programme or territory"):
        fold([ev.enrolment_changed(PROG, "e1", "", E.ENROLLED, h(0), 1)])
    with pytest.raises(ValueError, match="unknown status"):
        fold([ev.enrolment_changed(PROG, "e1", BLD, "partied", h(0), 1)])
    with pytest.raises(ValueError, match="unknown outcome"):
        fold([ev.outcome_recorded(PROG, "e1", BLD, "lottery", h(0), 1)])
    with pytest.raises(ValueError, match="goal, territory or a known status"):
        fold([ev.goal_changed(PROG, "e1", "g1", BLD, "dreamt", h(0), 1)])
    with pytest.raises(ValueError, match="session, programme, territory or time"):
        fold(
            [
                ev.group_session_held(
                    PROG, "s1", "", h(0), capacity=8, expected=1, present=1, absent=0, excused=0, sequence=1
                )
            ]
        )
    with pytest.raises(ValueError, match="unknown signaller kind"):
        fold([ev.signal_submitted("s", BLD, "voisin", h(0))])
    with pytest.raises(ValueError, match="not a qualification"):
        fold([ev.signal_qualified("s", BLD, SignallerKind.ELU, S.RECEIVED, h(0))])
    with pytest.raises(ValueError, match="without signal id or territory"):
        fold([ev.signal_escalated("s", "", h(0))])


def test_the_generated_year_folds_into_the_generators_records() -> None:
    year = generate_outreach_year(1, year=2014)
    shuffled = list(year.events)
    random.Random(4).shuffle(shuffled)
    c = fold(shuffled).collective
    assert {k: s[2:] for k, s in c.sessions.items()} == {
        s.session_id: (s.programme_id, s.territory, s.capacity, s.expected, s.present, s.absent, s.excused)
        for s in year.sessions
    }
    assert {k: s[1] for k, s in c.sessions.items()} == {s.session_id: s.held_at for s in year.sessions}
    assert {
        k: (e.person_id, e.status and e.status[2], e.waited, e.ever_enrolled, e.outcome and e.outcome[1:])
        for k, e in c.enrolments.items()
    } == {
        e.enrolment_id: (
            e.person_id,
            e.status,
            e.waited,
            e.ever_enrolled,
            (e.outcome_at, e.outcome) if e.outcome else None,
        )
        for e in year.enrolments
    }
    # Every goal is under way (sequence 2) before it is reached or given up (sequence 3).
    assert {k: (g.set_at, g.status) for k, g in c.goals.items()} == {
        g.goal_id: (g.set_at, (2 if g.status == G.UNDER_WAY else 3, g.status_at, g.status))
        for g in year.goals
    }
    assert {
        k: (
            s.territory,
            s.signaller_kind,
            s.submitted_at,
            s.qualification and s.qualification[1:],
            s.escalated_at is not None,
        )
        for k, s in c.signals.items()
    } == {
        s.signal_id: (
            s.territory,
            s.signaller_kind,
            s.submitted_at,
            (s.status, s.dossier_id) if s.status != S.RECEIVED else None,
            s.escalated,
        )
        for s in year.signals
    }
    assert Fold().collective == CollectiveFold() and not CollectiveFold()
