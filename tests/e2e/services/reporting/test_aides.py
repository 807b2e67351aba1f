"""The CCAS's aid figures (Bilan.aides) on real servers: a generated year of aid activity
in six communes (every aid type, grants, reductions, refusals, postponements, urgent
decisions, withdrawals, payments paid and cancelled, micro-credits with incidents,
budget lines, one exhausted and overridden, persons merged) published shuffled with
duplicates, reported back by GetBilan exactly to the cent as the generator's brute-force
oracle counts it (the year, a period cut mid-month, one commune), in the CSV and HTML
documents, and the same after a rebuild; the projection's rows the same whatever the
order, duplicates and batch split of the events."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest
from entraide.v1 import reporting_pb2, reporting_pb2_grpc

from devstack.synthetic import aides as generated
from devstack.synthetic import aides_oracle
from devstack.synthetic.aides import AidYear, generate_aid_year
from domain.money import format_euros
from domain.planning import PARIS
from kernel import reference
from kernel.auth import Role
from kernel.settings import Settings
from services.reporting import bilan
from services.reporting.aides import AidFigures
from services.reporting.grpc_api import aides_message
from services.reporting.labels import Labels
from services.reporting.projection.apply import project_batch
from services.reporting.rebuild import rebuild
from tests.conftest import AppStack
from tests.e2e.services.reporting.test_bilan import period
from tests.reporting_events import drained, publish, shuffled
from tests.reporting_projection import project_in_batches, reporting_database

YEAR = generated.AIDES_YEAR  # 2030: no other test publishes aid figures of 2030 or 2029
REFERENCE = reference.load({})
COMMUNES = list(generated.COMMUNES)
YEAR_START = datetime(YEAR, 1, 1, tzinfo=PARIS).astimezone(UTC)
YEAR_END = datetime(YEAR + 1, 1, 1, tzinfo=PARIS).astimezone(UTC)
# Cut mid-month and mid-day: requests decided and paid on both sides of each edge, the
# previous period (its refusal reasons) over the end of 2029 and the start of 2030.
MID_START, MID_END = datetime(YEAR, 4, 16, 13, 37, 11, tzinfo=UTC), datetime(YEAR, 10, 17, 10, 5, tzinfo=UTC)
PERIODS = [(YEAR_START, YEAR_END), (MID_START, MID_END)]
TABLES = (
    "aid_request_facts",
    "aid_decision_facts",
    "aid_withdrawal_facts",
    "aid_payment_facts",
    "loan_facts",
    "loan_incident_facts",
    "budget_line_facts",
    "person_aliases",
)


@pytest.fixture(scope="module")
def year() -> AidYear:
    return generate_aid_year(30, year=YEAR)


def oracle(
    y: AidYear, start: datetime, end: datetime, communes: list[str] = COMMUNES
) -> reporting_pb2.AidFigures:
    return aides_oracle.figures([y], communes, start, end, REFERENCE)


# --- the projection alone, on a fresh database --------------------------------------


@pytest.fixture
async def conn(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    async with reporting_database(settings.database_url, "aides") as url:
        connection = await asyncpg.connect(url)
        try:
            yield connection
        finally:
            await connection.close()


async def snapshot(conn: asyncpg.Connection) -> dict[str, list[tuple[object, ...]]]:
    return {
        t: [tuple(r) for r in await conn.fetch(f"SELECT * FROM reporting.{t} ORDER BY 1, 2")] for t in TABLES
    }


async def test_any_order_duplicates_and_batches_give_the_same_rows(
    conn: asyncpg.Connection, year: AidYear
) -> None:
    events = list(year.events)
    async with conn.transaction():
        await project_batch(conn, events)  # in time order, one batch
    alone = await snapshot(conn)
    changes = sum(len(p.changes) for p in year.payments)
    assert [len(alone[t]) for t in TABLES] == [
        len(year.requests),
        len(year.decisions),
        len(year.withdrawals),
        changes,
        len(year.loans),
        len(year.incidents),
        len(year.lines),
        len(year.merges),
    ]
    for seed, sizes in ((1, (1, 5)), (2, (1, 80))):
        await conn.execute(f"TRUNCATE {', '.join(f'reporting.{t}' for t in TABLES)}")
        await project_in_batches(conn, events, seed, sizes, duplicates=0.1)
        assert await snapshot(conn) == alone


async def test_a_generated_year_is_reported_as_the_oracle_counts_it(
    conn: asyncpg.Connection, year: AidYear
) -> None:
    await project_in_batches(conn, list(year.events), 3, (50, 300), duplicates=0.1)
    labels = Labels(REFERENCE)
    for start, end in PERIODS:
        for communes in (COMMUNES, [generated.LIGNY], ["55041", "55302"]):
            figures = await bilan.compute(conn, communes, start, end)
            assert aides_message(figures.aides, labels) == oracle(year, start, end, communes), (
                start,
                end,
                communes,
            )
    other = await bilan.compute(conn, ["02722"], YEAR_START, YEAR_END)  # another commune: none of it
    assert other.aides == AidFigures()


# --- end to end: published to the stream, read by GetBilan ---------------------------


@pytest.fixture(scope="module")
async def published(app_stack: AppStack, settings: Settings, year: AidYear) -> None:
    events = list(year.events)
    await publish(settings, shuffled(events, seed=7))
    await publish(settings, shuffled(events, seed=8)[:400], msg_id_suffix="-again")  # only the inbox sees it
    await drained(settings, timeout=180)


async def get_bilan(
    app_stack: AppStack, start: datetime, end: datetime, communes: list[str] = COMMUNES
) -> reporting_pb2.Bilan:
    token = app_stack.token("responsable-ccas-aides", Role.ELU, communes)
    async with app_stack.channel("reporting", token) as channel:
        stub = reporting_pb2_grpc.ReportingServiceStub(channel)
        return await stub.GetBilan(period(start, end, communes), timeout=30)


async def test_get_bilan_reports_the_generated_year_exactly(
    app_stack: AppStack, published: None, year: AidYear
) -> None:
    whole = (await get_bilan(app_stack, YEAR_START, YEAR_END)).aides
    assert whole == oracle(year, YEAR_START, YEAR_END)
    # Brute-force sums over the records, to the cent.
    assert whole.requests == len(year.requests) == 420
    assert whole.asked_cents == sum(r.asked_cents for r in year.requests)
    assert whole.granted_cents == sum(d.granted_cents for d in year.decisions)
    assert whole.paid_cents == sum(p.amount_cents for p in year.payments if p.changes[-1][1] == "paid")
    assert whole.granted_cents == sum(b.granted_cents for b in whole.by_type)
    assert (
        whole.paid_cents
        == sum(b.paid_cents for b in whole.by_month)
        == sum(b.paid_cents for b in whole.by_commune)
    )
    assert {b.code for b in whole.by_type} == set(REFERENCE.aid_types)
    assert len(whole.by_commune) == 6 and len(whole.by_month) == 12
    assert whole.by_month[2].label == "mars 2030"
    assert min(whole.granted, whole.refused, whole.postponed, whole.urgent, whole.withdrawn) > 0
    assert whole.loans > 0 and whole.loan_incidents > 0 and whole.loan_cents > 0
    # Persons merged: a household counts once.
    assert whole.households < len({r.person_id for r in year.requests})
    assert len(whole.budget_lines) == 24
    assert any(line.remaining_cents < 0 for line in whole.budget_lines)  # an override
    assert sum(line.committed_cents for line in whole.budget_lines) == whole.granted_cents - sum(
        p.amount_cents for p in year.payments if p.changes[-1][1] == "cancelled"
    )
    mid = (await get_bilan(app_stack, MID_START, MID_END)).aides
    assert mid == oracle(year, MID_START, MID_END)
    assert any(r.previous_count for r in mid.refusal_reasons)
    ligny = (await get_bilan(app_stack, YEAR_START, YEAR_END, [generated.LIGNY])).aides
    assert ligny == oracle(year, YEAR_START, YEAR_END, [generated.LIGNY])
    assert [b.code for b in ligny.by_commune] == [generated.LIGNY] and len(ligny.budget_lines) == 4
    # Another commune's élu sees none of it.
    soissons = (await get_bilan(app_stack, YEAR_START, YEAR_END, ["02722"])).aides
    assert soissons == reporting_pb2.AidFigures()


async def test_exports_carry_the_aides_section(app_stack: AppStack, published: None, year: AidYear) -> None:
    token = app_stack.token("responsable-ccas-aides", Role.ELU, COMMUNES)
    request = period(YEAR_START, YEAR_END, COMMUNES)
    async with app_stack.channel("reporting", token) as channel:
        stub = reporting_pb2_grpc.ReportingServiceStub(channel)
        csv_doc = await stub.ExportBilan(
            reporting_pb2.ExportBilanRequest(bilan=request, format="csv"), timeout=30
        )
        html_doc = await stub.ExportBilan(
            reporting_pb2.ExportBilanRequest(bilan=request, format="html"), timeout=30
        )
    want = oracle(year, YEAR_START, YEAR_END)
    rows = list(csv.reader(io.StringIO(csv_doc.content.decode("utf-8-sig")), delimiter=";"))
    by_key = {(r[0], r[1]): r for r in rows[1:]}
    assert by_key[("Aides facultatives", "demandes")][3] == "420"
    assert by_key[("Aides facultatives", "accordees")][3] == str(want.granted)
    euros = f"{want.granted_cents // 100},{want.granted_cents % 100:02d}"
    assert by_key[("Aides facultatives", "montant_accorde")][3] == euros
    energie = next(b for b in want.by_type if b.code == "aide_energie")
    assert by_key[("Aides par type : montant accordé", "aide_energie")][2:4] == [
        "Aide à l'énergie",
        f"{energie.granted_cents // 100},{energie.granted_cents % 100:02d}",
    ]
    line = want.budget_lines[0]
    assert by_key[("Ligne budgétaire : engagé", line.budget_line_id)][3] == (
        f"{line.committed_cents // 100},{line.committed_cents % 100:02d}"
    )
    html = html_doc.content.decode("utf-8")
    for heading in ("Aides facultatives", "Aides par type", "Motifs de refus", "Lignes budgétaires"):
        assert f"<h2>{heading}</h2>" in html
    assert format_euros(want.granted_cents) in html and "Microcrédit personnel accompagné" in html


async def test_a_rebuild_gives_the_same_figures(
    app_stack: AppStack, settings: Settings, published: None, year: AidYear
) -> None:
    before = [(await get_bilan(app_stack, start, end)).aides for start, end in PERIODS]
    result = await rebuild(settings)
    await drained(settings, timeout=180)
    assert result.skipped == 0
    after = [(await get_bilan(app_stack, start, end)).aides for start, end in PERIODS]
    assert after == before
    assert after == [oracle(year, start, end) for start, end in PERIODS]
