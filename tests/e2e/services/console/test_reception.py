"""The reception pages on the real console and stack: the day's reception list, the
person search (as one types, or without JavaScript), creating a person after the
duplicate warning, idempotent forms, and opening a dossier in one form."""

from __future__ import annotations

import random
import re
import string
import uuid
from typing import TYPE_CHECKING, Any

import httpx2 as httpx
from entraide.v1 import intake_pb2

from kernel import reference
from tests.e2e.services.console.conftest import BAR
from tests.e2e.services.console.helpers import create_person, form_tokens, letters, unique_phone
from tests.e2e.services.console.helpers import intake as intake  # the fixture

if TYPE_CHECKING:
    from entraide.v1.intake_pb2_grpc import IntakeServiceAsyncStub as Stub


async def create(intake: Stub, **fields: Any) -> Any:
    return await create_person(
        intake,
        **{"first_name": "Hélène", "last_name": "Bézier" + letters(6), "birth_date": "1984-03-27", **fields},
    )


async def count_named(intake: Stub, name: str) -> int:
    reply = await intake.SearchPersons(intake_pb2.SearchPersonsRequest(name=name), timeout=10)
    return len(reply.persons)


async def test_search_by_accentless_partial_name_and_by_phone_in_the_agents_communes_only(
    intake: Stub, signed_in: dict[str, httpx.Client]
) -> None:
    tag = letters(8)
    digits = "".join(random.choices(string.digits, k=8))
    person = await create(intake, last_name=f"Lefèvre{tag}", phone=f"06{digits}")
    accueil = signed_in["accueil"]

    found = accueil.get("/personnes", params={"nom": f"LEFEVRE{tag[:4]} hel"})
    assert found.status_code == 200
    assert f'href="/personnes/{person.person_id}"' in found.text
    assert "27/03/1984" in found.text and "<h1>Rechercher une personne</h1>" in found.text

    spaced = f"06 {digits[:2]} {digits[2:4]} {digits[4:6]} {digits[6:]}"
    by_phone = accueil.get("/personnes", params={"telephone": spaced})
    assert f'href="/personnes/{person.person_id}"' in by_phone.text

    # As one types: the results region alone.
    live = accueil.get("/personnes", params={"nom": f"lefevre{tag}"}, headers={"HX-Request": "true"})
    assert live.status_code == 200 and "<html" not in live.text
    assert f'href="/personnes/{person.person_id}"' in live.text

    elsewhere = signed_in["ts_ligny"].get("/personnes", params={"nom": f"lefevre{tag}"})
    assert elsewhere.status_code == 200
    assert person.person_id not in elsewhere.text
    assert "Aucune personne ne correspond" in elsewhere.text


def test_search_refusal_is_shown_next_to_the_field_and_no_criterion_is_just_the_form(
    signed_in: dict[str, httpx.Client],
) -> None:
    accueil = signed_in["accueil"]
    empty = accueil.get("/personnes")
    assert empty.status_code == 200 and "<table" not in empty.text
    assert 'hx-trigger="keyup changed delay:300ms' in empty.text

    short = accueil.get("/personnes", params={"nom": "é"})
    assert short.status_code == 400
    assert 'id="nom-erreur"' in short.text and 'aria-invalid="true"' in short.text
    assert 'value="é"' in short.text
    live = accueil.get("/personnes", params={"nom": "é"}, headers={"HX-Request": "true"})
    assert live.status_code == 200 and "Recherche impossible" in live.text


async def test_reception_desk_lists_the_dossiers_opened_today(
    intake: Stub, signed_in: dict[str, httpx.Client]
) -> None:
    opened = await intake.OpenDossier(
        intake_pb2.OpenDossierRequest(
            request_id=uuid.uuid4().hex,
            territory=BAR,
            motifs=["logement"],
            arrival_channel="visite_spontanee",
            urgent=True,
        ),
        timeout=15,
    )
    desk = signed_in["accueil"].get("/accueil")
    assert desk.status_code == 200
    assert f'href="/dossiers/{opened.dossier.dossier_id}"' in desk.text
    assert 'action="/personnes"' in desk.text and 'href="/personnes/nouvelle"' in desk.text
    assert "Urgent" in desk.text and reference.load({}).motifs["logement"] in desk.text


async def test_a_known_name_and_birth_date_warns_and_creates_nobody_until_confirmed(
    intake: Stub, signed_in: dict[str, httpx.Client]
) -> None:
    tag = letters(8)
    existing = await create(intake, last_name=f"Durand{tag}", first_name="Éric", birth_date="1975-11-02")
    accueil = signed_in["accueil"]
    csrf, request_id = form_tokens(accueil, "/personnes/nouvelle")
    form = {
        "csrf_token": csrf,
        "request_id": request_id,
        "first_name": "Eric",
        "last_name": f"DURAND{tag}",
        "birth_date": "1975-11-02",
        "territory": BAR,
    }
    warned = accueil.post("/personnes/nouvelle", data=form)
    assert warned.status_code == 200
    assert 'role="alert"' in warned.text and "peut-être déjà enregistrée" in warned.text
    assert f'href="/personnes/{existing.person_id}"' in warned.text
    assert f'href="/dossiers/nouveau?personne={existing.person_id}"' in warned.text
    assert 'name="doublons_vus" value="1"' in warned.text and f'value="{request_id}"' in warned.text
    assert await count_named(intake, f"durand{tag}") == 1

    confirmed = accueil.post("/personnes/nouvelle", data={**form, "doublons_vus": "1"})
    assert confirmed.status_code == 303
    location = confirmed.headers["location"]
    assert location.startswith("/dossiers/nouveau?personne=") and location.endswith("&fait=personne_creee")
    assert existing.person_id not in location
    assert await count_named(intake, f"durand{tag}") == 2


async def test_the_same_create_form_posted_twice_creates_one_person_and_one_household(
    intake: Stub, signed_in: dict[str, httpx.Client]
) -> None:
    tag = letters(8)
    accueil = signed_in["accueil"]
    csrf, request_id = form_tokens(accueil, "/personnes/nouvelle")
    form = {
        "csrf_token": csrf,
        "request_id": request_id,
        "first_name": "Inès",
        "last_name": f"Moreau{tag}",
        "birth_date": "1992-01-15",
        "phone": unique_phone(),
        "territory": BAR,
        "foyer": "1",
    }
    first = accueil.post("/personnes/nouvelle", data=form)
    assert first.status_code == 303, first.text
    # The replay finds the person just created: the warning, then "Créer quand même".
    again = accueil.post("/personnes/nouvelle", data=form)
    assert again.status_code == 200 and "peut-être déjà enregistrée" in again.text
    confirmed = accueil.post("/personnes/nouvelle", data={**form, "doublons_vus": "1"})
    assert confirmed.headers["location"] == first.headers["location"]
    assert await count_named(intake, f"moreau{tag}") == 1

    person_id = first.headers["location"].split("personne=")[1].split("&")[0]
    person = await intake.GetPerson(intake_pb2.GetPersonRequest(person_id=person_id), timeout=10)
    assert len(person.household_ids) == 1
    dossier_form = accueil.get(first.headers["location"])
    assert f"Dossier pour Inès Moreau{tag}" in dossier_form.text
    assert "La personne a été enregistrée" in dossier_form.text
    assert f'name="household_id" value="{person.household_ids[0]}"' in dossier_form.text


async def test_a_refused_person_form_keeps_the_typed_values(signed_in: dict[str, httpx.Client]) -> None:
    accueil = signed_in["accueil"]
    csrf, request_id = form_tokens(accueil, "/personnes/nouvelle")
    refused = accueil.post(
        "/personnes/nouvelle",
        data={
            "csrf_token": csrf,
            "request_id": request_id,
            "first_name": "Zoé",
            "last_name": "",
            "phone": "12",
            "territory": BAR,
        },
    )
    assert refused.status_code == 400
    assert 'class="alert alert-error"' in refused.text
    assert 'value="Zoé"' in refused.text and f'value="{request_id}"' in refused.text
    assert re.search(r'id="(last_name|phone)-erreur"', refused.text)


async def test_opening_an_urgent_dossier_from_the_form(
    intake: Stub, signed_in: dict[str, httpx.Client]
) -> None:
    person = await create(intake)
    accueil = signed_in["accueil"]
    url = f"/dossiers/nouveau?personne={person.person_id}"
    page = accueil.get(url)
    assert f"Dossier pour Hélène {person.last_name}" in page.text
    assert "<legend>Motifs de la demande" in page.text
    # The commune's sites to choose from, the agent's own (the directory's) first chosen.
    assert '<option value="ccas-bar-le-duc" selected>CIAS du Pays Barrois – accueil</option>' in page.text
    assert '<option value="antenne-cote-sainte-catherine">' in page.text
    assert 'value="mairie-ligny"' not in page.text  # not a commune of this agent
    csrf, request_id = form_tokens(accueil, url)
    opened = accueil.post(
        "/dossiers/nouveau",
        data={
            "csrf_token": csrf,
            "request_id": request_id,
            "person_id": person.person_id,
            "territory": BAR,
            "site": "ccas-bar-le-duc",
            "motifs": ["logement", "difficultes_financieres"],
            "arrival_channel": "telephone",
            "urgent": "1",
        },
    )
    assert opened.status_code == 303, opened.text
    match = re.fullmatch(r"/dossiers/([0-9a-f-]+)\?fait=dossier_ouvert", opened.headers["location"])
    assert match
    dossier = await intake.GetDossier(intake_pb2.GetDossierRequest(dossier_id=match.group(1)), timeout=10)
    assert dossier.urgent and set(dossier.motifs) == {"logement", "difficultes_financieres"}
    assert dossier.person_id == person.person_id and dossier.arrival_channel == "telephone"
    assert (dossier.site, dossier.site_label) == ("ccas-bar-le-duc", "CIAS du Pays Barrois – accueil")
    shown = accueil.get(f"/dossiers/{dossier.dossier_id}")
    assert "<dt>Site d'accueil</dt><dd>CIAS du Pays Barrois – accueil</dd>" in shown.text


def test_a_dossier_form_without_motif_is_refused_in_french_with_the_values_kept(
    signed_in: dict[str, httpx.Client],
) -> None:
    accueil = signed_in["accueil"]
    csrf, request_id = form_tokens(accueil, "/dossiers/nouveau")
    refused = accueil.post(
        "/dossiers/nouveau",
        data={
            "csrf_token": csrf,
            "request_id": request_id,
            "territory": BAR,
            "site": "antenne-cote-sainte-catherine",
            "arrival_channel": "courriel",
            "urgent": "1",
        },
    )
    assert refused.status_code == 400
    assert 'id="motifs-erreur"' in refused.text and 'class="alert alert-error"' in refused.text
    assert '<option value="antenne-cote-sainte-catherine" selected>' in refused.text
    assert f'value="{request_id}"' in refused.text
    assert re.search(r'value="courriel" checked', refused.text)
    assert re.search(r'id="urgent" name="urgent" value="1"[^>]* checked', refused.text)


def test_a_site_that_is_not_one_of_the_communes_is_refused_against_the_field(
    signed_in: dict[str, httpx.Client],
) -> None:
    accueil = signed_in["accueil"]
    csrf, request_id = form_tokens(accueil, "/dossiers/nouveau")
    refused = accueil.post(
        "/dossiers/nouveau",
        data={
            "csrf_token": csrf,
            "request_id": request_id,
            "territory": BAR,
            "site": "mairie-annexe-42",  # a free text of before, or a forged form
            "motifs": ["logement"],
            "arrival_channel": "courriel",
        },
    )
    assert refused.status_code == 400
    assert 'id="site-erreur"' in refused.text and "Site d&#39;accueil inconnu" in refused.text
    assert "ccas-bar-le-duc" in refused.text  # the commune's sites are named
