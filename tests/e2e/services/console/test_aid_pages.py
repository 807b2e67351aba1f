"""The CCAS's aid pages on the real console and stack: a request made from its dossier's
form (the reste à vivre and quotient familial estimated, then computed by the service;
unreadable euros refused beside their field), instructed incomplete then complete, put
on a commission's agenda, granted from the commission's page, paid from the payments
to make, its decision sheet and its letter (PDF); a refused and a postponed request; a
micro-credit granted in urgency with its schedule and one incident; a budget line
created from its form and a grant beyond it refused in French unless overridden;
supporting documents uploaded (multipart), listed, downloaded, deleted, the wrong type
and too large refused in French; the bilan's aid section; the menus by role."""

from __future__ import annotations

import html
import re
import struct
import uuid
import zlib
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import httpx2 as httpx
import pytest
from entraide.v1 import aides_pb2, aides_pb2_grpc, intake_pb2

from kernel.auth import Role
from tests.conftest import AppStack
from tests.e2e.services.console.conftest import BAR, LIGNY
from tests.e2e.services.console.helpers import create_person, csrf_of, form_tokens, letters
from tests.e2e.services.console.helpers import intake as intake  # the fixture

if TYPE_CHECKING:
    from entraide.v1.aides_pb2_grpc import AidServiceAsyncStub as Aides
    from entraide.v1.intake_pb2_grpc import IntakeServiceAsyncStub as Stub

PARIS = ZoneInfo("Europe/Paris")
NBSP = "\u00a0"


def euros(text: str) -> str:
    """« 250,00 € » as the pages write it (a no-break space before the sign)."""
    return text.replace(" €", f"{NBSP}€")


def text_of(page: httpx.Response) -> str:
    return html.unescape(page.text)


def this_year() -> int:
    return datetime.now(PARIS).year


def png(width: int = 1, height: int = 1, padding: int = 0) -> bytes:
    """A real PNG image (white pixels); `padding` adds a private chunk to make it bigger."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\xff\xff\xff" * width for _ in range(height))
    body = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    if padding:
        body += chunk(b"pdDa", b"\x00" * padding)
    body += chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body


def form_ids(page: httpx.Response, form_id: str) -> tuple[str, str]:
    """The CSRF token and the request id of the form `form_id` of the page."""
    match = re.search(rf'id="{re.escape(form_id)}".*?name="request_id" value="([^"]+)"', page.text, re.S)
    assert match, f"no form {form_id} in {page.text}"
    return csrf_of(page), match.group(1)


def location_of(answer: httpx.Response) -> str:
    assert answer.status_code == 303, answer.text
    return str(answer.headers["location"])


@pytest.fixture
async def aides(app_stack: AppStack) -> AsyncIterator[Aides]:
    """AidService as a responsable of Bar-le-Duc and Ligny, for set-up."""
    token = app_stack.token("resp.bar", Role.RESPONSABLE, [BAR, LIGNY])
    async with app_stack.channel("intake", token) as channel:
        yield aides_pb2_grpc.AidServiceStub(channel)


async def person_with_dossier(intake: Stub, last_name: str = "") -> tuple[str, str, str]:
    """(person_id, dossier_id, last name) in Ligny."""
    name = last_name or f"Aide{letters(8).capitalize()}"
    person = await create_person(intake, territory=LIGNY, first_name="Sonia", last_name=name)
    opened = await intake.OpenDossier(
        intake_pb2.OpenDossierRequest(
            request_id=str(uuid.uuid4()),
            territory=LIGNY,
            motifs=["logement"],
            arrival_channel="visite_spontanee",
            person_id=person.person_id,
        ),
        timeout=15,
    )
    return str(person.person_id), str(opened.dossier.dossier_id), name


async def ensure_line(aides: Aides, aid_type: str, envelope_cents: int = 5_000_000) -> None:
    """A budget line of this year in Ligny that the aid type is charged on."""
    lines = await aides.ListBudgetLines(
        aides_pb2.ListBudgetLinesRequest(territories=[LIGNY], year=this_year()), timeout=15
    )
    if any(aid_type in line.aid_types for line in lines.budget_lines):
        return
    await aides.CreateBudgetLine(
        aides_pb2.CreateBudgetLineRequest(
            territory=LIGNY,
            year=this_year(),
            label=f"Ligne {aid_type} {letters(4)}",
            aid_types=[aid_type],
            envelope_cents=envelope_cents,
            request_id=str(uuid.uuid4()),
        ),
        timeout=15,
    )


async def complete_request(
    aides: Aides, dossier_id: str, aid_type: str, amount_cents: int, resources_cents: int = 90_000
) -> aides_pb2.AidRequest:
    created = await aides.CreateAidRequest(
        aides_pb2.CreateAidRequestRequest(
            dossier_id=dossier_id,
            aid_type=aid_type,
            amount_asked_cents=amount_cents,
            reason="Facture impayée après une baisse de revenus.",
            budget=aides_pb2.HouseholdBudget(
                resources_cents=resources_cents, charges_cents=70_000, adults=1, children=1
            ),
            request_id=str(uuid.uuid4()),
        ),
        timeout=15,
    )
    instructed: aides_pb2.AidRequest = await aides.RecordInstruction(
        aides_pb2.RecordInstructionRequest(
            aid_request_id=created.aid_request_id, complete=True, request_id=str(uuid.uuid4())
        ),
        timeout=15,
    )
    return instructed


async def commission(aides: Aides, days: int = 12) -> aides_pb2.Commission:
    created: aides_pb2.Commission = await aides.CreateCommission(
        aides_pb2.CreateCommissionRequest(
            territory=LIGNY,
            day=(date.today() + timedelta(days=days)).isoformat(),
            starts_at="14:00",
            place="Salle du conseil, mairie de Ligny-en-Barrois",
            members=["Mme Martin (vice-présidente du CCAS)", "M. Durand (administrateur)"],
            request_id=str(uuid.uuid4()),
        ),
        timeout=15,
    )
    return created


async def test_the_journey_of_a_granted_request(
    aides: Aides, intake: Stub, signed_in: dict[str, httpx.Client]
) -> None:
    _, dossier_id, name = await person_with_dossier(intake)
    await ensure_line(aides, "secours_urgence")
    ts, resp = signed_in["ts_ligny"], signed_in["responsable"]

    # The form, its estimate, an unreadable amount and a refusal of the service.
    url = f"/dossiers/{dossier_id}/aides/nouvelle"
    csrf, request_id = form_tokens(ts, url)
    form = {
        "csrf_token": csrf,
        "request_id": request_id,
        "aid_type": "secours_urgence",
        "amount_asked": "250",
        "reason": "Facture d'électricité impayée après une baisse de revenus.",
        "resources": "1 200,00",
        "charges": "950",
        "adults": "1",
        "children": "2",
    }
    estimated = ts.post(url, data={**form, "calcul": "1"})
    assert estimated.status_code == 200, estimated.text
    # (1 200 - 950) / 3 persons / 30 days = 2,77 € ; 1 200 / 3 parts = 400,00 €.
    assert euros("2,77 € par personne") in text_of(estimated)
    assert euros("400,00 € par mois") in text_of(estimated)
    unreadable = ts.post(url, data={**form, "amount_asked": "deux cents"})
    assert unreadable.status_code == 400, unreadable.text
    assert re.search(r'<p class="field-error" id="amount_asked-erreur">[^<]+</p>', unreadable.text)
    assert 'value="1 200,00"' in unreadable.text
    refused = ts.post(url, data={**form, "aid_type": ""})
    assert refused.status_code == 400, refused.text
    assert 'id="aid_type-erreur"' in refused.text, refused.text
    created = location_of(ts.post(url, data=form))
    assert re.fullmatch(r"/aides/demandes/[^/?]+\?fait=cree", created), created
    request_url = created.split("?")[0]
    aid_request_id = request_url.rsplit("/", 1)[1]
    page = ts.get(created)
    assert page.status_code == 200, page.text
    assert euros("2,77 € par personne et par jour") in text_of(page)
    assert euros("250,00 €") in text_of(page) and name in text_of(page)
    dossier = ts.get(f"/dossiers/{dossier_id}")
    assert request_url in dossier.text and "Secours d'urgence" in text_of(dossier)

    # Instruction: incomplete (a pay slip missing), then complete.
    csrf, request_id = form_ids(page, "form-instruction")
    instruction = {
        "csrf_token": csrf,
        "request_id": request_id,
        "complete": "incomplete",
        "missing_documents": ["bulletin_salaire"],
        "note": "Bulletin de salaire de mars à fournir.",
        "resources": "1 200,00",
        "charges": "950,00",
        "adults": "1",
        "children": "2",
    }
    page = ts.get(location_of(ts.post(f"{request_url}/instruction", data=instruction)))
    assert "Pièces manquantes : Bulletin de salaire" in text_of(page)
    csrf, request_id = form_ids(page, "form-instruction")
    done = ts.post(
        f"{request_url}/instruction",
        data={**instruction, "request_id": request_id, "complete": "complete", "missing_documents": []},
    )
    page = ts.get(location_of(done))
    assert "Complète, à présenter en commission" in text_of(page)

    # A commission planned from its form, the request put on its agenda from its page.
    csrf, request_id = form_tokens(ts, "/aides/commissions/nouvelle")
    day = (date.today() + timedelta(days=9)).isoformat()
    planned = ts.post(
        "/aides/commissions/nouvelle",
        data={
            "csrf_token": csrf,
            "request_id": request_id,
            "territory": LIGNY,
            "day": day,
            "starts_at": "14:00",
            "place": "Salle du conseil",
            "members": "Mme Martin (vice-présidente du CCAS)\nM. Durand (administrateur)",
        },
    )
    commission_url = location_of(planned).split("?")[0]
    page = ts.get(commission_url)
    assert aid_request_id in page.text, page.text
    csrf, request_id = form_ids(page, "form-inscription")
    scheduled = ts.post(
        f"{commission_url}/ordre-du-jour",
        data={"csrf_token": csrf, "request_id": request_id, "aid_request_id": aid_request_id},
    )
    page = ts.get(location_of(scheduled))
    assert f"demande-{aid_request_id}" in page.text and name in text_of(page)

    # The commission grants 250 € from its sheet; a payment to make is created.
    csrf, request_id = form_ids(page, f"form-decision-{aid_request_id}")
    decided = ts.post(
        f"{commission_url}/decisions/{aid_request_id}",
        data={
            "csrf_token": csrf,
            "request_id": request_id,
            "decision": "granted",
            "channel": "commission",
            "amount_granted": "250,00",
            "reasons": "Situation d'urgence avérée.",
            "members": ["Mme Martin (vice-présidente du CCAS)", "M. Durand (administrateur)"],
            "payee_kind": "third_party",
            "payee_name": "EDF Solidarité",
            "mode": "transfer",
        },
    )
    location_of(decided)
    page = ts.get(request_url)
    assert "Accordée" in text_of(page) and euros("250,00 €") in text_of(page)
    assert "EDF Solidarité" in text_of(page) and "À payer" in text_of(page)
    sheet = ts.get(f"{commission_url}/releve")
    assert sheet.status_code == 200, sheet.text
    assert name in text_of(sheet) and "Accordée" in text_of(sheet)
    assert "Mme Martin (vice-présidente du CCAS)" in text_of(sheet) and "print-sheet.css" in sheet.text

    # Paid from the payments to make; the request is closed.
    listed = resp.get("/aides/paiements")
    assert listed.status_code == 200, listed.text
    match = re.search(r'action="/aides/paiements/([^"]+)"', listed.text.split(aid_request_id, 1)[1])
    assert match, listed.text
    payment_id = match.group(1)
    paid_form = re.search(
        rf'action="/aides/paiements/{payment_id}".*?name="request_id" value="([^"]+)"', listed.text, re.S
    )
    assert paid_form
    paid = resp.post(
        f"/aides/paiements/{payment_id}",
        data={
            "csrf_token": csrf_of(listed),
            "request_id": paid_form.group(1),
            "status": "paid",
            "reference": "MANDAT-2026-0042",
        },
    )
    assert location_of(paid) == "/aides/paiements?fait=paye"
    page = resp.get(request_url)
    assert "MANDAT-2026-0042" in page.text and "Payé" in text_of(page)
    assert 'class="badge badge-stage">Close' in page.text

    # The decision letter, as PDF.
    letter = ts.get(f"{request_url}/courrier")
    assert letter.status_code == 200, letter.text
    assert letter.headers["content-type"] == "application/pdf"
    assert letter.headers["content-disposition"].startswith("attachment;")
    assert letter.content.startswith(b"%PDF-")


async def test_a_refused_and_a_postponed_request(
    aides: Aides, intake: Stub, signed_in: dict[str, httpx.Client]
) -> None:
    await ensure_line(aides, "aide_energie")
    first = await person_with_dossier(intake)
    second = await person_with_dossier(intake)
    refused = await complete_request(aides, first[1], "aide_energie", 30_000, resources_cents=250_000)
    postponed = await complete_request(aides, second[1], "aide_energie", 20_000)
    held = await commission(aides)
    for request in (refused, postponed):
        await aides.ScheduleAidRequest(
            aides_pb2.ScheduleAidRequestRequest(
                commission_id=held.commission_id,
                aid_request_id=request.aid_request_id,
                request_id=str(uuid.uuid4()),
            ),
            timeout=15,
        )
    ts = signed_in["ts_ligny"]
    url = f"/aides/commissions/{held.commission_id}"
    page = ts.get(url)
    assert first[2] in page.text and second[2] in page.text

    # Refused without its reason: the French refusal beside the field, then with it.
    key = f"decision-{refused.aid_request_id}"
    csrf, request_id = form_ids(page, f"form-{key}")
    form = {
        "csrf_token": csrf,
        "request_id": request_id,
        "decision": "refused",
        "channel": "commission",
        "reasons": "Ressources au-dessus du barème de l'aide à l'énergie.",
        "members": ["Mme Martin (vice-présidente du CCAS)"],
    }
    without = ts.post(f"{url}/decisions/{refused.aid_request_id}", data=form)
    assert without.status_code == 400, without.text
    assert f'id="{key}-refusal_reason-erreur"' in without.text, without.text
    assert "Ressources au-dessus du barème de l&#39;aide à l&#39;énergie." in without.text
    location_of(
        ts.post(f"{url}/decisions/{refused.aid_request_id}", data={**form, "refusal_reason": "hors_criteres"})
    )

    page = ts.get(url)
    csrf, request_id = form_ids(page, f"form-decision-{postponed.aid_request_id}")
    location_of(
        ts.post(
            f"{url}/decisions/{postponed.aid_request_id}",
            data={
                "csrf_token": csrf,
                "request_id": request_id,
                "decision": "postponed",
                "channel": "commission",
                "reasons": "Devis du fournisseur à produire.",
                "members": ["Mme Martin (vice-présidente du CCAS)"],
            },
        )
    )
    refused_page = text_of(ts.get(f"/aides/demandes/{refused.aid_request_id}"))
    assert "Refusée" in refused_page and "Ressources au-dessus du barème" in refused_page
    postponed_page = text_of(ts.get(f"/aides/demandes/{postponed.aid_request_id}"))
    assert "Ajournée" in postponed_page and "Devis du fournisseur à produire." in postponed_page
    sheet = text_of(ts.get(f"{url}/releve"))
    assert "Refusée" in sheet and "Ajournée" in sheet and "0 accordée" in sheet

    # The postponed request can go on the next commission's agenda.
    later = await commission(aides, days=40)
    page = ts.get(f"/aides/commissions/{later.commission_id}")
    assert f'value="{postponed.aid_request_id}"' in page.text
    assert f'value="{refused.aid_request_id}"' not in page.text


async def test_a_micro_credit_granted_in_urgency_with_its_schedule_and_an_incident(
    aides: Aides, intake: Stub, signed_in: dict[str, httpx.Client]
) -> None:
    await ensure_line(aides, "microcredit")
    _, dossier_id, _ = await person_with_dossier(intake)
    request = await complete_request(aides, dossier_id, "microcredit", 300_000)
    resp = signed_in["responsable"]
    url = f"/aides/demandes/{request.aid_request_id}"
    page = resp.get(url)
    csrf, request_id = form_ids(page, "form-decision")
    decided = resp.post(
        f"{url}/decision",
        data={
            "csrf_token": csrf,
            "request_id": request_id,
            "decision": "granted",
            "channel": "urgent",
            "amount_granted": "3 000",
            "reasons": "Achat d'un véhicule pour reprendre un emploi.",
            "payee_kind": "person",
        },
    )
    page = resp.get(location_of(decided))
    assert "Décision en urgence, hors commission" in text_of(page)
    first_due = (date.today().replace(day=1) + timedelta(days=40)).replace(day=5)
    csrf, request_id = form_ids(page, "form-pret")
    loan = resp.post(
        f"{url}/pret",
        data={
            "csrf_token": csrf,
            "request_id": request_id,
            "bank": "credit-mutuel-bar",
            "amount": "3 000",
            "months": "24",
            "annual_rate": "4,5",
            "first_due": first_due.isoformat(),
        },
    )
    page = resp.get(location_of(loan))
    schedule = page.text.split('id="echeancier"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr><th scope=\"row\">(\d+)</th>", schedule)
    assert rows == [str(n) for n in range(1, 25)], schedule
    last = schedule.rsplit("<tr>", 1)[1]
    assert euros("0,00 €") in html.unescape(last)
    assert "Crédit Mutuel de Bar-le-Duc" in text_of(page) and "4,50 %" in text_of(page)

    csrf, request_id = form_ids(page, "form-incident")
    incident = resp.post(
        f"{url}/incident",
        data={
            "csrf_token": csrf,
            "request_id": request_id,
            "day": (first_due + timedelta(days=10)).isoformat(),
            "kind": "late",
            "instalment_number": "1",
            "amount": "131,00",
            "note": "Prélèvement rejeté, régularisé la semaine suivante.",
        },
    )
    shown = text_of(resp.get(location_of(incident)))
    assert "retard de paiement, échéance 1" in shown and "Prélèvement rejeté" in shown


async def test_a_budget_line_from_its_form_and_a_grant_beyond_it(
    aides: Aides, intake: Stub, signed_in: dict[str, httpx.Client]
) -> None:
    resp = signed_in["responsable"]
    page = resp.get("/aides/budget")
    assert page.status_code == 200, page.text
    label = f"Mobilité Ligny {letters(6)}"
    form = {
        "csrf_token": csrf_of(page),
        "request_id": re.findall(r'name="request_id" value="([^"]+)"', page.text)[-1],
        "territory": LIGNY,
        "year": str(this_year()),
        "label": label,
        "aid_types": ["aide_mobilite"],
        "envelope": "cinquante euros",
    }
    unreadable = resp.post("/aides/budget", data=form)
    assert unreadable.status_code == 400 and 'id="envelope-erreur"' in unreadable.text
    assert f'value="{label}"' in unreadable.text
    created = location_of(resp.post("/aides/budget", data={**form, "envelope": "50"}))
    page = resp.get(created)
    assert label in page.text and euros("50,00 €") in text_of(page)

    _, dossier_id, _ = await person_with_dossier(intake)
    request = await complete_request(aides, dossier_id, "aide_mobilite", 8_000)
    url = f"/aides/demandes/{request.aid_request_id}"
    page = resp.get(url)
    csrf, request_id = form_ids(page, "form-decision")
    decision = {
        "csrf_token": csrf,
        "request_id": request_id,
        "decision": "granted",
        "channel": "urgent",
        "amount_granted": "80",
        "reasons": "Carte de transport pour un stage.",
        "payee_kind": "person",
    }
    beyond = resp.post(f"{url}/decision", data=decision)
    assert beyond.status_code == 400, beyond.text
    assert label in text_of(beyond), beyond.text
    overridden = resp.post(
        f"{url}/decision", data={**decision, "override_reason": "Reprise d'emploi : priorité du CCAS."}
    )
    location_of(overridden)
    lines = text_of(resp.get(f"/aides/budget?annee={this_year()}"))
    row = lines.split(label, 1)[1].split("</tr>", 1)[0]
    assert euros("80,00 €") in row and euros("-30,00 €") in row, row


async def test_documents_uploaded_listed_downloaded_deleted_and_refused(
    aides: Aides, intake: Stub, signed_in: dict[str, httpx.Client]
) -> None:
    _, dossier_id, _ = await person_with_dossier(intake)
    ts = signed_in["ts_ligny"]
    url = f"/dossiers/{dossier_id}"
    page = ts.get(url)
    assert 'id="pieces"' in page.text, page.text
    csrf, request_id = form_ids(page, "form-piece")
    image = png(4, 4)
    fields = {"csrf_token": csrf, "request_id": request_id, "kind": "quittance_loyer"}

    wrong = ts.post(
        f"{url}/pieces", data=fields, files={"content": ("loyer.png", b"not an image", "image/png")}
    )
    assert wrong.status_code == 400, wrong.text
    assert re.search(r'<p class="field-error" id="piece-content-erreur">[^<]+</p>', wrong.text), wrong.text
    large = png(padding=3 * 1024 * 1024)
    too_large = ts.post(f"{url}/pieces", data=fields, files={"content": ("loyer.png", large, "image/png")})
    assert too_large.status_code == 400, too_large.text
    assert "volumineux" in text_of(too_large) or "Mo" in text_of(too_large), too_large.text

    uploaded = ts.post(f"{url}/pieces", data=fields, files={"content": ("loyer.png", image, "image/png")})
    assert location_of(uploaded).endswith("?fait=piece#pieces")
    page = ts.get(url)
    section = text_of(page).split('id="pieces"', 1)[1]
    assert "Quittance ou avis d'échéance de loyer" in section and "image PNG" in section
    document_id = re.search(r'href="/pieces/([^"]+)"', page.text)
    assert document_id, page.text
    downloaded = ts.get(f"/pieces/{document_id.group(1)}")
    assert downloaded.status_code == 200 and downloaded.content == image
    assert downloaded.headers["content-type"] == "image/png"
    assert downloaded.headers["content-disposition"].startswith("attachment;")
    assert signed_in["accueil"].get(f"/pieces/{document_id.group(1)}").status_code in (403, 404)

    # On an aid request too.
    request = await complete_request(aides, dossier_id, "aide_alimentaire", 5_000)
    request_page = ts.get(f"/aides/demandes/{request.aid_request_id}")
    csrf, request_id = form_ids(request_page, "form-piece")
    pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    attached = ts.post(
        f"/aides/demandes/{request.aid_request_id}/pieces",
        data={"csrf_token": csrf, "request_id": request_id, "kind": "facture_energie"},
        files={"content": ("facture.pdf", pdf, "application/pdf")},
    )
    request_page = ts.get(location_of(attached))
    assert "Facture d'énergie" in text_of(request_page).split('id="pieces"', 1)[1]

    # Deleted from the dossier's list.
    page = ts.get(url)
    deletion = re.search(
        rf'action="/pieces/{document_id.group(1)}/suppression".*?name="request_id" value="([^"]+)"',
        page.text,
        re.S,
    )
    assert deletion
    deleted = ts.post(
        f"/pieces/{document_id.group(1)}/suppression",
        data={"csrf_token": csrf_of(page), "request_id": deletion.group(1)},
    )
    assert location_of(deleted) == f"{url}?fait=piece-supprimee#pieces"
    assert f'href="/pieces/{document_id.group(1)}"' not in ts.get(url).text


def test_menus_and_pages_by_role(signed_in: dict[str, httpx.Client]) -> None:
    def nav(http: httpx.Client) -> str:
        page = http.get("/aides/commissions" if http is not signed_in["elu"] else "/bilan")
        return page.text.split('aria-label="Navigation principale"', 1)[1].split("</nav>", 1)[0]

    responsable = nav(signed_in["responsable"])
    for entry in ("Aides du CCAS", "Commissions", "Paiements à faire", "Budget des aides"):
        assert entry in responsable
    assert 'href="/aides/commissions" aria-current="page"' in responsable
    social_worker = nav(signed_in["ts"])
    assert "Aides du CCAS" in social_worker and "Budget des aides" not in social_worker
    assert "/aides" not in nav(signed_in["elu"])

    accueil = signed_in["accueil"].get("/aides")
    assert accueil.status_code == 403 and "travailleurs sociaux" in accueil.text
    assert signed_in["signaleur"].get("/aides/paiements").status_code == 404
    csrf = csrf_of(signed_in["ts"].get("/aides"))
    refused = signed_in["ts"].post("/aides/budget", data={"csrf_token": csrf})
    assert refused.status_code == 403 and "Seul un responsable" in text_of(refused)


def test_the_bilan_has_its_aid_section(signed_in: dict[str, httpx.Client]) -> None:
    page = signed_in["responsable"].get("/bilan")
    assert page.status_code == 200, page.text
    assert 'id="aides-section"' in page.text and "Aides du CCAS" in page.text
