"""Partners by name in the bilan, from events only: the referral activity puts the
directory's name in `referral.status_changed`, the projector keeps the latest name
per partner whatever the arrival order and batch split (in memory and in SQL), and
GetBilan gives it (the partner id when no event carried a name)."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from entraide.v1 import events_pb2, reporting_pb2, reporting_pb2_grpc

from kernel.auth import Role
from kernel.db import Pool
from kernel.events import Event
from services.reporting.projection.apply import project_batch
from services.reporting.projection.fold import fold
from services.reporting.projection.tables import Tables
from tests.conftest import AppStack
from tests.e2e.services.referral.test_referrals import World, create_request, oriented_dossier
from tests.e2e.services.referral.test_referrals import world as world  # the fixture
from tests.e2e.services.reporting.test_bilan import period
from tests.helpers import eventually
from tests.reporting_events import Dossier, referral_events

T0 = datetime(2024, 3, 1, 9, tzinfo=UTC)


def referral(partner: str, name: str, requested_h: float, *later_h: float) -> list[Event]:
    """One referral of `partner` whose events carry `name`: requested, then one status
    per later hour (received, accepted, in_progress, completed)."""
    dossier = Dossier("55029", ["logement"], T0, dossier_id=str(uuid.uuid4()))
    statuses = ["requested", "received", "accepted", "in_progress", "completed"]
    return referral_events(
        dossier, partner, list(zip(statuses, [requested_h, *later_h], strict=False)), partner_name=name
    )


def later_statuses(events: list[Event]) -> list[Event]:
    return [e for e in events if e.parse(events_pb2.ReferralStatusChanged).status != "requested"]


def scenario() -> tuple[list[Event], dict[str, str]]:
    """Events of several partners and the name each must end with."""
    events = [
        # Renamed in the directory between two referrals: the old referral's later
        # statuses (after the new request) repeat the old name, the new request wins.
        *referral("caf-meuse", "Caisse d'allocations familiales de la Meuse", 0, 1, 2, 3, 500),
        *referral("caf-meuse", "CAF de la Meuse", 100, 101),
        # Two requests at the same time with different names: the greatest name in code
        # point order wins, as in Python ("Ca" > "CP"; a linguistic collation says otherwise).
        *referral("cpam-meuse", "CPAM de la Meuse", 10),
        *referral("cpam-meuse", "Caisse primaire de la Meuse", 10),
        # Code point order, not the database's collation: "é" > "É" > "Z".
        *referral("cidff-meuse", "Zèbre", 20),
        *referral("cidff-meuse", "éclair", 20),
        *referral("cidff-meuse", "Éclair", 20),
        # Referrals requested before events had names, whose later statuses carry one
        # (no `requested` event to date it): the latest at.
        *later_statuses(referral("oph-meuse", "OPH 55", 0, 5, 6)),
        *later_statuses(referral("oph-meuse", "OPH de la Meuse", 0, 50)),
    ]
    # Events without a name (written before names were carried) change nothing.
    events += referral("caf-meuse", "", 900, 901)
    events += referral("adil-55", "", 5)
    return events, {
        "caf-meuse": "CAF de la Meuse",
        "cpam-meuse": "Caisse primaire de la Meuse",
        "cidff-meuse": "éclair",
        "oph-meuse": "OPH de la Meuse",
    }


def test_fold_keeps_the_latest_name_in_any_order() -> None:
    events, expected = scenario()
    rng = random.Random(5)
    for _ in range(50):
        shuffled = rng.sample(events, len(events))
        folded = fold(shuffled)
        assert {p: v[2] for p, v in folded.partner_names.items()} == expected


@pytest.fixture
async def scratch(app_stack: AppStack, pool: Pool) -> AsyncIterator[Tables]:
    """Empty copies of reporting's referral facts and partner names in a schema of its own."""
    schema = f"reporting_names_{uuid.uuid4().hex[:8]}"
    async with pool.acquire() as conn:
        await conn.execute(f"CREATE SCHEMA {schema}")
        for table in ("referral_facts", "partner_names"):
            await conn.execute(f"CREATE TABLE {schema}.{table} (LIKE reporting.{table} INCLUDING ALL)")
    try:
        yield Tables(schema)
    finally:
        async with pool.acquire() as conn:
            await conn.execute(f"DROP SCHEMA {schema} CASCADE")


async def test_projection_keeps_the_latest_name_for_any_order_and_batch_split(
    scratch: Tables, pool: Pool
) -> None:
    events, expected = scenario()
    rng = random.Random(8)
    async with pool.acquire() as conn:
        for _ in range(8):
            await conn.execute(f"TRUNCATE {scratch.partner_names}, {scratch.referrals}")
            shuffled = rng.sample(events, len(events))
            cuts = sorted(rng.sample(range(1, len(shuffled)), rng.randint(1, 6)))
            for a, b in zip([0, *cuts], [*cuts, len(shuffled)], strict=True):
                async with conn.transaction():
                    await project_batch(conn, shuffled[a:b], scratch)
            rows = await conn.fetch(f"SELECT partner_id, name FROM {scratch.partner_names}")
            assert {r["partner_id"]: r["name"] for r in rows} == expected


async def test_a_real_referral_reaches_the_bilan_by_name(world: World, app_stack: AppStack) -> None:
    w = world
    dossier_id = await oriented_dossier(w)
    created = await w.agent.CreateReferral(create_request(dossier_id), timeout=20)
    assert created.partner_name == "CAF de la Meuse"
    async with w.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT data FROM referral.outbox WHERE ce_subject = $1 ORDER BY seq", created.referral_id
        )
    (requested,) = [events_pb2.ReferralStatusChanged.FromString(r["data"]) for r in rows]
    assert (requested.partner_id, requested.partner_name) == ("caf-meuse", "CAF de la Meuse")

    now = datetime.now(UTC)
    request = period(now - timedelta(days=1), now + timedelta(days=1), ["55029"])
    token = app_stack.token("elu-bar", Role.ELU, ["55029"])

    async def partners() -> dict[str, reporting_pb2.PartnerFigures]:
        async with app_stack.channel("reporting", token) as channel:
            reply = await reporting_pb2_grpc.ReportingServiceStub(channel).GetBilan(request, timeout=10)
        return {p.partner_id: p for p in reply.partners}

    found = await eventually(partners, lambda p: "caf-meuse" in p, timeout=20)
    caf = found["caf-meuse"]
    assert (caf.partner_name, caf.name) == ("CAF de la Meuse", "CAF de la Meuse")
