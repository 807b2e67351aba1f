"""Signals ("aller vers") on the real servers: a secrétaire de mairie (role signaleur)
signals residents of its commune only; it reads its own signals' status and nothing
else, neither by gRPC nor on the database; an agent qualifies (contacted: a dossier
opened with the « signalement d'un élu » channel and linked; unreachable only after
the attempts); bad inputs refused in words with nothing written; retries idempotent."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import asyncpg
import grpc
import pytest
from entraide.v1 import intake_pb2, intake_pb2_grpc, signals_pb2, signals_pb2_grpc

from domain.signals import ARRIVAL_CHANNEL, DEFAULT_CONTACT_ATTEMPTS, SignallerView, SignalStatus
from kernel import auth
from kernel.auth import Claims, Role, mint
from kernel.db import APP_ROLE, ScopedPool, create_pool
from kernel.settings import Settings
from services.intake.signals.activities import SignalActivities
from tests.conftest import AppStack
from tests.e2e.services.intake.planning_helpers import refused
from workflows.contracts import EscalateSignal

if TYPE_CHECKING:
    from entraide.v1.intake_pb2_grpc import IntakeServiceAsyncStub as IntakeStub
    from entraide.v1.signals_pb2_grpc import SignalServiceAsyncStub as Stub

BEHONNE = "55041"
BAR_LE_DUC = "55029"


class Signaller:
    """A signaleur of one commune: its subject, its SignalService and IntakeService stubs."""

    def __init__(self, subject: str, signals: Stub, intake: IntakeStub) -> None:
        self.subject = subject
        self.signals = signals
        self.intake = intake


@pytest.fixture
async def signaller(app_stack: AppStack) -> AsyncIterator[Signaller]:
    subject = f"mairie-behonne-{uuid.uuid4().hex[:8]}"
    token = mint(
        app_stack.env["ENTRAIDE_JWT_SECRET"], subject, Role.SIGNALEUR, [BEHONNE], name="Claire Petit"
    )
    async with app_stack.channel("intake", token) as channel:
        yield Signaller(
            subject, signals_pb2_grpc.SignalServiceStub(channel), intake_pb2_grpc.IntakeServiceStub(channel)
        )


@pytest.fixture
async def other_signaller(app_stack: AppStack) -> AsyncIterator[Signaller]:
    subject = f"mairie-behonne-bis-{uuid.uuid4().hex[:8]}"
    async with app_stack.channel("intake", app_stack.token(subject, Role.SIGNALEUR, [BEHONNE])) as channel:
        yield Signaller(
            subject, signals_pb2_grpc.SignalServiceStub(channel), intake_pb2_grpc.IntakeServiceStub(channel)
        )


@pytest.fixture
async def agent(app_stack: AppStack) -> AsyncIterator[tuple[Stub, IntakeStub]]:
    token = app_stack.token("ts-signals", Role.TRAVAILLEUR_SOCIAL, [BEHONNE, BAR_LE_DUC])
    async with app_stack.channel("intake", token) as channel:
        yield signals_pb2_grpc.SignalServiceStub(channel), intake_pb2_grpc.IntakeServiceStub(channel)


@pytest.fixture
async def app_pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    created = await create_pool(settings.database_url, role=APP_ROLE, max_size=2)
    try:
        yield created
    finally:
        await created.close()


def submission(**fields: Any) -> signals_pb2.SubmitSignalRequest:
    tag = uuid.uuid4().hex[:8]
    base: dict[str, Any] = {
        "territory": BEHONNE,
        "first_name": "Marcel",
        "last_name": f"Aubert{tag}",
        "phone": "03 29 00 00 00",
        "address_line": "3 rue de l'Église",
        "description": "Monsieur vit seul depuis le décès de son épouse, ne sort plus, volets fermés.",
        "consent_to_contact": True,
        "request_id": uuid.uuid4().hex,
    }
    base.update(fields)
    return signals_pb2.SubmitSignalRequest(**base)


async def rows_of(pool: asyncpg.Pool, subject: str) -> int:
    async with pool.acquire() as conn:
        return int(
            await conn.fetchval("SELECT count(*) FROM intake.signals WHERE submitted_by = $1", subject)
        )


async def events_of(pool: asyncpg.Pool, signal_id: str) -> list[str]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT ce_type FROM intake.outbox WHERE ce_subject = $1 ORDER BY seq", signal_id
        )
    return [r["ce_type"] for r in rows]


async def test_a_signaleur_signals_for_its_commune_only(signaller: Signaller, pool: asyncpg.Pool) -> None:
    receipt = await signaller.signals.SubmitSignal(submission(), timeout=15)
    assert (receipt.territory, receipt.status) == (BEHONNE, SignallerView.RECEIVED)
    assert await events_of(pool, receipt.signal_id) == ["entraide.signal.submitted"]

    denied = await refused(
        signaller.signals.SubmitSignal, submission(territory=BAR_LE_DUC), grpc.StatusCode.PERMISSION_DENIED
    )
    assert "Vous ne pouvez signaler que pour les communes que vous couvrez" in denied.fr
    assert "Bar-le-Duc" in denied.fr
    assert await rows_of(pool, signaller.subject) == 1


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"territory": "99999"}, "territory", "n'est pas une commune de ce déploiement"),
        ({"description": "   "}, "description", "Décrivez la situation"),
        (
            {"first_name": "", "last_name": "", "phone": "", "email": "", "address_line": ""},
            "last_name",
            "au moins un moyen de retrouver la personne",
        ),
        ({"phone": "06 12"}, "phone", "numéro de téléphone"),
        ({"email": "pas-une-adresse"}, "email", "adresse électronique"),
    ],
    ids=["unknown-commune", "empty-description", "no-identity", "bad-phone", "bad-email"],
)
async def test_bad_inputs_are_refused_in_words_and_write_nothing(
    signaller: Signaller, pool: asyncpg.Pool, fields: dict[str, str], field: str, words: str
) -> None:
    seen = await refused(
        signaller.signals.SubmitSignal, submission(**fields), grpc.StatusCode.INVALID_ARGUMENT
    )
    assert field in [v.field for v in seen.violations], seen.violations
    assert words in seen.fr
    assert await rows_of(pool, signaller.subject) == 0


async def test_a_retried_submission_is_one_signal(signaller: Signaller, pool: asyncpg.Pool) -> None:
    request = submission()
    first = await signaller.signals.SubmitSignal(request, timeout=15)
    again = await signaller.signals.SubmitSignal(request, timeout=15)
    assert again.signal_id == first.signal_id
    assert await rows_of(pool, signaller.subject) == 1
    assert await events_of(pool, first.signal_id) == ["entraide.signal.submitted"]
    changed = submission(request_id=request.request_id)
    await refused(signaller.signals.SubmitSignal, changed, grpc.StatusCode.ALREADY_EXISTS)


async def test_each_signaller_reads_only_its_own_signals_status(
    signaller: Signaller, other_signaller: Signaller, agent: tuple[Stub, IntakeStub]
) -> None:
    signals, _ = agent
    mine = await signaller.signals.SubmitSignal(submission(), timeout=15)
    theirs = await other_signaller.signals.SubmitSignal(submission(), timeout=15)
    listed = await signaller.signals.ListMySignals(signals_pb2.ListMySignalsRequest(), timeout=15)
    assert [s.signal_id for s in listed.signals] == [mine.signal_id]
    assert listed.signals[0].status == SignallerView.RECEIVED

    await signals.RecordContactAttempt(
        signals_pb2.RecordContactAttemptRequest(signal_id=mine.signal_id, request_id=uuid.uuid4().hex),
        timeout=15,
    )
    listed = await signaller.signals.ListMySignals(signals_pb2.ListMySignalsRequest(), timeout=15)
    assert [(s.signal_id, s.status) for s in listed.signals] == [
        (mine.signal_id, SignallerView.TAKEN_IN_CHARGE)
    ]

    await signals.QualifySignal(
        signals_pb2.QualifySignalRequest(
            signal_id=theirs.signal_id, status=SignalStatus.DECLINED, request_id=uuid.uuid4().hex
        ),
        timeout=15,
    )
    listed = await other_signaller.signals.ListMySignals(signals_pb2.ListMySignalsRequest(), timeout=15)
    assert [(s.signal_id, s.status) for s in listed.signals] == [(theirs.signal_id, SignallerView.CLOSED)]
    # Not even the other's signal by its id.
    await refused(
        signaller.signals.GetSignal,
        signals_pb2.GetSignalRequest(signal_id=theirs.signal_id),
        grpc.StatusCode.PERMISSION_DENIED,
    )


async def test_contacted_opens_a_linked_dossier_the_signaller_cannot_read(
    signaller: Signaller,
    other_signaller: Signaller,
    agent: tuple[Stub, IntakeStub],
    pool: asyncpg.Pool,
    app_pool: asyncpg.Pool,
) -> None:
    signals, intake = agent
    sent = await signaller.signals.SubmitSignal(submission(), timeout=15)
    await other_signaller.signals.SubmitSignal(submission(), timeout=15)
    queue = await signals.ListSignals(signals_pb2.ListSignalsRequest(territories=[BEHONNE]), timeout=15)
    found = next(s for s in queue.signals if s.signal_id == sent.signal_id)
    assert (found.signaller_kind, found.signaller_label, found.status) == (
        "secretaire_mairie",
        "Claire Petit",
        SignalStatus.RECEIVED,
    )
    assert all(s.status == SignalStatus.RECEIVED for s in queue.signals)

    # A bad opening (no motif) is refused before anything is written.
    await refused(
        signals.QualifySignal,
        signals_pb2.QualifySignalRequest(
            signal_id=sent.signal_id, status=SignalStatus.CONTACTED, request_id=uuid.uuid4().hex
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    async with pool.acquire() as conn:
        assert not await conn.fetchval(
            "SELECT count(*) FROM intake.persons WHERE request_id = $1", f"signal-{sent.signal_id}"
        )

    qualify = signals_pb2.QualifySignalRequest(
        signal_id=sent.signal_id, status=SignalStatus.CONTACTED, motifs=["sante"], request_id=uuid.uuid4().hex
    )
    qualified = await signals.QualifySignal(qualify, timeout=30)
    assert qualified.status == SignalStatus.CONTACTED and qualified.dossier_id
    assert (await signals.QualifySignal(qualify, timeout=30)).dossier_id == qualified.dossier_id
    again = signals_pb2.QualifySignalRequest(
        signal_id=sent.signal_id, status=SignalStatus.DECLINED, request_id=uuid.uuid4().hex
    )
    seen = await refused(signals.QualifySignal, again, grpc.StatusCode.FAILED_PRECONDITION)
    assert "déjà qualifié" in seen.fr

    dossier = await intake.GetDossier(
        intake_pb2.GetDossierRequest(dossier_id=qualified.dossier_id), timeout=15
    )
    assert (dossier.arrival_channel, dossier.territory) == (ARRIVAL_CHANNEL, BEHONNE)
    person = await intake.GetPerson(intake_pb2.GetPersonRequest(person_id=dossier.person_id), timeout=15)
    assert (person.first_name, person.last_name) == (found.first_name, found.last_name)
    assert await events_of(pool, sent.signal_id) == ["entraide.signal.submitted", "entraide.signal.qualified"]

    # The signaller: taken in charge, nothing more; no case method, no other signal.
    listed = await signaller.signals.ListMySignals(signals_pb2.ListMySignalsRequest(), timeout=15)
    assert [(s.signal_id, s.status) for s in listed.signals] == [
        (sent.signal_id, SignallerView.TAKEN_IN_CHARGE)
    ]
    by_id = intake_pb2.GetDossierRequest(dossier_id=qualified.dossier_id)
    for call, request in [
        (signaller.signals.GetSignal, signals_pb2.GetSignalRequest(signal_id=sent.signal_id)),
        (signaller.signals.ListSignals, signals_pb2.ListSignalsRequest()),
        (signaller.intake.GetDossier, by_id),
        (signaller.intake.GetDossierTimeline, by_id),
        (signaller.intake.GetPerson, intake_pb2.GetPersonRequest(person_id=dossier.person_id)),
        (signaller.intake.ListDossiers, intake_pb2.ListDossiersRequest()),
    ]:
        await refused(call, request, grpc.StatusCode.PERMISSION_DENIED)

    # The database agrees: a connection scoped as the signaleur reads no case row of its
    # own commune, and no signal but its own.
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM intake.dossiers WHERE territory = $1", BEHONNE)
        assert await conn.fetchval(
            "SELECT count(*) FROM intake.signals WHERE territory = $1 AND submitted_by <> $2",
            BEHONNE,
            signaller.subject,
        )
    token = auth.set_current(Claims(signaller.subject, Role.SIGNALEUR, frozenset({BEHONNE})))
    try:
        async with ScopedPool(app_pool).acquire() as conn:
            for table in ("dossiers", "dossier_timeline", "persons", "households", "consents", "notes"):
                assert await conn.fetchval(f"SELECT count(*) FROM intake.{table}") == 0, table
            assert (
                await conn.fetchval(
                    "SELECT count(*) FROM intake.signals WHERE submitted_by <> $1", signaller.subject
                )
                == 0
            )
            assert await conn.fetchval("SELECT count(*) FROM intake.signals") == 1
            assert await conn.fetchval("SELECT count(*) FROM intake.signal_attempts") == 0
            updated = await conn.execute(
                "UPDATE intake.dossiers SET urgent = true WHERE dossier_id = $1",
                uuid.UUID(qualified.dossier_id),
            )
            assert updated == "UPDATE 0"
    finally:
        auth.reset_current(token)


async def test_unreachable_only_after_the_attempts(
    agent: tuple[Stub, IntakeStub], signaller: Signaller
) -> None:
    signals, _ = agent
    sent = await signaller.signals.SubmitSignal(submission(), timeout=15)

    def unreachable() -> signals_pb2.QualifySignalRequest:
        return signals_pb2.QualifySignalRequest(
            signal_id=sent.signal_id, status=SignalStatus.UNREACHABLE, request_id=uuid.uuid4().hex
        )

    attempt = signals_pb2.RecordContactAttemptRequest(signal_id=sent.signal_id, request_id=uuid.uuid4().hex)
    await signals.RecordContactAttempt(attempt, timeout=15)
    # The same call retried counts once.
    assert (await signals.RecordContactAttempt(attempt, timeout=15)).contact_attempts == 1
    seen = await refused(signals.QualifySignal, unreachable(), grpc.StatusCode.FAILED_PRECONDITION)
    assert f"après {DEFAULT_CONTACT_ATTEMPTS} tentatives" in seen.fr
    for _ in range(DEFAULT_CONTACT_ATTEMPTS - 1):
        await signals.RecordContactAttempt(
            signals_pb2.RecordContactAttemptRequest(signal_id=sent.signal_id, request_id=uuid.uuid4().hex),
            timeout=15,
        )
    done = await signals.QualifySignal(unreachable(), timeout=15)
    assert (done.status, done.contact_attempts, done.dossier_id) == (
        SignalStatus.UNREACHABLE,
        DEFAULT_CONTACT_ATTEMPTS,
        "",
    )
    listed = await signaller.signals.ListMySignals(signals_pb2.ListMySignalsRequest(), timeout=15)
    assert [s.status for s in listed.signals] == [SignallerView.CLOSED]
    # A qualified signal takes no more attempts.
    await refused(
        signals.RecordContactAttempt,
        signals_pb2.RecordContactAttemptRequest(signal_id=sent.signal_id),
        grpc.StatusCode.FAILED_PRECONDITION,
    )


async def test_an_agents_own_signal_arrives_as_aller_vers(agent: tuple[Stub, IntakeStub]) -> None:
    signals, intake = agent
    sent = await signals.SubmitSignal(submission(territory=BAR_LE_DUC), timeout=15)
    got = await signals.GetSignal(signals_pb2.GetSignalRequest(signal_id=sent.signal_id), timeout=15)
    assert got.signaller_kind == "agent"
    qualified = await signals.QualifySignal(
        signals_pb2.QualifySignalRequest(
            signal_id=sent.signal_id,
            status=SignalStatus.CONTACTED,
            motifs=["logement"],
            request_id=uuid.uuid4().hex,
        ),
        timeout=30,
    )
    dossier = await intake.GetDossier(
        intake_pb2.GetDossierRequest(dossier_id=qualified.dossier_id), timeout=15
    )
    assert dossier.arrival_channel == "aller_vers"


async def test_the_escalation_activity_flags_an_unqualified_signal_once(
    signaller: Signaller, agent: tuple[Stub, IntakeStub], pool: asyncpg.Pool, app_pool: asyncpg.Pool
) -> None:
    """The activity the signal's workflow runs after the delay (the timer itself:
    tests/integration/workflows/test_signal_workflow.py), on the real database."""
    signals, _ = agent
    late = await signaller.signals.SubmitSignal(submission(), timeout=15)
    done = await signaller.signals.SubmitSignal(submission(), timeout=15)
    await signals.QualifySignal(
        signals_pb2.QualifySignalRequest(
            signal_id=done.signal_id, status=SignalStatus.NOT_RELEVANT, request_id=uuid.uuid4().hex
        ),
        timeout=15,
    )
    activities = SignalActivities(app_pool)
    assert await activities.escalate_signal(EscalateSignal(late.signal_id, BEHONNE)) == "escalated"
    assert await activities.escalate_signal(EscalateSignal(late.signal_id, BEHONNE)) == "not_escalated"
    assert await activities.escalate_signal(EscalateSignal(done.signal_id, BEHONNE)) == "not_escalated"
    assert await events_of(pool, late.signal_id) == ["entraide.signal.submitted", "entraide.signal.escalated"]
    queue = await signals.ListSignals(signals_pb2.ListSignalsRequest(territories=[BEHONNE]), timeout=15)
    flagged = [s.signal_id for s in queue.signals if s.escalated]
    assert late.signal_id in flagged and queue.signals[0].escalated
    # The signaller is not told (received, nothing more).
    listed = await signaller.signals.ListMySignals(signals_pb2.ListMySignalsRequest(), timeout=15)
    assert {s.signal_id: s.status for s in listed.signals}[late.signal_id] == SignallerView.RECEIVED
