"""The permanences' activity figures on real servers: a generated Dijon-like year (18
partners, 2 rooms, 6,000 visits, the year before with 4.5 % fewer) reported back by
GetBilan exactly as the generator's brute-force oracle counts it (by partner, by
category, by site; for the year and a period cut mid-month), in the CSV and HTML
documents, and the same after a rebuild; and the projection's rows and cells the same
whatever the order, duplicates and batch split of the events."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from html import escape

import asyncpg
import pytest
from entraide.v1 import reporting_pb2, reporting_pb2_grpc

from devstack.synthetic import dijon
from devstack.synthetic.activity import ActivityYear, GeneratedAppointment, events_of, generate_dijon_years
from devstack.synthetic.activity_oracle import expected
from kernel import reference
from kernel.auth import Role
from kernel.events import Event
from kernel.settings import Settings
from services.reporting import bilan
from services.reporting.activity import ActivityFigures
from services.reporting.grpc_api import activity_message
from services.reporting.labels import Labels
from services.reporting.projection import appointments as appointment_cells
from services.reporting.projection.apply import project_batch
from services.reporting.rebuild import rebuild
from tests.conftest import AppStack
from tests.e2e.services.reporting.test_bilan import period
from tests.reporting_events import drained, publish, shuffled
from tests.reporting_projection import project_in_batches, reporting_database
from tests.unit.services.reporting.test_render_html import assert_svg_text_fits

YEAR = 2012  # far from the other tests' appointments (booked now)
REFERENCE = reference.load({})
YEAR_START, YEAR_END = datetime(YEAR, 1, 1, tzinfo=UTC), datetime(YEAR + 1, 1, 1, tzinfo=UTC)
# Cut mid-month, mid-day: partial days at both edges, the previous period over both years.
MID_START, MID_END = datetime(YEAR, 3, 14, 13, 37, 11, tzinfo=UTC), datetime(YEAR, 9, 17, 10, 5, tzinfo=UTC)
PERIODS = [(YEAR_START, YEAR_END), (MID_START, MID_END)]


@pytest.fixture(scope="module")
def years() -> tuple[ActivityYear, ActivityYear]:
    return generate_dijon_years(5, year=YEAR)


@pytest.fixture(scope="module")
def planned(years: tuple[ActivityYear, ActivityYear]) -> list[GeneratedAppointment]:
    return [a for y in years for a in y.appointments]


@pytest.fixture(scope="module")
def events(years: tuple[ActivityYear, ActivityYear]) -> list[Event]:
    return events_of(years)


def oracle(
    planned: list[GeneratedAppointment], start: datetime, end: datetime
) -> reporting_pb2.ActivityFigures:
    return expected(planned, [dijon.TERRITORY], start, end, REFERENCE)


# --- the projection alone, on a fresh database --------------------------------------


@pytest.fixture
async def conn(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    async with reporting_database(settings.database_url, "activity") as url:
        connection = await asyncpg.connect(url)
        try:
            yield connection
        finally:
            await connection.close()


async def snapshot(conn: asyncpg.Connection) -> dict[str, list[tuple[object, ...]]]:
    queries = {
        "facts": "SELECT * FROM reporting.appointment_facts ORDER BY appointment_id",
        "cells": "SELECT * FROM reporting.appointment_cells WHERE n <> 0 ORDER BY 1, 2, 3, 4, 5, 6, 7, 8",
        "hosts": "SELECT * FROM reporting.appointment_hosts ORDER BY partner_id",
    }
    return {name: [tuple(r) for r in await conn.fetch(sql)] for name, sql in queries.items()}


async def test_any_order_duplicates_and_batches_give_the_same_rows_and_cells(
    conn: asyncpg.Connection, events: list[Event]
) -> None:
    some = {e.subject for e in events[:3000]}
    subset = [e for e in events if e.subject in some]  # every event of these appointments
    async with conn.transaction():
        await project_batch(conn, subset)  # in time order, one batch
    alone = await snapshot(conn)
    assert len(alone["facts"]) == len(some) and alone["cells"]
    for seed in (1, 2):
        await conn.execute(
            "TRUNCATE reporting.appointment_facts, reporting.appointment_cells, reporting.appointment_hosts"
        )
        await project_in_batches(conn, subset, seed, (1, 40), duplicates=0.05)
        assert await snapshot(conn) == alone
    await appointment_cells.refresh_cells(conn)  # the cells are those of the final rows
    assert await snapshot(conn) == alone


async def test_a_generated_year_is_reported_as_the_oracle_counts_it(
    conn: asyncpg.Connection, events: list[Event], planned: list[GeneratedAppointment]
) -> None:
    await project_in_batches(conn, events, 3, (200, 2000), duplicates=0.05)
    labels = Labels(REFERENCE)
    day = datetime(YEAR, 6, 12, tzinfo=UTC)
    for start, end in [
        *PERIODS,
        (day, day + timedelta(days=1)),
        (day + timedelta(hours=9), day + timedelta(hours=10)),
    ]:
        figures = await bilan.compute(conn, [dijon.TERRITORY], start, end)
        assert activity_message(figures.activity, labels) == oracle(planned, start, end), (start, end)
    other = await bilan.compute(conn, ["02722"], YEAR_START, YEAR_END)  # another commune: none of it
    assert other.activity == ActivityFigures()


# --- end to end: published to the stream, read by GetBilan ---------------------------


@pytest.fixture(scope="module")
async def published(app_stack: AppStack, settings: Settings, events: list[Event]) -> None:
    await publish(settings, shuffled(events, seed=5))
    await publish(settings, shuffled(events, seed=6)[:2000], msg_id_suffix="-again")  # only the inbox sees it
    await drained(settings, timeout=180)


async def get_bilan(app_stack: AppStack, start: datetime, end: datetime) -> reporting_pb2.Bilan:
    token = app_stack.token("elu-dijon", Role.ELU, [dijon.TERRITORY])
    async with app_stack.channel("reporting", token) as channel:
        stub = reporting_pb2_grpc.ReportingServiceStub(channel)
        return await stub.GetBilan(period(start, end, [dijon.TERRITORY]), timeout=30)


async def test_get_bilan_reports_the_generated_year_exactly(
    app_stack: AppStack, published: None, planned: list[GeneratedAppointment]
) -> None:
    year = await get_bilan(app_stack, YEAR_START, YEAR_END)
    want = oracle(planned, YEAR_START, YEAR_END)
    assert year.activity == want
    # The seeds' figures: 6,000 visits, 4.5 % more than the year before, a 10 % no-show rate.
    assert (year.activity.visits, year.activity.visits_growth, year.activity.no_show_rate) == (
        6000,
        4.5,
        10.0,
    )
    assert len(year.activity.by_partner) == 18
    assert {s.code for s in year.activity.by_category} == {
        *(p.category for p in dijon.PARTNERS),
        "elus",
        "ccas",
    }
    categories = {s.code: s.label for s in year.activity.by_category}
    assert categories["elus"] == "Permanences d'élus" and categories["ccas"] == "Agents du CCAS / CIAS"
    assert [(s.code, s.label, s.visits) for s in year.activity.by_site] == [
        (dijon.SITE, "Maison de la solidarité de Dijon", 6000)
    ]
    assert sum(s.visits for s in year.activity.by_category) == 6000
    mid = await get_bilan(app_stack, MID_START, MID_END)
    assert mid.activity == oracle(planned, MID_START, MID_END)
    # Another commune's élu sees none of it (the figures follow the caller's communes).
    token = app_stack.token("elu-soissons", Role.ELU, ["02722"])
    async with app_stack.channel("reporting", token) as channel:
        other = await reporting_pb2_grpc.ReportingServiceStub(channel).GetBilan(
            period(YEAR_START, YEAR_END, ["02722"]), timeout=30
        )
    assert other.activity == reporting_pb2.ActivityFigures()


async def test_exports_carry_the_activity_section(
    app_stack: AppStack, published: None, planned: list[GeneratedAppointment]
) -> None:
    token = app_stack.token("elu-dijon", Role.ELU, [dijon.TERRITORY])
    request = period(YEAR_START, YEAR_END, [dijon.TERRITORY])
    async with app_stack.channel("reporting", token) as channel:
        stub = reporting_pb2_grpc.ReportingServiceStub(channel)
        csv_doc = await stub.ExportBilan(
            reporting_pb2.ExportBilanRequest(bilan=request, format="csv"), timeout=30
        )
        html_doc = await stub.ExportBilan(
            reporting_pb2.ExportBilanRequest(bilan=request, format="html"), timeout=30
        )
    want = oracle(planned, YEAR_START, YEAR_END)
    rows = list(csv.reader(io.StringIO(csv_doc.content.decode("utf-8-sig")), delimiter=";"))
    by_key = {(r[0], r[1]): r for r in rows[1:]}
    assert by_key[("Activité des permanences", "visites")][3:6] == ["6000", "", str(want.previous_visits)]
    assert by_key[("Activité des permanences", "taux_absence")][4] == "10,0"
    caf = next(s for s in want.by_partner if s.code == "caf-21")
    assert by_key[("Visites par partenaire", "caf-21")][2:4] == [caf.label, str(caf.visits)]
    assert by_key[("Rendez-vous par catégorie", "elus")][3] == str(
        next(s.appointments for s in want.by_category if s.code == "elus")
    )
    assert by_key[("Visites par lieu", dijon.SITE)][3] == "6000"
    html = html_doc.content.decode("utf-8")
    for heading in (
        "Permanences\u00a0: rendez-vous et visites",
        "Visites par catégorie de permanence",
        "Visites par partenaire",
        "Visites par lieu d'accueil",
    ):
        assert escape(heading) in html
    assert assert_svg_text_fits(html) == 3  # the charts by category, partner and site, all text inside
    assert "6\u202f000" in html and "Permanences d&#x27;élus" in html
    assert "Caisse d&#x27;allocations familiales de la Côte-d&#x27;Or" in html


async def test_a_rebuild_gives_the_same_activity(
    app_stack: AppStack, settings: Settings, published: None, planned: list[GeneratedAppointment]
) -> None:
    before = [await get_bilan(app_stack, start, end) for start, end in PERIODS]
    result = await rebuild(settings)
    await drained(settings, timeout=180)
    assert result.skipped == 0
    after = [await get_bilan(app_stack, start, end) for start, end in PERIODS]
    assert [b.activity for b in after] == [b.activity for b in before]
    assert [b.activity for b in after] == [oracle(planned, start, end) for start, end in PERIODS]
