"""People received: distinct persons, exact for any period and set of communes, after
merges, whatever the order and batching of the events (order-free projection), and
end to end from OpenDossier with a person."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from entraide.v1 import intake_pb2, intake_pb2_grpc, reporting_pb2, reporting_pb2_grpc

from devstack.synthetic import generator, oracle
from kernel.auth import Role
from kernel.events import Event
from kernel.settings import Settings
from services.reporting import bilan
from services.reporting.projection import cells
from services.reporting.projection.apply import project_batch
from tests.conftest import AppStack
from tests.helpers import eventually
from tests.reporting_events import Dossier, persons_merged
from tests.reporting_projection import project_in_batches, reporting_database

SIZES = (1, 60)  # events per batch of the shuffled projections
COMMUNES = ["55029", "55041", "55186"]
YEAR = datetime(2026, 1, 1, tzinfo=UTC)


class Activity:
    """Random dossiers of returning persons, some in several communes, some without a
    person, and merges (chains included); knows the exact answers."""

    def __init__(self, seed: int, dossiers: int = 400) -> None:
        rng = random.Random(seed)
        self.persons = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(dossiers // 3)]
        self.opened: list[tuple[str, str, str | None, datetime]] = []  # dossier, commune, person, at
        self.events: list[Event] = []
        for _ in range(dossiers):
            dossier = str(uuid.UUID(int=rng.getrandbits(128)))
            person = rng.choice(self.persons) if rng.random() < 0.9 else None
            commune = rng.choice(COMMUNES)
            # Whole seconds, some on the same second: ties are broken by dossier id.
            at = YEAR + timedelta(seconds=rng.randrange(0, 120 * 86400, 7))
            self.opened.append((dossier, commune, person, at))
            built = Dossier(commune, ["logement"], at, dossier_id=dossier, person_id=person or "")
            self.events += built.events()  # opened, then stage changes
        # Merges: a → b, then b → c (a chain), and a few more pairs.
        self.alias: dict[str, str] = {}
        a, b, c = self.persons[:3]
        pairs = [(a, b), (b, c)] + [tuple(rng.sample(self.persons[3:], 2)) for _ in range(5)]
        for merged, keep in pairs:
            if merged in self.alias or self._resolve(keep) == merged:
                continue
            self.alias[merged] = keep
            self.events.append(persons_merged(merged, keep, YEAR))

    def _resolve(self, person: str) -> str:
        while person in self.alias:
            person = self.alias[person]
        return person

    def people(self, communes: list[str], start: datetime, end: datetime) -> int:
        return len(
            {
                self._resolve(person) if person else dossier
                for dossier, commune, person, at in self.opened
                if commune in communes and start <= at < end
            }
        )


@pytest.fixture
async def db_url(settings: Settings) -> AsyncIterator[str]:
    async with reporting_database(settings.database_url, "people") as url:
        yield url


@pytest.fixture
async def conn(db_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(db_url)
    try:
        yield connection
    finally:
        await connection.close()


async def snapshot(conn: asyncpg.Connection) -> dict[str, list[tuple[object, ...]]]:
    queries = {
        "facts": """SELECT dossier_id, person_key, previous_opened_at, multi_territory
                      FROM reporting.dossier_facts ORDER BY dossier_id""",
        "returns": "SELECT * FROM reporting.return_cells WHERE n <> 0 ORDER BY 1, 2, 3",
        "opened": "SELECT * FROM reporting.opened_cells WHERE n <> 0 ORDER BY 1, 2, 3, 4",
    }
    return {name: [tuple(r) for r in await conn.fetch(sql)] for name, sql in queries.items()}


def random_periods(seed: int) -> list[tuple[datetime, datetime]]:
    rng = random.Random(seed)
    periods = [(YEAR, YEAR + timedelta(days=365)), (YEAR + timedelta(days=31), YEAR + timedelta(days=59))]
    for _ in range(25):
        start = YEAR + timedelta(seconds=rng.randrange(0, 110 * 86400))
        length = timedelta(seconds=rng.choice([3600, 86400, 5 * 86400, rng.randrange(1, 60 * 86400)]))
        periods.append((start, start + length))
        day = start.replace(hour=0, minute=0, second=0)  # day-aligned and one-day periods too
        periods.append((day, day + timedelta(days=rng.randint(1, 40))))
    return periods


async def test_people_received_is_exact_for_any_period_and_communes(
    conn: asyncpg.Connection, db_url: str
) -> None:
    activity = Activity(seed=1)
    await project_in_batches(conn, activity.events, 2, SIZES)
    subsets = [[c] for c in COMMUNES] + [COMMUNES[:2], COMMUNES]
    checked = 0
    helper = await asyncpg.connect(db_url)  # as GetBilan: the previous period read on a second connection
    for start, end in random_periods(seed=3):
        for communes in subsets:
            figures = await bilan.compute(conn, communes, start, end, helper=helper)
            assert figures == await bilan.compute(conn, communes, start, end)  # one connection: the same
            assert figures.people_received == activity.people(communes, start, end), (communes, start, end)
            previous = start - (end - start)
            assert figures.previous_people_received == activity.people(communes, previous, start)
            checked += 1
    await helper.close()
    assert checked == 52 * 5
    # The activity does have returns, persons in several communes and merges.
    year = await bilan.compute(conn, COMMUNES, YEAR, YEAR + timedelta(days=365))
    assert year.dossiers_opened == 400 and year.people_received == activity.people(COMMUNES, YEAR, year.end)
    per_commune = 0
    for commune in COMMUNES:
        per_commune += (await bilan.compute(conn, [commune], YEAR, year.end)).people_received
    assert year.people_received < per_commune


async def test_order_and_batching_give_the_same_links_and_cells(conn: asyncpg.Connection) -> None:
    activity = Activity(seed=4, dossiers=250)
    await project_in_batches(conn, activity.events, 5, SIZES)
    first = await snapshot(conn)
    await conn.execute(
        "TRUNCATE reporting.dossier_facts, reporting.person_aliases, reporting.opened_cells,"
        " reporting.closed_cells, reporting.duration_cells, reporting.return_cells"
    )
    await project_in_batches(conn, activity.events, 6, SIZES)
    assert await snapshot(conn) == first
    # And the same as relinking every person and recomputing every cell from the facts.
    await cells.refresh_cells(conn)
    assert await snapshot(conn) == first
    merged_keys = await conn.fetchval(
        """SELECT count(*) FROM reporting.dossier_facts
            WHERE person_key IN (SELECT merged_id FROM reporting.person_aliases)"""
    )
    assert merged_keys == 0


async def test_concurrent_projectors_give_the_same_links_and_cells(
    conn: asyncpg.Connection, db_url: str
) -> None:
    """Three projector connections applying batches at once (as replicas of the reporting
    service would): no deadlock, no missed dossier, the same rows as one projector."""
    activity = Activity(seed=8, dossiers=300)
    await project_in_batches(conn, activity.events, 9, SIZES)
    alone = await snapshot(conn)
    await conn.execute(
        "TRUNCATE reporting.dossier_facts, reporting.person_aliases, reporting.opened_cells,"
        " reporting.closed_cells, reporting.duration_cells, reporting.return_cells"
    )
    rng = random.Random(10)
    # Batches that relink persons (openings, merges) and batches that only update dossier
    # rows (stage changes), interleaved.
    relinking = [e for e in activity.events if e.type != "entraide.dossier.stage_changed"]
    updating = [e for e in activity.events if e.type == "entraide.dossier.stage_changed"]
    batches = []
    for events in (relinking, updating):
        rng.shuffle(events)
        batches += [events[i : i + 25] for i in range(0, len(events), 25)]
    rng.shuffle(batches)
    connections = [await asyncpg.connect(db_url) for _ in range(3)]

    async def apply(c: asyncpg.Connection, mine: list[list[Event]]) -> None:
        for batch in mine:
            async with c.transaction():
                await project_batch(c, batch)

    try:
        await asyncio.gather(*(apply(c, batches[i::3]) for i, c in enumerate(connections)))
    finally:
        for c in connections:
            await c.close()
    assert await snapshot(conn) == alone


async def test_a_generated_year_reports_its_people_exactly(conn: asyncpg.Connection) -> None:
    events = generator.generate_year(21, year=2022, dossiers=900, people=750)
    expected = oracle.figures(events)
    assert (expected.dossiers, expected.people) == (900, 750)
    await project_in_batches(conn, events, 7, SIZES)
    territories = sorted(expected.by_territory)
    start, end = datetime(2022, 1, 1, tzinfo=UTC), datetime(2023, 1, 1, tzinfo=UTC)
    figures = await bilan.compute(conn, territories, start, end)
    assert (figures.people_received, figures.dossiers_opened) == (750, 900)
    assert figures.dossiers_solved == expected.solved


async def test_open_dossiers_for_one_person_count_one_person_received(app_stack: AppStack) -> None:
    commune = "55302"
    start = datetime.now(UTC) - timedelta(minutes=1)
    request = reporting_pb2.GetBilanRequest(territories=[commune])
    getattr(request, "from").FromDatetime(start)
    request.to.FromDatetime(start + timedelta(hours=1))
    token = app_stack.token("elu", Role.ELU, [commune])

    async def figures() -> reporting_pb2.Bilan:
        async with app_stack.channel("reporting", token) as channel:
            return await reporting_pb2_grpc.ReportingServiceStub(channel).GetBilan(request, timeout=10)

    before = await figures()
    async with app_stack.channel("intake") as channel:
        intake = intake_pb2_grpc.IntakeServiceStub(channel)
        person = await intake.CreatePerson(
            intake_pb2.CreatePersonRequest(
                request_id=uuid.uuid4().hex, territory=commune, first_name="Lucie", last_name="Fictive"
            ),
            timeout=10,
        )
        for motifs in (["logement"], ["emploi"]):
            await intake.OpenDossier(
                intake_pb2.OpenDossierRequest(
                    request_id=uuid.uuid4().hex,
                    territory=commune,
                    motifs=motifs,
                    arrival_channel="visite_spontanee",
                    person_id=person.person.person_id,
                ),
                timeout=10,
            )
    after = await eventually(figures, lambda b: b.dossiers_opened == before.dossiers_opened + 2, timeout=15.0)
    assert after.people_received == before.people_received + 1
