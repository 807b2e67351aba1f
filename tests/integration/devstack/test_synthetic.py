"""The synthetic activity generator: deterministic, exact quotas, valid events, no
personal data, causal timelines; published into JetStream and written to an outbox."""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterator, Mapping
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from entraide.v1 import events_pb2
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from devstack.synthetic import generator, mixes, oracle
from devstack.synthetic.publish import (
    demo_year,
    demo_year_events,
    publish,
    publish_new,
    stored_event_ids,
    write_outbox,
)
from domain.events import CATALOGUE, EventType
from domain.vocabulary import REFERRAL_OUTCOMES, REFERRAL_REASONS
from kernel import messaging
from kernel.events import Event
from kernel.outbox import OutboxRelay
from kernel.settings import Settings
from tests.kernel_fixtures import MessagingWorld, open_world
from tests.paths import REPO

ROOT = REPO
PARIS = ZoneInfo("Europe/Paris")
TYPES: dict[str, type[Message]] = {
    t: CATALOGUE[t].message
    for t in (
        EventType.PERSON_CREATED,
        EventType.DOSSIER_OPENED,
        EventType.DOSSIER_STAGE_CHANGED,
        EventType.INTERVIEW_RECORDED,
        EventType.ECOUTE_COMPLETED,
        EventType.FOLLOW_UP_RECORDED,
        EventType.DOSSIER_ESCALATED,
        EventType.DOSSIER_CLOSED,
        EventType.REFERRAL_STATUS_CHANGED,
    )
}
CODE = re.compile(r"^[a-z0-9][a-z0-9_\-]*$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
SITES = {s for sites in mixes.SITES.values() for s in sites} | set(mixes.DEFAULT_SITES)
REFERRAL_NEXT = {
    "": {"requested"},
    "requested": {"received", "reminder", "cancelled"},
    "reminder": {"expired"},
    "received": {"accepted", "rejected"},
    "accepted": {"in_progress"},
    "in_progress": {"completed", "failed"},
}


@pytest.fixture(scope="module")
def year() -> list[Event]:
    return generator.generate_year(7, year=2026, dossiers=750)


def parsed(event: Event) -> Message:
    return event.parse(TYPES[event.type])


def stamps(message: Message) -> Iterator[datetime]:
    for _descriptor, value in message.ListFields():
        if isinstance(value, Timestamp):
            yield value.ToDatetime(tzinfo=UTC)


def test_same_seed_same_events_other_seed_other_events() -> None:
    first = generator.generate_year(3, dossiers=200)
    assert first == generator.generate_year(3, dossiers=200)  # ids, times and payloads
    other = generator.generate_year(4, dossiers=200)
    assert {e.id for e in first}.isdisjoint({e.id for e in other})
    # Other parameters, other ids: never deduplicated against another generated run.
    assert {e.id for e in first}.isdisjoint({e.id for e in generator.generate_year(3, dossiers=201)})


# Writes every event of the demo year and of a year with given counts, field by field
# (the payload as hex: its bytes exactly), one line per event.
SERIALIZE = """
import sys
from devstack.synthetic.generator import demo_events, generate_with_counts

def write(events):
    for e in events:
        fields = (str(e.id), e.type, e.source, e.subject, e.time.isoformat(), e.data_schema, e.data.hex())
        sys.stdout.write(" ".join(fields) + "\\n")

write(demo_events(2025))
write(generate_with_counts(3, {"logement": 40, "emploi": 20, "sante": 10}, people=60))
"""


def serialized_under(hash_seed: str) -> list[str]:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    done = subprocess.run(
        [sys.executable, "-c", SERIALIZE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_same_events_byte_for_byte_whatever_the_hash_seed() -> None:
    first, second = serialized_under("1"), serialized_under("12345")
    differing = next((n for n, (a, b) in enumerate(zip(first, second, strict=False)) if a != b), None)
    assert (len(first), differing) == (len(second), None), "the events depend on PYTHONHASHSEED"
    assert len(first) > 9000


def test_same_events_whatever_the_order_of_the_mixes() -> None:
    def reversed_mix(mix: Mapping[str, float]) -> dict[str, float]:
        return dict(reversed(list(mix.items())))

    assert generator.generate_year(6, dossiers=300, multi_motif_rate=0.5) == generator.generate_year(
        6,
        dossiers=300,
        multi_motif_rate=0.5,
        motif_mix=reversed_mix(mixes.DEFAULT_MOTIF_MIX),
        territories=reversed_mix(mixes.DEFAULT_TERRITORIES),
        channel_mix=reversed_mix(mixes.DEFAULT_CHANNEL_MIX),
        outcome_mix=reversed_mix(mixes.DEFAULT_OUTCOME_MIX),
    )
    assert list(mixes.DEFAULT_MOTIF_MIX) == sorted(mixes.DEFAULT_MOTIF_MIX)


def test_people_come_back_exactly_as_many_as_asked() -> None:
    events = generator.generate_year(8, dossiers=400, people=330)
    figures = oracle.figures(events)
    assert (figures.dossiers, figures.people) == (400, 330)
    assert figures.events_by_type["entraide.person.created"] == 330  # created once, at the first visit
    opened = [e.parse(events_pb2.DossierOpened) for e in events if e.type == "entraide.dossier.opened"]
    first_commune: dict[str, str] = {}
    moved = 0
    for d in opened:  # in time order: a return is in the person's first commune, or rarely another
        moved += first_commune.setdefault(d.person_id, d.territory) != d.territory
    assert moved < 70 // 5
    with pytest.raises(ValueError, match="people must be"):
        generator.generate_year(8, dossiers=10, people=0)
    with pytest.raises(ValueError, match="people must be at least"):
        generator.generate_year(8, dossiers=40, people=1)  # several communes: several first persons


def test_a_year_has_the_seeds_mix_and_454_solved_of_750(year: list[Event]) -> None:
    figures = oracle.figures(year)
    assert figures.dossiers == 750 and figures.people == 750
    assert figures.solved == 454  # Soissons: 454 dossiers "réglés" for 750 people
    assert sum(figures.by_outcome.values()) == 750
    assert set(figures.by_territory) == set(mixes.DEFAULT_TERRITORIES)  # several communes
    assert figures.by_territory["55029"] == round(750 * mixes.DEFAULT_TERRITORIES["55029"])
    # Main motifs follow the mix exactly; a few dossiers have a second motif.
    mains = Counter(parsed(e).motifs[0] for e in year if e.type == "entraide.dossier.opened")  # type: ignore[attr-defined]
    assert mains == Counter(mixes.quota(750, mixes.DEFAULT_MOTIF_MIX))
    assert mains.most_common(1)[0][0] == "logement"
    referred = {parsed(e).dossier_id for e in year if e.type == "entraide.referral.status_changed"}  # type: ignore[attr-defined]
    assert 0.33 < len(referred) / 750 < 0.47  # referral_rate 0.4


def test_exact_counts_soissons_153_of_which_120_housing() -> None:
    events = generator.generate_with_counts(1, mixes.SOISSONS_153)
    figures = oracle.figures(events)
    assert figures.dossiers == 153
    assert figures.by_motif["logement"] == 120
    assert figures.by_motif == dict(sorted(mixes.SOISSONS_153.items()))


def test_exact_counts_dijon_percentages() -> None:
    counts = mixes.dijon_counts(1000)
    events = generator.generate_with_counts(2, counts, territories={"21231": 1.0})
    figures = oracle.figures(events)
    assert figures.dossiers == 1000 and figures.by_territory == {"21231": 1000}
    percent = {m: 100 * n / figures.dossiers for m, n in figures.by_motif.items()}
    assert percent["acces_aux_droits"] == 39
    assert percent["difficultes_financieres"] == 12
    assert percent["numerique"] == 11  # administrative help (see the module docstring)
    assert percent["emploi"] == 7
    assert percent["sante"] == 6


def test_every_event_parses_and_carries_no_personal_data(year: list[Event]) -> None:
    names = {"billecoq", "crémont", "cremont", "lespinasse", "martin", "morgan", "stroesser"}
    # Organisations' names are public directory data, not a person's.
    partner_names = {p.name for p in mixes.load_partners()}
    for event in year:
        assert event.type in TYPES
        message = parsed(event)
        assert event.source in (generator.SOURCE_INTAKE, generator.SOURCE_REFERRAL)
        assert UUID.match(event.subject)
        for descriptor, value in message.ListFields():
            values = value if descriptor.is_repeated else [value]
            for item in values:
                if isinstance(item, str):
                    assert UUID.match(item) or CODE.match(item) or item in SITES | partner_names, (
                        event.type,
                        descriptor.name,
                    )
                    assert not any(name in item.lower() for name in names)


def test_timestamps_inside_the_year_and_causal_per_dossier(year: list[Event]) -> None:
    start = datetime(2026, 1, 1, tzinfo=PARIS)
    end = datetime(2027, 1, 1, tzinfo=PARIS)
    assert [e.time for e in year] == sorted(e.time for e in year)
    per_dossier: dict[str, list[tuple[Event, Message]]] = defaultdict(list)
    for event in year:
        assert start <= event.time < end
        message = parsed(event)
        for stamp in stamps(message):
            assert stamp <= event.time and start <= stamp  # due_at may precede; never after
        dossier_id = getattr(message, "dossier_id", "")
        if dossier_id:
            per_dossier[dossier_id].append((event, message))
    assert len(per_dossier) == 750
    for items in per_dossier.values():
        assert items[0][0].type == "entraide.dossier.opened"
        stages = [m for e, m in items if e.type == "entraide.dossier.stage_changed"]
        assert stages[0].from_stage == "reception" and stages[0].to_stage == "ecoute"  # type: ignore[attr-defined]
        for before, after in itertools.pairwise(stages):
            assert before.to_stage == after.from_stage  # type: ignore[attr-defined]
        assert stages[-1].to_stage == "cloture"  # type: ignore[attr-defined]
        assert items[-1][0].type in ("entraide.dossier.closed", "entraide.dossier.stage_changed")


def test_seasonality_and_urgency(year: list[Event]) -> None:
    opened = [parsed(e) for e in year if e.type == "entraide.dossier.opened"]
    months = Counter(e.time.astimezone(PARIS).month for e in year if e.type == "entraide.dossier.opened")
    assert months[8] < 0.7 * min(months[m] for m in (1, 3, 9, 10, 11))
    for e in year:
        if e.type == "entraide.dossier.opened":
            local = e.time.astimezone(PARIS)
            assert local.weekday() < 5 and (8, 30) <= (local.hour, local.minute) < (17, 0)
    violence = [d for d in opened if d.motifs[0] == "violences_conjugales"]  # type: ignore[attr-defined]
    others = [d for d in opened if d.motifs[0] in ("emploi", "sante", "numerique")]  # type: ignore[attr-defined]
    assert sum(d.urgent for d in violence) / len(violence) > 0.5  # type: ignore[attr-defined]
    assert sum(d.urgent for d in others) / len(others) < 0.1  # type: ignore[attr-defined]


def test_referral_sequences_increase_along_the_closed_loop(year: list[Event]) -> None:
    partners = {p.partner_id for p in mixes.load_partners()}
    by_referral: dict[str, list[events_pb2.ReferralStatusChanged]] = defaultdict(list)
    for event in year:
        if event.type == "entraide.referral.status_changed":
            data = event.parse(events_pb2.ReferralStatusChanged)
            assert event.subject == data.referral_id
            by_referral[data.referral_id].append(data)
    assert by_referral
    for changes in by_referral.values():
        assert [c.sequence for c in changes] == list(range(1, len(changes) + 1))
        assert len({(c.dossier_id, c.partner_id, c.motif) for c in changes}) == 1
        assert changes[0].partner_id in partners
        previous = ""
        for change in changes:
            assert change.status in REFERRAL_NEXT[previous], (previous, change.status)
            # Outcomes and reasons are the system's codes (what the referral service accepts).
            assert change.outcome in (REFERRAL_OUTCOMES if change.status == "completed" else ("",))
            assert change.reason == "" or change.reason in REFERRAL_REASONS
            previous = change.status
        assert previous in ("completed", "rejected", "failed", "cancelled", "expired")


def test_open_share_leaves_the_latest_dossiers_open() -> None:
    events = generator.generate_year(5, dossiers=100, open_share=0.1)
    figures = oracle.figures(events)
    assert figures.dossiers == 100
    assert sum(figures.by_outcome.values()) == 90


@pytest.fixture
async def world(pool: asyncpg.Pool, settings: Settings) -> AsyncIterator[MessagingWorld]:
    created = await open_world(pool, settings)
    try:
        yield created
    finally:
        await created.close()


async def test_published_into_jetstream_once(world: MessagingWorld) -> None:
    events = generator.generate_year(11, dossiers=60)
    assert await publish(world.js, world.subject_root, events, batch=100) == len(events)
    assert await publish(world.js, world.subject_root, events) == 0  # deduplicated
    info = await world.js.stream_info(world.stream)
    assert info.state.messages == len(events)
    sub = await world.js.pull_subscribe(f"{world.subject_root}.>", stream=world.stream)
    messages = await sub.fetch(len(events), timeout=5)
    received = [Event.from_headers(dict(m.headers or {}), m.data) for m in messages]
    assert [e.id for e in received] == [e.id for e in events]
    assert messages[1].subject == f"{world.subject_root}.dossier.opened"


async def test_written_to_an_outbox_then_relayed(world: MessagingWorld) -> None:
    events = generator.generate_with_counts(12, {"logement": 8, "emploi": 2})
    async with world.pool.acquire() as conn:
        assert await write_outbox(conn, world.schema, events) == len(events)
        assert await write_outbox(conn, world.schema, events) == 0  # idempotent
        ids = await conn.fetch(f"SELECT event_id FROM {world.schema}.outbox ORDER BY seq")
    assert [r["event_id"] for r in ids] == [e.id for e in events]
    relay = OutboxRelay(world.pool, world.schema, world.js, world.subject_root, batch_size=500)
    assert await relay.publish_batch() == len(events)
    info = await world.js.stream_info(world.stream)
    assert info.state.messages == len(events)


async def stream_messages(world: MessagingWorld) -> int:
    info = await world.js.stream_info(world.stream)
    return int(info.state.messages)


async def outbox_rows(world: MessagingWorld) -> int:
    async with world.pool.acquire() as conn:
        return int(await conn.fetchval(f"SELECT count(*) FROM {world.schema}.outbox"))


@pytest.fixture
async def short_window(world: MessagingWorld, monkeypatch: pytest.MonkeyPatch) -> float:
    """The world's duplicate window down to one second, so that a second load after it
    cannot count on JetStream's deduplication (as a second `make up` minutes later)."""
    monkeypatch.setattr(messaging, "DUPLICATE_WINDOW_S", 1.0)
    await messaging.ensure_events_stream(world.js, world.stream, world.subject_root)
    info = await world.js.stream_info(world.stream)
    assert info.config.duplicate_window == 1.0
    return 1.0


async def test_demo_year_loaded_twice_publishes_nothing_new(
    world: MessagingWorld, settings: Settings, short_window: float
) -> None:
    env = {
        **settings.env,
        "ENTRAIDE_EVENTS_STREAM": world.stream,
        "ENTRAIDE_SUBJECT_ROOT": world.subject_root,
        "ENTRAIDE_DEMO_SYNTHETIC_YEAR": "2025",
    }
    events = demo_year_events(2025)  # the dossiers, group sessions and signals
    first = await demo_year(env, wait_s=0)
    assert f"synthetic year 2025: {len(events)} events, {len(events)} new, 0 already there" in first
    assert await stream_messages(world) == len(events)
    rows = await outbox_rows(world)
    await asyncio.sleep(short_window + 0.5)  # past the duplicate window
    again = await demo_year(env, wait_s=0)
    assert f"{len(events)} events, 0 new, {len(events)} already there" in again
    assert await stream_messages(world) == len(events)
    assert await outbox_rows(world) == rows
    # A run cut short publishes the rest, in order, the next time.
    await world.js.purge_stream(world.stream)
    head = events[:1000]
    assert await publish(world.js, world.subject_root, head) == len(head)
    await asyncio.sleep(short_window + 0.5)
    stored, known = await publish_new(world.js, world.stream, world.subject_root, events)
    assert (stored, known) == (len(events) - len(head), len(head))
    assert await stored_event_ids(world.js, world.stream, world.subject_root) == {e.id for e in events}


async def test_outbox_loaded_twice_relays_nothing_new(world: MessagingWorld, short_window: float) -> None:
    events = generator.generate_year(13, dossiers=120, people=100)
    relay = OutboxRelay(world.pool, world.schema, world.js, world.subject_root, batch_size=5000)
    async with world.pool.acquire() as conn:
        assert await write_outbox(conn, world.schema, events) == len(events)
    assert await relay.publish_batch() == len(events)
    assert (await outbox_rows(world), await stream_messages(world)) == (len(events), len(events))
    await asyncio.sleep(short_window + 0.5)  # past the duplicate window
    async with world.pool.acquire() as conn:
        assert await write_outbox(conn, world.schema, events) == 0  # known ids skipped
    assert await relay.publish_batch() == 0
    assert (await outbox_rows(world), await stream_messages(world)) == (len(events), len(events))
