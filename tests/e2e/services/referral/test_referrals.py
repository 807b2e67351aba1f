"""Referrals' closed loop on real servers and processes: agent creates, partner answers,
every change in the dossier's timeline and in the outbox with an increasing sequence;
the consent gate; partner isolation; refused transitions and bad input; and, under
Temporal's time-skipping server, the reminder and the expiry."""

from __future__ import annotations

import random
import string
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from entraide.v1 import events_pb2, intake_pb2, intake_pb2_grpc, referral_pb2, referral_pb2_grpc
from temporalio.client import WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from kernel import migrations, reference
from kernel.auth import Role
from kernel.codec import data_converter
from kernel.db import Pool
from services.intake.activities import IntakeActivities
from services.intake.referral_gate import ReferralGate
from services.referral.referrals import ReferralActivities
from tests.conftest import AppStack
from tests.helpers import eventually
from tests.paths import REPO
from workflows import search_attributes
from workflows.contracts import (
    DOSSIER_TASK_QUEUE,
    INTAKE_TASK_QUEUE,
    REFERRAL_TASK_QUEUE,
    ActInput,
    CompleteEcouteInput,
    DossierSpec,
    InterviewInput,
    OrientInput,
    ReferralTimers,
    dossier_workflow_id,
    referral_workflow_id,
)
from workflows.dossier import DossierWorkflow
from workflows.referral import ReferralWorkflow

ROOT = REPO
DIRECTORY = ROOT / "deploy" / "local" / "demo_partners.json"
NOTES = "Expulsion annoncée, dettes de loyer, violences passées (note confidentielle)"
Intake = intake_pb2_grpc.IntakeServiceStub
Referrals = referral_pb2_grpc.ReferralServiceStub


def letters(n: int = 6) -> str:
    return "".join(random.choices(string.ascii_lowercase, k=n))


@dataclass
class World:
    stack: AppStack
    intake: Intake
    agent: Referrals
    pool: Pool
    channels: list[grpc.aio.Channel]

    def partner(self, partner_id: str) -> Referrals:
        token = self.stack.token(f"user-{partner_id}", Role.PARTENAIRE, (), partner_id=partner_id)
        channel = self.stack.channel("referral", token)
        self.channels.append(channel)
        return referral_pb2_grpc.ReferralServiceStub(channel)


@pytest.fixture
async def world(app_stack: AppStack, pool: Pool) -> AsyncIterator[World]:
    responsable = app_stack.token("resp-dupont", Role.RESPONSABLE)
    async with (
        app_stack.channel("intake") as intake_channel,
        app_stack.channel("referral") as agent_channel,
        app_stack.channel("referral", responsable) as admin,
    ):
        await referral_pb2_grpc.ReferralServiceStub(admin).ImportDirectory(
            referral_pb2.ImportDirectoryRequest(document=DIRECTORY.read_text(encoding="utf-8")), timeout=10
        )
        world = World(
            app_stack,
            intake_pb2_grpc.IntakeServiceStub(intake_channel),
            referral_pb2_grpc.ReferralServiceStub(agent_channel),
            pool,
            [],
        )
        try:
            yield world
        finally:
            for channel in world.channels:
                await channel.close()


async def oriented_dossier(
    w: World,
    consent_partner: str | None = "caf-meuse",
    scope: tuple[str, ...] = ("motif", "identite"),
    kind: str = "consent",
    with_person: bool = True,
) -> str:
    """A dossier in orientation (motifs logement + difficultes_financieres), its person
    and, if asked, a consent (or legal basis) for one partner."""
    person_id = ""
    if with_person:
        person = await w.intake.CreatePerson(
            intake_pb2.CreatePersonRequest(
                request_id=uuid.uuid4().hex,
                territory="55029",
                first_name="Claire" + letters(4),
                last_name="Durand" + letters(6),
                birth_date="1984-03-27",
                phone="07" + "".join(random.choices(string.digits, k=8)),
                address_line="3 rue de la Paix",
            ),
            timeout=10,
        )
        person_id = person.person.person_id
    opened = await w.intake.OpenDossier(
        intake_pb2.OpenDossierRequest(
            request_id=uuid.uuid4().hex,
            territory="55029",
            motifs=["logement"],
            arrival_channel="visite_spontanee",
            person_id=person_id,
        ),
        timeout=15,
    )
    dossier_id = opened.dossier.dossier_id
    await w.intake.RecordInterview(
        intake_pb2.RecordInterviewRequest(dossier_id=dossier_id, notes=NOTES), timeout=15
    )
    await w.intake.CompleteEcoute(
        intake_pb2.CompleteEcouteRequest(
            dossier_id=dossier_id, next_stage="orientation", motifs=["logement", "difficultes_financieres"]
        ),
        timeout=15,
    )
    if consent_partner:
        await w.intake.RecordConsent(
            intake_pb2.RecordConsentRequest(
                person_id=person_id,
                dossier_id=dossier_id,
                partner_id=consent_partner,
                data_scope=list(scope),
                kind=kind,
                channel="oral" if kind == "consent" else "",
                legal_basis="CASF L.226-2-2" if kind == "legal_basis" else "",
            ),
            timeout=10,
        )
    await known_to_referral(w, dossier_id, 2)
    return str(dossier_id)


async def known_to_referral(w: World, dossier_id: str, motifs: int) -> None:
    async def probe() -> int:
        async with w.pool.acquire() as conn:
            found = await conn.fetchval(
                "SELECT cardinality(motifs) FROM referral.dossiers WHERE dossier_id = $1",
                uuid.UUID(dossier_id),
            )
        return int(found or 0)

    # The read model follows intake's events; allow for a loaded CI machine.
    await eventually(probe, lambda n: n == motifs, timeout=30)


def create_request(dossier_id: str, **fields: Any) -> referral_pb2.CreateReferralRequest:
    defaults: dict[str, Any] = {
        "partner_id": "caf-meuse",
        "motif": "logement",
        "message_for_partner": "Demande d'aide au logement, dossier d'impayé à étudier.",
        "data_scope": ["identite"],
    }
    return referral_pb2.CreateReferralRequest(dossier_id=dossier_id, **{**defaults, **fields})


async def referral_timeline(w: World, dossier_id: str) -> list[str]:
    reply = await w.intake.GetDossierTimeline(intake_pb2.GetDossierRequest(dossier_id=dossier_id), timeout=10)
    return [e.summary for e in reply.entries if e.kind == "referral"]


async def referral_events(w: World, referral_id: str) -> list[tuple[int, str]]:
    async with w.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT ce_type, data FROM referral.outbox WHERE ce_subject = $1 ORDER BY seq", referral_id
        )
    found = []
    for row in rows:
        assert row["ce_type"] == "entraide.referral.status_changed"
        event = events_pb2.ReferralStatusChanged.FromString(row["data"])
        found.append((event.sequence, event.status))
    return found


async def written(w: World, dossier_id: str) -> tuple[int, int, int]:
    async with w.pool.acquire() as conn:
        referrals = await conn.fetchval(
            "SELECT count(*) FROM referral.referrals WHERE dossier_id = $1", uuid.UUID(dossier_id)
        )
        changes = await conn.fetchval(
            """SELECT count(*) FROM referral.referral_changes c JOIN referral.referrals r USING (referral_id)
                WHERE r.dossier_id = $1""",
            uuid.UUID(dossier_id),
        )
        steps = await conn.fetchval(
            "SELECT count(*) FROM intake.dossier_timeline WHERE dossier_id = $1", uuid.UUID(dossier_id)
        )
    return int(referrals), int(changes), int(steps)


async def refused(call: Any, request: Any, code: grpc.StatusCode) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await call(request, timeout=15)
    assert error.value.code() == code, error.value.details()
    return str(error.value.details())


# ---------------------------------------------------------------- the closed loop


async def test_full_closed_loop(world: World) -> None:
    w = world
    dossier_id = await oriented_dossier(w, scope=("motif", "identite"))
    created = await w.agent.CreateReferral(create_request(dossier_id), timeout=20)
    assert (created.status, created.sequence, created.partner_name) == ("requested", 1, "CAF de la Meuse")
    assert created.referrer == "agent-martin" and created.dossier_id == dossier_id
    rid = created.referral_id

    caf = w.partner("caf-meuse")
    mine = await caf.ListMyReferrals(referral_pb2.ListMyReferralsRequest(), timeout=10)
    seen = next(r for r in mine.referrals if r.referral_id == rid)
    # Only what the partner needs: the motif, the message, the consented identity.
    assert seen.motif == "logement" and seen.person.first_name.startswith("Claire")
    assert (seen.dossier_id, seen.referrer, seen.person.phone) == ("", "", "")
    assert NOTES not in str(seen) and "difficultes_financieres" not in str(seen)

    for call, request, status in [
        (caf.AcknowledgeReferral, referral_pb2.ReferralActionRequest(referral_id=rid), "received"),
        (caf.AcceptReferral, referral_pb2.ReferralActionRequest(referral_id=rid), "accepted"),
        (caf.StartReferral, referral_pb2.ReferralActionRequest(referral_id=rid), "in_progress"),
        (
            caf.CompleteReferral,
            referral_pb2.ReferralActionRequest(referral_id=rid, outcome="rights_opened"),
            "completed",
        ),
    ]:
        reply = await call(request, timeout=15)
        assert reply.status == status

    summaries = await eventually(lambda: referral_timeline(w, dossier_id), lambda s: len(s) == 5)
    assert summaries == [
        "Orientation vers CAF de la Meuse : demandée",
        "Orientation vers CAF de la Meuse : reçue par le partenaire",
        "Orientation vers CAF de la Meuse : acceptée",
        "Orientation vers CAF de la Meuse : en cours",
        "Orientation vers CAF de la Meuse : terminée (droits ouverts)",
    ]
    assert await referral_events(w, rid) == [
        (1, "requested"),
        (2, "received"),
        (3, "accepted"),
        (4, "in_progress"),
        (5, "completed"),
    ]
    listed = await w.agent.ListDossierReferrals(
        referral_pb2.ListDossierReferralsRequest(dossier_id=dossier_id), timeout=10
    )
    (only,) = listed.referrals
    assert (only.status, only.outcome, [c.sequence for c in only.history]) == (
        "completed",
        "rights_opened",
        [1, 2, 3, 4, 5],
    )
    # Over: no further action.
    await refused(
        caf.FailReferral,
        referral_pb2.ReferralActionRequest(referral_id=rid, reason="no_capacity"),
        grpc.StatusCode.FAILED_PRECONDITION,
    )


async def test_reject_with_reason_and_cancel(world: World) -> None:
    w = world
    dossier_id = await oriented_dossier(w, consent_partner="caf-meuse")
    first = await w.agent.CreateReferral(create_request(dossier_id), timeout=20)
    second = await w.agent.CreateReferral(create_request(dossier_id, request_id="second"), timeout=20)
    again = await w.agent.CreateReferral(create_request(dossier_id, request_id="second"), timeout=20)
    assert again.referral_id == second.referral_id  # a retried request: the same referral
    caf = w.partner("caf-meuse")
    await refused(
        caf.RejectReferral,
        referral_pb2.ReferralActionRequest(referral_id=first.referral_id),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    rejected = await caf.RejectReferral(
        referral_pb2.ReferralActionRequest(referral_id=first.referral_id, reason="not_eligible"), timeout=15
    )
    assert (rejected.status, rejected.reason) == ("rejected", "not_eligible")
    cancelled = await w.agent.CancelReferral(
        referral_pb2.CancelReferralRequest(referral_id=second.referral_id, reason="la personne a trouvé"),
        timeout=15,
    )
    assert cancelled.status == "cancelled"
    await refused(
        caf.AcknowledgeReferral,
        referral_pb2.ReferralActionRequest(referral_id=second.referral_id),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    summaries = await eventually(lambda: referral_timeline(w, dossier_id), lambda s: len(s) == 4)
    assert "Orientation vers CAF de la Meuse : refusée (non éligible)" in summaries
    assert summaries[-1] == "Orientation vers CAF de la Meuse : annulée"
    assert await referral_events(w, second.referral_id) == [(1, "requested"), (2, "cancelled")]


# ---------------------------------------------------------------- the consent gate


async def test_consent_gate(world: World) -> None:
    w = world
    # No person at all: nothing can leave.
    anonymous = await oriented_dossier(w, consent_partner=None, with_person=False)
    before = await written(w, anonymous)
    message = await refused(
        w.agent.CreateReferral, create_request(anonymous), grpc.StatusCode.FAILED_PRECONDITION
    )
    assert "record the person" in message
    assert await written(w, anonymous) == before

    # A person, no consent.
    no_consent = await oriented_dossier(w, consent_partner=None)
    before = await written(w, no_consent)
    message = await refused(
        w.agent.CreateReferral, create_request(no_consent), grpc.StatusCode.FAILED_PRECONDITION
    )
    assert "consent" in message
    assert await written(w, no_consent) == before

    # Consent for another partner; consent not covering the data asked.
    other = await oriented_dossier(
        w, consent_partner="cresus-grand-est", scope=("motif", "identite", "contact")
    )
    await refused(w.agent.CreateReferral, create_request(other), grpc.StatusCode.FAILED_PRECONDITION)
    narrow = await oriented_dossier(w, consent_partner="caf-meuse", scope=("motif", "identite"))
    await refused(
        w.agent.CreateReferral,
        create_request(narrow, data_scope=["identite", "contact"]),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert (await written(w, narrow))[:2] == (0, 0)
    # …while the consented partner and scope go through.
    ok = await w.agent.CreateReferral(
        create_request(
            other,
            partner_id="cresus-grand-est",
            motif="difficultes_financieres",
            data_scope=["identite", "contact"],
        ),
        timeout=20,
    )
    assert ok.status == "requested" and ok.person.phone

    # A legal basis recorded by a named agent.
    legal = await oriented_dossier(w, consent_partner="caf-meuse", kind="legal_basis", scope=("motif",))
    allowed = await w.agent.CreateReferral(create_request(legal, data_scope=[]), timeout=20)
    assert allowed.status == "requested" and not allowed.person.first_name


# ---------------------------------------------------------------- partner isolation


async def test_partner_sees_and_acts_on_its_own_referrals_only(world: World) -> None:
    w = world
    dossier_id = await oriented_dossier(w, consent_partner="caf-meuse")
    rid = (await w.agent.CreateReferral(create_request(dossier_id), timeout=20)).referral_id
    other = w.partner("cresus-grand-est")
    request = referral_pb2.ReferralActionRequest(referral_id=rid)
    await refused(
        other.GetReferral, referral_pb2.GetReferralRequest(referral_id=rid), grpc.StatusCode.NOT_FOUND
    )
    for call in (other.AcknowledgeReferral, other.AcceptReferral):
        await refused(call, request, grpc.StatusCode.NOT_FOUND)
    await refused(
        other.RejectReferral,
        referral_pb2.ReferralActionRequest(referral_id=rid, reason="no_capacity"),
        grpc.StatusCode.NOT_FOUND,
    )
    mine = await other.ListMyReferrals(referral_pb2.ListMyReferralsRequest(), timeout=10)
    assert rid not in {r.referral_id for r in mine.referrals}
    # Row-level security too: a partner's connection sees only its rows.
    async with w.pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL ROLE entraide_app")
        await conn.execute(
            "SELECT set_config('entraide.role', 'partenaire', true), "
            "set_config('entraide.partner_id', 'cresus-grand-est', true), "
            "set_config('entraide.territories', '55029', true)"
        )
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM referral.referrals WHERE referral_id = $1", uuid.UUID(rid)
            )
            == 0
        )
    # Partners cannot use the agents' RPCs, nor agents the partners'.
    await refused(other.CreateReferral, create_request(dossier_id), grpc.StatusCode.PERMISSION_DENIED)
    await refused(
        other.ListDossierReferrals,
        referral_pb2.ListDossierReferralsRequest(dossier_id=dossier_id),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    await refused(w.agent.AcknowledgeReferral, request, grpc.StatusCode.PERMISSION_DENIED)
    # An agent of another territory does not see it.
    stranger = w.stack.channel(
        "referral", w.stack.token("agent-ailleurs", Role.TRAVAILLEUR_SOCIAL, ["55291"])
    )
    w.channels.append(stranger)
    stub = referral_pb2_grpc.ReferralServiceStub(stranger)
    await refused(
        stub.GetReferral, referral_pb2.GetReferralRequest(referral_id=rid), grpc.StatusCode.NOT_FOUND
    )
    await refused(stub.CreateReferral, create_request(dossier_id), grpc.StatusCode.PERMISSION_DENIED)


# ---------------------------------------------------------------- refused transitions, bad input


async def test_invalid_transitions_and_bad_input_write_nothing(world: World) -> None:
    w = world
    dossier_id = await oriented_dossier(w, consent_partner="caf-meuse")
    rid = (await w.agent.CreateReferral(create_request(dossier_id), timeout=20)).referral_id
    await eventually(lambda: referral_timeline(w, dossier_id), lambda s: len(s) == 1)
    caf = w.partner("caf-meuse")
    before = await written(w, dossier_id)
    for call, request in [
        (caf.AcceptReferral, referral_pb2.ReferralActionRequest(referral_id=rid)),
        (caf.StartReferral, referral_pb2.ReferralActionRequest(referral_id=rid)),
        (caf.CompleteReferral, referral_pb2.ReferralActionRequest(referral_id=rid, outcome="need_met")),
        (caf.FailReferral, referral_pb2.ReferralActionRequest(referral_id=rid, reason="no_capacity")),
    ]:
        await refused(call, request, grpc.StatusCode.FAILED_PRECONDITION)
    assert await written(w, dossier_id) == before
    assert await referral_events(w, rid) == [(1, "requested")]

    for bad in [
        create_request("not-a-uuid"),
        create_request(dossier_id, motif="inconnu"),
        create_request(dossier_id, message_for_partner="x" * 2001),
        create_request(dossier_id, data_scope=["notes"]),
    ]:
        await refused(w.agent.CreateReferral, bad, grpc.StatusCode.INVALID_ARGUMENT)
    await refused(
        w.agent.CreateReferral, create_request(dossier_id, partner_id="nobody"), grpc.StatusCode.NOT_FOUND
    )
    await refused(
        caf.CompleteReferral,
        referral_pb2.ReferralActionRequest(referral_id=rid, outcome="bof"),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    await refused(
        caf.AcknowledgeReferral,
        referral_pb2.ReferralActionRequest(referral_id="x"),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    # A motif the dossier does not have; a dossier not yet in orientation.
    await refused(
        w.agent.CreateReferral,
        create_request(dossier_id, motif="emploi"),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    opened = await w.intake.OpenDossier(
        intake_pb2.OpenDossierRequest(
            request_id=uuid.uuid4().hex, territory="55029", motifs=["logement"], arrival_channel="telephone"
        ),
        timeout=15,
    )
    fresh = opened.dossier.dossier_id
    await known_to_referral(w, fresh, 1)
    message = await refused(
        w.agent.CreateReferral, create_request(fresh), grpc.StatusCode.FAILED_PRECONDITION
    )
    assert "orientation or suivi" in message
    assert await written(w, dossier_id) == before


# ---------------------------------------------------------------- timers (time-skipping)

DAY = 86400.0


@pytest.fixture
async def time_world(
    pool: Pool, test_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[WorkflowEnvironment, Pool, str]]:
    monkeypatch.setattr(search_attributes, "upsert", lambda *updates: None)
    async with pool.acquire() as conn:
        await migrations.migrate_service(conn, "intake", ROOT / "services" / "intake" / "migrations")
        await migrations.migrate_service(conn, "referral", ROOT / "services" / "referral" / "migrations")
        await conn.execute(
            """INSERT INTO referral.partners (partner_id, name, kind, motifs, territories)
               VALUES ('caf-meuse', 'CAF de la Meuse', 'caf', '{logement}', '{55029}')
               ON CONFLICT DO NOTHING"""
        )
        person_id = uuid.uuid4()
        await conn.execute(
            """INSERT INTO intake.persons (person_id, territory, request_id, first_name, last_name, name_key,
                                            created_at, updated_at)
               VALUES ($1, '55029', $2, 'Léa', 'Martin', 'martin|lea', now(), now())""",
            person_id,
            uuid.uuid4().hex,
        )
        await conn.execute(
            """INSERT INTO intake.consents (consent_id, territory, person_id, partner_id, data_scope, kind,
                                             channel, agent, recorded_at)
               VALUES ($1, '55029', $2, 'caf-meuse', '{motif,identite}', 'consent', 'oral', 'agent-1',
                       now())""",
            uuid.uuid4(),
            person_id,
        )
    server = Path(sys.executable).parent / "temporal-test-server"
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(server), data_converter=data_converter(test_env)
    )
    intake = IntakeActivities(pool, reference.load({}))
    gate = ReferralGate(pool)
    referral = ReferralActivities(pool)
    async with env:
        async with (
            Worker(
                env.client,
                task_queue=DOSSIER_TASK_QUEUE,
                workflows=[DossierWorkflow, ReferralWorkflow],
                workflow_runner=UnsandboxedWorkflowRunner(),
            ),
            Worker(
                env.client,
                task_queue=INTAKE_TASK_QUEUE,
                activities=[
                    intake.record_dossier_opened,
                    intake.record_transition,
                    gate.check_referral_consent,
                ],
            ),
            Worker(
                env.client,
                task_queue=REFERRAL_TASK_QUEUE,
                activities=[referral.record_status, referral.record_reminder],
            ),
        ):
            yield env, pool, str(person_id)


async def orient_in_time_world(env: WorkflowEnvironment, person_id: str) -> tuple[str, str]:
    dossier_id = str(uuid.uuid4())
    spec = DossierSpec(dossier_id, "55029", "", ["logement"], "telephone", False, person_id=person_id)
    start = WithStartWorkflowOperation(
        DossierWorkflow.run,
        spec,
        id=dossier_workflow_id(dossier_id),
        task_queue=DOSSIER_TASK_QUEUE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    await env.client.execute_update_with_start_workflow(DossierWorkflow.open, start_workflow_operation=start)
    handle = await start.workflow_handle()
    await handle.execute_update(DossierWorkflow.record_interview, InterviewInput("agent-1"))
    await handle.execute_update(
        DossierWorkflow.complete_ecoute, CompleteEcouteInput("agent-1", "orientation")
    )
    rid = str(uuid.uuid4())
    result = await handle.execute_update(
        DossierWorkflow.orient,
        OrientInput(
            "agent-1",
            rid,
            "caf-meuse",
            "CAF de la Meuse",
            "logement",
            "Aide au logement",
            ["motif"],
            ReferralTimers(reminder_s=10 * DAY, expiry_s=30 * DAY),
        ),
    )
    assert result.status == "requested"
    return dossier_id, rid


async def kinds_and_summaries(pool: Pool, dossier_id: str) -> list[str]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            """SELECT summary FROM intake.dossier_timeline
                WHERE dossier_id = $1 AND kind = 'referral' ORDER BY step""",
            uuid.UUID(dossier_id),
        )
    return [r["summary"] for r in rows]


async def test_reminder_at_10_days_and_expiry_at_30(
    time_world: tuple[WorkflowEnvironment, Pool, str],
) -> None:
    env, pool, person_id = time_world
    dossier_id, rid = await orient_in_time_world(env, person_id)
    await env.sleep(timedelta(days=9))
    assert len(await kinds_and_summaries(pool, dossier_id)) == 1
    await env.sleep(timedelta(days=2))
    summaries = await kinds_and_summaries(pool, dossier_id)
    assert summaries[-1] == "Relance : orientation vers CAF de la Meuse toujours sans accusé de réception"
    await env.sleep(timedelta(days=20))
    assert await env.client.get_workflow_handle(referral_workflow_id(rid)).result() == "expired"
    summaries = await kinds_and_summaries(pool, dossier_id)
    assert summaries[-1].startswith("Orientation vers CAF de la Meuse : expirée")
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT status, reminded_at FROM referral.referrals WHERE referral_id = $1", uuid.UUID(rid)
        )
        statuses = await conn.fetch(
            "SELECT ce_type FROM referral.outbox WHERE ce_subject = $1 ORDER BY seq", rid
        )
    assert row["status"] == "expired" and row["reminded_at"] is not None
    assert len(statuses) == 2  # requested, expired: the reminder is not a status change


async def test_acknowledged_referral_neither_reminded_nor_expired(
    time_world: tuple[WorkflowEnvironment, Pool, str],
) -> None:
    env, pool, person_id = time_world
    dossier_id, rid = await orient_in_time_world(env, person_id)
    await env.sleep(timedelta(days=3))
    referral = env.client.get_workflow_handle(referral_workflow_id(rid))
    await referral.execute_update(ReferralWorkflow.act, ActInput("acknowledge", "user-caf"))
    await env.sleep(timedelta(days=40))
    assert (await referral.query(ReferralWorkflow.view)).status == "received"
    summaries = await kinds_and_summaries(pool, dossier_id)
    assert summaries == [
        "Orientation vers CAF de la Meuse : demandée",
        "Orientation vers CAF de la Meuse : reçue par le partenaire",
    ]
