"""The signal journey in Chromium, on the real stack, every page checked with axe-core and
kept as a screenshot: a town-hall secretary (role signaleur) on a 360-pixel-wide phone
has a signal refused without its description, then submits it and reads "reçu"; an
agent of the CIAS finds it in the queue, records a contact attempt and qualifies it,
which opens a dossier linked from the signal; the secretary then reads "pris en charge".
And a group session's attendance sheet, printed on one A4 page."""

from __future__ import annotations

import random
import re
import string
import uuid

from entraide.v1 import collective_pb2, collective_pb2_grpc, intake_pb2, intake_pb2_grpc
from playwright.sync_api import Page, ViewportSize, expect

from kernel import client
from kernel.auth import Role
from tests.conftest import AppStack
from tests.e2e.services.console import browser
from tests.e2e.services.console.conftest import AGENTS, BAR, Console, Person

TIMEOUT_MS = 20_000
PHONE: ViewportSize = {"width": 360, "height": 740}


def sign_in(page: Page, console: Console, person: Person, start: str) -> None:
    page.goto(f"{console.url}{start}")
    page.get_by_role("link", name="Se connecter avec votre compte professionnel").click()
    page.fill("#login", person.email)
    page.click("#login-submit")
    page.wait_for_url(re.compile(re.escape(f"{console.url}{start}")))


def fits_the_phone(page: Page) -> None:
    """Nothing wider than the screen: no sideways scrolling."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{page.url} is {width} px wide"


def test_a_secretary_signals_on_a_phone_and_an_agent_qualifies_the_signal(console: Console) -> None:
    secretary, agent = AGENTS["signaleur"], AGENTS["ts"]
    name = "Signalé" + "".join(random.choices(string.ascii_lowercase, k=8))

    with browser.chromium() as chromium:
        with browser.browsing(chromium, console.artefacts / "signalement-mairie") as (page, checked):
            page.set_default_timeout(TIMEOUT_MS)
            page.set_viewport_size(PHONE)
            # Its start page is the form, and its only menu entry.
            sign_in(page, console, secretary, "/")
            page.wait_for_url(re.compile(r"/signalement$"))
            expect(
                page.get_by_role("navigation", name="Navigation principale").get_by_role("link")
            ).to_have_count(1)
            fits_the_phone(page)
            checked.accessible(page, "formulaire de signalement")

            # A first and last name: the dossier opened from the signal creates the person.
            page.get_by_label("Prénom").fill("Gaston")
            page.get_by_label("Nom", exact=True).fill(name)
            page.get_by_label("Téléphone").fill("0611223344")
            page.get_by_role("button", name="Envoyer le signalement").click()
            expect(page.locator("#description-erreur")).to_be_visible()
            expect(page.get_by_label("Nom", exact=True)).to_have_value(name)
            fits_the_phone(page)
            checked.accessible(page, "signalement refusé sans description")

            description = page.get_by_label("Ce qui vous inquiète")
            description.fill("Vit seul, ne sort plus depuis l'hiver ; les voisins s'inquiètent.")
            expect(page.locator("#description-compteur")).to_contain_text("caractères restants")
            page.get_by_label("La personne est d'accord pour être contactée").check()
            page.get_by_role("button", name="Envoyer le signalement").click()
            page.wait_for_url(re.compile(r"/signalement\?fait=envoye"))
            expect(page.locator(".alert-success")).to_contain_text("transmis au CIAS")
            expect(page.locator(".signal-list")).to_contain_text("reçu")
            fits_the_phone(page)
            checked.accessible(page, "signalement envoyé")

        with browser.browsing(chromium, console.artefacts / "signalement-cias") as (page, checked):
            page.set_default_timeout(TIMEOUT_MS)
            sign_in(page, console, agent, "/signalements")
            checked.accessible(page, "signalements à qualifier")
            page.get_by_role("link", name=re.compile(name)).click()
            page.wait_for_url(re.compile(r"/signalements/[^/?]+$"))
            expect(page.locator("main")).to_contain_text("ne sort plus depuis l'hiver")
            checked.accessible(page, "signalement")

            page.get_by_role("button", name="Tentative de contact sans réponse").click()
            page.wait_for_url(re.compile(r"fait=tentative"))
            checked.accessible(page, "tentative de contact")

            page.get_by_label("Personne contactée").check()
            page.locator("#motif-logement").check()
            page.get_by_role("button", name="Enregistrer la qualification").click()
            page.wait_for_url(re.compile(r"fait=qualifie"))
            checked.accessible(page, "signalement qualifié")
            page.get_by_role("link", name="ouvrir le dossier").click()
            page.wait_for_url(re.compile(r"/dossiers/[^/?]+$"))
            expect(page.locator("main")).to_contain_text(name)
            checked.accessible(page, "dossier ouvert depuis le signalement")

        with browser.browsing(chromium, console.artefacts / "signalement-mairie-suite") as (page, checked):
            page.set_default_timeout(TIMEOUT_MS)
            page.set_viewport_size(PHONE)
            sign_in(page, console, secretary, "/signalement")
            expect(page.locator(".signal-list")).to_contain_text("pris en charge")
            expect(page.locator("main")).not_to_contain_text(name)
            checked.accessible(page, "mes signalements")


def test_the_attendance_sheet_prints_on_one_a4_page(console: Console, app_stack: AppStack) -> None:
    """Eight participants (a full group), an empty signature column, one A4 portrait page."""
    suffix = "".join(random.choices(string.ascii_lowercase, k=8))
    token = app_stack.token("resp.bar", Role.RESPONSABLE, [BAR])
    with client.sync_channel(app_stack.address("intake"), app_stack.env, token) as channel:
        intake = intake_pb2_grpc.IntakeServiceStub(channel)
        collective = collective_pb2_grpc.CollectiveServiceStub(channel)
        programme = collective.CreateProgramme(
            collective_pb2.CreateProgrammeRequest(
                territory=BAR,
                name=f"RV du CIAS {suffix}",
                facilitators=[collective_pb2.Facilitator(label="Mme Laurent (CESF, CIAS)")],
                site="antenne-cote-sainte-catherine",
                first_day="2011-09-01",
                last_day="2011-11-03",
                request_id=str(uuid.uuid4()),
            ),
            timeout=15,
        )
        held = collective.AddSession(
            collective_pb2.AddSessionRequest(
                programme_id=programme.programme_id,
                day="2011-09-01",
                starts_at="14:00",
                ends_at="16:30",
                request_id=str(uuid.uuid4()),
            ),
            timeout=15,
        )
        for n in range(8):
            person = intake.CreatePerson(
                intake_pb2.CreatePersonRequest(
                    request_id=str(uuid.uuid4()),
                    territory=BAR,
                    first_name=f"Participant{n}",
                    last_name=f"Feuille-{suffix}",
                    birth_date="1980-01-01",
                ),
                timeout=15,
            ).person
            dossier = intake.OpenDossier(
                intake_pb2.OpenDossierRequest(
                    request_id=str(uuid.uuid4()),
                    territory=BAR,
                    motifs=["emploi"],
                    arrival_channel="visite_spontanee",
                    person_id=person.person_id,
                ),
                timeout=15,
            ).dossier
            collective.Enrol(
                collective_pb2.EnrolRequest(
                    programme_id=programme.programme_id,
                    person_id=person.person_id,
                    dossier_id=dossier.dossier_id,
                    consent=True,
                    request_id=str(uuid.uuid4()),
                ),
                timeout=15,
            )

    with browser.chromium() as chromium:
        with browser.browsing(chromium, console.artefacts / "feuille-de-presence") as (page, checked):
            page.set_default_timeout(TIMEOUT_MS)
            sign_in(page, console, AGENTS["ts"], f"/actions-collectives/seances/{held.session_id}")
            expect(page.locator("table.sheet tbody tr")).to_have_count(8)
            checked.accessible(page, "feuille de présence")
            page.get_by_label("Présent").first.check()
            page.get_by_role("button", name="Enregistrer les présences").click()
            expect(page.locator("#erreurs, .alert-success").first).to_be_visible()
            checked.accessible(page, "feuille de présence enregistrée ou refusée")
            pdf = page.pdf(prefer_css_page_size=True)
            (console.artefacts / "feuille-de-presence" / "feuille.pdf").write_bytes(pdf)
            assert len(re.findall(rb"/Type\s*/Page[^s]", pdf)) == 1
            assert re.search(rb"/MediaBox\s*\[0 0 59[45]\.\d* 841\.\d*\]", pdf)
