"""GetOpsOverview on real servers: a stuck dossier, overdue deadlines, the outbox
backlog of other services' schemas (counts only), consumer lag, dead letters, roles, and
the partner channels the referral notifier found misconfigured (read as the app role)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from entraide.v1 import events_pb2, reporting_pb2, reporting_pb2_grpc

from domain.events import EventType
from kernel import outbox
from kernel.auth import Role
from kernel.db import Pool
from kernel.events import new_event
from kernel.settings import Settings
from services.referral import partner_messages, webhooks
from services.reporting import ops
from tests.conftest import AppStack
from tests.helpers import eventually
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
        probe = new_event(
            EventType.DOSSIER_OPENED, "tests/ops", "x", events_pb2.DossierOpened(dossier_id="x")
        )
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


async def test_ops_overview_lists_misconfigured_partner_channels(app_stack: AppStack, pool: Pool) -> None:
    """A partner whose webhook secret is not in the referral service's environment: its
    running notifier (woken by the directory change) holds the delivery and records the
    channel; reporting reads it through referral's SECURITY DEFINER function."""
    partner = f"opsprobe-{uuid.uuid4().hex[:8]}"
    ref = webhooks.secret_env_name(partner)
    assert ref not in app_stack.env
    event_id = uuid.uuid4()
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            """INSERT INTO referral.partners (partner_id, name, kind, motifs, territories)
               VALUES ($1, $1, 'test', ARRAY['logement'], ARRAY[$2])""",
            partner,
            TRONVILLE,
        )
        await conn.execute(
            """INSERT INTO referral.partner_deliveries (delivery_id, event_id, partner_id, channel, subject,
                   payload) VALUES ($1, $2, $3, 'webhook', 'requested', '{}')""",
            partner_messages.delivery_id(event_id, "webhook"),
            event_id,
            partner,
        )
        await conn.execute(
            """INSERT INTO referral.partner_channels (partner_id, nats, webhook_url, webhook_secret_ref)
               VALUES ($1, true, 'https://opsprobe.example.org/entraide/webhook', $2)""",
            partner,
            ref,
        )

    async def listed() -> list[ops.Misconfigured]:
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("SET LOCAL ROLE entraide_app")  # as reporting queries
            found = await ops.misconfigured_channels(conn, 50)
        return [m for m in found if m.partner_id == partner]

    try:
        [channel] = await eventually(listed, lambda found: len(found) == 1 and found[0].deliveries_held == 1)
        assert (channel.service, channel.channel, channel.reason) == (
            "referral",
            "webhook",
            webhooks.MISSING_WEBHOOK_SECRET,
        )
        assert channel.since <= datetime.now(UTC)
        async with pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT status, attempts FROM referral.partner_deliveries WHERE partner_id = $1", partner
            )
        assert (row["status"], row["attempts"]) == ("held", 0)
        token = app_stack.token("ops-1", Role.OPS, [TRONVILLE])
        async with app_stack.channel("reporting", token) as grpc_channel:
            overview = await reporting_pb2_grpc.ReportingServiceStub(grpc_channel).GetOpsOverview(
                reporting_pb2.GetOpsOverviewRequest(), timeout=10
            )
        [shown] = [m for m in overview.misconfigured_channels if m.partner_id == partner]
        assert (shown.channel, shown.reason, shown.deliveries_held) == (
            "webhook",
            webhooks.MISSING_WEBHOOK_SECRET,
            1,
        )
        assert shown.since.ToDatetime(tzinfo=UTC) == channel.since
    finally:
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("DELETE FROM referral.partner_deliveries WHERE partner_id = $1", partner)
            await conn.execute("DELETE FROM referral.partner_channel_problems WHERE partner_id = $1", partner)
            await conn.execute("DELETE FROM referral.partners WHERE partner_id = $1", partner)
