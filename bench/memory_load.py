"""The load of bench.memory: N dossiers through their whole lifecycle via the gRPC API,
as an agent does it (open, interview, complete écoute, follow-up, suivi, follow-up,
close), every K-th one also referred to a partner who answers it to the end."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg  # type: ignore[import-untyped, unused-ignore]
import grpc
from entraide.v1 import intake_pb2, intake_pb2_grpc, referral_pb2, referral_pb2_grpc

from devstack.servers import REPO_ROOT
from entraide_cli.retry_policy import retry_pause
from kernel import client
from kernel.auth import Role, mint
from kernel.settings import Settings

TERRITORY = "55029"
PARTNER = "caf-meuse"
AGENT = "agent-banc"
DIRECTORY = REPO_ROOT / "deploy" / "local" / "demo_partners.json"
NOTES = "Entretien de banc d'essai : situation décrite, pistes évoquées."
CALL_TIMEOUT_S = 60.0
# How long the referral read model may take to learn of a dossier (events → projector).
PROJECTION_TIMEOUT_S = 120.0


# A retryable UNAVAILABLE (e.g. no worker accepted the step within 2 s on a saturated
# machine) is sent again as the entraide command does (same request, same request_id, so
# a step is never applied twice), but up to 30 times a second apart: a long load must not
# lose a dossier to a slow moment.
PAUSES_S = (1.0,) * 30


@dataclass
class Tally:
    dossiers: int = 0
    referrals: int = 0
    errors: int = 0
    retries: int = 0


TALLY = Tally()


async def call(method: Any, request: Any) -> Any:
    """One RPC (a grpc.aio stub method), sent again with the very same request when
    entraide_cli.retry_policy says so."""
    attempt = 0
    while True:
        try:
            return await method(request, timeout=CALL_TIMEOUT_S)
        except grpc.aio.AioRpcError as exc:
            pause = retry_pause(exc, attempt, PAUSES_S)
            if pause is None:
                raise
            TALLY.retries += 1
            attempt += 1
            await asyncio.sleep(pause)


@dataclass
class Clients:
    intake: intake_pb2_grpc.IntakeServiceStub
    referral: referral_pb2_grpc.ReferralServiceStub
    partner: referral_pb2_grpc.ReferralServiceStub
    owner: asyncpg.Pool


def _rid() -> str:
    return uuid.uuid4().hex


async def _known_to_referral(owner: asyncpg.Pool, dossier_id: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PROJECTION_TIMEOUT_S
    while True:
        found = await owner.fetchval(
            "SELECT cardinality(motifs) FROM referral.dossiers WHERE dossier_id = $1", uuid.UUID(dossier_id)
        )
        if found:
            return
        if loop.time() > deadline:
            raise TimeoutError(f"referral never learnt of dossier {dossier_id}")
        await asyncio.sleep(0.3)


async def _refer(c: Clients, dossier_id: str, person_id: str) -> None:
    """Consent, the referral, and the partner's answers up to `completed`."""
    consent = intake_pb2.RecordConsentRequest(
        person_id=person_id,
        dossier_id=dossier_id,
        partner_id=PARTNER,
        data_scope=["motif", "identite"],
        kind="consent",
        channel="oral",
    )
    await call(c.intake.RecordConsent, consent)
    await _known_to_referral(c.owner, dossier_id)
    created = await call(
        c.referral.CreateReferral,
        referral_pb2.CreateReferralRequest(
            dossier_id=dossier_id,
            partner_id=PARTNER,
            motif="logement",
            message_for_partner="Demande d'aide au logement, dossier d'impayé à étudier.",
            data_scope=["identite"],
            request_id=_rid(),
        ),
    )
    rid = created.referral_id
    for step in (c.partner.AcknowledgeReferral, c.partner.AcceptReferral, c.partner.StartReferral):
        await call(step, referral_pb2.ReferralActionRequest(referral_id=rid, request_id=_rid()))
    await call(
        c.partner.CompleteReferral,
        referral_pb2.ReferralActionRequest(referral_id=rid, outcome="rights_opened", request_id=_rid()),
    )


async def one_dossier(c: Clients, refer: bool) -> None:
    person_id = ""
    if refer:  # a referral needs a person who consents
        person = await call(
            c.intake.CreatePerson,
            intake_pb2.CreatePersonRequest(
                request_id=_rid(), territory=TERRITORY, first_name="Camille", last_name="Banc"
            ),
        )
        person_id = person.person.person_id
    opened = await call(
        c.intake.OpenDossier,
        intake_pb2.OpenDossierRequest(
            request_id=_rid(),
            territory=TERRITORY,
            motifs=["logement"],
            arrival_channel="telephone",
            person_id=person_id,
        ),
    )
    d = opened.dossier.dossier_id
    await call(
        c.intake.RecordInterview,
        intake_pb2.RecordInterviewRequest(dossier_id=d, notes=NOTES, request_id=_rid()),
    )
    await call(
        c.intake.CompleteEcoute,
        intake_pb2.CompleteEcouteRequest(dossier_id=d, next_stage="orientation", request_id=_rid()),
    )
    if refer:
        await _refer(c, d, person_id)
    follow_up = intake_pb2.RecordFollowUpRequest
    await call(c.intake.RecordFollowUp, follow_up(dossier_id=d, notes=NOTES, request_id=_rid()))
    await call(c.intake.StartSuivi, intake_pb2.StepRequest(dossier_id=d, request_id=_rid()))
    await call(c.intake.RecordFollowUp, follow_up(dossier_id=d, notes=NOTES, request_id=_rid()))
    await call(
        c.intake.CloseDossier,
        intake_pb2.CloseDossierRequest(dossier_id=d, outcome="regle", request_id=_rid()),
    )


async def run_load(
    env: Mapping[str, str],
    n: int,
    concurrency: int,
    refer_every: int,
    say: Callable[[str], None],
) -> Tally:
    """N dossiers, C in flight; every `refer_every`-th one (0: none) with a referral."""
    settings = Settings.from_env(env)
    secret = env["ENTRAIDE_JWT_SECRET"]
    agent = mint(secret, AGENT, Role.TRAVAILLEUR_SOCIAL, [TERRITORY])
    responsable = mint(secret, "resp-banc", Role.RESPONSABLE, [TERRITORY])
    partner = mint(secret, f"user-{PARTNER}", Role.PARTENAIRE, (), partner_id=PARTNER)
    owner = await asyncpg.create_pool(settings.migration_database_url, min_size=1, max_size=4)
    tally = TALLY
    try:
        async with (
            client.aio_channel(settings.grpc_address("intake"), env, agent) as intake_ch,
            client.aio_channel(settings.grpc_address("referral"), env, agent) as referral_ch,
            client.aio_channel(settings.grpc_address("referral"), env, partner) as partner_ch,
            client.aio_channel(settings.grpc_address("referral"), env, responsable) as admin_ch,
        ):
            if refer_every:
                await referral_pb2_grpc.ReferralServiceStub(admin_ch).ImportDirectory(
                    referral_pb2.ImportDirectoryRequest(document=DIRECTORY.read_text(encoding="utf-8")),
                    timeout=CALL_TIMEOUT_S,
                )
            c = Clients(
                intake_pb2_grpc.IntakeServiceStub(intake_ch),
                referral_pb2_grpc.ReferralServiceStub(referral_ch),
                referral_pb2_grpc.ReferralServiceStub(partner_ch),
                owner,
            )
            queue: asyncio.Queue[int] = asyncio.Queue()
            for i in range(n):
                queue.put_nowait(i)

            async def worker() -> None:
                while not queue.empty():
                    i = queue.get_nowait()
                    refer = bool(refer_every) and i % refer_every == 0
                    try:
                        await one_dossier(c, refer)
                    except (grpc.RpcError, TimeoutError) as exc:
                        tally.errors += 1
                        what = (
                            f"{exc.code().name}: {exc.details()}"
                            if isinstance(exc, grpc.aio.AioRpcError)
                            else exc
                        )
                        say(f"dossier {i} failed: {what}")
                        continue
                    tally.dossiers += 1
                    tally.referrals += refer
                    if tally.dossiers % 100 == 0:
                        say(f"{tally.dossiers}/{n} dossiers closed")

            await asyncio.gather(*(worker() for _ in range(concurrency)))
    finally:
        await owner.close()
    return tally
