"""The signal pages on the real console and stack: a signaleur lands on its short form and
sees no other menu entry, submits a signal and reads its status only (reçu, pris en
charge, clos), an empty description refused in French beside its field with the typed
values kept; the CIAS's queue and a signal's page, a contact attempt, a qualification
refused then accepted into a dossier linked from the signal; the signaleur seeing only
its own signals and refused the queue and every dossier page (a French 404)."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import httpx2 as httpx
import pytest
from entraide.v1 import intake_pb2, intake_pb2_grpc, signals_pb2, signals_pb2_grpc

from kernel.auth import Role
from tests.conftest import AppStack
from tests.e2e.services.console.conftest import AGENTS, BAR
from tests.e2e.services.console.helpers import csrf_of, form_tokens, letters, unique_phone

if TYPE_CHECKING:
    from entraide.v1.signals_pb2_grpc import SignalServiceAsyncStub as Signals

NOT_FOUND = "Cette page n&#39;existe pas, ou vous n&#39;y avez pas accès."  # as the page escapes it


@pytest.fixture
async def signaller(app_stack: AppStack) -> AsyncIterator[Signals]:
    """SignalService as the console's signaleur of Bar-le-Duc (the same subject)."""
    person = AGENTS["signaleur"]
    token = app_stack.token(person.agent_id, Role.SIGNALEUR, person.territories)
    async with app_stack.channel("intake", token) as channel:
        yield signals_pb2_grpc.SignalServiceStub(channel)


async def submit(signals: Signals, **fields: Any) -> signals_pb2.SignalReceipt:
    defaults: dict[str, Any] = {
        "territory": BAR,
        "first_name": "Gaston",
        "last_name": f"Signalé-{letters(6)}",
        "phone": unique_phone(),
        "description": "Personne seule qui ne sort plus (test).",
        "consent_to_contact": True,
        "request_id": str(uuid.uuid4()),
    }
    receipt: signals_pb2.SignalReceipt = await signals.SubmitSignal(
        signals_pb2.SubmitSignalRequest(**{**defaults, **fields}), timeout=15
    )
    return receipt


def nav_of(html: str) -> str:
    return html.split('aria-label="Navigation principale"')[1].split("</nav>")[0]


def mine_of(html: str) -> str:
    return html.split('id="mes-signalements"')[1].split("</main>")[0]


def test_the_signaleur_lands_on_its_form_and_sees_no_other_menu_entry(
    signed_in: dict[str, httpx.Client],
) -> None:
    http = signed_in["signaleur"]
    home = http.get("/")
    assert home.status_code == 303 and home.headers["location"] == "/signalement"
    page = http.get("/signalement")
    assert page.status_code == 200, page.text
    assert re.findall(r'<a href="([^"]+)"', nav_of(page.text)) == ["/signalement"]
    # Short and for a phone: its commune fixed, a maxlength with its French hint.
    assert 'name="territory" value="55029"' in page.text
    assert 'maxlength="1000"' in page.text and "1000 caractères au plus" in page.text
    assert "La personne est d'accord pour être contactée" in page.text


def test_a_signal_is_confirmed_and_its_signaller_reads_its_status_only(
    signed_in: dict[str, httpx.Client],
) -> None:
    http = signed_in["signaleur"]
    csrf, request_id = form_tokens(http, "/signalement")
    name = f"Signalé-{letters(6)}"
    form = {
        "csrf_token": csrf,
        "request_id": request_id,
        "territory": BAR,
        "last_name": name,
        "address_line": "3 rue de la Fontaine",
        "description": "Ne sort plus depuis l'hiver.",
        "consent_to_contact": "1",
    }
    posted = http.post("/signalement", data=form)
    assert posted.status_code == 303, posted.text
    assert posted.headers["location"].startswith("/signalement?fait=envoye")
    # Posted twice (a double tap): one signal.
    assert http.post("/signalement", data=form).status_code == 303
    page = http.get(posted.headers["location"])
    assert "votre signalement est transmis au CIAS" in page.text
    mine = mine_of(page.text)
    assert "reçu" in mine
    # Nothing but the date, the commune and the status: never the name nor the description.
    assert name not in page.text and "Ne sort plus" not in page.text
    assert "Vous n'avez fait aucun signalement" in mine_of(signed_in["signaleur2"].get("/signalement").text)


def test_an_empty_description_is_refused_in_french_beside_its_field_with_the_values_kept(
    signed_in: dict[str, httpx.Client],
) -> None:
    http = signed_in["signaleur2"]
    csrf, request_id = form_tokens(http, "/signalement")
    refused = http.post(
        "/signalement",
        data={
            "csrf_token": csrf,
            "request_id": request_id,
            "territory": BAR,
            "first_name": "Marcelle",
            "phone": "0611223344",
            "description": "",
        },
    )
    assert refused.status_code == 400, refused.text
    error = re.search(r'<p class="field-error" id="description-erreur">([^<]+)</p>', refused.text)
    assert error, refused.text
    assert re.search(r"[àâçéèêëîïôûùüÿœ]|description", error.group(1), re.IGNORECASE)
    assert 'value="Marcelle"' in refused.text and 'value="0611223344"' in refused.text
    assert "Vous n'avez fait aucun signalement" in mine_of(refused.text)


def test_a_signal_for_a_commune_not_covered_is_refused_in_french(signed_in: dict[str, httpx.Client]) -> None:
    http = signed_in["signaleur2"]
    csrf, request_id = form_tokens(http, "/signalement")
    refused = http.post(
        "/signalement",
        data={
            "csrf_token": csrf,
            "request_id": request_id,
            "territory": "55291",
            "last_name": "Ailleurs",
            "description": "Une commune que ce compte ne couvre pas.",
        },
    )
    assert refused.status_code == 400, refused.text
    assert 'class="alert alert-error"' in refused.text
    assert "Vous ne pouvez signaler que pour les communes que vous couvrez" in refused.text
    assert "Vous n'avez fait aucun signalement" in mine_of(refused.text)


async def test_an_agent_qualifies_a_signal_into_a_dossier_its_signaller_cannot_open(
    signaller: Signals, signed_in: dict[str, httpx.Client]
) -> None:
    name = f"Signalé-{letters(6)}"
    receipt = await submit(signaller, last_name=name, description="Isolée, factures en retard.")
    agent = signed_in["ts"]
    queue = agent.get("/signalements")
    assert queue.status_code == 200, queue.text
    row = next(r for r in queue.text.split("<tr>") if f"/signalements/{receipt.signal_id}" in r)
    assert "Bar-le-Duc" in row and "À qualifier" in row
    assert "Secrétaire de mairie" in row or "Élu référent" in row

    url = f"/signalements/{receipt.signal_id}"
    page = agent.get(url)
    assert page.status_code == 200 and "Isolée, factures en retard." in page.text
    csrf = csrf_of(page)
    attempt_id = re.search(r'name="request_id" value="([^"]+:tentative:0)"', page.text)
    assert attempt_id, page.text
    attempted = agent.post(f"{url}/tentative", data={"csrf_token": csrf, "request_id": attempt_id.group(1)})
    assert attempted.status_code == 303 and attempted.headers["location"] == f"{url}?fait=tentative"
    page = agent.get(attempted.headers["location"])
    assert "La tentative de contact est enregistrée." in page.text
    assert re.search(r"Tentatives de contact sans réponse</dt><dd>1</dd>", page.text)

    _, request_id = form_tokens(agent, url)
    # Contacted without a motif: refused in French, nothing qualified.
    refused = agent.post(
        f"{url}/qualification",
        data={"csrf_token": csrf, "request_id": request_id, "status": "contacted", "urgent": "1"},
    )
    assert refused.status_code == 400, refused.text
    assert 'id="erreurs"' in refused.text and "Enregistrer la qualification" in refused.text
    assert 'id="urgent" name="urgent" value="1" checked' in refused.text
    qualified = agent.post(
        f"{url}/qualification",
        data={
            "csrf_token": csrf,
            "request_id": request_id,
            "status": "contacted",
            "motifs": "logement",
            "site": "ccas-bar-le-duc",
        },
    )
    assert qualified.status_code == 303, qualified.text
    page = agent.get(qualified.headers["location"])
    assert "Le signalement est qualifié." in page.text
    dossier = re.search(r'href="/dossiers/([^"]+)">ouvrir le dossier', page.text)
    assert dossier, page.text
    opened = agent.get(f"/dossiers/{dossier.group(1)}")
    assert opened.status_code == 200 and name in opened.text
    assert "Enregistrer la qualification" not in page.text
    # Qualified: out of the queue of signals to qualify, in the whole list.
    assert receipt.signal_id not in agent.get("/signalements").text
    assert receipt.signal_id in agent.get("/signalements?tous=1").text

    # The signaller reads "pris en charge", and nothing of the dossier.
    http = signed_in["signaleur"]
    assert "pris en charge" in mine_of(http.get("/signalement").text)
    for path in (f"/dossiers/{dossier.group(1)}", url, "/signalements", "/actions-collectives"):
        refused_page = http.get(path)
        assert refused_page.status_code == 404, (path, refused_page.text)
        assert NOT_FOUND in refused_page.text and name not in refused_page.text


def test_the_queue_is_the_case_roles_and_says_why_to_others(signed_in: dict[str, httpx.Client]) -> None:
    refused = signed_in["elu"].get("/signalements")
    assert refused.status_code == 403
    assert "Les signalements sont traités par les agents" in refused.text


async def test_a_signal_about_a_known_person_offers_their_record(
    signaller: Signals, signed_in: dict[str, httpx.Client], app_stack: AppStack
) -> None:
    """The signal's page lists the persons on file with the same name or phone; choosing
    one opens the dossier on that record (no duplicate created)."""
    name, phone = f"Connue-{letters(6)}", unique_phone()
    async with app_stack.channel("intake") as channel:
        known = await intake_pb2_grpc.IntakeServiceStub(channel).CreatePerson(
            intake_pb2.CreatePersonRequest(
                request_id=uuid.uuid4().hex, territory=BAR, first_name="Gaston", last_name=name, phone=phone
            ),
            timeout=15,
        )
    receipt = await submit(signaller, last_name=name, phone=phone)
    agent = signed_in["ts"]
    url = f"/signalements/{receipt.signal_id}"
    page = agent.get(url)
    assert "fiche de la personne" in page.text
    person_id = known.person.person_id
    assert f'id="person-{person_id}" name="person_id" value="{person_id}"' in page.text
    assert 'id="person-nouvelle" name="person_id" value="" checked' in page.text
    csrf, request_id = form_tokens(agent, url)
    qualified = agent.post(
        f"{url}/qualification",
        data={
            "csrf_token": csrf,
            "request_id": request_id,
            "status": "contacted",
            "motifs": "logement",
            "person_id": person_id,
        },
    )
    assert qualified.status_code == 303, qualified.text
    signal = await cias_read(app_stack, receipt.signal_id)
    assert signal.dossier_id
    async with app_stack.channel("intake") as channel:
        dossier = await intake_pb2_grpc.IntakeServiceStub(channel).GetDossier(
            intake_pb2.GetDossierRequest(dossier_id=signal.dossier_id), timeout=15
        )
        found = await intake_pb2_grpc.IntakeServiceStub(channel).SearchPersons(
            intake_pb2.SearchPersonsRequest(name=name), timeout=15
        )
    assert dossier.person_id == person_id
    assert [p.person_id for p in found.persons] == [person_id]  # no second record
    # Once qualified, no picker any more.
    assert "fiche de la personne" not in agent.get(url).text


async def cias_read(app_stack: AppStack, signal_id: str) -> signals_pb2.Signal:
    """The signal as the CIAS reads it (the default agent of the test stack)."""
    async with app_stack.channel("intake") as channel:
        signal: signals_pb2.Signal = await signals_pb2_grpc.SignalServiceStub(channel).GetSignal(
            signals_pb2.GetSignalRequest(signal_id=signal_id), timeout=15
        )
    return signal
