"""The event catalogue: every entry round-trips through the CloudEvents envelope, and
no producer or consumer spells a ce-type by hand."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from domain.events import CATALOGUE, DOSSIER_EVENTS, EVENT_PARTS, EventType, Subject, spec_of
from kernel.events import Event, new_event

ROOT = Path(__file__).resolve().parents[3]
SOURCE_DIRS = ("domain", "kernel", "services", "workflows", "devstack", "entraide_cli", "bench", "examples")
CE_TYPE = re.compile(r"""["']entraide\.(?:dossier|person|consent|referral)\.[a-z_]+["']""")


@pytest.mark.parametrize("event_type", list(EventType))
def test_every_catalogue_entry_round_trips_through_the_envelope(event_type: EventType) -> None:
    spec = spec_of(event_type)
    assert spec.type is event_type
    data = spec.message()
    for field in spec.message.DESCRIPTOR.fields:
        if field.name.endswith("_id") and field.type == field.TYPE_STRING and not field.is_repeated:
            setattr(data, field.name, "00000000-0000-4000-8000-000000000001")
    event = new_event(event_type, "tests/unit", "subject-1", data)
    back = Event.from_headers(event.headers(), event.data)
    assert back == event
    assert back.payload() == data
    assert event.nats_subject("root") == "root." + event_type.removeprefix("entraide.")


def test_the_catalogue_covers_every_event_message_of_the_proto_once() -> None:
    from entraide.v1 import events_pb2

    messages = set(events_pb2.DESCRIPTOR.message_types_by_name) - {m.DESCRIPTOR.name for m in EVENT_PARTS}
    assert {m.DESCRIPTOR.name for m in EVENT_PARTS} <= set(events_pb2.DESCRIPTOR.message_types_by_name)
    assert {spec.message.DESCRIPTOR.name for spec in CATALOGUE.values()} == messages
    assert len({spec.message for spec in CATALOGUE.values()}) == len(CATALOGUE)
    assert DOSSIER_EVENTS == {t for t in EventType if t.startswith("entraide.dossier.")}
    assert all(spec.subject is Subject.DOSSIER for t, spec in CATALOGUE.items() if t in DOSSIER_EVENTS)


def test_an_event_with_the_wrong_message_or_an_unknown_type_is_refused() -> None:
    from entraide.v1 import events_pb2

    with pytest.raises(ValueError, match="carries"):
        new_event(EventType.DOSSIER_CLOSED, "tests/unit", "x", events_pb2.DossierOpened())
    with pytest.raises(ValueError):
        new_event("entraide.dossier.teleported", "tests/unit", "x", events_pb2.DossierOpened())


def test_no_producer_or_consumer_spells_a_ce_type_by_hand() -> None:
    spelled = []
    for folder in SOURCE_DIRS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path == ROOT / "domain" / "events.py":
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if CE_TYPE.search(line):
                    spelled.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert spelled == [], "use domain.events.EventType:\n" + "\n".join(spelled)
