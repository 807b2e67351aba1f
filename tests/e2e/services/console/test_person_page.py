"""A person's page on the real console and stack: identity, dossiers and consents, the
export of their data (right of access), rectification, the merge of a duplicate, and
the same 404 page for another commune's person."""

from __future__ import annotations

import json
import re
import uuid
from typing import TYPE_CHECKING, Any

import httpx2 as httpx
from entraide.v1 import intake_pb2

from tests.e2e.services.console.conftest import BAR
from tests.e2e.services.console.helpers import create_person, csrf_of, form_tokens, letters, unique_phone
from tests.e2e.services.console.helpers import intake as intake  # the fixture

if TYPE_CHECKING:
    from entraide.v1.intake_pb2_grpc import IntakeServiceAsyncStub as Stub


async def create(intake: Stub, **fields: Any) -> Any:
    return await create_person(
        intake,
        **{"first_name": "Amélie", "last_name": "Garnier" + letters(6), "birth_date": "1988-06-30", **fields},
    )


async def open_dossier(intake: Stub, person_id: str) -> str:
    reply = await intake.OpenDossier(
        intake_pb2.OpenDossierRequest(
            request_id=uuid.uuid4().hex,
            territory=BAR,
            motifs=["logement"],
            arrival_channel="visite_spontanee",
            person_id=person_id,
        ),
        timeout=15,
    )
    return str(reply.dossier.dossier_id)


async def test_the_person_page_shows_identity_dossiers_and_consents(
    intake: Stub, signed_in: dict[str, httpx.Client]
) -> None:
    person = await create(intake)
    dossier_id = await open_dossier(intake, person.person_id)
    await intake.RecordConsent(
        intake_pb2.RecordConsentRequest(
            person_id=person.person_id,
            dossier_id=dossier_id,
            partner_id="cresus",
            data_scope=["identite", "contact"],
            kind="consent",
            channel="oral",
        ),
        timeout=10,
    )
    page = signed_in["ts"].get(f"/personnes/{person.person_id}")
    assert page.status_code == 200
    assert person.last_name.upper() in page.text and "30/06/1988" in page.text
    assert f'href="/dossiers/{dossier_id}"' in page.text
    assert "Identité (nom, prénom, date de naissance)" in page.text and "En vigueur" in page.text
    assert "Consentement de la personne (oral)" in page.text
    assert f'href="/dossiers/nouveau?personne={person.person_id}"' in page.text
    assert page.text.count("<h1>") == 1

    # Reception may not read consents: the service's sentence, the rest of the page stays.
    at_desk = signed_in["accueil"].get(f"/personnes/{person.person_id}")
    assert at_desk.status_code == 200
    assert f'href="/dossiers/{dossier_id}"' in at_desk.text and "ne permet pas" in at_desk.text


async def test_a_social_worker_records_the_withdrawal_of_a_consent(
    intake: Stub, signed_in: dict[str, httpx.Client]
) -> None:
    person = await create(intake)
    recorded = await intake.RecordConsent(
        intake_pb2.RecordConsentRequest(
            person_id=person.person_id,
            partner_id="cresus",
            data_scope=["identite"],
            kind="consent",
            channel="oral",
        ),
        timeout=10,
    )
    ts = signed_in["ts"]
    url = f"/personnes/{person.person_id}"
    page = ts.get(url)
    assert "Retirer le consentement" in page.text
    request_id = re.search(rf'name="request_id" value="([^"]+:{recorded.consent_id})"', page.text)
    assert request_id, page.text
    form = {
        "csrf_token": csrf_of(page),
        "request_id": request_id.group(1),
        "consent_id": recorded.consent_id,
        "channel": "written",
    }
    done = ts.post(f"{url}/consentements/retrait", data=form, follow_redirects=True)
    assert done.status_code == 200 and "Le retrait du consentement est enregistré" in done.text
    assert "Retiré le" in done.text and "(écrit)" in done.text and "Retirer le consentement" not in done.text
    # The same form posted again (a double click): the same answer, one withdrawal.
    again = ts.post(f"{url}/consentements/retrait", data=form, follow_redirects=True)
    assert again.status_code == 200
    (listed,) = (
        await intake.ListConsents(intake_pb2.ListConsentsRequest(person_id=person.person_id), timeout=10)
    ).consents
    assert listed.revocation_channel == "written" and listed.revoked_by
    # A bad channel: the service's French sentence on the page, nothing changed.
    other = await intake.RecordConsent(
        intake_pb2.RecordConsentRequest(
            person_id=person.person_id,
            partner_id="cresus",
            data_scope=["contact"],
            kind="consent",
            channel="oral",
        ),
        timeout=10,
    )
    page = ts.get(url)
    other_id = re.search(rf'name="request_id" value="([^"]+:{other.consent_id})"', page.text)
    assert other_id, page.text
    bad = ts.post(
        f"{url}/consentements/retrait",
        data={
            **form,
            "csrf_token": csrf_of(page),
            "request_id": other_id.group(1),
            "consent_id": other.consent_id,
            "channel": "pigeon",
        },
    )
    assert bad.status_code == 400 and "Indiquez comment la personne a retiré son consentement" in bad.text
    # Reception is not offered the form.
    assert "Retirer le consentement" not in signed_in["accueil"].get(url).text


async def test_export_downloads_the_persons_data_as_json(
    intake: Stub, signed_in: dict[str, httpx.Client]
) -> None:
    person = await create(intake)
    responsable = signed_in["responsable"]
    page = responsable.get(f"/personnes/{person.person_id}")
    export = responsable.post(f"/personnes/{person.person_id}/export", data={"csrf_token": csrf_of(page)})
    assert export.status_code == 200
    assert export.headers["content-type"].startswith("application/json")
    assert export.headers["content-disposition"] == f'attachment; filename="export-{person.person_id}.json"'
    assert person.last_name in json.dumps(json.loads(export.text), ensure_ascii=False)

    # The service refuses the export to reception, in French, on the person's page.
    accueil = signed_in["accueil"]
    at_desk = accueil.get(f"/personnes/{person.person_id}")
    refused = accueil.post(f"/personnes/{person.person_id}/export", data={"csrf_token": csrf_of(at_desk)})
    assert refused.status_code == 403
    assert 'role="alert"' in refused.text and "ne permet pas" in refused.text


async def test_rectification_changes_the_phone(intake: Stub, signed_in: dict[str, httpx.Client]) -> None:
    person = await create(intake)
    responsable = signed_in["responsable"]
    url = f"/personnes/{person.person_id}/rectifier"
    form_page = responsable.get(url)
    assert f'value="{person.phone}"' in form_page.text and f'value="{person.last_name}"' in form_page.text
    csrf, request_id = form_tokens(responsable, url)
    new_phone = unique_phone()
    done = responsable.post(
        url,
        data={
            "csrf_token": csrf,
            "request_id": request_id,
            "first_name": person.first_name,
            "last_name": person.last_name,
            "birth_date": person.birth_date,
            "phone": new_phone,
            "reason": "Demande de la personne",
        },
    )
    assert (
        done.status_code == 303
        and done.headers["location"] == f"/personnes/{person.person_id}?fait=rectifiee"
    )
    after = await intake.GetPerson(intake_pb2.GetPersonRequest(person_id=person.person_id), timeout=10)
    assert after.phone.replace(" ", "").replace(".", "")[-8:] == new_phone[-8:]
    shown = responsable.get(done.headers["location"])
    assert "ont été rectifiées" in shown.text and 'role="status"' in shown.text

    refused = responsable.post(url, data={"csrf_token": csrf, "request_id": str(uuid.uuid4()), "phone": "12"})
    assert refused.status_code == 400 and 'id="phone-erreur"' in refused.text and 'value="12"' in refused.text


async def test_a_responsable_merges_a_duplicate_and_reception_is_refused_in_french(
    intake: Stub, signed_in: dict[str, httpx.Client]
) -> None:
    tag = letters(8)
    keep = await create(intake, last_name=f"Roussel{tag}")
    duplicate = await create(intake, last_name=f"Roussel{tag}")
    dossier_id = await open_dossier(intake, duplicate.person_id)

    accueil = signed_in["accueil"]
    at_desk = accueil.get(f"/personnes/{keep.person_id}")
    assert "/personnes/fusionner" not in at_desk.text  # offered to responsables only
    refused = accueil.post(
        "/personnes/fusionner",
        data={
            "csrf_token": csrf_of(at_desk),
            "request_id": str(uuid.uuid4()),
            "keep_id": keep.person_id,
            "duplicate_id": duplicate.person_id,
        },
    )
    assert refused.status_code == 403 and "ne permet pas" in refused.text

    responsable = signed_in["responsable"]
    page = responsable.get(f"/personnes/{keep.person_id}")
    assert (
        "Doublons possibles" in page.text
        and f'name="duplicate_id" value="{duplicate.person_id}"' in page.text
    )
    request_id = re.search(
        r'name="request_id" value="([^"]+)"[^<]*\s*<input type="hidden" name="keep_id"', page.text
    )
    assert request_id
    merged = responsable.post(
        "/personnes/fusionner",
        data={
            "csrf_token": csrf_of(page),
            "request_id": request_id.group(1),
            "keep_id": keep.person_id,
            "duplicate_id": duplicate.person_id,
        },
    )
    assert (
        merged.status_code == 303
        and merged.headers["location"] == f"/personnes/{keep.person_id}?fait=fusionnee"
    )
    kept = responsable.get(merged.headers["location"])
    assert f'href="/dossiers/{dossier_id}"' in kept.text and "ont été fusionnées" in kept.text
    old = responsable.get(f"/personnes/{duplicate.person_id}")
    assert f'href="/personnes/{keep.person_id}"' in old.text


async def test_another_communes_person_is_the_same_404_as_an_unknown_one(
    intake: Stub, signed_in: dict[str, httpx.Client]
) -> None:
    person = await create(intake)
    ligny = signed_in["ts_ligny"]
    other = ligny.get(f"/personnes/{person.person_id}")
    unknown = ligny.get(f"/personnes/{uuid.uuid4()}")
    assert other.status_code == unknown.status_code == 404
    assert "Page introuvable" in other.text and person.last_name not in other.text
    assert other.text == unknown.text
    assert ligny.get(f"/personnes/{person.person_id}/rectifier").status_code == 404
    assert ligny.get("/personnes/pas-un-identifiant").status_code == 404
