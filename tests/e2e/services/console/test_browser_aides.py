"""The CCAS's aid pages in Chromium, on the real stack, every page checked with axe-core
and kept as a screenshot: a social worker fills a dossier's request form (its estimate of
the reste à vivre, an amount refused beside its field, the request made), instructs it
and puts it on a commission's agenda; a responsable grants it from the commission's
page, prints the decision sheet on one A4 page, records the payment and reads the
budget lines."""

from __future__ import annotations

import random
import re
import string
import uuid
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from entraide.v1 import aides_pb2, aides_pb2_grpc, intake_pb2, intake_pb2_grpc
from playwright.sync_api import Page, expect

from kernel import client
from kernel.auth import Role
from tests.conftest import AppStack
from tests.e2e.services.console import browser
from tests.e2e.services.console.conftest import AGENTS, LIGNY, Console, Person

TIMEOUT_MS = 20_000
MEMBERS = ["Mme Martin (vice-présidente du CCAS)", "M. Durand (administrateur)"]


def sign_in(page: Page, console: Console, person: Person, start: str) -> None:
    page.goto(f"{console.url}{start}")
    page.get_by_role("link", name="Se connecter avec votre compte professionnel").click()
    page.fill("#login", person.email)
    page.click("#login-submit")
    page.wait_for_url(re.compile(re.escape(f"{console.url}{start}")))


def test_a_request_from_its_form_to_its_payment(console: Console, app_stack: AppStack) -> None:
    name = "Aidé" + "".join(random.choices(string.ascii_lowercase, k=8))
    year = datetime.now(ZoneInfo("Europe/Paris")).year
    token = app_stack.token("resp.bar", Role.RESPONSABLE, [LIGNY])
    with client.sync_channel(app_stack.address("intake"), app_stack.env, token) as channel:
        intake = intake_pb2_grpc.IntakeServiceStub(channel)
        aides = aides_pb2_grpc.AidServiceStub(channel)
        person = intake.CreatePerson(
            intake_pb2.CreatePersonRequest(
                request_id=str(uuid.uuid4()),
                territory=LIGNY,
                first_name="Nadège",
                last_name=name,
                birth_date="1979-05-02",
            ),
            timeout=15,
        ).person
        dossier = intake.OpenDossier(
            intake_pb2.OpenDossierRequest(
                request_id=str(uuid.uuid4()),
                territory=LIGNY,
                motifs=["logement"],
                arrival_channel="visite_spontanee",
                person_id=person.person_id,
            ),
            timeout=15,
        ).dossier
        lines = aides.ListBudgetLines(
            aides_pb2.ListBudgetLinesRequest(territories=[LIGNY], year=year), timeout=15
        )
        if not any("aide_alimentaire" in line.aid_types for line in lines.budget_lines):
            aides.CreateBudgetLine(
                aides_pb2.CreateBudgetLineRequest(
                    territory=LIGNY,
                    year=year,
                    label="Aides alimentaires Ligny",
                    aid_types=["aide_alimentaire"],
                    envelope_cents=2_000_000,
                    request_id=str(uuid.uuid4()),
                ),
                timeout=15,
            )
        held = aides.CreateCommission(
            aides_pb2.CreateCommissionRequest(
                territory=LIGNY,
                day=(date.today() + timedelta(days=14)).isoformat(),
                starts_at="09:30",
                place="Salle du conseil, mairie de Ligny-en-Barrois",
                members=MEMBERS,
                request_id=str(uuid.uuid4()),
            ),
            timeout=15,
        )

    with browser.chromium() as chromium:
        with browser.browsing(chromium, console.artefacts / "aides-demande") as (page, checked):
            page.set_default_timeout(TIMEOUT_MS)
            sign_in(page, console, AGENTS["ts_ligny"], f"/dossiers/{dossier.dossier_id}")
            checked.accessible(page, "dossier avec ses aides et pièces")
            page.get_by_role("link", name="Nouvelle demande d'aide").click()
            page.wait_for_url(re.compile(r"/aides/nouvelle$"))
            checked.accessible(page, "formulaire de demande d'aide")
            page.get_by_label("Aide demandée").select_option("aide_alimentaire")
            page.get_by_label("Montant demandé, en euros").fill("cent euros")
            page.get_by_label("Motif de la demande").fill("Plus de ressources avant le versement du RSA.")
            page.get_by_label("Ressources mensuelles, en euros").fill("640")
            page.get_by_label("Charges fixes mensuelles, en euros").fill("580")
            page.get_by_label("Adultes du foyer").fill("1")
            page.get_by_label("Enfants à charge").fill("1")
            page.get_by_role("button", name="Calculer le reste à vivre").click()
            expect(page.locator("#calcul")).to_contain_text("1,00")
            page.get_by_role("button", name="Enregistrer la demande").click()
            expect(page.locator("#amount_asked-erreur")).to_be_visible()
            checked.accessible(page, "demande refusée : montant illisible")
            page.get_by_label("Montant demandé, en euros").fill("120")
            page.get_by_role("button", name="Enregistrer la demande").click()
            page.wait_for_url(re.compile(r"/aides/demandes/[^/?]+\?fait=cree"))
            expect(page.locator("#reste-a-vivre")).to_contain_text("1,00")
            checked.accessible(page, "demande d'aide")
            request_url = page.url.split("?")[0]

            page.locator("#instruction-complete-complete").check()
            page.get_by_role("button", name="Enregistrer l'instruction").click()
            page.wait_for_url(re.compile(r"fait=instruction"))
            page.locator("#inscription-commission_id").select_option(held.commission_id)
            page.get_by_role("button", name="Inscrire à l'ordre du jour").click()
            page.wait_for_url(re.compile(r"fait=inscrite"))
            checked.accessible(page, "demande inscrite à l'ordre du jour")

        with browser.browsing(chromium, console.artefacts / "aides-commission") as (page, checked):
            page.set_default_timeout(TIMEOUT_MS)
            sign_in(page, console, AGENTS["responsable"], f"/aides/commissions/{held.commission_id}")
            expect(page.locator("table.sheet tbody tr")).to_have_count(1)
            checked.accessible(page, "ordre du jour de la commission")
            card = page.locator(".card", has_text=name)
            card.get_by_label("Accordée", exact=True).check()
            card.get_by_label("Montant accordé, en euros (aide accordée)").fill("120")
            card.get_by_label("Motivation, telle que le courrier la dira").fill(
                "Aide alimentaire en attendant le RSA."
            )
            card.get_by_role("button", name=re.compile("Enregistrer la décision")).click()
            page.wait_for_url(re.compile(r"fait=decision"))
            checked.accessible(page, "décision enregistrée")
            page.get_by_role("link", name="Relevé de décisions à imprimer").click()
            page.wait_for_url(re.compile(r"/releve$"))
            checked.accessible(page, "relevé de décisions")
            pdf = page.pdf(prefer_css_page_size=True)
            (console.artefacts / "aides-commission" / "releve.pdf").write_bytes(pdf)
            assert len(re.findall(rb"/Type\s*/Page[^s]", pdf)) == 1
            assert re.search(rb"/MediaBox\s*\[0 0 59[45]\.\d* 841\.\d*\]", pdf)

            page.goto(f"{console.url}/aides/paiements")
            checked.accessible(page, "paiements à faire")
            row = page.locator("tr", has_text=name)
            row.get_by_label(re.compile("Référence du mandat")).fill("MANDAT-0007")
            row.get_by_role("button", name=re.compile("Marquer payé")).click()
            page.wait_for_url(re.compile(r"fait=paye"))
            checked.accessible(page, "paiement enregistré")
            page.goto(request_url)
            expect(page.locator("#paiements")).to_contain_text("MANDAT-0007")
            page.goto(f"{console.url}/aides/budget")
            checked.accessible(page, "lignes budgétaires")
            page.goto(f"{console.url}/bilan")
            checked.accessible(page, "bilan avec les aides")
