"""The collective actions' and signals' figures on real servers: a generated
Bar-le-Duc-like year (15 communes, weekly "RV du CIAS" sessions in two groups, 140
signals of élus and secrétaires de mairie) published shuffled with duplicates, reported
back by GetBilan exactly as the generator's brute-force oracle counts it (for the year
and a period cut mid-month, for all the communes and for one), in the CSV and HTML
documents, and the same after a rebuild; the projection's rows the same whatever the
order, duplicates and batch split of the events; and a full programme played through the
real CollectiveService (tests/collective_scenario.py) reported back exactly."""

from __future__ import annotations

import asyncio
import csv
import io
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from entraide.v1 import (
    collective_pb2_grpc,
    intake_pb2_grpc,
    reporting_pb2,
    reporting_pb2_grpc,
    signals_pb2,
    signals_pb2_grpc,
)

from devstack.synthetic import bar_le_duc, outreach_oracle
from devstack.synthetic.outreach import OutreachYear, generate_outreach_year
from domain.labels_fr import PARTICIPANT_OUTCOME_LABELS
from kernel import reference
from kernel.auth import Role
from kernel.settings import Settings
from services.reporting import bilan
from services.reporting.collective import CollectiveFigures
from services.reporting.grpc_api import collective_message, signals_message
from services.reporting.labels import Labels
from services.reporting.projection.apply import project_batch
from services.reporting.rebuild import rebuild
from services.reporting.signals import SignalFigures
from tests import collective_scenario as scenario
from tests.conftest import AppStack
from tests.e2e.services.reporting.test_bilan import period
from tests.reporting_events import drained, publish, shuffled
from tests.reporting_projection import project_in_batches, reporting_database

YEAR = 2007  # no other test publishes figures of 2007 or 2006 (its previous year)
REFERENCE = reference.load({})
COMMUNES = list(bar_le_duc.COMMUNES)
YEAR_START, YEAR_END = datetime(YEAR, 1, 1, tzinfo=UTC), datetime(YEAR + 1, 1, 1, tzinfo=UTC)
# Cut mid-month, mid-day, inside the second cycle: the previous period over both.
MID_START, MID_END = datetime(YEAR, 4, 16, 13, 37, 11, tzinfo=UTC), datetime(YEAR, 10, 17, 10, 5, tzinfo=UTC)
PERIODS = [(YEAR_START, YEAR_END), (MID_START, MID_END)]
TABLES = ("group_session_facts", "enrolment_facts", "goal_facts", "signal_facts")


@pytest.fixture(scope="module")
def year() -> OutreachYear:
    return generate_outreach_year(15, year=YEAR)


def oracle(
    y: OutreachYear, start: datetime, end: datetime, communes: list[str] = COMMUNES
) -> tuple[reporting_pb2.CollectiveFigures, reporting_pb2.SignalFigures]:
    return (
        outreach_oracle.collective([y], communes, start, end),
        outreach_oracle.signals([y], communes, start, end, REFERENCE),
    )


# --- the projection alone, on a fresh database --------------------------------------


@pytest.fixture
async def conn(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    async with reporting_database(settings.database_url, "collective") as url:
        connection = await asyncpg.connect(url)
        try:
            yield connection
        finally:
            await connection.close()


async def snapshot(conn: asyncpg.Connection) -> dict[str, list[tuple[object, ...]]]:
    return {
        t: [tuple(r) for r in await conn.fetch(f"SELECT * FROM reporting.{t} ORDER BY 1")] for t in TABLES
    }


async def test_any_order_duplicates_and_batches_give_the_same_rows(
    conn: asyncpg.Connection, year: OutreachYear
) -> None:
    events = list(year.events)
    async with conn.transaction():
        await project_batch(conn, events)  # in time order, one batch
    alone = await snapshot(conn)
    assert [len(alone[t]) for t in TABLES] == [
        len(year.sessions),
        len(year.enrolments),
        len(year.goals),
        len(year.signals),
    ]
    for seed, sizes in ((1, (1, 5)), (2, (1, 60))):
        await conn.execute(f"TRUNCATE {', '.join(f'reporting.{t}' for t in TABLES)}")
        await project_in_batches(conn, events, seed, sizes, duplicates=0.1)
        assert await snapshot(conn) == alone


async def test_a_generated_year_is_reported_as_the_oracle_counts_it(
    conn: asyncpg.Connection, year: OutreachYear
) -> None:
    await project_in_batches(conn, list(year.events), 3, (50, 300), duplicates=0.1)
    labels = Labels(REFERENCE)
    for start, end in PERIODS:
        for communes in (COMMUNES, [bar_le_duc.LIGNY], ["55476", "55120"]):
            started = time.perf_counter()
            figures = await bilan.compute(conn, communes, start, end)
            elapsed = time.perf_counter() - started
            print(f"bilan {start:%Y-%m-%d}..{end:%Y-%m-%d} {len(communes)} communes: {elapsed * 1000:.1f} ms")
            got = collective_message(figures.collective, labels), signals_message(figures.signals, labels)
            assert got == oracle(year, start, end, communes), (start, end, communes)
    other = await bilan.compute(conn, ["02722"], YEAR_START, YEAR_END)  # another commune: none of it
    assert (other.collective, other.signals) == (CollectiveFigures(), SignalFigures())


# --- end to end: published to the stream, read by GetBilan ---------------------------


@pytest.fixture(scope="module")
async def published(app_stack: AppStack, settings: Settings, year: OutreachYear) -> None:
    events = list(year.events)
    await publish(settings, shuffled(events, seed=7))
    await publish(settings, shuffled(events, seed=8)[:300], msg_id_suffix="-again")  # only the inbox sees it
    await drained(settings, timeout=180)


async def get_bilan(
    app_stack: AppStack, start: datetime, end: datetime, communes: list[str] = COMMUNES
) -> reporting_pb2.Bilan:
    token = app_stack.token("responsable-cias-bar", Role.ELU, communes)
    async with app_stack.channel("reporting", token) as channel:
        stub = reporting_pb2_grpc.ReportingServiceStub(channel)
        return await stub.GetBilan(period(start, end, communes), timeout=30)


async def test_get_bilan_reports_the_generated_year_exactly(
    app_stack: AppStack, published: None, year: OutreachYear
) -> None:
    whole = await get_bilan(app_stack, YEAR_START, YEAR_END)
    collective, signals = oracle(year, YEAR_START, YEAR_END)
    assert (whole.collective, whole.signals) == (collective, signals)
    assert whole.collective.sessions_held == 64 and whole.collective.waiting_list > 0
    assert whole.collective.goals_reached > 0 and whole.collective.goals_given_up > 0
    # A person enrolled in several groups or cycles is counted once.
    assert (
        whole.collective.participants
        == len({e.person_id for e in year.enrolments if e.ever_enrolled})
        < sum(1 for e in year.enrolments if e.ever_enrolled)
    )
    assert whole.signals.received == 140 and len(whole.signals.by_commune) == 15
    assert {s.code for s in whole.signals.by_signaller} == {"elu", "secretaire_mairie", "agent"}
    assert {s.code for s in whole.signals.by_status} == {
        "received",
        "contacted",
        "unreachable",
        "declined",
        "not_relevant",
    }
    assert {s.code for s in whole.collective.by_outcome} <= {
        "parcours_insertion",
        "formation",
        "emploi",
        "autre_action",
        "aucune",
    }
    mid = await get_bilan(app_stack, MID_START, MID_END)
    assert (mid.collective, mid.signals) == oracle(year, MID_START, MID_END)
    assert mid.collective.previous_sessions_held > 0 and mid.signals.previous_received > 0
    ligny = await get_bilan(app_stack, YEAR_START, YEAR_END, [bar_le_duc.LIGNY])
    assert (ligny.collective, ligny.signals) == oracle(year, YEAR_START, YEAR_END, [bar_le_duc.LIGNY])
    # Another commune's élu sees none of it (the figures follow the caller's communes).
    soissons = await get_bilan(app_stack, YEAR_START, YEAR_END, ["02722"])
    assert soissons.collective == reporting_pb2.CollectiveFigures()
    assert soissons.signals == reporting_pb2.SignalFigures()


async def test_exports_carry_the_collective_and_signals_sections(
    app_stack: AppStack, published: None, year: OutreachYear
) -> None:
    token = app_stack.token("responsable-cias-bar", Role.ELU, COMMUNES)
    request = period(YEAR_START, YEAR_END, COMMUNES)
    async with app_stack.channel("reporting", token) as channel:
        stub = reporting_pb2_grpc.ReportingServiceStub(channel)
        csv_doc = await stub.ExportBilan(
            reporting_pb2.ExportBilanRequest(bilan=request, format="csv"), timeout=30
        )
        html_doc = await stub.ExportBilan(
            reporting_pb2.ExportBilanRequest(bilan=request, format="html"), timeout=30
        )
    collective, signals = oracle(year, YEAR_START, YEAR_END)
    rows = list(csv.reader(io.StringIO(csv_doc.content.decode("utf-8-sig")), delimiter=";"))
    by_key = {(r[0], r[1]): r for r in rows[1:]}
    assert by_key[("Actions collectives", "seances_tenues")][3] == "64"
    assert by_key[("Actions collectives", "participants")][3] == str(collective.participants)
    assert by_key[("Actions collectives", "objectifs_atteints")][3] == str(collective.goals_reached)
    assert by_key[("Signalements", "signalements_recus")][3] == "140"
    assert by_key[("Signalements", "dossiers_ouverts")][3] == str(signals.dossiers_opened)
    savonnieres = next(s for s in signals.by_commune if s.code == "55476")
    assert by_key[("Signalements par commune", "55476")][2:4] == [
        "Savonnières-devant-Bar",
        str(savonnieres.count),
    ]
    html = html_doc.content.decode("utf-8")
    for heading in ("Actions collectives", "Suite pour les participants", "Signalements (aller vers)"):
        assert f"<h2>{heading}</h2>" in html
    assert "Signalements par commune" in html and "secrétaire de mairie" in html


async def test_a_rebuild_gives_the_same_figures(
    app_stack: AppStack, settings: Settings, published: None, year: OutreachYear
) -> None:
    before = [await get_bilan(app_stack, start, end) for start, end in PERIODS]
    result = await rebuild(settings)
    await drained(settings, timeout=180)
    assert result.skipped == 0
    after = [await get_bilan(app_stack, start, end) for start, end in PERIODS]
    assert [(b.collective, b.signals) for b in after] == [(b.collective, b.signals) for b in before]
    assert [(b.collective, b.signals) for b in after] == [oracle(year, start, end) for start, end in PERIODS]


# --- a full programme through the real RPCs (tests/collective_scenario.py) ------------

# A commune and a year no other test holds a programme in (its sessions are dated then;
# its goals and outcomes are dated when the RPCs run: now).
SCENARIO_COMMUNE, SCENARIO_YEAR = "55426", 2005


async def test_a_programme_played_through_the_rpcs_is_reported_exactly(
    app_stack: AppStack, settings: Settings
) -> None:
    async with app_stack.channel("intake") as channel:
        await scenario.run_programme(
            collective_pb2_grpc.CollectiveServiceStub(channel),
            intake_pb2_grpc.IntakeServiceStub(channel),
            territory=SCENARIO_COMMUNE,
            year=SCENARIO_YEAR,
        )
    want = scenario.EXPECTED
    start, end = datetime(SCENARIO_YEAR, 1, 1, tzinfo=UTC), datetime(SCENARIO_YEAR + 1, 1, 1, tzinfo=UTC)
    held_want = reporting_pb2.CollectiveFigures(
        sessions_held=want.sessions_held,
        participants=want.persons_enrolled,  # the 9th took the place the 3rd left
        attendance_rate=round(100.0 * want.presences / (want.presences + want.absences), 1),
        presences=want.presences,
        absences=want.absences,
        waiting_list=want.enrolled_waiting_first,
    )
    total = sum(want.outcomes.values())
    today_want = reporting_pb2.CollectiveFigures(
        goals_reached=want.goals_reached,
        goals_given_up=want.goals_given_up,
        goals_set=want.goals,
        by_outcome=[
            reporting_pb2.Share(
                code=code,
                label=PARTICIPANT_OUTCOME_LABELS[code],
                count=count,
                percent=round(100.0 * count / total, 1),
            )
            for code, count in sorted(want.outcomes.items(), key=lambda item: (-item[1], item[0]))
        ],
    )
    now = datetime.now(UTC)
    # The intake relay publishes the outbox and reporting projects it: wait for the figures.
    deadline = time.monotonic() + 60
    while True:
        held = (await get_bilan(app_stack, start, end, [SCENARIO_COMMUNE])).collective
        around = now - timedelta(days=1), now + timedelta(days=1)
        today = (await get_bilan(app_stack, *around, [SCENARIO_COMMUNE])).collective
        if (held, today) == (held_want, today_want) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    assert held == held_want
    assert today == today_want


# --- signals through the real RPCs ---------------------------------------------------

SIGNALS_COMMUNE = "55543"  # Velaines: no other test signals there


async def test_signals_submitted_and_qualified_through_the_rpcs_are_reported_exactly(
    app_stack: AppStack,
) -> None:
    mairie = app_stack.token(f"mairie-velaines-{uuid.uuid4().hex[:6]}", Role.SIGNALEUR, [SIGNALS_COMMUNE])
    elu = app_stack.token(f"elu-velaines-{uuid.uuid4().hex[:6]}", Role.ELU, [SIGNALS_COMMUNE])
    receipts = []
    for token, n in ((mairie, 0), (mairie, 1), (elu, 2)):
        async with app_stack.channel("intake", token) as channel:
            receipts.append(
                await signals_pb2_grpc.SignalServiceStub(channel).SubmitSignal(
                    signals_pb2.SubmitSignalRequest(
                        territory=SIGNALS_COMMUNE,
                        first_name="Dominique",
                        last_name=f"Signalé{n}",
                        description="Personne âgée isolée, volets fermés depuis plusieurs jours.",
                        consent_to_contact=True,
                        request_id=uuid.uuid4().hex,
                    ),
                    timeout=15,
                )
            )
    agent = app_stack.token("ts-velaines", Role.TRAVAILLEUR_SOCIAL, [SIGNALS_COMMUNE])
    async with app_stack.channel("intake", agent) as channel:
        stub = signals_pb2_grpc.SignalServiceStub(channel)
        for receipt, status, motifs in (
            (receipts[0], "contacted", ["logement"]),
            (receipts[2], "declined", []),
        ):
            await stub.QualifySignal(
                signals_pb2.QualifySignalRequest(
                    signal_id=receipt.signal_id, status=status, motifs=motifs, request_id=uuid.uuid4().hex
                ),
                timeout=30,
            )
    now = datetime.now(UTC)

    def share(code: str, label: str, count: int) -> reporting_pb2.Share:
        return reporting_pb2.Share(code=code, label=label, count=count, percent=round(100.0 * count / 3, 1))

    want = reporting_pb2.SignalFigures(
        received=3,
        qualified=2,
        dossiers_opened=1,
        by_commune=[share(SIGNALS_COMMUNE, "Velaines", 3)],
        by_signaller=[share("secretaire_mairie", "secrétaire de mairie", 2), share("elu", "élu référent", 1)],
        by_status=[
            share("contacted", "personne contactée (dossier ouvert)", 1),
            share("declined", "refusé par la personne", 1),
            share("received", "à qualifier", 1),
        ],
    )
    deadline = time.monotonic() + 60
    while True:  # the intake relay publishes the outbox, reporting projects it
        got = (
            await get_bilan(app_stack, now - timedelta(days=1), now + timedelta(days=1), [SIGNALS_COMMUNE])
        ).signals
        if got == want or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    assert got == want
