"""The collective action pages on the real console and stack: a programme created from its
form (a refusal in French beside its field, the typed values kept), its sessions added,
persons found as reception finds them and enrolled with their consent (refused without),
the waiting list once the group is full and a withdrawal that moves it up, the
attendance sheet saved with one post and reread, a participant's goals (status changes,
dated notes) and outcome; and the pages a signaleur is refused."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import httpx2 as httpx
import pytest
from entraide.v1 import collective_pb2, collective_pb2_grpc, intake_pb2

from kernel.auth import Role
from tests.conftest import AppStack
from tests.e2e.services.console.conftest import BAR
from tests.e2e.services.console.helpers import create_person, csrf_of, form_tokens, letters
from tests.e2e.services.console.helpers import intake as intake  # the fixture

if TYPE_CHECKING:
    from entraide.v1.collective_pb2_grpc import CollectiveServiceAsyncStub as Collective
    from entraide.v1.intake_pb2_grpc import IntakeServiceAsyncStub as Stub

NOT_FOUND = "Cette page n&#39;existe pas, ou vous n&#39;y avez pas accès."  # as the page escapes it


@pytest.fixture
async def collective(app_stack: AppStack) -> AsyncIterator[Collective]:
    """CollectiveService as a responsable of Bar-le-Duc, for set-up."""
    token = app_stack.token("resp.bar", Role.RESPONSABLE, [BAR])
    async with app_stack.channel("intake", token) as channel:
        yield collective_pb2_grpc.CollectiveServiceStub(channel)


async def programme(collective: Collective, capacity: int = 8) -> collective_pb2.Programme:
    first = date(2011, 1, 6)
    created: collective_pb2.Programme = await collective.CreateProgramme(
        collective_pb2.CreateProgrammeRequest(
            territory=BAR,
            name=f"RV du CIAS {letters(6)}",
            aim="Remobilisation autour de projets simples",
            partner_name="Centre social de la Côte Sainte-Catherine",
            facilitators=[collective_pb2.Facilitator(label="Mme Laurent (CESF, CIAS)")],
            site="antenne-cote-sainte-catherine",
            rhythm="Le jeudi après-midi",
            first_day=first.isoformat(),
            last_day=(first + timedelta(weeks=9)).isoformat(),
            capacity=capacity,
            request_id=str(uuid.uuid4()),
        ),
        timeout=15,
    )
    return created


async def session(collective: Collective, programme_id: str, day: str = "2011-01-06") -> Any:
    return await collective.AddSession(
        collective_pb2.AddSessionRequest(
            programme_id=programme_id,
            day=day,
            starts_at="14:00",
            ends_at="16:00",
            request_id=str(uuid.uuid4()),
        ),
        timeout=15,
    )


async def person_with_dossier(intake: Stub, last_name: str = "") -> tuple[str, str]:
    person = await create_person(intake, last_name=last_name or f"Groupe{letters(8)}")
    opened = await intake.OpenDossier(
        intake_pb2.OpenDossierRequest(
            request_id=str(uuid.uuid4()),
            territory=BAR,
            motifs=["emploi"],
            arrival_channel="visite_spontanee",
            person_id=person.person_id,
        ),
        timeout=15,
    )
    return str(person.person_id), str(opened.dossier.dossier_id)


async def enrol(collective: Collective, programme_id: str, person: tuple[str, str]) -> Any:
    return await collective.Enrol(
        collective_pb2.EnrolRequest(
            programme_id=programme_id,
            person_id=person[0],
            dossier_id=person[1],
            consent=True,
            request_id=str(uuid.uuid4()),
        ),
        timeout=15,
    )


def test_a_programme_is_created_from_its_form_after_a_refusal_in_french(
    signed_in: dict[str, httpx.Client],
) -> None:
    http = signed_in["responsable"]
    csrf, request_id = form_tokens(http, "/actions-collectives/nouvelle")
    form = {
        "csrf_token": csrf,
        "request_id": request_id,
        "territory": BAR,
        "name": "",
        "aim": "Projets simples",
        "facilitators": "Mme Laurent (CESF, CIAS)\nM. Renard (centre social)",
        "site": "antenne-cote-sainte-catherine",
        "rhythm": "Le jeudi après-midi",
        "first_day": "2011-01-06",
        "last_day": "2011-03-10",
        "capacity": "6",
    }
    refused = http.post("/actions-collectives/nouvelle", data=form)
    assert refused.status_code == 400, refused.text
    assert re.search(r'<p class="field-error" id="name-erreur">[^<]+</p>', refused.text), refused.text
    assert 'value="Projets simples"' in refused.text and "M. Renard (centre social)" in refused.text
    name = f"RV du CIAS {letters(6)}"
    created = http.post("/actions-collectives/nouvelle", data={**form, "name": name})
    assert created.status_code == 303, created.text
    location = created.headers["location"]
    assert re.fullmatch(r"/actions-collectives/[^/?]+\?fait=cree", location)
    page = http.get(location)
    assert page.status_code == 200 and name in page.text
    assert "Mme Laurent (CESF, CIAS), M. Renard (centre social)" in page.text
    assert "Antenne de la Côte Sainte-Catherine" in page.text
    listed = http.get("/actions-collectives")
    assert name in listed.text and location.split("?")[0] in listed.text

    # A session added from the programme's page.
    csrf = csrf_of(page)
    session_id = re.search(r'name="request_id" value="([^"]+:seance)"', page.text)
    assert session_id, page.text
    added = http.post(
        location.split("?")[0] + "/seances",
        data={
            "csrf_token": csrf,
            "request_id": session_id.group(1),
            "session_day": "2011-01-06",
            "session_starts_at": "14:00",
            "session_ends_at": "16:00",
        },
    )
    assert added.status_code == 303, added.text
    page = http.get(added.headers["location"])
    assert "La séance est ajoutée." in page.text
    assert "/actions-collectives/seances/" in page.text.split('id="seances"')[1]


async def test_persons_found_and_enrolled_with_their_consent_then_the_waiting_list(
    collective: Collective, intake: Stub, signed_in: dict[str, httpx.Client]
) -> None:
    created = await programme(collective, capacity=1)
    suffix = letters(8)
    first = await person_with_dossier(intake, f"Premier{suffix}")
    second = await person_with_dossier(intake, f"Second{suffix}")
    http = signed_in["ts"]
    url = f"/actions-collectives/{created.programme_id}"
    found = http.get(url, params={"nom": f"Premier{suffix}"})
    assert found.status_code == 200, found.text
    assert f"?personne={first[0]}" in found.text and f"?personne={second[0]}" not in found.text

    chosen = http.get(url, params={"personne": first[0]})
    assert f'value="{first[1]}"' in chosen.text
    csrf = csrf_of(chosen)
    request_id = re.search(r'name="request_id" value="([^"]+:inscription)"', chosen.text)
    assert request_id, chosen.text
    form = {
        "csrf_token": csrf,
        "request_id": request_id.group(1),
        "person_id": first[0],
        "dossier_id": first[1],
    }
    refused = http.post(f"{url}/inscription", data=form)
    assert refused.status_code == 400, refused.text
    assert 'id="erreurs"' in refused.text and f'value="{first[1]}" checked' in refused.text
    enrolled = http.post(f"{url}/inscription", data={**form, "consent": "1"})
    assert enrolled.status_code == 303, enrolled.text
    assert enrolled.headers["location"].startswith(f"{url}?fait=inscrit")

    # The group of one is full: the second goes to the waiting list, in first position.
    chosen = http.get(url, params={"personne": second[0]})
    request_id = re.search(r'name="request_id" value="([^"]+:inscription)"', chosen.text)
    assert request_id
    waiting = http.post(
        f"{url}/inscription",
        data={
            "csrf_token": csrf,
            "request_id": request_id.group(1),
            "person_id": second[0],
            "dossier_id": second[1],
            "consent": "1",
        },
    )
    assert waiting.status_code == 303 and "fait=attente" in waiting.headers["location"]
    page = http.get(waiting.headers["location"])
    assert "la personne est sur la liste d&#39;attente" in page.text
    waiting_list = page.text.split('id="attente"')[1]
    assert re.search(rf"1\. [^<]*Second{suffix}", waiting_list, re.IGNORECASE), waiting_list

    # The first withdrawn: the second takes the place.
    reread = await collective.GetProgramme(
        collective_pb2.GetProgrammeRequest(programme_id=created.programme_id), timeout=15
    )
    first_enrolment = next(e for e in reread.enrolments if e.person_id == first[0])
    withdrawal = re.search(
        rf'name="request_id" value="([^"]+:retrait:{first_enrolment.enrolment_id})"', page.text
    )
    assert withdrawal, page.text
    withdrawn = http.post(
        f"/actions-collectives/inscriptions/{first_enrolment.enrolment_id}/retrait",
        data={"csrf_token": csrf, "request_id": withdrawal.group(1), "programme_id": created.programme_id},
    )
    assert withdrawn.status_code == 303, withdrawn.text
    page = http.get(withdrawn.headers["location"])
    assert "Personne sur la liste d'attente." in page.text


async def test_the_attendance_sheet_is_saved_with_one_post_and_reread(
    collective: Collective, intake: Stub, signed_in: dict[str, httpx.Client]
) -> None:
    created = await programme(collective)
    held = await session(collective, created.programme_id)
    people = [await person_with_dossier(intake) for _ in range(3)]
    enrolments = [await enrol(collective, created.programme_id, p) for p in people]
    http = signed_in["ts"]
    url = f"/actions-collectives/seances/{held.session_id}"
    sheet = http.get(url)
    assert sheet.status_code == 200, sheet.text
    assert 'href="/static/print-sheet.css" media="print"' in sheet.text
    assert sheet.text.count('<td class="signature"></td>') == 3
    csrf, request_id = form_tokens(http, url)
    presences = ["present", "absent", "absent_excused"]
    form = {"csrf_token": csrf, "request_id": request_id}
    form |= {f"presence-{e.enrolment_id}": p for e, p in zip(enrolments, presences, strict=True)}
    saved = http.post(url, data=form)
    assert saved.status_code == 303 and saved.headers["location"] == f"{url}?fait=presences"
    page = http.get(saved.headers["location"])
    assert "Les présences de la séance sont enregistrées." in page.text
    for enrolment, presence in zip(enrolments, presences, strict=True):
        assert (
            f'id="presence-{enrolment.enrolment_id}-{presence}" name="presence-{enrolment.enrolment_id}"'
            in (page.text)
        )
        assert re.search(
            rf'name="presence-{enrolment.enrolment_id}" value="{presence}" checked', page.text
        ), presence
    reread = await collective.GetSession(
        collective_pb2.GetSessionRequest(session_id=held.session_id), timeout=15
    )
    assert reread.held
    assert {a.enrolment_id: a.presence for a in reread.attendance} == {
        e.enrolment_id: p for e, p in zip(enrolments, presences, strict=True)
    }
    programme_page = http.get(f"/actions-collectives/{created.programme_id}")
    assert "Feuille enregistrée" in programme_page.text


async def test_a_participant_goals_change_status_get_dated_notes_and_the_outcome(
    collective: Collective, intake: Stub, signed_in: dict[str, httpx.Client]
) -> None:
    created = await programme(collective)
    enrolment = await enrol(collective, created.programme_id, await person_with_dossier(intake))
    http = signed_in["ts"]
    url = f"/actions-collectives/participants/{enrolment.enrolment_id}"
    page = http.get(url, params={"action": created.programme_id})
    assert page.status_code == 200, page.text
    # Found without the programme in the address too.
    assert http.get(url).status_code == 200
    csrf = csrf_of(page)
    request_id = re.search(r'name="request_id" value="([^"]+:objectif)"', page.text)
    assert request_id
    form = {"csrf_token": csrf, "request_id": request_id.group(1), "programme_id": created.programme_id}
    refused = http.post(f"{url}/objectif", data={**form, "goal_title": ""})
    assert refused.status_code == 400, refused.text
    assert 'id="erreurs"' in refused.text
    added = http.post(f"{url}/objectif", data={**form, "goal_title": "Prendre le bus seul"})
    assert added.status_code == 303, added.text
    page = http.get(added.headers["location"])
    assert "Prendre le bus seul" in page.text and "proposé" in page.text
    goal = (
        await collective.ListGoals(collective_pb2.ListGoalsRequest(enrolment_id=enrolment.enrolment_id))
    ).goals[0]

    status_id = re.search(rf'name="request_id" value="([^"]+:etat:{goal.goal_id}:[0-9]+)"', page.text)
    assert status_id, page.text
    changed = http.post(
        f"{url}/objectif",
        data={
            "csrf_token": csrf,
            "request_id": status_id.group(1),
            "programme_id": created.programme_id,
            "goal_id": goal.goal_id,
            "goal_title": goal.title,
            "goal_status": "reached",
        },
    )
    assert changed.status_code == 303, changed.text
    page = http.get(changed.headers["location"])
    assert "L&#39;état de l&#39;objectif est changé." in page.text
    assert re.search(r'<span class="badge badge-stage">atteint</span>', page.text)

    note_id = re.search(rf'name="request_id" value="([^"]+:note:{goal.goal_id}:0)"', page.text)
    assert note_id
    noted = http.post(
        f"{url}/note",
        data={
            "csrf_token": csrf,
            "request_id": note_id.group(1),
            "programme_id": created.programme_id,
            "goal_id": goal.goal_id,
            "note_day": "2011-02-03",
            "note_text": "A pris le bus jusqu'au marché.",
        },
    )
    assert noted.status_code == 303, noted.text
    page = http.get(noted.headers["location"])
    assert "03/02/2011" in page.text and "A pris le bus jusqu&#39;au marché." in page.text

    outcome_id = re.search(r'name="request_id" value="([^"]+:suite)"', page.text)
    assert outcome_id
    recorded = http.post(
        f"{url}/suite",
        data={
            "csrf_token": csrf,
            "request_id": outcome_id.group(1),
            "programme_id": created.programme_id,
            "outcome": "formation",
        },
    )
    assert recorded.status_code == 303, recorded.text
    page = http.get(recorded.headers["location"])
    assert 'id="outcome-formation" name="outcome" value="formation" checked' in page.text


async def test_the_signaleur_and_other_communes_are_refused_the_programmes(
    collective: Collective, intake: Stub, signed_in: dict[str, httpx.Client]
) -> None:
    created = await programme(collective)
    held = await session(collective, created.programme_id)
    enrolment = await enrol(collective, created.programme_id, await person_with_dossier(intake))
    paths = (
        "/actions-collectives",
        f"/actions-collectives/{created.programme_id}",
        f"/actions-collectives/seances/{held.session_id}",
        f"/actions-collectives/participants/{enrolment.enrolment_id}?action={created.programme_id}",
    )
    for path in paths:
        refused = signed_in["signaleur"].get(path)
        assert refused.status_code == 404 and NOT_FOUND in refused.text, path
    # An agent of Ligny only: the programme of Bar-le-Duc does not exist for them.
    for path in paths[1:]:
        refused = signed_in["ts_ligny"].get(path)
        assert refused.status_code == 404 and created.name not in refused.text, path
    assert created.name not in signed_in["ts_ligny"].get("/actions-collectives").text
