"""A partner answers a referral through its signed link, without an account: the link's
page on a plain HTTP client (no sign-in), the answer on the dossier's timeline, the same
link then "already used"; an expired link, an altered one, a post without the
double-submit cookie; and Chromium with axe-core on the link's and thank-you pages."""

from __future__ import annotations

import asyncio
import html
import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import asyncpg
import grpc
import httpx2 as httpx
from entraide.v1 import intake_pb2, intake_pb2_grpc, referral_pb2, referral_pb2_grpc

from kernel.auth import Role
from tests.conftest import AppStack
from tests.e2e.services.console import browser
from tests.e2e.services.console import test_dossier_page as dossier_page
from tests.e2e.services.console.conftest import BAR, Console

directory_imported = dossier_page.directory_imported  # the fixture: the demo partners


async def referral_with_link(app_stack: AppStack, ttl_s: int = 0) -> tuple[str, str, str]:
    """A dossier with a consent and a referral to the CAF (over gRPC, as ts.bar), and a
    link for it: (dossier id, referral id, link token)."""
    token = app_stack.token("ts.bar", Role.TRAVAILLEUR_SOCIAL, (BAR,))
    async with app_stack.channel("intake", token) as channel, app_stack.channel("referral", token) as other:
        intake, referrals = (
            intake_pb2_grpc.IntakeServiceStub(channel),
            referral_pb2_grpc.ReferralServiceStub(other),
        )
        dossier_id = await dossier_page.open_dossier(intake)
        await intake.RecordInterview(
            intake_pb2.RecordInterviewRequest(dossier_id=dossier_id, notes="Entretien d'accueil"), timeout=15
        )
        done = await intake.CompleteEcoute(
            intake_pb2.CompleteEcouteRequest(dossier_id=dossier_id, next_stage="orientation"), timeout=15
        )
        await intake.RecordConsent(
            intake_pb2.RecordConsentRequest(
                person_id=done.dossier.person_id,
                dossier_id=dossier_id,
                partner_id="caf-meuse",
                data_scope=["motif", "identite"],
                kind="consent",
                channel="written",
            ),
            timeout=10,
        )
        deadline = time.monotonic() + 30
        while True:  # the referral service learns the dossier from intake's events
            try:
                created = await referrals.CreateReferral(
                    referral_pb2.CreateReferralRequest(
                        dossier_id=dossier_id,
                        partner_id="caf-meuse",
                        motif="logement",
                        message_for_partner="Impayés de loyer : rendez-vous souhaité.",
                        data_scope=["motif", "identite"],
                        request_id=f"lien-{dossier_id}",
                    ),
                    timeout=20,
                )
                break
            except grpc.aio.AioRpcError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.3)
        link = await referrals.CreateReferralLink(
            referral_pb2.CreateReferralLinkRequest(referral_id=created.referral_id, ttl_s=ttl_s), timeout=10
        )
    return dossier_id, created.referral_id, link.link_token


async def referral_summaries(app_stack: AppStack, dossier_id: str) -> list[str]:
    token = app_stack.token("ts.bar", Role.TRAVAILLEUR_SOCIAL, (BAR,))
    async with app_stack.channel("intake", token) as channel:
        timeline = await intake_pb2_grpc.IntakeServiceStub(channel).GetDossierTimeline(
            intake_pb2.GetDossierRequest(dossier_id=dossier_id), timeout=10
        )
    return [entry.summary for entry in timeline.entries if entry.kind == "referral"]


def text_of(reply: httpx.Response) -> str:
    return html.unescape(reply.text)


def answer_fields(page: str, action: str) -> dict[str, str]:
    """The hidden fields of the answer form `action` on the link's page."""
    match = re.search(rf'<form method="post" action="[^"]+" id="form-{action}">.*?</form>', page, re.S)
    assert match is not None, f"no form for {action}"
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', match.group(0)))


def anonymous(console: Console) -> httpx.Client:
    """A browser without any account: no sign-in, no session."""
    return httpx.Client(base_url=console.url, timeout=20, follow_redirects=False)


async def test_a_partner_answers_through_the_link_once_without_an_account(
    console: Console, app_stack: AppStack, directory_imported: None
) -> None:
    dossier_id, _, token = await referral_with_link(app_stack)
    with anonymous(console) as http:
        page = http.get(f"/lien/{token}")
        assert page.status_code == 200, page.text
        shown = text_of(page)
        assert "<h1>Orientation reçue : " in shown
        assert "Impayés de loyer : rendez-vous souhaité." in shown and "demandée" in shown
        assert "Accuser réception" in shown and "Refuser" in shown and "Accepter" not in shown
        assert dossier_id not in page.text  # the partner's view: no dossier id
        cookie = page.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/lien" in cookie
        dossier_page.assert_well_formed(page.text)
        fields = answer_fields(page.text, "reject")
        assert '<select id="reject-reason" name="reason" required>' in page.text

        # Without the double-submit cookie: refused, nothing recorded.
        with anonymous(console) as stranger:
            refused = stranger.post(f"/lien/{token}/reponse", data=answer_fields(page.text, "acknowledge"))
        assert refused.status_code == 403 and "Formulaire refusé" in text_of(refused)
        # With a wrong value in the form: refused as well.
        wrong = {**answer_fields(page.text, "acknowledge"), "link_csrf": "x" * 43}
        assert http.post(f"/lien/{token}/reponse", data=wrong).status_code == 403

        # Reject without a reason: the form again, the service's French sentence next to the field.
        missing = http.post(f"/lien/{token}/reponse", data={**fields, "reason": ""})
        assert missing.status_code == 400, missing.text
        assert 'aria-invalid="true"' in missing.text and "indiquez un motif" in text_of(missing)

        answered = http.post(f"/lien/{token}/reponse", data=answer_fields(page.text, "acknowledge"))
        assert answered.status_code == 303, text_of(answered)
        assert answered.headers["location"] == f"/lien/{token}/merci?reponse=acknowledge"
        thanks = http.get(answered.headers["location"])
        assert thanks.status_code == 200 and "votre réponse est enregistrée" in text_of(thanks)
        assert "« Accuser réception »" in text_of(thanks)

        # The social worker sees the answer on the dossier's timeline.
        deadline = time.monotonic() + 30
        while (summaries := await referral_summaries(app_stack, dossier_id))[-1:] != [
            "Orientation vers CAF de la Meuse : reçue par le partenaire"
        ]:
            assert time.monotonic() < deadline, summaries
            await asyncio.sleep(0.3)

        # The same link now says it has served, and what to do (no stack trace, 410).
        again = http.get(f"/lien/{token}")
        assert again.status_code == 410
        assert "Ce lien a déjà servi" in text_of(again) and "demandez un nouveau lien au CCAS" in text_of(
            again
        )
        repost = http.post(
            f"/lien/{token}/reponse", data=answer_fields(page.text, "reject") | {"reason": "no_capacity"}
        )
        assert repost.status_code == 410


async def test_expired_and_altered_links_show_their_french_page(
    console: Console, app_stack: AppStack, directory_imported: None
) -> None:
    _, expired_referral, expired = await referral_with_link(app_stack, ttl_s=60)
    conn = await asyncpg.connect(app_stack.settings.database_url)
    try:  # as the owner: this link's time is up
        await conn.execute(
            """UPDATE referral.referral_links
                  SET created_at = now() - interval '2 hours', expires_at = now() - interval '1 hour'
                WHERE referral_id = $1""",
            uuid.UUID(expired_referral),
        )
    finally:
        await conn.close()
    _, referral_b, token_b = await referral_with_link(app_stack)
    with anonymous(console) as http:
        gone = http.get(f"/lien/{expired}")
        assert gone.status_code == 410 and "Ce lien a expiré" in text_of(gone)
        assert "Traceback" not in gone.text
        # Referral A's token with referral B's id: not B's page, the "not valid" page.
        link_hex, _, expires, mac = expired.split(".")
        altered = f"{link_hex}.{uuid.UUID(referral_b).hex}.{expires}.{mac}"
        refused = http.get(f"/lien/{altered}")
        assert refused.status_code == 404 and "Ce lien n'est pas valable" in text_of(refused)
        assert "Impayés" not in refused.text
        assert http.get("/lien/pas-un-lien").status_code == 404
        assert http.get(f"/lien/{token_b[:-1]}").status_code == 404
        # B's own link still opens B.
        assert http.get(f"/lien/{token_b}").status_code == 200


def test_the_link_and_thank_you_pages_pass_axe_core_in_chromium(
    console: Console, app_stack: AppStack, directory_imported: None
) -> None:
    with ThreadPoolExecutor(1) as pool:
        _, _, token = pool.submit(asyncio.run, referral_with_link(app_stack)).result(timeout=90)
    with (
        browser.chromium() as chromium,
        browser.browsing(chromium, console.artefacts / "lien-partenaire") as (page, checked),
    ):
        page.goto(f"{console.url}/lien/{token}")
        checked.accessible(page, "lien d'un partenaire")
        page.get_by_role("button", name="Accuser réception").click()
        page.wait_for_url(re.compile(r".*/merci\?reponse=acknowledge$"))
        assert page.get_by_role("heading", level=1).inner_text() == "Merci, votre réponse est enregistrée"
        checked.accessible(page, "réponse enregistrée")
