"""Three past years of a CCAS's files, 10,000 rows with 2 % of bad ones (devstack.import_sample):
the dry run reports exactly the bad rows and writes nothing; the import's bilan of each
year equals a brute-force count over the file, and stays so after a rebuild of reporting
from the stream; importing the file again changes nothing; persons already known are
reused and reported. The same file as XLSX gets the same report."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from entraide.v1 import intake_pb2, intake_pb2_grpc, reporting_pb2, reporting_pb2_grpc

from devstack import import_sample
from domain.import_fields import ImportField
from kernel import reference
from kernel.auth import Role
from kernel.db import create_pool
from kernel.settings import Settings
from services.intake.persons import name_key
from services.intake.retention import RetentionActivities
from services.intake.schema import SCHEMA
from services.referral import consent_withdrawal, notifier, projector
from services.reporting.rebuild import rebuild
from tests.conftest import TERRITORIES, AppStack
from tests.e2e.services.reporting.test_bilan import period
from tests.helpers import eventually
from tests.reporting_events import drained

YEARS = (2023, 2024, 2025)
# After every date of the file (devstack.import_sample.LAST_DAY), before today.
PAST = datetime(2026, 7, 1, tzinfo=UTC)
IMPORT_TIMEOUT = 240
F = ImportField
PARIS = ZoneInfo("Europe/Paris")

Figures = dict[str, Any]


def figures(bilan: reporting_pb2.Bilan) -> Figures:
    return {
        "dossiers_opened": bilan.dossiers_opened,
        "people_received": bilan.people_received,
        "dossiers_closed": bilan.dossiers_closed,
        "dossiers_solved": bilan.dossiers_solved,
        "by_motif": {s.code: s.count for s in bilan.by_motif if s.count},
        "by_commune": {s.code: s.count for s in bilan.by_commune if s.count},
        "by_channel": {s.code: s.count for s in bilan.by_channel if s.count},
        "by_outcome": {s.code: s.count for s in bilan.by_outcome if s.count},
    }


def expected(sample: import_sample.Sample, year: int) -> Figures:
    e = sample.expected(year)
    return {
        "dossiers_opened": e.dossiers_opened,
        "people_received": e.people_received,
        "dossiers_closed": e.dossiers_closed,
        "dossiers_solved": e.dossiers_solved,
        "by_motif": e.by_motif,
        "by_commune": e.by_commune,
        "by_channel": e.by_channel,
        "by_outcome": e.by_outcome,
    }


def minus(after: Figures, before: Figures) -> Figures:
    """What the import added (other tests of the session may have dossiers in these years)."""

    def sub(a: Any, b: Any) -> Any:
        if isinstance(a, dict):
            keys = set(a) | set(b)
            return {k: a.get(k, 0) - b.get(k, 0) for k in keys if a.get(k, 0) - b.get(k, 0)}
        return a - b

    return {k: sub(after[k], before[k]) for k in after}


def year_request(year: int) -> reporting_pb2.GetBilanRequest:
    # Calendar years in Paris: the file's days are Paris days.
    return period(
        datetime(year, 1, 1, tzinfo=PARIS), datetime(year + 1, 1, 1, tzinfo=PARIS), list(TERRITORIES)
    )


@pytest.fixture(scope="module")
def sample() -> import_sample.Sample:
    return import_sample.generate(rows=10_000, years=YEARS, bad_fraction=0.02, seed=1)


async def test_three_past_years_imported_exactly(
    app_stack: AppStack, settings: Settings, pool: asyncpg.Pool, sample: import_sample.Sample
) -> None:
    responsable = app_stack.token(subject="resp-reprise", role=Role.RESPONSABLE)
    elu = app_stack.token(subject="elu-1", role=Role.ELU)
    content = sample.csv_bytes()

    async def bilans() -> dict[int, Figures]:
        async with app_stack.channel("reporting", elu) as channel:
            stub = reporting_pb2_grpc.ReportingServiceStub(channel)
            return {y: figures(await stub.GetBilan(year_request(y), timeout=20)) for y in YEARS}

    async def counts() -> tuple[int, ...]:
        """Dossiers, persons, households, and the timeline entries and events dated before
        today's timers could write any (the file's own are all in the past)."""
        async with pool.acquire() as conn:
            row = await conn.fetchrow(
                f"""SELECT (SELECT count(*) FROM {SCHEMA}.dossiers),
                           (SELECT count(*) FROM {SCHEMA}.persons),
                           (SELECT count(*) FROM {SCHEMA}.households),
                           (SELECT count(*) FROM {SCHEMA}.dossier_timeline WHERE at < $1),
                           (SELECT count(*) FROM {SCHEMA}.outbox WHERE ce_time < $1)""",
                PAST,
            )
        assert row is not None
        return tuple(row)

    before = await bilans()
    async with app_stack.channel("intake", responsable) as channel:
        intake = intake_pb2_grpc.IntakeServiceStub(channel)
        # Three persons of the file are already known (same name and birth date), and any
        # other test of the session may have created one of them too.
        known = await _known_persons(intake, sample, 3)
        async with pool.acquire() as conn:
            known.update(await _already_there(conn, sample, exclude=set(known)))

        counted = await counts()
        request = intake_pb2.ImportDossiersRequest(
            format="csv", content=content, filename="dossiers-2023-2025.csv", dry_run=True
        )
        dry = await intake.ImportDossiers(request, timeout=IMPORT_TIMEOUT)
        assert await counts() == counted  # a dry run writes nothing
        assert {(e.line, e.field, e.reason) for e in dry.errors} == {
            (line, field, reason) for line, (field, reason) in sample.bad.items()
        }
        assert (dry.rows, dry.accepted, dry.rejected) == (10_000, 10_000 - len(sample.bad), len(sample.bad))
        assert len(sample.bad) == 200
        assert all(e.message and e.column for e in dry.errors)

        request.dry_run = False
        done = await intake.ImportDossiers(request, timeout=IMPORT_TIMEOUT)
        assert done.dossiers_created == 10_000 - 200 and done.already_imported == 0
        assert done.persons_created == sample.persons() - len(known)
        assert done.households_created == sample.households()
        assert {(d.line, d.person_id) for d in done.duplicates if d.kind == "same_person"} == set(
            known.items()
        )
        assert done.workflows_to_start == sample.open_rows()

        # The bilan of each past year: the brute-force count over the file.
        wanted = {y: expected(sample, y) for y in YEARS}

        async def added() -> dict[int, Figures]:
            now = await bilans()
            return {y: minus(now[y], before[y]) for y in YEARS}

        await eventually(added, lambda got: got == wanted, timeout=120, interval=1)
        imported_figures = await bilans()

        # The same file again: nothing changes.
        counted = await counts()
        again = await intake.ImportDossiers(request, timeout=IMPORT_TIMEOUT)
        assert (again.dossiers_created, again.already_imported) == (0, 10_000 - 200)
        assert (again.persons_created, again.households_created) == (0, 0)
        assert await counts() == counted

    # Every open dossier got its workflow (ImportWorkflow, in the background).
    async def waiting() -> int:
        async with pool.acquire() as conn:
            value = await conn.fetchval(f"SELECT count(*) FROM {SCHEMA}.dossiers WHERE workflow_pending")
        return int(value)

    await eventually(waiting, lambda n: n == 0, timeout=180, interval=1)

    # …and acted at once where its deadline had long passed (a suivi without activity is
    # reminded, an urgent dossier never listened to escalated): the session's next tests
    # then find the workers idle.
    async def deadlines_acted_on() -> tuple[int, int]:
        async with pool.acquire() as conn:
            row = await conn.fetchrow(
                f"""SELECT (SELECT count(*) FROM {SCHEMA}.dossiers
                             WHERE import_id = $1 AND (stage = 'suivi' OR (urgent AND stage = 'reception'))),
                           (SELECT count(*) FROM {SCHEMA}.dossier_timeline t
                              JOIN {SCHEMA}.dossiers d USING (dossier_id)
                             WHERE d.import_id = $1 AND t.kind IN ('reminder', 'escalated'))""",
                uuid.UUID(done.import_id),
            )
        assert row is not None
        return int(row[0]), int(row[1])

    due, _ = await eventually(deadlines_acted_on, lambda c: c[0] == c[1], timeout=240, interval=1)
    assert due > 0

    # Rebuilt from the stream, reporting gives the same figures.
    await _settled(settings, pool)
    await rebuild(settings)
    assert await bilans() == imported_figures

    # The nightly retention run anonymises the dossiers the report said were past it; the bilan
    # does not move. (Run here, it also leaves nothing of this file to the retention tests.)
    app_pool = await create_pool(settings.database_url)
    try:
        await RetentionActivities(app_pool, reference.load(settings.env)).anonymise_inactive(730)
    finally:
        await app_pool.close()
    async with pool.acquire() as conn:
        erased = await conn.fetchval(
            f"SELECT count(*) FROM {SCHEMA}.dossiers WHERE import_id = $1 AND anonymised_at IS NOT NULL",
            uuid.UUID(done.import_id),
        )
    assert erased == done.past_retention > 0
    await _settled(settings, pool)
    for consumer in (projector.CONSUMER, notifier.CONSUMER, consent_withdrawal.CONSUMER):
        await drained(settings, timeout=120, consumer=consumer)
    assert await bilans() == imported_figures


async def test_the_same_file_as_xlsx_gets_the_same_report(app_stack: AppStack) -> None:
    # Other years: their dossier numbers are not the big file's.
    small = import_sample.generate(rows=2_000, years=(2016, 2017, 2018), bad_fraction=0.02, seed=7)
    responsable = app_stack.token(subject="resp-reprise", role=Role.RESPONSABLE)
    async with app_stack.channel("intake", responsable) as channel:
        intake = intake_pb2_grpc.IntakeServiceStub(channel)
        reports = [
            await intake.ImportDossiers(
                intake_pb2.ImportDossiersRequest(format=fmt, content=content, dry_run=True),
                timeout=IMPORT_TIMEOUT,
            )
            for fmt, content in (("csv", small.csv_bytes()), ("xlsx", small.xlsx_bytes()))
        ]
    csv_report, xlsx_report = reports
    assert {(e.line, e.field, e.reason) for e in xlsx_report.errors} == {
        (line, field, reason) for line, (field, reason) in small.bad.items()
    }
    assert (xlsx_report.accepted, xlsx_report.dossiers_created, xlsx_report.persons_created) == (
        csv_report.accepted,
        csv_report.dossiers_created,
        csv_report.persons_created,
    )


def _persons(sample: import_sample.Sample) -> list[tuple[int, str, str, str]]:
    """Each person of the good rows where it first appears: (line, last name, first name,
    birth date as YYYY-MM-DD), in the file's order."""
    header = {name: i for i, name in enumerate(sample.header)}
    last, first, birth = (
        header[import_sample.TEMPLATE_HEADERS[f]] for f in (F.LAST_NAME, F.FIRST_NAME, F.BIRTH_DATE)
    )
    seen: set[tuple[str, str]] = set()
    found = []
    for line, cells in enumerate(sample.rows, start=2):
        if line in sample.bad or not cells[last]:
            continue
        iso = cells[birth] if "-" in cells[birth] else "-".join(reversed(cells[birth].split("/")))
        key = (name_key(cells[last], cells[first]), iso)
        if key not in seen:
            seen.add(key)
            found.append((line, cells[last], cells[first], iso))
    return found


async def _known_persons(
    intake: intake_pb2_grpc.IntakeServiceStub, sample: import_sample.Sample, how_many: int
) -> dict[int, str]:
    """Creates `how_many` persons of the file's good rows as an agent would have (every
    97th, spread over the file): the line where each first appears → the person's id."""
    chosen: dict[int, str] = {}
    for line, last, first, iso in _persons(sample)[96::97][:how_many]:
        created = await intake.CreatePerson(
            intake_pb2.CreatePersonRequest(
                request_id=f"known-{line}",
                territory="55029",
                first_name=first,
                last_name=last,
                birth_date=iso,
            ),
            timeout=10,
        )
        chosen[line] = created.person.person_id
    assert len(chosen) == how_many, "not enough persons in the sample"
    return chosen


async def _already_there(
    conn: asyncpg.Connection, sample: import_sample.Sample, exclude: set[int]
) -> dict[int, str]:
    """Persons of the file that the session's other tests created before (line → person id)."""
    rows = await conn.fetch(
        f"""SELECT person_id, name_key, birth_date FROM {SCHEMA}.persons
             WHERE merged_into IS NULL AND anonymised_at IS NULL AND birth_date IS NOT NULL
             ORDER BY created_at, person_id"""
    )
    lines = {(name_key(last, first), iso): line for line, last, first, iso in _persons(sample)}
    found: dict[int, str] = {}
    for row in rows:
        line = lines.get((row["name_key"], row["birth_date"].isoformat()))
        if line is not None and line not in exclude and line not in found:
            found[line] = str(row["person_id"])
    return found


async def _settled(settings: Settings, pool: asyncpg.Pool) -> None:
    """Intake's outbox published and the projector caught up."""

    async def backlog() -> int:
        async with pool.acquire() as conn:
            value = await conn.fetchval(f"SELECT count(*) FROM {SCHEMA}.outbox WHERE published_at IS NULL")
        return int(value)

    probe: Callable[[], Awaitable[int]] = backlog
    await eventually(probe, lambda n: n == 0, timeout=60, interval=0.5)
    await drained(settings, timeout=120)
    await asyncio.sleep(0)
