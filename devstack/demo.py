"""Demo data for `make up`: a partner directory and a few weeks of reception.

Idempotent: partners are upserted and every demo dossier has a fixed request id, so a
second `make up` opens nothing twice. Dossiers go through the public OpenDossier RPC,
as an agent's would.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

from entraide.v1 import intake_pb2, intake_pb2_grpc, referral_pb2, referral_pb2_grpc

from devstack import synthetic, tokens
from kernel import client, reference
from kernel.auth import Role, mint
from kernel.settings import Settings

PARTNERS_FILE = Path(__file__).resolve().parent.parent / "deploy" / "local" / "demo_partners.json"
DEMO_DOSSIERS = 40
# Housing dominates at a Bureau des interventions (120 of 153 dossiers in the seeds).
MOTIF_WEIGHTS = {
    "logement": 50,
    "difficultes_financieres": 14,
    "acces_aux_droits": 12,
    "emploi": 6,
    "famille": 5,
    "violences_conjugales": 4,
    "sante": 4,
    "voisinage": 3,
    "scolarite": 2,
}
CHANNEL_WEIGHTS = {
    "visite_spontanee": 45,
    "telephone": 25,
    "rendez_vous": 12,
    "permanence_maire": 8,
    "signalement_tiers": 5,
    "signalement_elu": 3,
    "aller_vers": 2,
}
TERRITORY_WEIGHTS = {"55029": 60, "55291": 15, "55519": 10, "55186": 8, "55040": 7}


async def load_partners(settings: Settings) -> int:
    """The demo directory, through ReferralService.ImportDirectory (idempotent upsert) as a
    responsable of every commune."""
    document = PARTNERS_FILE.read_text(encoding="utf-8")
    token = mint(
        tokens.signing_secret(settings.env),
        "demo.responsable",
        Role.RESPONSABLE,
        reference.load(settings.env).territories,
        ttl_s=600,
    )
    async with client.aio_channel(settings.grpc_address("referral"), settings.env, token) as channel:
        stub = referral_pb2_grpc.ReferralServiceStub(channel)
        response = await stub.ImportDirectory(
            referral_pb2.ImportDirectoryRequest(document=document), timeout=30
        )
    return response.organizations


def demo_requests() -> list[intake_pb2.OpenDossierRequest]:
    rng = random.Random(2026)  # the same demo every time

    def pick(weights: dict[str, int]) -> str:
        return rng.choices(list(weights), weights=list(weights.values()))[0]

    requests = []
    for number in range(1, DEMO_DOSSIERS + 1):
        motifs = {pick(MOTIF_WEIGHTS) for _ in range(rng.choice([1, 1, 1, 2]))}
        requests.append(
            intake_pb2.OpenDossierRequest(
                request_id=f"demo-{number:03d}",
                territory=pick(TERRITORY_WEIGHTS),
                motifs=sorted(motifs),
                arrival_channel=pick(CHANNEL_WEIGHTS),
                urgent="violences_conjugales" in motifs,
                site="Antenne sociale centre" if number % 3 else "Maison de la solidarité",
            )
        )
    return requests


async def open_dossiers(settings: Settings) -> tuple[int, int]:
    """Opens the demo dossiers as the demo agent; those opened now also move along
    their lifecycle (listened to, oriented, followed, some closed)."""
    created = 0
    requests = demo_requests()
    async with client.aio_channel(
        settings.grpc_address("intake"), settings.env, tokens.demo_token(settings.env)
    ) as channel:
        stub = intake_pb2_grpc.IntakeServiceStub(channel)
        for number, request in enumerate(requests):
            response = await stub.OpenDossier(request, timeout=30)
            if response.created:
                created += 1
                await advance(stub, response.dossier.dossier_id, number)
    return created, len(requests)


async def advance(stub: intake_pb2_grpc.IntakeServiceAsyncStub, dossier_id: str, number: int) -> None:
    if number % 4 == 3:
        return  # still at reception
    await stub.RecordInterview(
        intake_pb2.RecordInterviewRequest(
            dossier_id=dossier_id, notes="Entretien de démonstration (données fictives)."
        ),
        timeout=30,
    )
    if number % 4 == 2:
        return  # écoute in progress
    await stub.CompleteEcoute(
        intake_pb2.CompleteEcouteRequest(
            dossier_id=dossier_id, next_stage="orientation" if number % 2 else "suivi"
        ),
        timeout=30,
    )
    if number % 4 == 0:
        await stub.CloseDossier(
            intake_pb2.CloseDossierRequest(
                dossier_id=dossier_id, outcome="regle" if number % 8 == 0 else "ecoute_conseil"
            ),
            timeout=30,
        )


async def main_async() -> None:
    settings = Settings.from_env()
    partners = await load_partners(settings)
    created, total = await open_dossiers(settings)
    print(f"demo data: {partners} partners; {created} dossiers opened now, {total - created} already there")
    # One synthetic year for the bilan (ENTRAIDE_DEMO_SYNTHETIC_YEAR, see devstack.synthetic).
    print(f"demo data: {await synthetic.demo_year(settings.env)}")


def main() -> None:
    asyncio.run(main_async())


if __name__ == "__main__":
    main()
