"""The person's rights over what signals and collective actions hold, on the real
servers: the export gathers the signal that led to the person and their participation
(attendance, goals, notes); anonymisation erases the signal's identity and description
and the goals' titles and notes (in the tables, the outbox and the dossier timeline),
keeps codes and statuses; retention erases the identity of signals older than its delay."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import TYPE_CHECKING

import asyncpg
import grpc
import pytest
from entraide.v1 import (
    collective_pb2,
    collective_pb2_grpc,
    intake_pb2,
    intake_pb2_grpc,
    signals_pb2,
    signals_pb2_grpc,
)

from domain.collective import GoalStatus, SessionPresence
from domain.signals import SignalStatus
from kernel import reference
from kernel.auth import Role
from kernel.db import create_pool
from kernel.settings import Settings
from services.intake.retention import RetentionActivities
from tests.conftest import AppStack

if TYPE_CHECKING:
    from entraide.v1.collective_pb2_grpc import CollectiveServiceAsyncStub as CollectiveStub
    from entraide.v1.intake_pb2_grpc import IntakeServiceAsyncStub as IntakeStub
    from entraide.v1.signals_pb2_grpc import SignalServiceAsyncStub as SignalStub

BEHONNE = "55041"
# Erased text is looked for in every table holding signals or collective actions.
TABLES = ("signals", "goals", "goal_notes", "collective_timeline", "persons", "dossier_timeline")


def rid() -> str:
    return uuid.uuid4().hex


@pytest.fixture
async def signaller(app_stack: AppStack) -> AsyncIterator[SignalStub]:
    token = app_stack.token(f"mairie-{rid()[:8]}", Role.SIGNALEUR, [BEHONNE])
    async with app_stack.channel("intake", token) as channel:
        yield signals_pb2_grpc.SignalServiceStub(channel)


class Agent:
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self.signals: SignalStub = signals_pb2_grpc.SignalServiceStub(channel)
        self.intake: IntakeStub = intake_pb2_grpc.IntakeServiceStub(channel)
        self.collective: CollectiveStub = collective_pb2_grpc.CollectiveServiceStub(channel)


@pytest.fixture
async def agent(app_stack: AppStack) -> AsyncIterator[Agent]:
    token = app_stack.token("ts-outreach-rights", Role.TRAVAILLEUR_SOCIAL, [BEHONNE])
    async with app_stack.channel("intake", token) as channel:
        yield Agent(channel)


@pytest.fixture
async def responsable(app_stack: AppStack) -> AsyncIterator[IntakeStub]:
    token = app_stack.token("resp-outreach-rights", Role.RESPONSABLE, [BEHONNE])
    async with app_stack.channel("intake", token) as channel:
        yield intake_pb2_grpc.IntakeServiceStub(channel)


@pytest.fixture
async def app_pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    created = await create_pool(settings.database_url, max_size=3)
    try:
        yield created
    finally:
        await created.close()


async def submit(signaller: SignalStub, last_name: str, description: str) -> str:
    receipt = await signaller.SubmitSignal(
        signals_pb2.SubmitSignalRequest(
            territory=BEHONNE,
            first_name="Odette",
            last_name=last_name,
            phone="03 29 45 00 00",
            description=description,
            consent_to_contact=True,
            request_id=rid(),
        ),
        timeout=15,
    )
    return receipt.signal_id


async def where_found(pool: asyncpg.Pool, text: str) -> list[str]:
    found = []
    async with pool.acquire() as conn:
        for table in TABLES:
            if await conn.fetchval(
                f"SELECT count(*) FROM intake.{table} t WHERE t::text ILIKE '%' || $1 || '%'", text
            ):
                found.append(table)
        if await conn.fetchval(
            "SELECT count(*) FROM intake.outbox WHERE position(convert_to($1, 'UTF8') IN data) > 0", text
        ):
            found.append("outbox")
    return found


async def test_export_and_anonymisation_cover_the_signal_and_the_group(
    signaller: SignalStub, agent: Agent, responsable: IntakeStub, pool: asyncpg.Pool
) -> None:
    tag = rid()[:8]
    last_name, description = f"Vautrin{tag}", f"Ne sort plus depuis l'hiver {tag}"
    goal_title, note_text = f"Aller à la médiathèque {tag}", f"Y est allée seule {tag}"
    signal_id = await submit(signaller, last_name, description)
    qualified = await agent.signals.QualifySignal(
        signals_pb2.QualifySignalRequest(
            signal_id=signal_id, status=SignalStatus.CONTACTED, motifs=["sante"], request_id=rid()
        ),
        timeout=30,
    )
    dossier = await agent.intake.GetDossier(
        intake_pb2.GetDossierRequest(dossier_id=qualified.dossier_id), timeout=15
    )

    programme = await agent.collective.CreateProgramme(
        collective_pb2.CreateProgrammeRequest(
            territory=BEHONNE,
            name="Les RV du CIAS",
            place="Centre socioculturel",
            first_day="2015-09-03",
            last_day="2015-12-17",
            request_id=rid(),
        ),
        timeout=15,
    )
    session = await agent.collective.AddSession(
        collective_pb2.AddSessionRequest(
            programme_id=programme.programme_id,
            day="2015-09-03",
            starts_at="14:00",
            ends_at="16:30",
            request_id=rid(),
        ),
        timeout=15,
    )
    enrolment = await agent.collective.Enrol(
        collective_pb2.EnrolRequest(
            programme_id=programme.programme_id,
            person_id=dossier.person_id,
            dossier_id=dossier.dossier_id,
            consent=True,
            request_id=rid(),
        ),
        timeout=15,
    )
    await agent.collective.RecordSessionAttendance(
        collective_pb2.RecordSessionAttendanceRequest(
            session_id=session.session_id,
            attendance=[
                collective_pb2.SessionAttendance(
                    enrolment_id=enrolment.enrolment_id, presence=SessionPresence.PRESENT.value
                )
            ],
            request_id=rid(),
        ),
        timeout=15,
    )
    goal = await agent.collective.SetGoal(
        collective_pb2.SetGoalRequest(
            enrolment_id=enrolment.enrolment_id,
            title=goal_title,
            status=GoalStatus.UNDER_WAY,
            request_id=rid(),
        ),
        timeout=15,
    )
    await agent.collective.AddGoalNote(
        collective_pb2.AddGoalNoteRequest(
            goal_id=goal.goal_id, day="2015-09-03", text=note_text, request_id=rid()
        ),
        timeout=15,
    )
    await agent.collective.SetGoal(
        collective_pb2.SetGoalRequest(goal_id=goal.goal_id, status=GoalStatus.REACHED, request_id=rid()),
        timeout=15,
    )

    exported = json.loads(
        (
            await responsable.ExportPerson(
                intake_pb2.ExportPersonRequest(person_id=dossier.person_id), timeout=15
            )
        ).json
    )
    assert [(s["signal_id"], s["description"], s["status"]) for s in exported["signals"]] == [
        (signal_id, description, SignalStatus.CONTACTED)
    ]
    [participation] = exported["collective"]
    assert (participation["programme_name"], participation["dossier_id"]) == (
        "Les RV du CIAS",
        dossier.dossier_id,
    )
    assert [a["presence"] for a in participation["attendance"]] == [SessionPresence.PRESENT]
    assert [(g["title"], g["status"], [n["text"] for n in g["notes"]]) for g in participation["goals"]] == [
        (goal_title, GoalStatus.REACHED, [note_text])
    ]
    for secret in (last_name, description, goal_title, note_text):
        assert await where_found(pool, secret), secret

    await responsable.AnonymisePerson(
        intake_pb2.AnonymisePersonRequest(person_id=dossier.person_id, reason="demande écrite"), timeout=15
    )
    for secret in (last_name, description, goal_title, note_text):
        assert await where_found(pool, secret) == [], secret
    # Codes and statuses stay; the timeline says what was erased.
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT status, territory, dossier_id, anonymised_at FROM intake.signals WHERE signal_id = $1",
            uuid.UUID(signal_id),
        )
    assert row is not None and row["anonymised_at"] is not None
    assert (row["status"], row["territory"], str(row["dossier_id"])) == (
        SignalStatus.CONTACTED,
        BEHONNE,
        dossier.dossier_id,
    )
    goals = await agent.collective.ListGoals(
        collective_pb2.ListGoalsRequest(enrolment_id=enrolment.enrolment_id), timeout=15
    )
    assert [(g.title, g.status, [n.text for n in g.notes]) for g in goals.goals] == [
        ("", GoalStatus.REACHED, [""])
    ]
    timeline = await agent.intake.GetDossierTimeline(
        intake_pb2.GetDossierRequest(dossier_id=dossier.dossier_id), timeout=15
    )
    summaries = [e.summary for e in timeline.entries if e.summary.startswith("Projet")]
    assert summaries and all(s.startswith("Projet (intitulé effacé) : ") for s in summaries), summaries
    assert any(s.endswith("atteint") for s in summaries), summaries


async def test_retention_erases_old_signals_only(
    signaller: SignalStub, pool: asyncpg.Pool, app_pool: asyncpg.Pool, settings: Settings
) -> None:
    tag = rid()[:8]
    old = await submit(signaller, f"Ancien{tag}", f"Signalement ancien {tag}")
    recent = await submit(signaller, f"Recent{tag}", f"Signalement récent {tag}")
    async with pool.acquire() as conn:  # superuser: as if submitted 800 days ago
        await conn.execute(
            "UPDATE intake.signals SET submitted_at = now() - $2::interval WHERE signal_id = $1",
            uuid.UUID(old),
            timedelta(days=800),
        )
    activities = RetentionActivities(app_pool, reference.load(settings.env), batch_size=2)
    await activities.anonymise_inactive(730)
    async with pool.acquire() as conn:
        rows = {
            str(r["signal_id"]): r
            for r in await conn.fetch(
                "SELECT * FROM intake.signals WHERE signal_id = ANY($1::uuid[])",
                [uuid.UUID(old), uuid.UUID(recent)],
            )
        }
    erased, kept = rows[old], rows[recent]
    assert erased["anonymised_at"] is not None
    assert (erased["first_name"], erased["last_name"], erased["phone"], erased["description"]) == (
        None,
        None,
        None,
        "",
    )
    assert (erased["territory"], erased["status"], erased["signaller_kind"]) == (
        BEHONNE,
        SignalStatus.RECEIVED,
        "secretaire_mairie",
    )
    assert kept["anonymised_at"] is None and kept["last_name"] == f"Recent{tag}"
    assert await where_found(pool, f"Ancien{tag}") == []
