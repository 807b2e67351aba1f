"""Demo data for `make up`: a partner directory, a few weeks of reception, and three
(fictional) people oriented to a partner, who answers some of the referrals.

Idempotent: partners are upserted and every demo call (openings, steps, persons,
consents, referrals, partner answers) has a fixed request id, so a second `make up`
changes nothing; the steps after an opening run only for dossiers that were not there
before (listed first). Everything goes through the public RPCs, as an agent's or a
partner's would.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from pathlib import Path

import grpc
from entraide.v1 import intake_pb2, intake_pb2_grpc, referral_pb2, referral_pb2_grpc

from devstack import tokens
from devstack.demo_collective import collective_demo
from devstack.demo_planning import plan_demo
from devstack.synthetic.publish import demo_year
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
TERRITORY_WEIGHTS = {"55029": 60, "55291": 15, "55519": 10, "55186": 8, "55041": 7}
# Where the demo's people are received: sites of the reference data (the other communes
# have none).
DEMO_SITES = {"55029": ("ccas-bar-le-duc", "antenne-cote-sainte-catherine"), "55291": ("mairie-ligny",)}


def demo_site(territory: str, number: int) -> str:
    sites = DEMO_SITES.get(territory, ())
    return sites[0 if number % 3 else -1] if sites else ""


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
        territory = pick(TERRITORY_WEIGHTS)
        requests.append(
            intake_pb2.OpenDossierRequest(
                request_id=f"demo-{number:03d}",
                territory=territory,
                motifs=sorted(motifs),
                arrival_channel=pick(CHANNEL_WEIGHTS),
                urgent="violences_conjugales" in motifs,
                site=demo_site(territory, number),
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
        existing = await existing_dossiers(stub, {r.territory for r in requests})
        for number, request in enumerate(requests):
            response = await stub.OpenDossier(request, timeout=30)
            if response.dossier.dossier_id not in existing:
                created += 1
                await advance(stub, response.dossier.dossier_id, number, request.request_id)
    return created, len(requests)


async def existing_dossiers(stub: intake_pb2_grpc.IntakeServiceAsyncStub, territories: set[str]) -> set[str]:
    """Ids of the dossiers already open in these communes (a repeated opening answers
    exactly as the first did, so the answer cannot say whether it is new)."""
    found: set[str] = set()
    for territory in sorted(territories):
        token = ""
        while True:
            page = await stub.ListDossiers(
                intake_pb2.ListDossiersRequest(territory=territory, page_size=200, page_token=token),
                timeout=30,
            )
            found.update(d.dossier_id for d in page.dossiers)
            token = page.next_page_token
            if not token:
                break
    return found


async def advance(
    stub: intake_pb2_grpc.IntakeServiceAsyncStub, dossier_id: str, number: int, request_id: str
) -> None:
    if number % 4 == 3:
        return  # still at reception
    await stub.RecordInterview(
        intake_pb2.RecordInterviewRequest(
            dossier_id=dossier_id,
            notes="Entretien de démonstration (données fictives).",
            request_id=f"{request_id}-interview",
        ),
        timeout=30,
    )
    if number % 4 == 2:
        return  # écoute in progress
    await stub.CompleteEcoute(
        intake_pb2.CompleteEcouteRequest(
            dossier_id=dossier_id,
            next_stage="orientation" if number % 2 else "suivi",
            request_id=f"{request_id}-ecoute",
        ),
        timeout=30,
    )
    if number % 4 == 0:
        await stub.CloseDossier(
            intake_pb2.CloseDossierRequest(
                dossier_id=dossier_id,
                outcome="regle" if number % 8 == 0 else "ecoute_conseil",
                request_id=f"{request_id}-closure",
            ),
            timeout=30,
        )


# ---- orientations: three fictional people, their consents, referrals to a partner -------
DEMO_PARTNER = "caf-meuse"
DEMO_PARTNER_NAME = "demo.caf-meuse"


@dataclass(frozen=True)
class DemoPerson:
    key: str  # request ids: demo-person-<key>, demo-orientation-<key>
    first_name: str
    last_name: str
    birth_date: str
    phone: str
    # What the partner has done with the referral: the actions, in order.
    partner_actions: tuple[str, ...]


DEMO_PEOPLE = (
    DemoPerson("1", "Camille", "Exemple", "1987-02-14", "0600000001", ("acknowledge", "accept")),
    DemoPerson("2", "Dominique", "Fictif", "1975-09-30", "0600000002", ("acknowledge",)),
    DemoPerson("3", "Alex", "Démonstration", "1996-06-21", "0600000003", ()),
)


async def create_referral(
    stub: referral_pb2_grpc.ReferralServiceAsyncStub, request: referral_pb2.CreateReferralRequest
) -> referral_pb2.Referral:
    """CreateReferral, retried while the referral service has not yet seen the dossier
    (it learns of dossiers from their events, a moment after the RPCs)."""
    for _ in range(100):
        try:
            referral: referral_pb2.Referral = await stub.CreateReferral(request, timeout=30)
            return referral
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.FAILED_PRECONDITION):
                raise
            last = exc
        await asyncio.sleep(0.2)
    raise last


async def orient_people(settings: Settings) -> int:
    """Opens one dossier per demo person (now), records their consent for the partner,
    orients them, and lets the partner answer. Returns how many referrals were made now."""
    agent_token = tokens.demo_token(settings.env)
    partner_token = mint(
        tokens.signing_secret(settings.env),
        DEMO_PARTNER_NAME,
        Role.PARTENAIRE,
        partner_id=DEMO_PARTNER,
        ttl_s=600,
    )
    made = 0
    async with (
        client.aio_channel(settings.grpc_address("intake"), settings.env, agent_token) as intake_channel,
        client.aio_channel(settings.grpc_address("referral"), settings.env, agent_token) as agent_channel,
        client.aio_channel(settings.grpc_address("referral"), settings.env, partner_token) as partner_channel,
    ):
        intake = intake_pb2_grpc.IntakeServiceStub(intake_channel)
        agent = referral_pb2_grpc.ReferralServiceStub(agent_channel)
        partner = referral_pb2_grpc.ReferralServiceStub(partner_channel)
        for person in DEMO_PEOPLE:
            if await orient_person(intake, agent, partner, person):
                made += 1
    return made


async def orient_person(
    intake: intake_pb2_grpc.IntakeServiceAsyncStub,
    agent: referral_pb2_grpc.ReferralServiceAsyncStub,
    partner: referral_pb2_grpc.ReferralServiceAsyncStub,
    person: DemoPerson,
) -> bool:
    created = await intake.CreatePerson(
        intake_pb2.CreatePersonRequest(
            request_id=f"demo-person-{person.key}",
            territory="55029",
            first_name=person.first_name,
            last_name=person.last_name,
            birth_date=person.birth_date,
            phone=person.phone,
            address_line="1 rue de l'Exemple (adresse fictive)",
        ),
        timeout=30,
    )
    person_id = created.person.person_id
    existing = await existing_dossiers(intake, {"55029"})
    opened = await intake.OpenDossier(
        intake_pb2.OpenDossierRequest(
            request_id=f"demo-orientation-{person.key}",
            territory="55029",
            motifs=["logement"],
            arrival_channel="visite_spontanee",
            site="ccas-bar-le-duc",
            person_id=person_id,
        ),
        timeout=30,
    )
    dossier_id = opened.dossier.dossier_id
    if dossier_id in existing:
        return False  # done by an earlier `make up`
    key = f"demo-orientation-{person.key}"
    await intake.RecordConsent(
        intake_pb2.RecordConsentRequest(
            person_id=person_id,
            dossier_id=dossier_id,
            partner_id=DEMO_PARTNER,
            data_scope=["motif", "identite", "contact"],
            kind="consent",
            channel="oral",
            request_id=f"{key}-consent",
        ),
        timeout=30,
    )
    await intake.RecordInterview(
        intake_pb2.RecordInterviewRequest(
            dossier_id=dossier_id,
            notes="Entretien de démonstration (personne fictive).",
            request_id=f"{key}-interview",
        ),
        timeout=30,
    )
    await intake.CompleteEcoute(
        intake_pb2.CompleteEcouteRequest(
            dossier_id=dossier_id, next_stage="orientation", request_id=f"{key}-ecoute"
        ),
        timeout=30,
    )
    referral = await create_referral(
        agent,
        referral_pb2.CreateReferralRequest(
            dossier_id=dossier_id,
            partner_id=DEMO_PARTNER,
            motif="logement",
            message_for_partner="Demande d'aide au logement (situation fictive de démonstration).",
            data_scope=["identite", "contact"],
            request_id=f"demo-orientation-{person.key}",
        ),
    )
    calls = {"acknowledge": partner.AcknowledgeReferral, "accept": partner.AcceptReferral}
    for action in person.partner_actions:
        await calls[action](
            referral_pb2.ReferralActionRequest(
                referral_id=referral.referral_id, request_id=f"{key}-{action}"
            ),
            timeout=30,
        )
    return True


async def main_async() -> None:
    settings = Settings.from_env()
    partners = await load_partners(settings)
    created, total = await open_dossiers(settings)
    print(f"demo data: {partners} partners; {created} dossiers opened now, {total - created} already there")
    referred = await orient_people(settings)
    print(
        f"demo data: {referred} people oriented to {DEMO_PARTNER} now,"
        f" {len(DEMO_PEOPLE) - referred} already there"
    )
    # Permanences in the demo sites' rooms and a few appointments (devstack.demo_planning).
    print(f"demo data: planning: {await plan_demo(settings)}")
    # A "RV du CIAS" collective action and the demo signaleur's signals (devstack.demo_collective).
    print(f"demo data: collective actions and signals: {await collective_demo(settings)}")
    # One synthetic year for the bilan (ENTRAIDE_DEMO_SYNTHETIC_YEAR, see devstack.synthetic).
    print(f"demo data: {await demo_year(settings.env)}")


def main() -> None:
    asyncio.run(main_async())


if __name__ == "__main__":
    main()
