"""The planning journey in Chromium, on the real stack, every page checked with axe-core
and kept as a screenshot: reception opens a person's page, books a free slot of a
permanence, sees the week planning and the day's list, and checks in a person whose
appointment is now (htmx replaces the row); a responsable reads the messages sent."""

from __future__ import annotations

import random
import re
import string
import uuid
from datetime import UTC, date, datetime, timedelta

import grpc
from entraide.v1 import intake_pb2, intake_pb2_grpc, planning_pb2, planning_pb2_grpc
from playwright.sync_api import Page, expect

from domain.planning import PARIS
from kernel import client, reference, rich_status
from kernel.auth import Role
from services.console.planning_forms import timestamp
from tests.conftest import AppStack
from tests.e2e.services.console import browser
from tests.e2e.services.console.conftest import AGENTS, BAR, Console, Person

TIMEOUT_MS = 20_000
SITE = "ccas-bar-le-duc"
ROOMS = [room.code for room in reference.load({}).sites[SITE].rooms]


def sign_in(page: Page, console: Console, person: Person, start: str) -> None:
    page.goto(f"{console.url}{start}")
    page.get_by_role("link", name="Se connecter avec votre compte professionnel").click()
    page.fill("#login", person.email)
    page.click("#login-submit")
    page.wait_for_url(re.compile(re.escape(f"{console.url}{start}")))


def letters(n: int) -> str:
    return "".join(random.choices(string.ascii_lowercase, k=n))


def place(planning: planning_pb2_grpc.PlanningServiceStub, label: str) -> planning_pb2.PlannedPermanence:
    """A one-week permanence soon, in a room and at an hour no other test holds."""
    for _ in range(30):
        day = datetime.now(PARIS).date() + timedelta(days=random.randrange(1, 14))
        start = random.randrange(8 * 60, 18 * 60, 15)
        try:
            placed: planning_pb2.PlannedPermanence = planning.CreatePermanence(
                planning_pb2.CreatePermanenceRequest(
                    site=SITE,
                    room=random.choice(ROOMS),
                    host=planning_pb2.Host(
                        kind="partenaire", id=f"test-{letters(8)}", label=label, category="logement"
                    ),
                    recurrence="weekly",
                    weekday=day.isoweekday(),
                    starts_at=f"{start // 60:02d}:{start % 60:02d}",
                    ends_at=f"{(start + 90) // 60:02d}:{(start + 90) % 60:02d}",
                    first_day=day.isoformat(),
                    last_day=day.isoformat(),
                    request_id=str(uuid.uuid4()),
                ),
                timeout=15,
            )
            return placed
        except grpc.RpcError as error:
            if rich_status.describe(error).reason != "ROOM_TAKEN":
                raise
    raise AssertionError("no free room and hour found")


def monday_of(day: date) -> date:
    return day - timedelta(days=day.isoweekday() - 1)


def test_reception_books_a_slot_then_checks_a_person_in(console: Console, app_stack: AppStack) -> None:
    reception, responsable = AGENTS["accueil"], AGENTS["responsable"]
    suffix = letters(6)
    label = f"Point logement {suffix}"
    token = app_stack.token("resp.bar", Role.RESPONSABLE, [BAR])
    with client.sync_channel(app_stack.address("intake"), app_stack.env, token) as channel:
        intake = intake_pb2_grpc.IntakeServiceStub(channel)
        planning = planning_pb2_grpc.PlanningServiceStub(channel)

        def person(first_name: str) -> str:
            created = intake.CreatePerson(
                intake_pb2.CreatePersonRequest(
                    request_id=str(uuid.uuid4()),
                    territory=BAR,
                    first_name=first_name,
                    last_name=f"Planning-{suffix}",
                    birth_date="1979-05-04",
                ),
                timeout=10,
            )
            return str(created.person.person_id)

        booker, walker = person("Rose"), person("Yanis")
        permanence = place(planning, label)
        # Yanis's appointment is now, with an agent: his day has come, he can be checked in.
        now = datetime.now(UTC).replace(second=0, microsecond=0)
        planning.BookAppointment(
            planning_pb2.BookAppointmentRequest(
                person_id=walker,
                agent_id=f"test.{letters(8)}",
                site=SITE,
                starts_at=timestamp(now),
                request_id=str(uuid.uuid4()),
            ),
            timeout=20,
        )
    today = now.astimezone(PARIS).date()

    with browser.chromium() as chromium:
        with browser.browsing(chromium, console.artefacts / "planning-accueil") as (page, checked):
            page.set_default_timeout(TIMEOUT_MS)
            sign_in(page, console, reception, f"/personnes/{booker}")
            expect(page.locator("#rendez-vous")).to_contain_text("Aucun rendez-vous")
            checked.accessible(page, "fiche avec rendez-vous")

            page.get_by_role("link", name="Prendre rendez-vous").click()
            page.wait_for_url(re.compile(r"/rendez-vous/nouveau\?personne="))
            checked.accessible(page, "choix de la permanence")
            page.get_by_role("link", name=f"Voir les créneaux : {label}").click()
            page.wait_for_url(re.compile(r"permanence="))
            checked.accessible(page, "créneaux libres")
            page.locator('input[name="slot"]').first.check()
            page.get_by_label("Motif").select_option("logement")
            page.get_by_role("button", name="Prendre le rendez-vous").click()
            page.wait_for_url(re.compile(r"/rendez-vous/[0-9a-f-]+\?fait=pris"))
            expect(page.locator("#resume")).to_contain_text(label)
            checked.accessible(page, "rendez-vous pris")

            page.goto(f"{console.url}/personnes/{booker}")
            expect(page.locator("#rendez-vous")).to_contain_text(label)

            first_day = date.fromisoformat(permanence.first_day)
            page.goto(f"{console.url}/planning?site={SITE}&semaine={monday_of(first_day).isoformat()}")
            expect(page.locator(".planning-grid")).to_contain_text(label)
            expect(page.locator(".planning-grid")).to_contain_text("Réservés : 1 / 3")
            checked.accessible(page, "planning de la semaine")
            # Printed, the week fits one A4 landscape page (842 × 595 points).
            pdf = page.pdf(prefer_css_page_size=True)
            (console.artefacts / "planning-accueil" / "planning-semaine.pdf").write_bytes(pdf)
            assert len(re.findall(rb"/Type\s*/Page[^s]", pdf)) == 1
            assert re.search(rb"/MediaBox\s*\[0 0 841\.9\d* 594\.9\d*\]", pdf)

            page.goto(f"{console.url}/accueil/rendez-vous?site={SITE}&jour={today.isoformat()}")
            row = page.locator("tr", has_text="Yanis")
            expect(row).to_contain_text("prévu")
            checked.accessible(page, "rendez-vous du jour")
            row.get_by_role("button", name=re.compile(r"^Arrivé")).click()
            expect(row).to_contain_text("arrivé")
            assert "fait=presence" not in page.url  # htmx replaced the row in place
            checked.accessible(page, "personne arrivée")

            page.get_by_role("link", name="Sans rendez-vous").click()
            page.get_by_label("Nom ou prénom de la personne").fill(f"planning-{suffix}")
            page.get_by_role("button", name="Rechercher").click()
            expect(page.locator("main table")).to_contain_text("Rose")
            checked.accessible(page, "sans rendez-vous")
            page.goto(f"{console.url}/rendez-vous/nouveau?personne={booker}&avec=agent")
            checked.accessible(page, "rendez-vous avec un agent")

        with browser.browsing(chromium, console.artefacts / "planning-responsable") as (page, checked):
            page.set_default_timeout(TIMEOUT_MS)
            sign_in(page, console, responsable, "/messages")
            expect(page.locator("h1")).to_have_text("Messages envoyés aux personnes")
            checked.accessible(page, "messages envoyés")
            page.goto(f"{console.url}/planning/permanences/nouvelle?site={SITE}")
            checked.accessible(page, "nouvelle permanence")
            page.goto(f"{console.url}/planning/permanences/{permanence.permanence_id}/exception")
            checked.accessible(page, "changer les séances")
