"""The planning pages on the real console and stack: a site's week (rooms × days, closures,
the iCalendar feeds), placing a permanence and a room clash refused in French, booking a
slot from a person's page, moving and cancelling, the day's list with check-in (htmx
and plain form), the contact preferences, and the messages sent (responsable only)."""

from __future__ import annotations

import asyncio
import random
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import grpc
import httpx2 as httpx
import pytest
from entraide.v1 import planning_pb2, planning_pb2_grpc

from domain.planning import PARIS
from kernel import reference, rich_status
from kernel.auth import Role
from services.console.planning_forms import timestamp
from tests.conftest import AppStack
from tests.e2e.services.console.conftest import BAR, LIGNY
from tests.e2e.services.console.helpers import create_person, csrf_of, form_tokens, letters
from tests.e2e.services.console.helpers import intake as intake  # the fixture

if TYPE_CHECKING:
    from entraide.v1.intake_pb2_grpc import IntakeServiceAsyncStub as Stub
    from entraide.v1.planning_pb2_grpc import PlanningServiceAsyncStub as Planning

SITE = "ccas-bar-le-duc"
ROOMS = [room.code for room in reference.load({}).sites[SITE].rooms]
SITE_LABEL = reference.load({}).sites[SITE].label


@pytest.fixture
async def planning(app_stack: AppStack) -> AsyncIterator[Planning]:
    """The planning service as a responsable of Bar-le-Duc and Ligny, for set-up."""
    token = app_stack.token("resp.bar", Role.RESPONSABLE, [BAR, LIGNY])
    async with app_stack.channel("intake", token) as channel:
        yield planning_pb2_grpc.PlanningServiceStub(channel)


def far_monday() -> date:
    """A Monday of a week no other test plans in (rooms are shared by the whole session)."""
    return date(2027, 1, 4) + timedelta(weeks=random.randrange(52, 52 * 4))


def hours() -> tuple[str, str]:
    start = random.randrange(7 * 60, 19 * 60, 15)
    return f"{start // 60:02d}:{start % 60:02d}", f"{(start + 60) // 60:02d}:{(start + 60) % 60:02d}"


def is_room_taken(error: grpc.RpcError) -> bool:
    return rich_status.describe(error).reason == "ROOM_TAKEN"


async def place(
    planning: Planning, first_day: date, weeks: int = 1, label: str = "", **fields: Any
) -> planning_pb2.PlannedPermanence:
    """A weekly permanence of one hour on first_day's weekday for `weeks` weeks, in a room
    and at an hour taken by no other (tried again elsewhere when it clashes)."""
    for _ in range(30):
        starts, ends = hours()
        request = planning_pb2.CreatePermanenceRequest(
            site=SITE,
            room=random.choice(ROOMS),
            host=planning_pb2.Host(
                kind="partenaire",
                id=f"test-{letters(8)}",
                label=label or f"Permanence {letters(6)}",
                category="acces_aux_droits",
            ),
            recurrence="weekly",
            weekday=first_day.isoweekday(),
            starts_at=starts,
            ends_at=ends,
            first_day=first_day.isoformat(),
            last_day=(first_day + timedelta(weeks=weeks) - timedelta(days=1)).isoformat(),
            slot_minutes=30,
            request_id=str(uuid.uuid4()),
        )
        request.MergeFrom(planning_pb2.CreatePermanenceRequest(**fields))
        try:
            placed: planning_pb2.PlannedPermanence = await planning.CreatePermanence(request, timeout=15)
            return placed
        except grpc.RpcError as error:
            if not is_room_taken(error):
                raise
    raise AssertionError("no free room and hour found")


def soon() -> date:
    """A day with free slots ahead: between tomorrow and three weeks from now."""
    return datetime.now(PARIS).date() + timedelta(days=random.randrange(1, 21))


async def slots_of(planning: Planning, permanence: planning_pb2.PlannedPermanence) -> list[Any]:
    reply = await planning.ListSlots(
        planning_pb2.ListSlotsRequest(
            permanence_id=permanence.permanence_id, from_day=permanence.first_day, to_day=permanence.last_day
        ),
        timeout=15,
    )
    return list(reply.slots)


async def book(planning: Planning, person_id: str, **fields: Any) -> planning_pb2.Appointment:
    booked: planning_pb2.Appointment = await planning.BookAppointment(
        planning_pb2.BookAppointmentRequest(person_id=person_id, request_id=str(uuid.uuid4()), **fields),
        timeout=20,
    )
    return booked


def paris(stamp: Any) -> datetime:
    at: datetime = stamp.ToDatetime(tzinfo=UTC)
    return at.astimezone(PARIS)


# --- The week planning --------------------------------------------------------------


def grid_of(html: str) -> str:
    return html.split('<table class="planning-grid">')[1].split("</table>")[0]


async def test_the_week_shows_each_session_in_its_room_and_day_with_the_closures(
    planning: Planning, signed_in: dict[str, httpx.Client]
) -> None:
    monday = far_monday()
    tuesday = monday + timedelta(days=1)
    label = f"CAF test {letters(6)}"
    permanence = await place(planning, tuesday, weeks=2, label=label)
    await planning.AddPermanenceException(
        planning_pb2.AddPermanenceExceptionRequest(
            permanence_id=permanence.permanence_id,
            exception=planning_pb2.PermanenceException(
                kind="cancelled", date=(tuesday + timedelta(days=7)).isoformat(), reason="congés"
            ),
            request_id=str(uuid.uuid4()),
        ),
        timeout=15,
    )
    accueil = signed_in["accueil"]
    page = accueil.get(
        "/planning", params={"site": SITE, "semaine": (monday + timedelta(days=3)).isoformat()}
    )
    assert page.status_code == 200, page.text
    assert f"<h1>Planning des permanences — {SITE_LABEL}</h1>" in page.text
    # Rooms as rows, the week's days as columns, the session in its cell.
    grid = grid_of(page.text)
    room_label = next(r.label for r in reference.load({}).sites[SITE].rooms if r.code == permanence.room)
    row = next(r for r in grid.split("<tr>") if f'<th scope="row">{room_label}</th>' in r)
    cells = row.split("<td>")[1:]
    assert label in cells[1] and all(label not in c for i, c in enumerate(cells) if i != 1)  # Tuesday
    assert f"{permanence.starts_at}–{permanence.ends_at}" in cells[1] and "Réservés : 0 / 2" in cells[1]
    assert f'href="/planning?site={SITE}&amp;semaine={(monday - timedelta(days=7)).isoformat()}"' in page.text
    assert f'href="/planning?site={SITE}&amp;semaine={(monday + timedelta(days=7)).isoformat()}"' in page.text
    assert 'href="/static/print-landscape.css" media="print"' in page.text
    assert f'href="/planning/calendrier?site={SITE}&amp;salle={permanence.room}"' in page.text
    assert f'href="/planning/calendrier?hote={permanence.host.id}"' in page.text

    week_after = accueil.get(
        "/planning", params={"site": SITE, "semaine": (monday + timedelta(days=7)).isoformat()}
    )
    assert week_after.status_code == 200
    after = grid_of(week_after.text)
    closed = re.search(
        r'<div class="session session-closed">\s*<p class="session-host">' + re.escape(label), after
    )
    assert closed and "séance annulée" in after and "congés" in after
    assert not re.search(r'<div class="session">\s*<p class="session-host">' + re.escape(label), after)

    elsewhere = signed_in["ts_ligny"].get("/planning", params={"site": SITE})
    assert elsewhere.status_code == 404  # another commune's site is not one of hers


async def test_the_ical_feeds_download_as_text_calendar(
    planning: Planning, signed_in: dict[str, httpx.Client]
) -> None:
    permanence = await place(planning, far_monday() + timedelta(days=2))
    accueil = signed_in["accueil"]
    by_room = accueil.get("/planning/calendrier", params={"site": SITE, "salle": permanence.room})
    assert by_room.status_code == 200, by_room.text
    assert by_room.headers["content-type"].startswith("text/calendar")
    assert by_room.headers["content-disposition"].startswith("attachment; filename=")
    assert by_room.text.startswith("BEGIN:VCALENDAR")
    by_host = accueil.get("/planning/calendrier", params={"hote": permanence.host.id})
    assert by_host.status_code == 200 and by_host.headers["content-type"].startswith("text/calendar")
    assert permanence.host.label in by_host.text


# --- Placing a permanence -----------------------------------------------------------


def permanence_form(csrf: str, request_id: str, first_day: date, **fields: str) -> dict[str, str]:
    starts, ends = hours()
    return {
        "csrf_token": csrf,
        "request_id": request_id,
        "site": SITE,
        "room": random.choice(ROOMS),
        "host_kind": "partenaire",
        "host_id": f"test-{letters(8)}",
        "host_label": f"Permanence {letters(6)}",
        "host_category": "logement",
        "recurrence": "fortnightly",
        "weekday": str(first_day.isoweekday()),
        "starts_at": starts,
        "ends_at": ends,
        "first_day": first_day.isoformat(),
        "last_day": (first_day + timedelta(weeks=4)).isoformat(),
        "slot_minutes": "20",
        **fields,
    }


async def hosted_by(planning: Planning, host_id: str) -> list[Any]:
    reply = await planning.ListPermanences(planning_pb2.ListPermanencesRequest(host_id=host_id), timeout=15)
    return list(reply.permanences)


async def test_a_permanence_placed_from_the_form_is_in_the_week_once(
    planning: Planning, signed_in: dict[str, httpx.Client]
) -> None:
    responsable = signed_in["responsable"]
    page = responsable.get("/planning", params={"site": SITE})
    assert f'href="/planning/permanences/nouvelle?site={SITE}"' in page.text
    csrf, request_id = form_tokens(responsable, f"/planning/permanences/nouvelle?site={SITE}")
    first_day = far_monday() + timedelta(days=3)
    for _ in range(20):
        form = permanence_form(csrf, request_id, first_day)
        placed = responsable.post("/planning/permanences/nouvelle", data=form)
        if placed.status_code != 400 or "room-erreur" not in placed.text:
            break
        request_id = str(uuid.uuid4())  # that room and hour were taken: another
    assert placed.status_code == 303, placed.text
    assert placed.headers["location"] == (
        f"/planning?site={SITE}&semaine={(first_day - timedelta(days=3)).isoformat()}&fait=permanence"
    )
    again = responsable.post("/planning/permanences/nouvelle", data=form)  # a double submit
    assert again.status_code == 303
    found = await hosted_by(planning, form["host_id"])
    assert len(found) == 1
    assert (found[0].recurrence, found[0].slot_minutes, found[0].room) == ("fortnightly", 20, form["room"])
    week = responsable.get(placed.headers["location"])
    assert "La permanence est enregistrée" in week.text and form["host_label"] in week.text
    assert "une semaine sur deux" in week.text

    # Reception keeps the rooms' planning too; a social worker only reads it.
    assert signed_in["accueil"].get(f"/planning/permanences/nouvelle?site={SITE}").status_code == 200
    assert signed_in["ts"].get(f"/planning/permanences/nouvelle?site={SITE}").status_code == 403


async def test_a_room_clash_is_refused_in_french_with_the_form_kept_and_nothing_written(
    planning: Planning, signed_in: dict[str, httpx.Client]
) -> None:
    first_day = far_monday() + timedelta(days=4)
    taken = await place(planning, first_day, weeks=3, label=f"Occupant {letters(6)}")
    responsable = signed_in["responsable"]
    csrf, request_id = form_tokens(responsable, f"/planning/permanences/nouvelle?site={SITE}")
    form = permanence_form(
        csrf,
        request_id,
        first_day + timedelta(days=7),
        room=taken.room,
        recurrence="weekly",
        starts_at=taken.starts_at,
        ends_at=taken.ends_at,
    )
    refused = responsable.post("/planning/permanences/nouvelle", data=form)
    assert refused.status_code == 400, refused.text
    assert 'id="room-erreur"' in refused.text and 'class="alert alert-error"' in refused.text
    summary = re.search(r'<h2 class="alert-title">([^<]+)</h2>', refused.text)
    assert summary and "salle" in summary.group(1).lower()
    assert taken.host.label in refused.text  # the conflicting permanence is named
    assert f'value="{form["host_label"]}"' in refused.text and f'value="{request_id}"' in refused.text
    assert f'<option value="{taken.room}" selected>' in refused.text
    assert await hosted_by(planning, form["host_id"]) == []


async def test_a_cancelled_day_is_added_from_the_permanence_form(
    planning: Planning, signed_in: dict[str, httpx.Client]
) -> None:
    first_day = far_monday() + timedelta(days=1)
    permanence = await place(planning, first_day, weeks=2)
    responsable = signed_in["responsable"]
    url = f"/planning/permanences/{permanence.permanence_id}/exception"
    csrf, request_id = form_tokens(responsable, url)
    refused = responsable.post(url, data={"csrf_token": csrf, "request_id": request_id, "kind": "cancelled"})
    assert refused.status_code == 400 and 'id="date-erreur"' in refused.text
    done = responsable.post(
        url,
        data={
            "csrf_token": csrf,
            "request_id": str(uuid.uuid4()),
            "kind": "cancelled",
            "date": first_day.isoformat(),
            "reason": "formation",
        },
    )
    assert done.status_code == 303, done.text
    week = responsable.get(done.headers["location"])
    assert "Le changement est enregistré" in week.text and "formation" in week.text


# --- Booking, moving, cancelling --------------------------------------------------------


async def test_booking_a_free_slot_from_the_persons_page(
    intake: Stub, planning: Planning, signed_in: dict[str, httpx.Client]
) -> None:
    person = await create_person(intake)
    permanence = await place(planning, soon(), label=f"Point conseil {letters(6)}")
    accueil = signed_in["accueil"]
    sheet = accueil.get(f"/personnes/{person.person_id}")
    assert sheet.status_code == 200, sheet.text
    assert '<h2 id="titre-rendez-vous">Rendez-vous</h2>' in sheet.text and "Aucun rendez-vous." in sheet.text
    assert f'href="/rendez-vous/nouveau?personne={person.person_id}"' in sheet.text

    choose = accueil.get("/rendez-vous/nouveau", params={"personne": person.person_id})
    assert choose.status_code == 200, choose.text
    assert f"&amp;permanence={permanence.permanence_id}" in choose.text and "avec=agent" in choose.text
    slots_page = accueil.get(
        "/rendez-vous/nouveau", params={"personne": person.person_id, "permanence": permanence.permanence_id}
    )
    assert slots_page.status_code == 200
    offered = re.findall(r'name="slot" value="([^"]+)"', slots_page.text)
    assert len(offered) == 2  # one hour in slots of 30 minutes
    request_id = re.search(r'name="request_id" value="([^"]+)"', slots_page.text)
    assert request_id
    form = {
        "csrf_token": csrf_of(slots_page),
        "request_id": request_id.group(1),
        "person_id": person.person_id,
        "permanence_id": permanence.permanence_id,
        "motif": "logement",
    }
    refused = accueil.post("/rendez-vous/nouveau", data=form)  # no slot chosen
    assert refused.status_code == 400 and 'id="slot-erreur"' in refused.text
    booked = accueil.post("/rendez-vous/nouveau", data={**form, "slot": offered[1]})
    assert booked.status_code == 303, booked.text
    match = re.fullmatch(r"/rendez-vous/([0-9a-f-]+)\?fait=pris", booked.headers["location"])
    assert match
    again = accueil.post("/rendez-vous/nouveau", data={**form, "slot": offered[1]})
    assert again.headers.get("location") == booked.headers["location"]  # one appointment

    shown = accueil.get(booked.headers["location"])
    assert shown.status_code == 200 and "Le rendez-vous est pris" in shown.text
    assert permanence.host.label in shown.text and "Logement" in shown.text
    listed = await planning.ListAppointments(
        planning_pb2.ListAppointmentsRequest(person_id=person.person_id), timeout=15
    )
    assert [a.appointment_id for a in listed.appointments] == [match.group(1)]
    assert listed.appointments[0].starts_at.ToDatetime(tzinfo=UTC).isoformat() == offered[1]
    sheet = accueil.get(f"/personnes/{person.person_id}")
    assert f'href="/rendez-vous/{match.group(1)}"' in sheet.text and "prévu" in sheet.text
    # The slot is no longer offered.
    after = accueil.get(
        "/rendez-vous/nouveau", params={"personne": person.person_id, "permanence": permanence.permanence_id}
    )
    assert re.findall(r'name="slot" value="([^"]+)"', after.text) == offered[:1]


async def test_moving_then_cancelling_an_appointment_from_its_page(
    intake: Stub, planning: Planning, signed_in: dict[str, httpx.Client]
) -> None:
    person = await create_person(intake)
    permanence = await place(planning, soon())
    slots = await slots_of(planning, permanence)
    appointment = await book(
        planning, person.person_id, permanence_id=permanence.permanence_id, starts_at=slots[0].starts_at
    )
    accueil = signed_in["accueil"]
    url = f"/rendez-vous/{appointment.appointment_id}"
    page = accueil.get(url)
    assert page.status_code == 200 and "Déplacer le rendez-vous" in page.text
    moved_to = slots[1].starts_at.ToDatetime(tzinfo=UTC).isoformat()
    assert f'value="{moved_to}"' in page.text
    tokens = re.findall(r'name="request_id" value="([^"]+)"', page.text)
    moved = accueil.post(
        f"{url}/deplacer", data={"csrf_token": csrf_of(page), "request_id": tokens[-2], "slot": moved_to}
    )
    assert moved.status_code == 303 and moved.headers["location"] == f"{url}?fait=deplace"
    after = await planning.GetAppointment(
        planning_pb2.GetAppointmentRequest(appointment_id=appointment.appointment_id), timeout=15
    )
    assert after.starts_at == slots[1].starts_at and after.version == appointment.version + 1

    page = accueil.get(moved.headers["location"])
    assert "Le rendez-vous est déplacé" in page.text
    cancel_id = re.findall(r'name="request_id" value="([^"]+)"', page.text)[-1]
    cancelled = accueil.post(
        f"{url}/annuler", data={"csrf_token": csrf_of(page), "request_id": cancel_id, "by_person": "1"}
    )
    assert cancelled.status_code == 303 and cancelled.headers["location"] == f"{url}?fait=annule"
    page = accueil.get(cancelled.headers["location"])
    assert "Le rendez-vous est annulé" in page.text and "annulé" in page.text
    assert "Déplacer le rendez-vous" not in page.text

    assert signed_in["ts_ligny"].get(url).status_code == 404  # another commune's appointment
    assert accueil.get("/rendez-vous/pas-un-identifiant").status_code == 404


async def test_booking_with_an_agent_outside_a_permanence(
    intake: Stub, planning: Planning, signed_in: dict[str, httpx.Client]
) -> None:
    person = await create_person(intake)
    ts = signed_in["ts"]
    url = f"/rendez-vous/nouveau?personne={person.person_id}&avec=agent"
    page = ts.get(url)
    assert page.status_code == 200 and 'name="mode" value="agent"' in page.text
    assert f'<option value="{SITE}" selected>' in page.text and 'value="ts.bar"' in page.text
    csrf, request_id = form_tokens(ts, url)
    form = {
        "csrf_token": csrf,
        "request_id": request_id,
        "mode": "agent",
        "person_id": person.person_id,
        "site": SITE,
        "agent_id": f"test.{letters(8)}",
        "day": (datetime.now(PARIS).date() + timedelta(days=2)).isoformat(),
        "hour": "",
        "duration_minutes": "45",
    }
    refused = ts.post("/rendez-vous/nouveau", data=form)
    assert refused.status_code == 400 and 'id="day-erreur"' in refused.text
    assert f'value="{form["agent_id"]}"' in refused.text and 'value="45"' in refused.text
    booked = ts.post("/rendez-vous/nouveau", data={**form, "hour": "10:15"})
    assert booked.status_code == 303, booked.text
    appointment_id = booked.headers["location"].split("/")[2].split("?")[0]
    appointment = await planning.GetAppointment(
        planning_pb2.GetAppointmentRequest(appointment_id=appointment_id), timeout=15
    )
    starts = paris(appointment.starts_at)
    assert (starts.date().isoformat(), starts.strftime("%H:%M")) == (form["day"], "10:15")
    assert paris(appointment.ends_at) - starts == timedelta(minutes=45)
    assert (appointment.permanence_id, appointment.site, appointment.host.id) == ("", SITE, form["agent_id"])


# --- The day's list and attendance ------------------------------------------------------


async def test_the_days_list_checks_a_person_in_with_htmx_and_without(
    intake: Stub, planning: Planning, signed_in: dict[str, httpx.Client]
) -> None:
    person = await create_person(intake, first_name="Joëlle")
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    appointment = await book(
        planning, person.person_id, agent_id=f"test.{letters(8)}", site=SITE, starts_at=timestamp(now)
    )
    accueil = signed_in["accueil"]
    day = paris(appointment.starts_at).date().isoformat()
    listed = accueil.get("/accueil/rendez-vous", params={"site": SITE, "jour": day})
    assert listed.status_code == 200, listed.text
    row_id = f"rdv-{appointment.appointment_id}"
    assert f'<tr id="{row_id}">' in listed.text
    row = listed.text.split(f'<tr id="{row_id}">')[1].split("</tr>")[0]
    assert "Joëlle" in row and paris(appointment.starts_at).strftime("%H:%M") in row
    assert f'hx-target="#{row_id}"' in row and ">Arrivé<" in row and ">Absence excusée<" in row
    assert 'href="/sans-rendez-vous"' not in listed.text and "sans-rendez-vous?site=" in listed.text

    forms = re.findall(
        r'name="request_id" value="([^"]+)"[^<]*<input type="hidden" name="status" value="(\w+)"', row
    )
    request_ids = dict((status, rid) for rid, status in forms)
    back = f"/accueil/rendez-vous?site={SITE}&jour={day}"
    arrived = accueil.post(
        f"/accueil/rendez-vous/{appointment.appointment_id}/presence",
        data={"request_id": request_ids["arrived"], "status": "arrived", "retour": back},
        headers={"HX-Request": "true", "X-CSRF-Token": csrf_of(listed)},
    )
    assert arrived.status_code == 200, arrived.text
    assert arrived.text.lstrip().startswith(f'<tr id="{row_id}">') and "<html" not in arrived.text
    assert "arrivé" in arrived.text and ">Vu<" in arrived.text and ">Arrivé<" not in arrived.text

    seen_id = re.search(r'name="request_id" value="([^"]+)"', arrived.text)
    assert seen_id
    seen = accueil.post(
        f"/accueil/rendez-vous/{appointment.appointment_id}/presence",
        data={
            "csrf_token": csrf_of(listed),
            "request_id": seen_id.group(1),
            "status": "seen",
            "retour": back,
        },
    )
    assert seen.status_code == 303 and seen.headers["location"] == back + "&fait=presence"
    final = await planning.GetAppointment(
        planning_pb2.GetAppointmentRequest(appointment_id=appointment.appointment_id), timeout=15
    )
    assert final.status == "seen"
    after = accueil.get(seen.headers["location"])
    assert "La présence est enregistrée" in after.text
    assert ">Absent<" not in after.text.split(f'<tr id="{row_id}">')[1].split("</tr>")[0]

    forged = accueil.post(
        f"/accueil/rendez-vous/{appointment.appointment_id}/presence",
        data={
            "csrf_token": csrf_of(listed),
            "request_id": str(uuid.uuid4()),
            "status": "seen",
            "retour": "//evil.example",
        },
    )
    assert forged.status_code == 303 and forged.headers["location"].startswith("/accueil/rendez-vous")


async def test_a_walk_in_is_booked_and_arrived_at_once(
    intake: Stub, planning: Planning, signed_in: dict[str, httpx.Client]
) -> None:
    person = await create_person(intake)
    accueil = signed_in["accueil"]
    search = accueil.get(
        "/accueil/rendez-vous/sans-rendez-vous", params={"site": SITE, "nom": person.last_name}
    )
    assert search.status_code == 200
    assert f"personne={person.person_id}" in search.text
    url = f"/accueil/rendez-vous/sans-rendez-vous?site={SITE}&personne={person.person_id}"
    csrf, request_id = form_tokens(accueil, url)
    done = accueil.post(
        "/accueil/rendez-vous/sans-rendez-vous",
        data={
            "csrf_token": csrf,
            "request_id": request_id,
            "site": SITE,
            "person_id": person.person_id,
            "host": "agent",
        },
    )
    assert done.status_code == 303, done.text
    listed = await planning.ListAppointments(
        planning_pb2.ListAppointmentsRequest(person_id=person.person_id), timeout=15
    )
    assert [(a.walk_in, a.status) for a in listed.appointments] == [(True, "arrived")]
    day = accueil.get(done.headers["location"])
    assert "sans rendez-vous" in day.text and person.first_name in day.text


# --- Contact preferences and the messages sent ------------------------------------------


async def test_contact_preferences_are_recorded_from_the_persons_page(
    intake: Stub, planning: Planning, signed_in: dict[str, httpx.Client]
) -> None:
    person = await create_person(intake)
    ts = signed_in["ts"]
    sheet = ts.get(f"/personnes/{person.person_id}")
    assert 'action="/personnes/' + person.person_id + '/contact"' in sheet.text
    contact_id = re.search(
        r'action="/personnes/[^"]+/contact"[^>]*>\s*<input type="hidden" name="csrf_token" value="[^"]+">\s*'
        r'<input type="hidden" name="request_id" value="([^"]+)"',
        sheet.text,
    )
    assert contact_id
    saved = ts.post(
        f"/personnes/{person.person_id}/contact",
        data={
            "csrf_token": csrf_of(sheet),
            "request_id": contact_id.group(1),
            "consent": "1",
            "channel": "sms",
        },
    )
    assert saved.status_code == 303, saved.text
    preferences = await planning.GetContactPreferences(
        planning_pb2.GetContactPreferencesRequest(person_id=person.person_id), timeout=15
    )
    assert (preferences.consent, preferences.channel, preferences.opted_out) == (True, "sms", False)
    sheet = ts.get(saved.headers["location"])
    assert "Les préférences de contact sont enregistrées" in sheet.text
    assert re.search(r'id="contact-consent" name="consent" value="1"[^>]* checked', sheet.text)
    assert re.search(r'id="contact-channel-sms" name="channel" value="sms" checked', sheet.text)


async def test_the_messages_page_lists_a_confirmation_for_a_responsable_only(
    intake: Stub, planning: Planning, signed_in: dict[str, httpx.Client]
) -> None:
    person = await create_person(intake)
    await planning.SetContactPreferences(
        planning_pb2.SetContactPreferencesRequest(
            person_id=person.person_id, consent=True, channel="sms", request_id=str(uuid.uuid4())
        ),
        timeout=15,
    )
    permanence = await place(planning, soon())
    slots = await slots_of(planning, permanence)
    appointment = await book(
        planning, person.person_id, permanence_id=permanence.permanence_id, starts_at=slots[0].starts_at
    )
    messages: list[Any] = []
    for _ in range(150):  # the workflow queues the confirmation a moment after the booking
        reply = await planning.ListPersonMessages(
            planning_pb2.ListPersonMessagesRequest(appointment_id=appointment.appointment_id), timeout=15
        )
        messages = list(reply.messages)
        if messages:
            break
        await asyncio.sleep(0.2)
    assert messages and messages[0].kind == "confirmation"
    responsable = signed_in["responsable"]
    page = responsable.get("/messages")
    assert page.status_code == 200, page.text
    assert "<h1>Messages envoyés aux personnes</h1>" in page.text
    assert f'href="/rendez-vous/{appointment.appointment_id}">Confirmation</a>' in page.text
    assert messages[0].recipient in page.text and person.phone not in page.text
    status = messages[0].status
    filtered = responsable.get("/messages", params={"statut": status})
    assert f'<option value="{status}" selected>' in filtered.text
    assert f'href="/rendez-vous/{appointment.appointment_id}"' in filtered.text
    on_page = responsable.get(f"/rendez-vous/{appointment.appointment_id}")
    assert "Messages envoyés à la personne" in on_page.text

    refused = signed_in["accueil"].get("/messages")
    assert refused.status_code == 403 and "réservée aux agents de rôle responsable" in refused.text
    nav = signed_in["accueil"].get("/accueil/rendez-vous").text
    assert 'href="/messages"' not in nav and 'href="/planning"' in nav
    assert '<a href="/accueil/rendez-vous" aria-current="page">' in nav
    assert 'href="/messages"' in responsable.get("/planning").text
