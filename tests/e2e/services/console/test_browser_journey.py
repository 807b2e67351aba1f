"""The console's main journey in Chromium, on the real stack, every page checked with
axe-core and kept as a screenshot:

a reception agent signs in, searches, is warned of a duplicate, creates the person anyway
and opens an urgent dossier; a social worker finds it first among the dossiers, records
an interview with a private note, records consent, orients to a suggested partner, sees
the referral's statuses change as the partner acts (through the referral RPCs), moves to
suivi and closes it "réglé"; the inbox shows an escalation produced by a shortened timer.
"""

from __future__ import annotations

import asyncio
import random
import re
import string
import uuid
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from entraide.v1 import intake_pb2, intake_pb2_grpc, referral_pb2, referral_pb2_grpc
from playwright.sync_api import Page, expect

from kernel import client
from kernel import temporal as temporal_kernel
from kernel.auth import Role
from tests.conftest import AppStack
from tests.e2e.services.console import browser
from tests.e2e.services.console.conftest import AGENTS, TRONVILLE, Console, Person
from tests.e2e.services.console.test_inbox import escalating_dossier
from tests.e2e.services.referral.test_referrals import World
from tests.e2e.services.referral.test_referrals import (
    world as world,  # the fixture: the partner directory imported
)

TIMEOUT_MS = 20_000


def in_thread(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Runs a coroutine on its own loop (a sync test must not touch the session's loop)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def sign_in(page: Page, console: Console, person: Person, start: str) -> None:
    page.goto(f"{console.url}{start}")
    page.get_by_role("link", name="Se connecter avec votre compte professionnel").click()
    page.fill("#login", person.email)
    page.click("#login-submit")
    page.wait_for_url(re.compile(re.escape(f"{console.url}{start}")))


def test_reception_then_social_worker_through_the_whole_dossier(
    console: Console, app_stack: AppStack, world: World
) -> None:
    suffix = "".join(random.choices(string.ascii_lowercase, k=6))
    last_name, first_name, birth = f"Lefèvre-{suffix}", "Inès", "1984-03-12"
    reception, worker, colleague = (
        AGENTS["accueil_tronville"],
        AGENTS["ts_tronville"],
        AGENTS["ts2_tronville"],
    )
    ts_token = app_stack.token(worker.agent_id, Role.TRAVAILLEUR_SOCIAL, [TRONVILLE])
    with client.sync_channel(app_stack.address("intake"), app_stack.env, ts_token) as channel:
        intake_pb2_grpc.IntakeServiceStub(channel).CreatePerson(
            intake_pb2.CreatePersonRequest(
                request_id=str(uuid.uuid4()),
                territory=TRONVILLE,
                first_name=first_name,
                last_name=last_name,
                birth_date=birth,
            ),
            timeout=10,
        )

    with browser.chromium() as chromium:
        # ---- reception ------------------------------------------------------------------
        with browser.browsing(chromium, console.artefacts / "journey-accueil") as (page, checked):
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(f"{console.url}/accueil")
            checked.accessible(page, "connexion")
            sign_in(page, console, reception, "/accueil")
            checked.accessible(page, "accueil du public")

            page.get_by_label("Nom ou prénom").fill(f"lefevre-{suffix}")
            page.get_by_role("button", name="Rechercher").click()
            expect(page.locator("table")).to_contain_text(first_name)
            checked.accessible(page, "recherche")

            page.get_by_role("link", name="Enregistrer une nouvelle personne").click()
            page.locator("#last_name").fill(last_name)
            page.locator("#first_name").fill(first_name)
            page.locator("#birth_date").fill(birth)
            page.get_by_role("button", name="Enregistrer la personne").click()
            expect(page.locator("#doublons")).to_be_visible()
            checked.accessible(page, "doublon signalé")
            page.get_by_role("button", name="Créer quand même").click()
            page.wait_for_url(re.compile(r"/dossiers/nouveau\?personne="))
            checked.accessible(page, "nouveau dossier")

            page.get_by_label("Logement / hébergement").check()
            page.get_by_label("Visite spontanée").check()
            page.get_by_label("Situation urgente").check()
            page.get_by_label("Agent qui prend le dossier").fill(worker.agent_id)
            page.get_by_role("button", name="Ouvrir le dossier").click()
            page.wait_for_url(re.compile(r"/dossiers/[0-9a-f-]{36}\?fait=dossier_ouvert"))
            dossier_id = re.search(r"/dossiers/([0-9a-f-]{36})", page.url).group(1)  # type: ignore[union-attr]
            expect(page.locator("main")).to_contain_text("Urgent")
            checked.accessible(page, "dossier vu de l'accueil")

        # ---- the social worker ------------------------------------------------------------
        with browser.browsing(chromium, console.artefacts / "journey-travailleur-social") as (page, checked):
            page.set_default_timeout(TIMEOUT_MS)
            sign_in(page, console, worker, "/mes-dossiers")
            # Her own caseload, as it opens: the urgent dossier reception gave her comes first.
            first = page.locator("#resultats table").first.locator("tbody tr").first
            expect(first).to_contain_text("Urgent")
            assert dossier_id in (
                first.get_by_role("link", name=re.compile("Ouvrir le dossier")).get_attribute("href") or ""
            )
            checked.accessible(page, "mes dossiers")
            first.get_by_role("link", name=re.compile("Ouvrir le dossier")).click()
            page.wait_for_url(f"{console.url}/dossiers/{dossier_id}")
            checked.accessible(page, "dossier")

            note = f"Expulsion annoncée pour la fin du mois ; {suffix} ne veut pas que sa famille le sache."
            page.get_by_label("Notes d'entretien").fill(note)
            page.get_by_label("Privée — visible de moi seul").check()
            page.get_by_role("button", name="Enregistrer l'entretien").click()
            page.wait_for_url(re.compile(r"fait=entretien"))
            expect(page.locator("#chronologie")).to_contain_text(note)
            expect(page.locator("#chronologie")).to_contain_text("Note privée")
            checked.accessible(page, "entretien enregistré")

            page.get_by_role("button", name="Terminer l'écoute").click()
            page.wait_for_url(re.compile(r"fait=fin-ecoute"))

            form = page.locator("#form-consentement")
            form.get_by_label("Partenaire", exact=True).select_option("caf-meuse")
            form.get_by_label("Motif de l'orientation").check()
            form.get_by_label("Identité (nom, prénom, date de naissance)").check()
            form.get_by_label("Consentement de la personne").check()
            form.get_by_label("oral", exact=True).check()
            form.get_by_role("button", name="Enregistrer le consentement").click()
            page.wait_for_url(re.compile(r"fait=consentement"))
            checked.accessible(page, "consentement enregistré")

            page.get_by_role("button", name="Orienter vers CAF de la Meuse").click()
            page.wait_for_url(re.compile(r"fait=orientation"))
            referrals = page.locator("#orientations")
            expect(referrals).to_contain_text("demandée")
            checked.accessible(page, "orientation envoyée")

            # The partner answers through the referral RPCs; the page's fragment follows.
            with (
                client.sync_channel(app_stack.address("referral"), app_stack.env, ts_token) as agent_channel,
                client.sync_channel(
                    app_stack.address("referral"),
                    app_stack.env,
                    app_stack.token("caf.agent", Role.PARTENAIRE, (), partner_id="caf-meuse"),
                ) as partner_channel,
            ):
                listed = referral_pb2_grpc.ReferralServiceStub(agent_channel).ListDossierReferrals(
                    referral_pb2.ListDossierReferralsRequest(dossier_id=dossier_id), timeout=10
                )
                referral_id = listed.referrals[0].referral_id
                partner = referral_pb2_grpc.ReferralServiceStub(partner_channel)
                partner.AcknowledgeReferral(
                    referral_pb2.ReferralActionRequest(referral_id=referral_id, request_id=str(uuid.uuid4())),
                    timeout=15,
                )
                expect(referrals).to_contain_text("reçue par le partenaire", timeout=TIMEOUT_MS)
                partner.AcceptReferral(
                    referral_pb2.ReferralActionRequest(referral_id=referral_id, request_id=str(uuid.uuid4())),
                    timeout=15,
                )
                expect(referrals).to_contain_text("acceptée", timeout=TIMEOUT_MS)
            checked.accessible(page, "orientation acceptée")

            page.get_by_role("button", name="Passer en suivi").click()
            page.wait_for_url(re.compile(r"fait=suivi"))
            expect(page.locator("#resume")).to_contain_text("suivi")

            closing = page.locator("#cloture")
            closing.get_by_label("Réglé : une solution a été trouvée").check()
            closing.get_by_label("Note de clôture").fill("Relogement trouvé avec l'aide de la CAF.")
            closing.get_by_role("button", name="Clôturer le dossier").click()
            page.wait_for_url(re.compile(r"fait=cloture"))
            expect(page.locator("#resume")).to_contain_text("Réglé")
            checked.accessible(page, "dossier clôturé")

            # ---- the inbox: an urgent écoute escalated by a one-second timer --------------
            async def escalate() -> str:
                temporal = await temporal_kernel.connect(app_stack.settings)
                return await escalating_dossier(temporal, worker.agent_id, TRONVILLE)

            escalated = in_thread(escalate())
            page.goto(f"{console.url}/taches")
            for _ in range(30):
                if page.locator(f'a[href="/dossiers/{escalated}#entretien"]').count():
                    break
                page.wait_for_timeout(500)
                page.reload()
            row = page.locator("tr", has=page.locator(f'a[href="/dossiers/{escalated}#entretien"]'))
            expect(row).to_contain_text("Écoute urgente en attente")
            checked.accessible(page, "à traiter")

            page.goto(f"{console.url}/dossiers/{dossier_id}")
            person_link = page.locator("main a[href^='/personnes/']").first
            person_link.click()
            expect(page.locator("h1")).to_contain_text(first_name)
            checked.accessible(page, "personne")

        # ---- a colleague of the same commune never reads the private note ------------------
        with browser.browsing(chromium, console.artefacts / "journey-collegue") as (page, checked):
            page.set_default_timeout(TIMEOUT_MS)
            sign_in(page, console, colleague, f"/dossiers/{dossier_id}")
            expect(page.locator("#chronologie")).to_contain_text("Entretien")
            assert suffix + " ne veut pas" not in page.content()
            checked.accessible(page, "dossier vu d'un collègue")
