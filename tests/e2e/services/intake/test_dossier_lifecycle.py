"""The dossier lifecycle through intake's gRPC API, on real servers and processes:
every step, refused transitions, bad input, note visibility, crash and restart."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from entraide.v1 import intake_pb2, intake_pb2_grpc

from kernel.auth import Role
from kernel.db import Pool
from tests.conftest import AppStack
from tests.helpers import eventually

AGENT = "agent-martin"


@pytest.fixture
async def intake(app_stack: AppStack) -> AsyncIterator[intake_pb2_grpc.IntakeServiceStub]:
    async with app_stack.channel("intake") as channel:
        yield intake_pb2_grpc.IntakeServiceStub(channel)


async def open_dossier(intake: intake_pb2_grpc.IntakeServiceStub, **fields: Any) -> str:
    defaults: dict[str, Any] = {
        "territory": "55029",
        "motifs": ["logement"],
        "arrival_channel": "visite_spontanee",
    }
    request = intake_pb2.OpenDossierRequest(request_id=uuid.uuid4().hex, **{**defaults, **fields})
    response = await intake.OpenDossier(request, timeout=15)
    return str(response.dossier.dossier_id)


async def written(pool: Pool, dossier_id: str) -> tuple[Any, ...]:
    """Everything intake holds for a dossier, to prove a refused step wrote nothing."""
    async with pool.acquire() as conn:
        row = await conn.fetchrow("SELECT * FROM intake.dossiers WHERE dossier_id = $1", dossier_id)
        steps = await conn.fetchval(
            "SELECT count(*) FROM intake.dossier_timeline WHERE dossier_id = $1", dossier_id
        )
        notes = await conn.fetchval("SELECT count(*) FROM intake.notes WHERE dossier_id = $1", dossier_id)
        events = await conn.fetchval("SELECT count(*) FROM intake.outbox WHERE ce_subject = $1", dossier_id)
    return dict(row or {}), steps, notes, events


async def event_types(pool: Pool, dossier_id: str) -> list[str]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT ce_type FROM intake.outbox WHERE ce_subject = $1 ORDER BY seq", dossier_id
        )
    return [r["ce_type"].removeprefix("entraide.dossier.") for r in rows]


async def test_full_lifecycle(intake: intake_pb2_grpc.IntakeServiceStub, pool: Pool) -> None:
    dossier_id = await open_dossier(intake, urgent=True, assigned_agent=AGENT)
    steps: list[tuple[str, Any, str]] = [
        (
            "RecordInterview",
            intake_pb2.RecordInterviewRequest(notes="Expulsion annoncée", visibility="team"),
            "ecoute",
        ),
        (
            "RecordInterview",
            intake_pb2.RecordInterviewRequest(notes="Dettes de loyer", visibility="author"),
            "ecoute",
        ),
        (
            "CompleteEcoute",
            intake_pb2.CompleteEcouteRequest(
                next_stage="orientation", motifs=["logement", "difficultes_financieres"]
            ),
            "orientation",
        ),
        ("RecordFollowUp", intake_pb2.RecordFollowUpRequest(notes="Appel à la CAF"), "orientation"),
        ("StartSuivi", intake_pb2.StepRequest(), "suivi"),
        ("AssignAgent", intake_pb2.AssignAgentRequest(assignee="agent-durand"), "suivi"),
        ("RecordFollowUp", intake_pb2.RecordFollowUpRequest(notes="Plan d'apurement signé"), "suivi"),
        (
            "CloseDossier",
            intake_pb2.CloseDossierRequest(outcome="regle", notes="Maintien dans le logement"),
            "cloture",
        ),
        ("ReopenDossier", intake_pb2.ReopenDossierRequest(reason="Nouvel impayé"), "ecoute"),
        ("CloseDossier", intake_pb2.CloseDossierRequest(outcome="ecoute_conseil"), "cloture"),
    ]
    for method, request, stage in steps:
        request.dossier_id = dossier_id
        request.agent = AGENT
        response = await getattr(intake, method)(request, timeout=15)
        assert response.dossier.stage == stage, method

    dossier = response.dossier
    assert (dossier.outcome, dossier.cycle, dossier.assigned_agent) == ("ecoute_conseil", 1, "agent-durand")
    assert list(dossier.motifs) == ["logement", "difficultes_financieres"]
    timeline = await intake.GetDossierTimeline(
        intake_pb2.GetDossierRequest(dossier_id=dossier_id), timeout=10
    )
    assert [e.kind for e in timeline.entries] == [
        "opened",
        "interview",
        "interview",
        "ecoute_completed",
        "follow_up",
        "stage_changed",
        "assigned",
        "follow_up",
        "closed",
        "reopened",
        "closed",
    ]
    assert timeline.entries[-3].summary == "Dossier clôturé : Réglé : une solution a été trouvée"
    assert [d.kind for d in timeline.deadlines] == ["reopen_limit"]
    assert await event_types(pool, dossier_id) == [
        "opened",
        "interview_recorded",
        "stage_changed",
        "interview_recorded",
        "ecoute_completed",
        "stage_changed",
        "follow_up_recorded",
        "stage_changed",
        "assigned",
        "follow_up_recorded",
        "closed",
        "stage_changed",
        "reopened",
        "stage_changed",
        "closed",
        "stage_changed",
    ]


async def test_author_only_notes_are_shown_to_their_author_only(
    intake: intake_pb2_grpc.IntakeServiceStub, app_stack: AppStack
) -> None:
    dossier_id = await open_dossier(intake)
    for notes, visibility in (("note d'équipe", "team"), ("note personnelle", "author")):
        await intake.RecordInterview(
            intake_pb2.RecordInterviewRequest(
                dossier_id=dossier_id, agent=AGENT, notes=notes, visibility=visibility
            ),
            timeout=15,
        )

    async def notes_seen_by(reader: str) -> list[str]:
        async with app_stack.channel("intake", app_stack.token(reader)) as channel:
            timeline = await intake_pb2_grpc.IntakeServiceStub(channel).GetDossierTimeline(
                intake_pb2.GetDossierRequest(dossier_id=dossier_id), timeout=10
            )
        return [i.notes for i in timeline.interviews]

    assert await notes_seen_by(AGENT) == ["note d'équipe", "note personnelle"]
    assert await notes_seen_by("agent-autre") == ["note d'équipe"]


INVALID_TRANSITIONS = [
    # (steps taken first, refused step, fragment of the message)
    (
        [],
        ("CompleteEcoute", intake_pb2.CompleteEcouteRequest(next_stage="suivi")),
        "record an interview first",
    ),
    ([], ("StartSuivi", intake_pb2.StepRequest()), "not 'orientation'"),
    ([], ("RecordFollowUp", intake_pb2.RecordFollowUpRequest()), "orientation or suivi"),
    ([], ("ReopenDossier", intake_pb2.ReopenDossierRequest()), "only a closed dossier"),
    (["interview"], ("StartSuivi", intake_pb2.StepRequest()), "not 'orientation'"),
    (["close"], ("CloseDossier", intake_pb2.CloseDossierRequest(outcome="regle")), "the dossier is closed"),
    (["close"], ("RecordInterview", intake_pb2.RecordInterviewRequest()), "the dossier is closed"),
    (["close"], ("AssignAgent", intake_pb2.AssignAgentRequest(assignee="x")), "the dossier is closed"),
    ([], ("AssignAgent", intake_pb2.AssignAgentRequest(assignee=AGENT)), "already assigned"),
]


@pytest.mark.parametrize(("before", "refused", "fragment"), INVALID_TRANSITIONS)
async def test_invalid_transition_is_failed_precondition_and_writes_nothing(
    intake: intake_pb2_grpc.IntakeServiceStub,
    pool: Pool,
    before: list[str],
    refused: tuple[str, Any],
    fragment: str,
) -> None:
    dossier_id = await open_dossier(intake, assigned_agent=AGENT)
    for step in before:
        if step == "interview":
            await intake.RecordInterview(
                intake_pb2.RecordInterviewRequest(dossier_id=dossier_id, agent=AGENT)
            )
        if step == "close":
            await intake.CloseDossier(
                intake_pb2.CloseDossierRequest(dossier_id=dossier_id, agent=AGENT, outcome="abandon")
            )
    snapshot = await written(pool, dossier_id)
    method, request = refused
    request.dossier_id = dossier_id
    request.agent = AGENT
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await getattr(intake, method)(request, timeout=15)
    assert error.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert fragment in (error.value.details() or "")
    assert await written(pool, dossier_id) == snapshot


LONG = "x" * 20_001
BAD_INPUT = [
    ("RecordInterview", {"dossier_id": "", "agent": AGENT}, grpc.StatusCode.INVALID_ARGUMENT, "dossier_id"),
    ("RecordInterview", {"dossier_id": "12", "agent": AGENT}, grpc.StatusCode.INVALID_ARGUMENT, "UUID"),
    (
        "RecordInterview",
        {"dossier_id": str(uuid.uuid4()), "agent": AGENT},
        grpc.StatusCode.NOT_FOUND,
        "no dossier",
    ),
    ("RecordInterview", {"agent": "agent-dupont"}, grpc.StatusCode.INVALID_ARGUMENT, "agent is the caller"),
    ("RecordInterview", {"agent": AGENT, "notes": LONG}, grpc.StatusCode.INVALID_ARGUMENT, "at most 20000"),
    ("RecordInterview", {"agent": AGENT, "notes": "a\x00b"}, grpc.StatusCode.INVALID_ARGUMENT, "control"),
    (
        "RecordInterview",
        {"agent": AGENT, "visibility": "public"},
        grpc.StatusCode.INVALID_ARGUMENT,
        "visibility",
    ),
    (
        "CompleteEcoute",
        {"agent": AGENT, "next_stage": "cloture"},
        grpc.StatusCode.INVALID_ARGUMENT,
        "next_stage",
    ),
    (
        "CompleteEcoute",
        {"agent": AGENT, "next_stage": "suivi", "motifs": ["tarot"]},
        grpc.StatusCode.INVALID_ARGUMENT,
        "unknown motif",
    ),
    ("RecordFollowUp", {"agent": AGENT, "notes": LONG}, grpc.StatusCode.INVALID_ARGUMENT, "at most"),
    ("AssignAgent", {"agent": AGENT, "assignee": ""}, grpc.StatusCode.INVALID_ARGUMENT, "assignee"),
    ("CloseDossier", {"agent": AGENT}, grpc.StatusCode.INVALID_ARGUMENT, "outcome is required"),
    (
        "CloseDossier",
        {"agent": AGENT, "outcome": "perdu"},
        grpc.StatusCode.INVALID_ARGUMENT,
        "not a closure outcome",
    ),
    (
        "ReopenDossier",
        {"agent": AGENT, "reason": LONG},
        grpc.StatusCode.INVALID_ARGUMENT,
        "reason is at most",
    ),
    ("StartSuivi", {"agent": "a b"}, grpc.StatusCode.INVALID_ARGUMENT, "agent is the caller"),
    ("GetDossierTimeline", {"dossier_id": "nope"}, grpc.StatusCode.INVALID_ARGUMENT, "UUID"),
    ("GetDossierTimeline", {"dossier_id": str(uuid.uuid4())}, grpc.StatusCode.NOT_FOUND, "no dossier"),
    ("ListDossiers", {"territory": "99999"}, grpc.StatusCode.INVALID_ARGUMENT, "territory"),
    ("ListDossiers", {"territory": "55029", "stage": "limbo"}, grpc.StatusCode.INVALID_ARGUMENT, "stage"),
    ("ListDossiers", {"territory": "55029", "page_size": 500}, grpc.StatusCode.INVALID_ARGUMENT, "page_size"),
    (
        "ListDossiers",
        {"territory": "55029", "page_token": "garbage"},
        grpc.StatusCode.INVALID_ARGUMENT,
        "page_token",
    ),
    (
        "OpenDossier",
        {
            "request_id": "r",
            "territory": "55029",
            "motifs": ["logement"],
            "arrival_channel": "telephone",
            "person_id": "nope",
        },
        grpc.StatusCode.INVALID_ARGUMENT,
        "person_id",
    ),
    (
        "OpenDossier",
        {
            "request_id": uuid.uuid4().hex,
            "territory": "55029",
            "motifs": ["logement"],
            "arrival_channel": "telephone",
            "person_id": str(uuid.uuid4()),
        },
        grpc.StatusCode.NOT_FOUND,
        "no person",
    ),
]
REQUESTS = {
    "RecordInterview": intake_pb2.RecordInterviewRequest,
    "CompleteEcoute": intake_pb2.CompleteEcouteRequest,
    "RecordFollowUp": intake_pb2.RecordFollowUpRequest,
    "AssignAgent": intake_pb2.AssignAgentRequest,
    "CloseDossier": intake_pb2.CloseDossierRequest,
    "ReopenDossier": intake_pb2.ReopenDossierRequest,
    "StartSuivi": intake_pb2.StepRequest,
    "GetDossierTimeline": intake_pb2.GetDossierRequest,
    "ListDossiers": intake_pb2.ListDossiersRequest,
    "OpenDossier": intake_pb2.OpenDossierRequest,
}


@pytest.mark.parametrize(("method", "fields", "code", "fragment"), BAD_INPUT)
async def test_bad_input_is_a_clear_error_and_writes_nothing(
    intake: intake_pb2_grpc.IntakeServiceStub,
    pool: Pool,
    method: str,
    fields: dict[str, Any],
    code: grpc.StatusCode,
    fragment: str,
) -> None:
    dossier_id = await open_dossier(intake)
    if method != "ListDossiers" and method != "OpenDossier":
        fields = {"dossier_id": dossier_id, **fields}
    snapshot = await written(pool, dossier_id)
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await getattr(intake, method)(REQUESTS[method](**fields), timeout=15)
    assert error.value.code() == code, error.value.details()
    assert fragment in (error.value.details() or "")
    assert await written(pool, dossier_id) == snapshot


async def test_list_dossiers_pages_newest_first(intake: intake_pb2_grpc.IntakeServiceStub) -> None:
    opened = [await open_dossier(intake, territory="55302") for _ in range(5)]
    seen: list[str] = []
    token = ""
    while True:
        page = await intake.ListDossiers(
            intake_pb2.ListDossiersRequest(territory="55302", page_size=2, page_token=token), timeout=10
        )
        seen += [d.dossier_id for d in page.dossiers]
        token = page.next_page_token
        if not token:
            break
    assert seen[: len(opened)] == list(reversed(opened))
    assert len(seen) == len(set(seen))
    reception = await intake.ListDossiers(
        intake_pb2.ListDossiersRequest(territory="55302", stage="reception")
    )
    assert set(opened) <= {d.dossier_id for d in reception.dossiers}


async def test_worker_and_intake_killed_mid_lifecycle_the_dossier_continues_and_events_count_once(
    app_stack: AppStack,
    pool: Pool,
) -> None:
    async with app_stack.channel("intake") as channel:
        intake = intake_pb2_grpc.IntakeServiceStub(channel)
        dossier_id = await open_dossier(intake)
        await intake.RecordInterview(intake_pb2.RecordInterviewRequest(dossier_id=dossier_id, agent=AGENT))
    app_stack.kill("workflows")
    app_stack.kill("intake")
    app_stack.start("intake")
    await app_stack.wait_serving()
    async with app_stack.channel("intake") as channel:
        intake = intake_pb2_grpc.IntakeServiceStub(channel)

        # Sent while no workflow worker runs: UNAVAILABLE at once; the same request
        # again once a worker is back completes it, once.
        request = intake_pb2.CompleteEcouteRequest(
            dossier_id=dossier_id, agent=AGENT, next_stage="suivi", request_id=uuid.uuid4().hex
        )
        started = asyncio.get_running_loop().time()
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await intake.CompleteEcoute(request, timeout=60)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        assert asyncio.get_running_loop().time() - started < 5.0
        app_stack.start("workflows")

        async def retried() -> intake_pb2.StepResponse | None:
            try:
                response: intake_pb2.StepResponse = await intake.CompleteEcoute(request, timeout=10)
                return response
            except grpc.aio.AioRpcError as exc:
                assert exc.code() == grpc.StatusCode.UNAVAILABLE
                return None

        completed = await eventually(retried, lambda r: r is not None, timeout=60, interval=0.5)
        assert completed is not None and completed.dossier.stage == "suivi"
        closed = await intake.CloseDossier(
            intake_pb2.CloseDossierRequest(dossier_id=dossier_id, agent=AGENT, outcome="regle"), timeout=30
        )
    assert closed.dossier.stage == "cloture"

    async with pool.acquire() as conn:
        steps = [
            r["step"]
            for r in await conn.fetch(
                "SELECT step FROM intake.dossier_timeline WHERE dossier_id = $1 ORDER BY step", dossier_id
            )
        ]
        event_ids = [
            r["event_id"]
            for r in await conn.fetch("SELECT event_id FROM intake.outbox WHERE ce_subject = $1", dossier_id)
        ]

        async def projected() -> Any:
            return await conn.fetchrow(
                "SELECT stage, outcome, suivi_at IS NOT NULL AS suivi, ecoute_at IS NOT NULL AS ecoute"
                " FROM reporting.dossier_facts WHERE dossier_id = $1",
                dossier_id,
            )

        fact = await eventually(
            projected, lambda row: row is not None and row["stage"] == "cloture", timeout=10
        )
        applied = await conn.fetchval(
            "SELECT count(*) FROM reporting.inbox WHERE event_id = ANY($1::uuid[])", event_ids
        )
    assert steps == [0, 1, 2, 3]
    # opened, interview, stage, ecoute completed, stage, closed, stage
    assert len(event_ids) == len(set(event_ids)) == 7
    assert dict(fact) == {"stage": "cloture", "outcome": "regle", "suivi": True, "ecoute": True}
    assert applied == len(event_ids)  # each event applied once by reporting


async def test_the_opened_entry_names_who_opened_the_dossier(app_stack: AppStack) -> None:
    """The caller who opened it (reception, say), not the agent it is assigned to."""
    async with app_stack.channel("intake", app_stack.token("agent-accueil-leroy", Role.ACCUEIL)) as desk:
        reception = intake_pb2_grpc.IntakeServiceStub(desk)
        dossier_id = await open_dossier(reception, assigned_agent="agent-durand")
    async with app_stack.channel("intake") as channel:
        timeline = await intake_pb2_grpc.IntakeServiceStub(channel).GetDossierTimeline(
            intake_pb2.GetDossierRequest(dossier_id=dossier_id), timeout=10
        )
    assert [(e.kind, e.actor) for e in timeline.entries] == [("opened", "agent-accueil-leroy")]
