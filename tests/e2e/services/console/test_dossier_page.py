"""The dossier page and its actions, through the console's HTTP forms on the real stack:
private notes, one interview for a double submit, CSRF, consent, a referral followed as
the partner answers, suivi, closure refused then done, reopening, and another commune's
agent refused without a read in the access log."""

from __future__ import annotations

import asyncio
import html
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import asyncpg
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
Fields = Sequence[tuple[str, str]]


@pytest.fixture(scope="module")
async def intake(app_stack: AppStack) -> AsyncIterator[intake_pb2_grpc.IntakeServiceAsyncStub]:
    """Intake as ts.bar, the agent the console signs in as signed_in["ts"]."""
    token = app_stack.token("ts.bar", Role.TRAVAILLEUR_SOCIAL, (BAR,))
    async with app_stack.channel("intake", token) as channel:
        yield intake_pb2_grpc.IntakeServiceStub(channel)


@pytest.fixture(scope="module")
async def directory_imported(app_stack: AppStack) -> None:
    token = app_stack.token("resp.bar", Role.RESPONSABLE)
    async with app_stack.channel("referral", token) as channel:
        await referral_pb2_grpc.ReferralServiceStub(channel).ImportDirectory(
            referral_pb2.ImportDirectoryRequest(document=DIRECTORY.read_text(encoding="utf-8")), timeout=10
        )


async def open_dossier(intake: intake_pb2_grpc.IntakeServiceAsyncStub, with_person: bool = True) -> str:
    person_id = ""
    if with_person:
        created = await intake.CreatePerson(
            intake_pb2.CreatePersonRequest(
                request_id=uuid.uuid4().hex,
                territory=BAR,
                first_name="Inès",
                last_name="Marchal" + uuid.uuid4().hex[:6],
                birth_date="1979-05-14",
            ),
            timeout=10,
        )
        person_id = created.person.person_id
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
    return str(opened.dossier.dossier_id)


async def entry_kinds(intake: intake_pb2_grpc.IntakeServiceAsyncStub, dossier_id: str) -> list[str]:
    timeline = await intake.GetDossierTimeline(
        intake_pb2.GetDossierRequest(dossier_id=dossier_id), timeout=10
    )
    return [entry.kind for entry in timeline.entries]


def text_of(reply: httpx.Response) -> str:
    return html.unescape(reply.text)


def form_of(page: str, action: str) -> str:
    """The HTML of the form posting to `action`."""
    match = re.search(rf'<form method="post" action="{re.escape(action)}".*?</form>', page, re.S)
    assert match is not None, f"no form posting to {action}"
    return match.group(0)


def guards(page: str, action: str) -> dict[str, str]:
    """csrf_token and request_id of the form posting to `action`."""
    form = form_of(page, action)
    found = {}
    for name in ("csrf_token", "request_id"):
        match = re.search(rf'name="{name}" value="([^"]+)"', form)
        assert match is not None, f"no {name} in the form posting to {action}"
        found[name] = match.group(1)
    return found


def encoded(fields: Fields) -> dict[str, list[str]]:
    """Form fields as httpx takes them (a name given several times: a list)."""
    data: dict[str, list[str]] = {}
    for name, value in fields:
        data.setdefault(name, []).append(value)
    return data


def post_form(http: httpx.Client, dossier_id: str, path: str, fields: Fields) -> httpx.Response:
    """Reads the dossier page, then posts its form `path` with these fields."""
    action = f"/dossiers/{dossier_id}{path}"
    page = http.get(f"/dossiers/{dossier_id}")
    assert page.status_code == 200, page.text
    return http.post(action, data=encoded([*guards(page.text, action).items(), *fields]))


def assert_done(reply: httpx.Response, dossier_id: str, code: str, section: str) -> None:
    assert reply.status_code == 303, text_of(reply)
    assert reply.headers["location"] == f"/dossiers/{dossier_id}?fait={code}#{section}"


def assert_well_formed(page: str) -> None:
    """Ids unique across the page's many forms; no inline style or script (the CSP)."""
    ids = re.findall(r'\sid="([^"]+)"', page)
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})
    assert " style=" not in page and " onclick=" not in page
    assert all("src=" in tag for tag in re.findall(r"<script[^>]*>", page))


def wait_for(probe: Callable[[], str], accept: Callable[[str], bool], timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if accept(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout} s; last page:\n{value[-3000:]}")
        time.sleep(0.3)


async def test_a_private_note_reaches_its_author_only_and_a_double_submit_is_one_interview(
    console: Console, signed_in: dict[str, httpx.Client], intake: intake_pb2_grpc.IntakeServiceAsyncStub
) -> None:
    dossier_id = await open_dossier(intake)
    ts = signed_in["ts"]
    secret = f"Dettes de loyer, conflit familial {uuid.uuid4().hex[:8]}"
    action = f"/dossiers/{dossier_id}/entretien"
    page = ts.get(f"/dossiers/{dossier_id}")
    assert page.status_code == 200
    assert "Notes d'entretien" in text_of(page) and "Privée — visible de moi seul" in text_of(page)
    data = encoded([*guards(page.text, action).items(), ("notes", secret), ("visibility", "author")])
    first = ts.post(action, data=data)
    again = ts.post(action, data=data)
    assert_done(first, dossier_id, "entretien", "entretien")
    assert_done(again, dossier_id, "entretien", "entretien")

    mine = text_of(ts.get(first.headers["location"]))
    assert "L'entretien a été enregistré." in mine
    assert secret in mine and "Note privée" in mine
    assert "écoute" in mine
    assert (await entry_kinds(intake, dossier_id)).count("interview") == 1

    colleague = signed_in["ts2"].get(f"/dossiers/{dossier_id}")
    assert colleague.status_code == 200
    assert secret not in text_of(colleague)


async def test_a_post_without_csrf_token_is_refused_and_records_nothing(
    console: Console, signed_in: dict[str, httpx.Client], intake: intake_pb2_grpc.IntakeServiceAsyncStub
) -> None:
    dossier_id = await open_dossier(intake, with_person=False)
    ts = signed_in["ts"]
    page = ts.get(f"/dossiers/{dossier_id}")
    request_id = guards(page.text, f"/dossiers/{dossier_id}/entretien")["request_id"]
    reply = ts.post(
        f"/dossiers/{dossier_id}/entretien",
        data={"request_id": request_id, "notes": "Sans jeton", "visibility": "team"},
    )
    assert reply.status_code == 403
    assert "Formulaire refusé" in text_of(reply)
    assert await entry_kinds(intake, dossier_id) == ["opened"]


async def test_consent_referral_suivi_closure_and_reopening_through_the_page(
    console: Console,
    signed_in: dict[str, httpx.Client],
    intake: intake_pb2_grpc.IntakeServiceAsyncStub,
    app_stack: AppStack,
    directory_imported: None,
) -> None:
    dossier_id = await open_dossier(intake)
    ts = signed_in["ts"]
    page_url = f"/dossiers/{dossier_id}"

    reply = post_form(ts, dossier_id, "/entretien", [("notes", "Premier entretien"), ("visibility", "team")])
    assert_done(reply, dossier_id, "entretien", "entretien")
    reply = post_form(
        ts,
        dossier_id,
        "/fin-ecoute",
        [("next_stage", "orientation"), ("motifs", "logement"), ("motifs", "difficultes_financieres")],
    )
    assert_done(reply, dossier_id, "fin-ecoute", "resume")

    # The referral service learns the dossier's new motifs from intake's events.
    wait_for(lambda: text_of(ts.get(page_url)), lambda t: "Orienter vers CRESUS Grand Est" in t)

    person_id = re.search(r'name="person_id" value="([^"]+)"', ts.get(page_url).text)
    assert person_id is not None
    reply = post_form(
        ts,
        dossier_id,
        "/consentement",
        [
            ("person_id", person_id.group(1)),
            ("partner_id", "caf-meuse"),
            ("data_scope", "motif"),
            ("data_scope", "identite"),
            ("kind", "consent"),
            ("channel", "oral"),
            ("legal_basis", ""),
        ],
    )
    assert_done(reply, dossier_id, "consentement", "consentements")
    consents = text_of(ts.get(reply.headers["location"]))
    assert "Le consentement a été enregistré." in consents
    assert (
        "Consentement de la personne" in consents and "Identité (nom, prénom, date de naissance)" in consents
    )

    reply = post_form(
        ts,
        dossier_id,
        "/orientation",
        [
            ("partner_id", "caf-meuse"),
            ("motif", "logement"),
            ("message_for_partner", "Impayés de loyer, rendez-vous souhaité."),
            ("data_scope", "motif"),
            ("data_scope", "identite"),
        ],
    )
    assert_done(reply, dossier_id, "orientation", "orientations")
    fragment = ts.get(f"{page_url}/orientations")
    assert fragment.status_code == 200
    assert 'hx-trigger="every 5s"' in fragment.text and "CAF de la Meuse" in text_of(fragment)
    assert "demandée" in text_of(fragment)

    assert_well_formed(ts.get(page_url).text)

    # No consent covers CRESUS: the service refuses, the message typed is kept.
    message = "Surendettement, dossier Banque de France à monter."
    refused = post_form(
        ts,
        dossier_id,
        "/orientation",
        [
            ("partner_id", "cresus-grand-est"),
            ("motif", "difficultes_financieres"),
            ("message_for_partner", message),
            ("data_scope", "motif"),
        ],
    )
    assert refused.status_code == 400
    assert "Aucun consentement de la personne" in text_of(refused)
    kept = re.search(
        r'<textarea id="orientation-cresus-grand-est-message_for_partner"[^>]*>([^<]*)</textarea>',
        refused.text,
    )
    assert kept is not None and html.unescape(kept.group(1)) == message

    token = app_stack.token("user-caf", Role.PARTENAIRE, (), partner_id="caf-meuse")
    async with app_stack.channel("referral", token) as channel:
        caf = referral_pb2_grpc.ReferralServiceStub(channel)
        mine = await caf.ListMyReferrals(referral_pb2.ListMyReferralsRequest(), timeout=10)
        referral_id = next(
            r.referral_id for r in mine.referrals if r.message_for_partner.startswith("Impayés")
        )
        await caf.AcknowledgeReferral(referral_pb2.ReferralActionRequest(referral_id=referral_id), timeout=15)
        await caf.AcceptReferral(referral_pb2.ReferralActionRequest(referral_id=referral_id), timeout=15)
    wait_for(
        lambda: text_of(ts.get(f"{page_url}/orientations")),
        lambda t: '<span class="referral-status">acceptée</span>' in t,
        timeout=15,
    )

    assert_done(post_form(ts, dossier_id, "/suivi", []), dossier_id, "suivi", "suivi")
    assert_done(post_form(ts, dossier_id, "/attribution", [("moi", "1")]), dossier_id, "attribution", "suivi")
    assert "Dossier attribué à : Claire Petit." in text_of(ts.get(page_url))
    cancel = f"/orientation/{referral_id}/annulation"
    assert_done(post_form(ts, dossier_id, cancel, [("reason", "")]), dossier_id, "annulation", "orientations")
    assert '<span class="referral-status">annulée</span>' in ts.get(f"{page_url}/orientations").text
    reply = post_form(ts, dossier_id, "/contact", [("notes", "Appel à la CAF"), ("visibility", "team")])
    assert_done(reply, dossier_id, "contact", "suivi")
    assert "Appel à la CAF" in text_of(ts.get(page_url))

    # A closure without outcome: the service's sentence, the notes kept, the same request id.
    page = ts.get(page_url)
    close_guards = guards(page.text, f"{page_url}/cloture")
    notes = "Maintien dans le logement, plan d'apurement signé"
    refused = ts.post(f"{page_url}/cloture", data={**close_guards, "notes": notes})
    assert refused.status_code == 400
    shown = text_of(refused)
    assert "Indiquez l'issue du dossier pour le clôturer" in shown
    assert f">{notes}</textarea>" in shown
    assert guards(refused.text, f"{page_url}/cloture")["request_id"] == close_guards["request_id"]
    assert 'href="#cloture-outcome"' in refused.text and 'id="cloture-outcome-erreur"' in refused.text

    done = ts.post(f"{page_url}/cloture", data={**close_guards, "notes": notes, "outcome": "regle"})
    assert_done(done, dossier_id, "cloture", "cloture")
    closed = text_of(ts.get(done.headers["location"]))
    assert "Le dossier a été clôturé." in closed and "Réglé : une solution a été trouvée" in closed

    reply = post_form(ts, dossier_id, "/reouverture", [("reason", "Nouvel impayé")])
    assert_done(reply, dossier_id, "reouverture", "cloture")
    assert (await entry_kinds(intake, dossier_id))[-2:] == ["closed", "reopened"]
    reopened = text_of(ts.get(page_url))
    assert "Étape : écoute" in reopened and "Nouvel impayé" in reopened


async def test_an_agent_of_another_commune_gets_the_french_404_and_no_read_is_logged(
    console: Console,
    signed_in: dict[str, httpx.Client],
    intake: intake_pb2_grpc.IntakeServiceAsyncStub,
    app_stack: AppStack,
) -> None:
    dossier_id = await open_dossier(intake)
    ligny = signed_in["ts_ligny"]
    for reply in (ligny.get(f"/dossiers/{dossier_id}"), ligny.get(f"/dossiers/{dossier_id}/orientations")):
        assert reply.status_code == 404
        assert "Page introuvable" in text_of(reply)
    assert ligny.get("/dossiers/not-a-dossier-id").status_code == 404

    await asyncio.sleep(0.5)  # the access log is written after the call
    conn = await asyncpg.connect(app_stack.env["DATABASE_URL"])
    try:
        reads = await conn.fetchval(
            """SELECT count(*) FROM audit.access_log
                WHERE actor = 'ts.ligny' AND action = 'read' AND resource_id = $1""",
            dossier_id,
        )
    finally:
        await conn.close()
    assert reads == 0


async def _dossier_with_a_referral(app_stack: AppStack) -> str:
    """A dossier in orientation with a consent and a referral to the CAF (set up over gRPC)."""
    token = app_stack.token("ts.bar", Role.TRAVAILLEUR_SOCIAL, (BAR,))
    async with app_stack.channel("intake", token) as channel, app_stack.channel("referral", token) as other:
        stub, referrals = (
            intake_pb2_grpc.IntakeServiceStub(channel),
            referral_pb2_grpc.ReferralServiceStub(other),
        )
        dossier_id = await open_dossier(stub)
        await stub.RecordInterview(
            intake_pb2.RecordInterviewRequest(dossier_id=dossier_id, notes="Entretien d'accueil"), timeout=15
        )
        done = await stub.CompleteEcoute(
            intake_pb2.CompleteEcouteRequest(dossier_id=dossier_id, next_stage="orientation"), timeout=15
        )
        await stub.RecordConsent(
            intake_pb2.RecordConsentRequest(
                person_id=done.dossier.person_id,
                dossier_id=dossier_id,
                partner_id="caf-meuse",
                data_scope=["motif"],
                kind="consent",
                channel="written",
            ),
            timeout=10,
        )
        deadline = time.monotonic() + 30
        while True:  # the referral service learns the dossier from intake's events
            try:
                await referrals.CreateReferral(
                    referral_pb2.CreateReferralRequest(
                        dossier_id=dossier_id,
                        partner_id="caf-meuse",
                        motif="logement",
                        message_for_partner="Aide au logement.",
                        data_scope=["motif"],
                        request_id=f"axe-{dossier_id}",
                    ),
                    timeout=20,
                )
                break
            except grpc.aio.AioRpcError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.3)
    return dossier_id


def test_the_dossier_page_passes_axe_core_in_chromium(
    console: Console, app_stack: AppStack, directory_imported: None
) -> None:
    # Playwright's sync API cannot run inside the tests' event loop: the set-up runs in a thread.
    with ThreadPoolExecutor(1) as pool:
        dossier_id = pool.submit(asyncio.run, _dossier_with_a_referral(app_stack)).result(timeout=60)
    url = f"{console.url}/dossiers/{dossier_id}"
    with (
        browser.chromium() as chromium,
        browser.browsing(chromium, console.artefacts / "dossier") as (page, checked),
    ):
        page.goto(url)
        page.get_by_role("link", name="Se connecter avec votre compte professionnel").click()
        page.fill("#login", AGENTS["ts"].email)
        page.click("#login-submit")
        page.wait_for_url(f"{url}**")
        assert page.get_by_role("button", name="Orienter vers CAF de la Meuse").count() == 1
        assert "demandée" in page.inner_text("#orientations-liste")
        checked.accessible(page, "dossier")
        # htmx refreshes the referrals within the CSP.
        with page.expect_response(lambda r: r.url.endswith("/orientations"), timeout=10_000):
            pass
        page.fill("#cloture-notes", "Notes à garder")
        page.get_by_role("button", name="Clôturer le dossier").click()
        page.wait_for_load_state()
        assert page.input_value("#cloture-notes") == "Notes à garder"
        checked.accessible(page, "dossier-refus")
