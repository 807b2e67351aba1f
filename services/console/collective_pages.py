"""Collective actions: the programmes of the agent's communes (e.g. the "RV du CIAS"),
a programme's page (its sessions, its participants and waiting list, the enrolment of a
person found as reception finds one, a withdrawal) and, for travailleurs sociaux and
responsables, the forms that create a programme and add a session.

Capacity, the waiting list's order, consent and who may do what are the collective
service's; these pages translate between forms and the API.
"""

from __future__ import annotations

from typing import Any

import grpc
from entraide.v1 import collective_pb2, intake_pb2, referral_pb2
from starlette.responses import Response

from domain.collective import DEFAULT_CAPACITY, EnrolmentStatus, ProgrammeStatus
from kernel.auth import Role
from services.console import web
from services.console.access_gate import require
from services.console.planning_forms import BOOKERS, agent_sites, refusal_errors
from services.console.web import FORM_CODES, FormErrors, Page, new_request_id, page_route

DONE = {
    "cree": "L'action collective est créée : ajoutez-lui ses séances.",
    "seance": "La séance est ajoutée.",
    "inscrit": "La personne est inscrite.",
    "attente": "Le groupe est complet : la personne est sur la liste d'attente.",
    "retrait": "La personne est retirée de l'action ; la première de la liste d'attente prend sa place.",
}
READERS = BOOKERS
# Who creates programmes and adds their sessions (the service decides in the end).
MAKERS = frozenset({Role.TRAVAILLEUR_SOCIAL, Role.RESPONSABLE})
NOT_ALLOWED = (
    "Les actions collectives sont suivies par les agents d'accueil, travailleurs sociaux et responsables."
)
NOT_MAKER = "Seuls les travailleurs sociaux et les responsables créent une action collective ou ses séances."
PROGRAMME_FIELDS = (
    "territory",
    "name",
    "aim",
    "partner_id",
    "partner_name",
    "facilitators",
    "site",
    "place",
    "rhythm",
    "first_day",
    "last_day",
    "capacity",
)
SESSION_FIELDS = ("day", "starts_at", "ends_at", "site", "place", "capacity")
# The service's field paths as the session form names its inputs.
SESSION_RENAME = {name: f"session_{name}" for name in SESSION_FIELDS}
ENROL_RENAME = {"dossier_id": "dossier_id", "consent": "consent", "person_id": "dossier_id"}
SEARCH_FIELDS = ("nom", "naissance", "telephone")


def number(text: str) -> int:
    try:
        return int(text) if text else 0
    except ValueError:
        return -1  # the service says what is wrong with it


def facilitators_of(text: str) -> list[collective_pb2.Facilitator]:
    """One facilitator per line ("Mme Durand (CESF, CIAS)")."""
    return [collective_pb2.Facilitator(label=line.strip()) for line in text.splitlines() if line.strip()]


def programme_id_of(page: Page) -> str:
    return str(page.request.path_params["programme_id"])


async def get_programme(page: Page, programme_id: str) -> Any:
    return await web.read_by_path_id(
        page.calls.collective.GetProgramme(collective_pb2.GetProgrammeRequest(programme_id=programme_id))
    )


# --- The list and the creation of a programme --------------------------------------------


async def programmes(page: Page) -> Response:
    require(page, READERS, NOT_ALLOWED)
    everything = web.query(page.request, "tous") == "1"
    reply = await page.calls.collective.ListProgrammes(
        collective_pb2.ListProgrammesRequest(include_closed=everything)
    )
    return page.render(
        "collective_list.html",
        title="Actions collectives",
        programmes=sorted(reply.programmes, key=lambda p: (p.first_day, p.name.lower()), reverse=True),
        everything=everything,
        can_create=page.session.agent.role in MAKERS,
    )


async def partners(page: Page) -> list[tuple[str, str]]:
    reply = await page.calls.referral.ListPartners(referral_pb2.ListPartnersRequest())
    return [(p.partner_id, p.name) for p in reply.partners]


async def programme_form(
    page: Page, values: dict[str, str], request_id: str, errors: FormErrors | None = None, status: int = 200
) -> Response:
    return page.render(
        "collective_new.html",
        status=status,
        title="Créer une action collective",
        values=values,
        request_id=request_id,
        errors=errors or FormErrors(),
        communes=sorted(page.session.agent.territories),
        partners=await partners(page),
        sites=await agent_sites(page),
    )


async def new_programme(page: Page) -> Response:
    require(page, MAKERS, NOT_MAKER)
    communes = sorted(page.session.agent.territories)
    values = {"territory": communes[0] if communes else "", "capacity": str(DEFAULT_CAPACITY)}
    return await programme_form(page, values, new_request_id())


async def create_programme(page: Page) -> Response:
    require(page, MAKERS, NOT_MAKER)
    values = {name: page.field(name) for name in PROGRAMME_FIELDS}
    request_id = page.field("request_id") or new_request_id()
    partner_name = values["partner_name"]
    if values["partner_id"] and not partner_name:
        partner_name = dict(await partners(page)).get(values["partner_id"], "")
    try:
        created = await page.calls.collective.CreateProgramme(
            collective_pb2.CreateProgrammeRequest(
                territory=values["territory"],
                name=values["name"],
                aim=values["aim"],
                partner_id=values["partner_id"],
                partner_name=partner_name,
                facilitators=facilitators_of(values["facilitators"]),
                site=values["site"],
                place=values["place"],
                rhythm=values["rhythm"],
                first_day=values["first_day"],
                last_day=values["last_day"],
                capacity=number(values["capacity"]),
                request_id=request_id,
            )
        )
    except grpc.RpcError as error:
        if web.code_of(error) not in FORM_CODES:
            raise
        return await programme_form(page, values, request_id, refusal_errors(error), status=400)
    return page.redirect(f"/actions-collectives/{created.programme_id}?fait=cree")


# --- A programme's page -------------------------------------------------------------------


async def found_persons(page: Page, search: dict[str, str]) -> tuple[list[Any], FormErrors]:
    """Reception's person search (SearchPersons), for the enrolment form."""
    if not any(search.values()):
        return [], FormErrors()
    try:
        reply = await page.calls.intake.SearchPersons(
            intake_pb2.SearchPersonsRequest(
                name=search["nom"], birth_date=search["naissance"], phone=search["telephone"]
            )
        )
    except grpc.RpcError as error:
        if web.code_of(error) not in FORM_CODES:
            raise
        renamed = {"name": "nom", "birth_date": "naissance", "phone": "telephone"}
        return [], refusal_errors(error, renamed)
    return list(reply.persons), FormErrors()


async def chosen_person(page: Page, person_id: str) -> tuple[Any, list[Any]]:
    """The person chosen for enrolment and their dossiers (the enrolment links one)."""
    if not person_id:
        return None, []
    person = await web.read_by_path_id(
        page.calls.intake.GetPerson(intake_pb2.GetPersonRequest(person_id=person_id))
    )
    reply = await page.calls.intake.ListDossiers(
        intake_pb2.ListDossiersRequest(person_id=person_id, page_size=50)
    )
    return person, list(reply.dossiers)


async def programme_page(
    page: Page,
    programme: Any,
    *,
    person_id: str = "",
    values: dict[str, str] | None = None,
    request_id: str = "",
    errors: FormErrors | None = None,
    refused: str = "",
    status: int = 200,
) -> Response:
    search = {name: web.query(page.request, name) for name in SEARCH_FIELDS}
    persons, search_errors = await found_persons(page, search)
    person, dossiers = await chosen_person(page, person_id or web.query(page.request, "personne"))
    enrolments = list(programme.enrolments)
    enrolled = [e for e in enrolments if e.status in (EnrolmentStatus.ENROLLED, EnrolmentStatus.COMPLETED)]
    waiting = sorted(
        (e for e in enrolments if e.status == EnrolmentStatus.WAITING), key=lambda e: e.waiting_position
    )
    withdrawn = [e for e in enrolments if e.status == EnrolmentStatus.WITHDRAWN]
    return page.render(
        "collective_programme.html",
        status=status,
        title=programme.name,
        programme=programme,
        sessions=sorted(programme.sessions, key=lambda s: (s.day, s.starts_at)),
        enrolled=enrolled,
        waiting=waiting,
        withdrawn=withdrawn,
        search=search,
        asked=any(search.values()),
        persons=persons,
        search_errors=search_errors,
        person=person,
        dossiers=dossiers,
        values=values or {},
        request_id=request_id or new_request_id(),
        errors=errors or FormErrors(),
        refused=refused,
        can_edit=page.session.agent.role in MAKERS,
        status_enrolled=EnrolmentStatus.ENROLLED,
        status_open=ProgrammeStatus.OPEN,
        done=web.messages(DONE, page.request),
    )


async def show_programme(page: Page) -> Response:
    require(page, READERS, NOT_ALLOWED)
    programme = await get_programme(page, programme_id_of(page))
    return await programme_page(page, programme)


async def add_session(page: Page) -> Response:
    require(page, MAKERS, NOT_MAKER)
    programme = await get_programme(page, programme_id_of(page))
    values = {f"session_{name}": page.field(f"session_{name}") for name in SESSION_FIELDS}
    request_id = page.field("request_id") or new_request_id()
    try:
        await page.calls.collective.AddSession(
            collective_pb2.AddSessionRequest(
                programme_id=programme.programme_id,
                day=values["session_day"],
                starts_at=values["session_starts_at"],
                ends_at=values["session_ends_at"],
                site=values["session_site"],
                place=values["session_place"],
                capacity=number(values["session_capacity"]),
                request_id=request_id,
            )
        )
    except grpc.RpcError as error:
        if web.code_of(error) not in FORM_CODES:
            raise
        errors = refusal_errors(error, SESSION_RENAME)
        return await programme_page(
            page, programme, values=values, request_id=request_id, errors=errors, refused="seance", status=400
        )
    return page.redirect(f"/actions-collectives/{programme.programme_id}?fait=seance#seances")


async def enrol(page: Page) -> Response:
    require(page, READERS, NOT_ALLOWED)
    programme = await get_programme(page, programme_id_of(page))
    values = {name: page.field(name) for name in ("person_id", "dossier_id", "consent")}
    request_id = page.field("request_id") or new_request_id()
    try:
        enrolment = await page.calls.collective.Enrol(
            collective_pb2.EnrolRequest(
                programme_id=programme.programme_id,
                person_id=values["person_id"],
                dossier_id=values["dossier_id"],
                consent=bool(values["consent"]),
                request_id=request_id,
            )
        )
    except grpc.RpcError as error:
        if web.code_of(error) not in FORM_CODES:
            raise
        return await programme_page(
            page,
            programme,
            person_id=values["person_id"],
            values=values,
            request_id=request_id,
            errors=refusal_errors(error, ENROL_RENAME),
            refused="inscription",
            status=400,
        )
    done = "attente" if enrolment.status == EnrolmentStatus.WAITING else "inscrit"
    return page.redirect(f"/actions-collectives/{programme.programme_id}?fait={done}#participants")


async def withdraw(page: Page) -> Response:
    require(page, READERS, NOT_ALLOWED)
    programme = await get_programme(page, page.field("programme_id"))
    enrolment_id = str(page.request.path_params["enrolment_id"])
    if all(e.enrolment_id != enrolment_id for e in programme.enrolments):
        raise web.not_found()
    request_id = page.field("request_id") or new_request_id()
    try:
        await page.calls.collective.Withdraw(
            collective_pb2.WithdrawRequest(enrolment_id=enrolment_id, request_id=request_id)
        )
    except grpc.RpcError as error:
        if web.code_of(error) not in FORM_CODES:
            raise
        return await programme_page(
            page, programme, errors=refusal_errors(error), refused="retrait", status=400
        )
    return page.redirect(f"/actions-collectives/{programme.programme_id}?fait=retrait#participants")


ROUTES = [
    page_route("/actions-collectives", programmes),
    page_route("/actions-collectives/nouvelle", new_programme),
    page_route("/actions-collectives/nouvelle", create_programme, methods=("POST",), name="create_programme"),
    page_route(
        "/actions-collectives/inscriptions/{enrolment_id}/retrait",
        withdraw,
        methods=("POST",),
        name="withdraw_participant",
    ),
]
# After the sheet's and the participants' fixed paths (collective_sheet.ROUTES).
PROGRAMME_ROUTES = [
    page_route("/actions-collectives/{programme_id}", show_programme),
    page_route(
        "/actions-collectives/{programme_id}/seances",
        add_session,
        methods=("POST",),
        name="add_group_session",
    ),
    page_route(
        "/actions-collectives/{programme_id}/inscription", enrol, methods=("POST",), name="enrol_participant"
    ),
]
