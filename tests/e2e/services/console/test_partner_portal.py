"""The partner portal through the console's HTTP forms on the real stack: a CAF agent
sees the referrals made to the CAF (not those made to CRESUS), answers one through its
forms (acknowledge, accept, start, complete), each answer reaching the dossier's
timeline and the social worker's dossier page; a refusal without reason shows the
service's sentence next to the field; a double submit is one acceptance; another
partner gets the French 404; and the pages pass axe-core in Chromium."""

from __future__ import annotations

import asyncio
import html
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import grpc
import httpx2 as httpx
import pytest
from entraide.v1 import intake_pb2, intake_pb2_grpc, referral_pb2, referral_pb2_grpc

from kernel.auth import Role
from tests.conftest import AppStack
from tests.e2e.services.console import browser
from tests.e2e.services.console.conftest import AGENTS, BAR, Console
from tests.paths import REPO

ROOT = REPO
DIRECTORY = ROOT / "deploy" / "local" / "demo_partners.json"
BIRTH_DATE = "1979-05-14"
TIMEOUT_MS = 20_000


@dataclass(frozen=True)
class Oriented:
    """A dossier of Bar-le-Duc oriented to the CAF (motif + identité) and to CRESUS."""

    dossier_id: str
    last_name: str
    message: str
    caf: str
    cresus: str


@pytest.fixture(scope="module")
async def directory_imported(app_stack: AppStack) -> None:
    token = app_stack.token("resp.bar", Role.RESPONSABLE)
    async with app_stack.channel("referral", token) as channel:
        await referral_pb2_grpc.ReferralServiceStub(channel).ImportDirectory(
            referral_pb2.ImportDirectoryRequest(document=DIRECTORY.read_text(encoding="utf-8")), timeout=10
        )


async def _refer(
    referrals: referral_pb2_grpc.ReferralServiceAsyncStub, request: referral_pb2.CreateReferralRequest
) -> str:
    deadline = time.monotonic() + 30
    while True:  # the referral service learns the dossier (and its motifs) from intake's events
        try:
            created = await referrals.CreateReferral(request, timeout=20)
            return str(created.referral_id)
        except grpc.aio.AioRpcError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.3)


async def oriented(app_stack: AppStack) -> Oriented:
    """Set up over gRPC as ts.bar: a person, a dossier in orientation, consents for the
    CAF (motif + identité) and CRESUS (motif), a referral to each."""
    token = app_stack.token("ts.bar", Role.TRAVAILLEUR_SOCIAL, (BAR,))
    last_name = "Marchal" + uuid.uuid4().hex[:6]
    message = f"Impayés de loyer, rendez-vous souhaité ({uuid.uuid4().hex[:6]})."
    async with app_stack.channel("intake", token) as one, app_stack.channel("referral", token) as other:
        intake = intake_pb2_grpc.IntakeServiceStub(one)
        referrals = referral_pb2_grpc.ReferralServiceStub(other)
        person = await intake.CreatePerson(
            intake_pb2.CreatePersonRequest(
                request_id=uuid.uuid4().hex,
                territory=BAR,
                first_name="Inès",
                last_name=last_name,
                birth_date=BIRTH_DATE,
            ),
            timeout=10,
        )
        person_id = person.person.person_id
        opened = await intake.OpenDossier(
            intake_pb2.OpenDossierRequest(
                request_id=uuid.uuid4().hex,
                territory=BAR,
                motifs=["logement"],
                arrival_channel="visite_spontanee",
                person_id=person_id,
            ),
            timeout=15,
        )
        dossier_id = str(opened.dossier.dossier_id)
        await intake.RecordInterview(
            intake_pb2.RecordInterviewRequest(dossier_id=dossier_id, notes="Dettes, conflit familial"),
            timeout=15,
        )
        await intake.CompleteEcoute(
            intake_pb2.CompleteEcouteRequest(
                dossier_id=dossier_id,
                next_stage="orientation",
                motifs=["logement", "difficultes_financieres"],
            ),
            timeout=15,
        )
        for partner_id, scope in (("caf-meuse", ["motif", "identite"]), ("cresus-grand-est", ["motif"])):
            await intake.RecordConsent(
                intake_pb2.RecordConsentRequest(
                    person_id=person_id,
                    dossier_id=dossier_id,
                    partner_id=partner_id,
                    data_scope=scope,
                    kind="consent",
                    channel="oral",
                ),
                timeout=10,
            )
        caf = await _refer(
            referrals,
            referral_pb2.CreateReferralRequest(
                dossier_id=dossier_id,
                partner_id="caf-meuse",
                motif="logement",
                message_for_partner=message,
                data_scope=["motif", "identite"],
                request_id=f"caf-{dossier_id}",
            ),
        )
        cresus = await _refer(
            referrals,
            referral_pb2.CreateReferralRequest(
                dossier_id=dossier_id,
                partner_id="cresus-grand-est",
                motif="difficultes_financieres",
                message_for_partner="Surendettement.",
                data_scope=["motif"],
                request_id=f"cresus-{dossier_id}",
            ),
        )
    return Oriented(dossier_id, last_name, message, caf, cresus)


@pytest.fixture
async def intake(app_stack: AppStack) -> AsyncIterator[intake_pb2_grpc.IntakeServiceAsyncStub]:
    """Intake as ts.bar, the social worker signed_in["ts"] is."""
    token = app_stack.token("ts.bar", Role.TRAVAILLEUR_SOCIAL, (BAR,))
    async with app_stack.channel("intake", token) as channel:
        yield intake_pb2_grpc.IntakeServiceStub(channel)


def text_of(reply: httpx.Response) -> str:
    return html.unescape(reply.text)


def guards(page: str, action: str) -> dict[str, str]:
    """csrf_token and request_id of the form posting to `action`."""
    form = re.search(rf'<form method="post" action="{re.escape(action)}".*?</form>', page, re.S)
    assert form is not None, f"no form posting to {action}"
    found = {}
    for name in ("csrf_token", "request_id"):
        match = re.search(rf'name="{name}" value="([^"]+)"', form.group(0))
        assert match is not None, f"no {name} in the form posting to {action}"
        found[name] = match.group(1)
    return found


def answer(http: httpx.Client, referral_id: str, slug: str, **fields: str) -> httpx.Response:
    """Reads the referral's page, then posts its form `slug` with these fields."""
    url = f"/partenaire/orientations/{referral_id}"
    page = http.get(url)
    assert page.status_code == 200, page.text
    return http.post(f"{url}/{slug}", data={**guards(page.text, f"{url}/{slug}"), **fields})


def assert_done(reply: httpx.Response, referral_id: str, slug: str) -> None:
    assert reply.status_code == 303, text_of(reply)
    assert reply.headers["location"] == f"/partenaire/orientations/{referral_id}?fait={slug}"


def assert_well_formed(page: str) -> None:
    ids = re.findall(r'\sid="([^"]+)"', page)
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})
    assert " style=" not in page and " onclick=" not in page
    assert all("src=" in tag for tag in re.findall(r"<script[^>]*>", page))


async def eventually(probe: Callable[[], object], accept: Callable[[str], bool], timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        value = str(await found) if asyncio.iscoroutine(found) else str(found)
        if accept(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout} s; last:\n{value[-3000:]}")
        await asyncio.sleep(0.3)


async def referral_summaries(intake: intake_pb2_grpc.IntakeServiceAsyncStub, dossier_id: str) -> list[str]:
    timeline = await intake.GetDossierTimeline(
        intake_pb2.GetDossierRequest(dossier_id=dossier_id), timeout=10
    )
    return [entry.summary for entry in timeline.entries if entry.kind == "referral"]


async def followed_by_the_dossier(
    intake: intake_pb2_grpc.IntakeServiceAsyncStub, ts: httpx.Client, dossier_id: str, status: str
) -> None:
    """The dossier's timeline (gRPC as ts.bar) and the social worker's page show `status`."""
    expected = f"Orientation vers CAF de la Meuse : {status}"
    await eventually(lambda: referral_summaries(intake, dossier_id), lambda s: expected in s)
    page = text_of(ts.get(f"/dossiers/{dossier_id}"))
    assert expected in page
    assert f'<span class="referral-status">{status}</span>' in page


async def test_the_partner_answers_through_its_portal_and_the_dossier_follows(
    console: Console,
    signed_in: dict[str, httpx.Client],
    app_stack: AppStack,
    directory_imported: None,
    intake: intake_pb2_grpc.IntakeServiceAsyncStub,
) -> None:
    o = await oriented(app_stack)
    caf, ts = signed_in["partenaire"], signed_in["ts"]
    url = f"/partenaire/orientations/{o.caf}"

    listing = caf.get("/partenaire")
    assert listing.status_code == 200, listing.text
    shown = text_of(listing)
    assert re.search(r"<h1>Orientations reçues \(\d+\)</h1>", shown)
    assert f'data-referral="{o.caf}"' in listing.text and o.cresus not in listing.text
    row = re.search(rf'<tr data-referral="{o.caf}">.*?</tr>', shown, re.S)
    assert row is not None
    assert "Logement" in row.group(0) and "Bar-le-Duc" in row.group(0) and "Demandée" in row.group(0)
    assert f'href="{url}"' in row.group(0) and "Ouvrir l'orientation" in row.group(0)
    assert_well_formed(listing.text)
    # The status filter, in French; a code the service does not know is its French refusal.
    assert f'data-referral="{o.caf}"' in caf.get("/partenaire?statut=requested").text
    assert f'data-referral="{o.caf}"' not in caf.get("/partenaire?statut=completed").text
    unknown = caf.get("/partenaire?statut=nimporte")
    assert unknown.status_code == 400 and "Statut d'orientation inconnu" in text_of(unknown)
    assert f'data-referral="{o.cresus}"' in signed_in["partenaire_cresus"].get("/partenaire").text

    page = caf.get(url)
    assert page.status_code == 200
    seen = text_of(page)
    assert o.message in seen and o.last_name in seen and "14/05/1979" in seen
    assert "Identité (nom, prénom, date de naissance)" in seen
    assert o.dossier_id not in page.text and "Dettes, conflit familial" not in seen
    assert "Surendettement" not in seen
    assert f'action="{url}/accuse-reception"' in page.text and f'action="{url}/refus"' in page.text
    assert f'action="{url}/acceptation"' not in page.text
    assert_well_formed(page.text)

    # A refusal without reason: the service's sentence next to the field, the comment kept.
    refusal_guards = guards(page.text, f"{url}/refus")
    refused = caf.post(f"{url}/refus", data={**refusal_guards, "reason": "", "comment": "Plus de place"})
    assert refused.status_code == 400
    field = re.search(r'<p class="field-error" id="refus-reason-erreur">([^<]+)</p>', text_of(refused))
    assert field is not None and "Pour refuser cette orientation, indiquez un motif parmi" in field.group(1)
    assert 'href="#refus-reason"' in refused.text and 'aria-invalid="true"' in refused.text
    assert ">Plus de place</textarea>" in refused.text
    assert guards(refused.text, f"{url}/refus")["request_id"] == refusal_guards["request_id"]
    assert_well_formed(refused.text)

    reply = answer(caf, o.caf, "accuse-reception")
    assert_done(reply, o.caf, "accuse-reception")
    assert "Vous avez accusé réception de l'orientation" in text_of(caf.get(reply.headers["location"]))
    await followed_by_the_dossier(intake, ts, o.dossier_id, "reçue par le partenaire")

    # The accept form posted twice with its request id: one acceptance.
    page = caf.get(url)
    accept = {**guards(page.text, f"{url}/acceptation")}
    assert_done(caf.post(f"{url}/acceptation", data=accept), o.caf, "acceptation")
    assert_done(caf.post(f"{url}/acceptation", data=accept), o.caf, "acceptation")
    history = re.search(r'<ol class="timeline">.*?</ol>', text_of(caf.get(url)), re.S)
    assert history is not None and history.group(0).count("Acceptée") == 1
    await followed_by_the_dossier(intake, ts, o.dossier_id, "acceptée")
    assert [
        s for s in await referral_summaries(intake, o.dossier_id) if s.endswith("CAF de la Meuse : acceptée")
    ] == ["Orientation vers CAF de la Meuse : acceptée"]

    # A form of an earlier status (another tab): the service's French refusal, at the top.
    stale = caf.post(
        f"{url}/accuse-reception", data={"csrf_token": accept["csrf_token"], "request_id": str(uuid.uuid4())}
    )
    assert stale.status_code == 400
    assert "Impossible d'accuser réception de cette orientation : elle est acceptée" in text_of(stale)
    assert 'role="alert"' in stale.text
    assert_well_formed(stale.text)

    assert_done(answer(caf, o.caf, "demarrage"), o.caf, "demarrage")
    await followed_by_the_dossier(intake, ts, o.dossier_id, "en cours")

    assert_done(answer(caf, o.caf, "fin", outcome="need_met", comment=""), o.caf, "fin")
    await followed_by_the_dossier(intake, ts, o.dossier_id, "terminée")
    done = text_of(caf.get(f"{url}?fait=fin"))
    assert "L'orientation est terminée" in done and "Besoin satisfait" in done
    assert "n'attend plus de réponse" in done and '<form method="post" action="/partenaire/' not in done

    # Another partner: the French 404, for the page and for its forms.
    cresus = signed_in["partenaire_cresus"]
    other = cresus.get(url)
    assert other.status_code == 404 and "Page introuvable" in text_of(other)
    assert o.message not in text_of(other)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', cresus.get("/partenaire").text)
    assert csrf is not None
    posted = cresus.post(f"{url}/echec", data={"csrf_token": csrf.group(1), "reason": "no_capacity"})
    assert posted.status_code == 404 and "Page introuvable" in text_of(posted)
    assert caf.get("/partenaire/orientations/pas-un-identifiant").status_code == 404
    # The portal is the partners': a social worker reads referrals on the dossier page.
    assert ts.get("/partenaire").status_code == 404 and ts.get(url).status_code == 404


def test_the_partner_portal_passes_axe_core_in_chromium(
    console: Console, app_stack: AppStack, directory_imported: None
) -> None:
    # Playwright's sync API cannot run inside the tests' event loop: the set-up runs in a thread.
    with ThreadPoolExecutor(1) as pool:
        o = pool.submit(asyncio.run, oriented(app_stack)).result(timeout=90)
    with (
        browser.chromium() as chromium,
        browser.browsing(chromium, console.artefacts / "partenaire") as (page, checked),
    ):
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(f"{console.url}/partenaire")
        page.get_by_role("link", name="Se connecter avec votre compte professionnel").click()
        page.fill("#login", AGENTS["partenaire"].email)
        page.click("#login-submit")
        page.wait_for_url(f"{console.url}/partenaire**")
        row = page.locator(f'tr[data-referral="{o.caf}"]')
        assert row.count() == 1
        checked.accessible(page, "orientations reçues")

        row.get_by_role("link", name=re.compile("Ouvrir l'orientation")).click()
        page.wait_for_url(f"{console.url}/partenaire/orientations/{o.caf}")
        assert o.last_name in page.inner_text("#personne")
        checked.accessible(page, "orientation reçue")

        page.get_by_role("button", name="Refuser l'orientation").click()
        page.wait_for_load_state()
        assert "indiquez un motif" in page.inner_text("#refus-reason-erreur")
        checked.accessible(page, "orientation refus sans motif")

        page.get_by_role("button", name="Accuser réception de l'orientation").click()
        page.wait_for_url(re.compile(r"fait=accuse-reception"))
        assert "Vous avez accusé réception" in page.inner_text("main")
        page.get_by_label("Motif du refus").select_option("no_capacity")
        page.get_by_role("button", name="Refuser l'orientation").click()
        page.wait_for_url(re.compile(r"fait=refus"))
        assert "n'attend plus de réponse" in page.inner_text("#reponse")
        checked.accessible(page, "orientation refusée")
