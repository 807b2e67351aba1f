"""The aid events' fold (projection/aides_fold.py) without a database: one row per
request, decision, payment change, loan, incident and budget line; the same rows whatever
the order, duplicates and batch split; malformed events refused; instruction and agenda
events carry nothing the bilan counts."""

from __future__ import annotations

import random
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from devstack.synthetic import aides_events as ev
from devstack.synthetic.aides import generate_aid_year
from domain.events import EventType
from kernel.events import Event
from services.reporting.projection.aides_fold import AidFold
from services.reporting.projection.fold import HANDLERS, fold

TABLES = ("requests", "decisions", "withdrawals", "payments", "loans", "incidents", "budget_lines")
AT = datetime(2030, 3, 4, 10, 30, tzinfo=UTC)
REQUEST, PERSON = str(uuid.uuid4()), str(uuid.uuid4())


def merged(folds: list[AidFold]) -> AidFold:
    """What the upserts make of several batches: the least row per key."""
    out = AidFold()
    for f in folds:
        for name in (
            "requests",
            "decisions",
            "withdrawals",
            "payments",
            "loans",
            "incidents",
            "budget_lines",
        ):
            rows, into = getattr(f, name), getattr(out, name)
            for key, row in rows.items():
                if key not in into or row < into[key]:
                    into[key] = row
    return out


def test_every_aid_event_but_instruction_and_agenda_is_projected() -> None:
    projected = {
        EventType.AID_REQUESTED,
        EventType.AID_DECIDED,
        EventType.AID_WITHDRAWN,
        EventType.AID_PAYMENT_CHANGED,
        EventType.LOAN_SET_UP,
        EventType.LOAN_INCIDENT_RECORDED,
        EventType.BUDGET_LINE_CREATED,
    }
    assert projected <= HANDLERS.keys()
    assert not {EventType.AID_INSTRUCTED, EventType.AID_SCHEDULED} & HANDLERS.keys()
    instructed = ev.aid_instructed(REQUEST, "55029", True, AT, 2)
    scheduled = ev.aid_scheduled(REQUEST, "55029", "c1", AT, 3)
    assert not fold([instructed, scheduled]).aides


def test_any_order_duplicates_and_split_give_the_same_rows() -> None:
    events = list(generate_aid_year(5, year=2030).events)
    alone = fold(events).aides
    rng = random.Random(1)
    for _ in range(3):
        shuffled = rng.sample(events, len(events)) + rng.sample(events, 200)
        cut = rng.randint(1, len(shuffled) - 1)
        assert merged([fold(shuffled[:cut]).aides, fold(shuffled[cut:]).aides]) == alone


def test_rows_carry_cents_codes_and_times() -> None:
    line = ev.budget_line_created("l1", "55029", 2030, "Secours", ["secours_urgence"], 1_000_000, AT)
    request = ev.aid_requested(REQUEST, "d1", PERSON, "55029", "secours_urgence", 12_345, AT)
    granted = ev.aid_decided(
        REQUEST,
        "55029",
        "secours_urgence",
        "granted",
        "urgent",
        AT + timedelta(days=1),
        2,
        amount_granted_cents=10_001,
        budget_line_id="l1",
        refusal_reason="ignored when granted",
    )
    paid = ev.payment_changed(
        "p1", REQUEST, "55029", "secours_urgence", "l1", 10_001, "transfer", "paid", AT + timedelta(days=3), 4
    )
    f = fold([line, request, granted, paid]).aides
    assert f.requests[REQUEST] == ("d1", PERSON, "55029", "secours_urgence", 12_345, AT)
    assert f.decisions[(REQUEST, 2)][4:7] == (10_001, "", "l1")
    assert f.payments[("p1", 4)][4] == 10_001 and f.payments[("p1", 4)][6] == "paid"
    assert f.budget_lines["l1"] == ("55029", 2030, "Secours", ("secours_urgence",), 1_000_000, AT)
    refused = ev.aid_decided(
        REQUEST,
        "55029",
        "secours_urgence",
        "refused",
        "commission",
        AT,
        3,
        amount_granted_cents=5,
        refusal_reason="hors_criteres",
    )
    assert fold([refused]).aides.decisions[(REQUEST, 3)][4:6] == (0, "hors_criteres")


def _with(event: Event, **changes: object) -> Event:
    message = event.payload()
    for name, value in changes.items():
        if value is None:
            message.ClearField(name)
        else:
            setattr(message, name, value)
    return replace(event, data=message.SerializeToString())


REQUESTED = ev.aid_requested(REQUEST, "d1", PERSON, "55029", "aide_energie", 100, AT)
DECIDED = ev.aid_decided(REQUEST, "55029", "aide_energie", "granted", "commission", AT, 2)


@pytest.mark.parametrize(
    ("event", "changes"),
    [
        (REQUESTED, {"territory": ""}),
        (REQUESTED, {"person_id": "x"}),
        (
            ev.aid_requested(REQUEST, "d1", PERSON, "55029", "aide_energie", 100, AT),
            {"amount_asked_cents": -1},
        ),
        (REQUESTED, {"at": None}),
        (
            ev.aid_decided(REQUEST, "55029", "aide_energie", "granted", "commission", AT, 2),
            {"decision": "maybe"},
        ),
        (DECIDED, {"channel": "x"}),
        (
            ev.payment_changed("p", REQUEST, "55029", "aide_energie", "l", 1, "cheque", "paid", AT, 3),
            {"status": "lost"},
        ),
        (ev.loan_incident("k", REQUEST, "55029", "late", 1, AT, 1), {"kind": "fraud"}),
        (ev.budget_line_created("l", "55029", 2030, "x", [], 1, AT), {"year": 0}),
        (ev.aid_withdrawn(REQUEST, "55029", AT, 2), {"aid_request_id": ""}),
    ],
)
def test_malformed_events_are_refused(event: Event, changes: dict[str, object]) -> None:
    fold([event])  # as built: fine
    with pytest.raises(ValueError):
        fold([_with(event, **changes)])


def test_a_request_without_a_person_is_kept() -> None:
    f = fold([ev.aid_requested(REQUEST, "d1", "", "55029", "aide_energie", 100, AT)]).aides
    assert f.requests[REQUEST][1] == ""
