"""GetOpsOverview on real servers: a stuck dossier, overdue deadlines, the outbox
backlog of other services' schemas (counts only), consumer lag, dead letters, roles."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from entraide.v1 import reporting_pb2, reporting_pb2_grpc

from kernel import outbox
from kernel.auth import Role
from kernel.db import Pool
from kernel.events import new_event
from kernel.settings import Settings
from tests.conftest import AppStack
from tests.reporting_events import Dossier, drained, publish

TRONVILLE = "55519"


async def test_ops_overview(app_stack: AppStack, settings: Settings, pool: Pool) -> None:
    old = datetime.now(UTC) - timedelta(days=90)
    stuck = Dossier(TRONVILLE, ["mobilite"], old)
    events = stuck.events()[:3]  # opened, then ecoute and orientation: no progress since
    await publish(settings, events)
    await drained(settings)
    # An unpublished row in intake's outbox (as if its relay were stopped), and one in
    # a schema reporting cannot read directly: the backlog comes through the function.
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("CREATE SCHEMA IF NOT EXISTS opsprobe")
        await conn.execute("CREATE TABLE IF NOT EXISTS opsprobe.outbox (LIKE intake.outbox INCLUDING ALL)")
        probe = new_event("entraide.probe.noted", "tests/ops", "x", reporting_pb2.StageCount(stage="x"))
        await outbox.write(conn, "opsprobe", probe)
        await conn.execute(
            """INSERT INTO reporting.dead_letters (consumer, stream_seq, subject, headers, data, deliveries,
                   error_type) VALUES ('reporting-projector', $1, 'x.y', '{}', '\\x00', 3, 'ValueError')""",
            10_000_000 + uuid.uuid4().int % 1000,
        )
    token = app_stack.token("ops-1", Role.OPS, [TRONVILLE])
    async with app_stack.channel("reporting", token) as channel:
        stub = reporting_pb2_grpc.ReportingServiceStub(channel)
        overview = await stub.GetOpsOverview(
            reporting_pb2.GetOpsOverviewRequest(stuck_after_days=30), timeout=10
        )
        with pytest.raises(grpc.aio.AioRpcError) as denied:
            await stub.GetOpsOverview(reporting_pb2.GetOpsOverviewRequest(territories=["02722"]))
        assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert stuck.dossier_id in {s.dossier_id for s in overview.stuck}
    listed = next(s for s in overview.stuck if s.dossier_id == stuck.dossier_id)
    assert listed.stage == "orientation" and listed.reason == "no_progress"
    assert {s.stage: s.dossiers for s in overview.stages}["orientation"] >= 1
    assert overview.outbox_backlog["opsprobe"] == 1
    assert "intake" in overview.outbox_backlog and "reporting" in overview.outbox_backlog
    projector = next(c for c in overview.consumers if c.consumer == "reporting-projector")
    assert projector.pending == 0 and projector.ack_floor > 0
    assert any(d.error_type == "ValueError" and d.service == "reporting" for d in overview.dead_letters)
    async with pool.acquire() as conn:
        await conn.execute("DROP SCHEMA opsprobe CASCADE")


@pytest.mark.parametrize("role", [Role.ELU, Role.TRAVAILLEUR_SOCIAL, Role.PARTENAIRE])
async def test_ops_overview_is_for_ops_and_responsables(app_stack: AppStack, role: Role) -> None:
    token = app_stack.token("x", role, [TRONVILLE], partner_id="caf" if role is Role.PARTENAIRE else "")
    async with app_stack.channel("reporting", token) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as denied:
            await reporting_pb2_grpc.ReportingServiceStub(channel).GetOpsOverview(
                reporting_pb2.GetOpsOverviewRequest()
            )
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
