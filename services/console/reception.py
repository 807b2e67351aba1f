"""The reception desk: the day's reception list, finding a person, creating one (after
looking for possible duplicates) and opening a dossier in one form.

Every rule stays in the intake service: these pages send what the forms hold and show
the service's French refusals next to the fields.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import grpc
from entraide.v1 import intake_pb2
from starlette.responses import Response

from services.console import web
from services.console.templating import PARIS
from services.console.web import FORM_CODES, FormErrors, Page, form_errors, new_request_id, page_route
from services.intake.rights import RECTIFIABLE

DONE = {
    "personne_creee": "La personne a été enregistrée : vous pouvez maintenant lui ouvrir un dossier.",
}
# The reception list stops after this many pages of dossiers (a busy day is far less).
MAX_TODAY_PAGES = 10
TODAY_PAGE_SIZE = 100
# The search's query parameters (French, in the address bar) and the proto fields.
SEARCH_FIELDS = {"nom": "name", "naissance": "birth_date", "telephone": "phone"}
# A person's fields as the create form posts them: those a person may rectify, and the commune.
PERSON_FIELDS = (*RECTIFIABLE, "territory")
# A household's request id is derived from the person form's: a replay creates one household.
HOUSEHOLD_NAMESPACE = uuid.UUID("5b0e7f0a-3c1d-4e8b-9a57-0f3c2d6e1a94")


def household_request_id(request_id: str) -> str:
    return str(uuid.uuid5(HOUSEHOLD_NAMESPACE, request_id))


def agent_communes(page: Page) -> list[str]:
    return sorted(page.session.agent.territories)


def is_htmx(page: Page) -> bool:
    headers = page.request.headers
    return bool(headers.get("hx-request")) and not headers.get("hx-history-restore-request")


# --- The day's reception list --------------------------------------------------------


async def todays_dossiers(page: Page) -> list[Any]:
    """Dossiers opened since midnight (Europe/Paris) in the agent's communes, newest first."""
    midnight = datetime.now(PARIS).replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)
    found: list[Any] = []
    token = ""
    for _ in range(MAX_TODAY_PAGES):
        reply = await page.calls.intake.ListDossiers(
            intake_pb2.ListDossiersRequest(page_size=TODAY_PAGE_SIZE, page_token=token)
        )
        for dossier in reply.dossiers:
            if dossier.opened_at.ToDatetime(tzinfo=UTC) < midnight:
                return found
            found.append(dossier)
        token = reply.next_page_token
        if not token:
            break
    return found


def paris_time(dossier: Any) -> str:
    return str(dossier.opened_at.ToDatetime(tzinfo=UTC).astimezone(PARIS).strftime("%H:%M"))


async def reception_desk(page: Page) -> Response:
    dossiers = await todays_dossiers(page)
    rows = [{"dossier": d, "time": paris_time(d)} for d in dossiers]
    return page.render(
        "reception_desk.html",
        title="Accueil du public",
        rows=rows,
        today=datetime.now(PARIS).strftime("%d/%m/%Y"),
        search={},
    )


# --- Finding a person ----------------------------------------------------------------


def search_errors(error: grpc.RpcError) -> FormErrors:
    """The service's refusal, its fields renamed to the search form's inputs."""
    errors = form_errors(error)
    renamed = {name: field for field, name in SEARCH_FIELDS.items()}
    errors.fields = {renamed.get(k, k): v for k, v in errors.fields.items()}
    return errors


async def search_persons(page: Page) -> Response:
    search = {name: web.query(page.request, name) for name in SEARCH_FIELDS}
    asked = any(search.values())
    persons: list[Any] = []
    truncated = False
    errors = FormErrors()
    if asked:
        try:
            reply = await page.calls.intake.SearchPersons(
                intake_pb2.SearchPersonsRequest(
                    name=search["nom"], birth_date=search["naissance"], phone=search["telephone"]
                )
            )
        except grpc.RpcError as error:
            if error.code() not in FORM_CODES:
                raise
            errors = search_errors(error)
        else:
            persons, truncated = list(reply.persons), bool(reply.truncated)
    values: dict[str, Any] = {
        "search": search,
        "asked": asked,
        "persons": persons,
        "truncated": truncated,
        "errors": errors,
    }
    if is_htmx(page):
        # htmx swaps only 2xx answers: the refusal is shown in the results region.
        return page.render("reception_search_results.html", **values)
    return page.render(
        "reception_search.html", status=400 if errors else 200, title="Rechercher une personne", **values
    )


# --- Creating a person ---------------------------------------------------------------


def person_form(
    page: Page,
    values: dict[str, str],
    request_id: str,
    errors: FormErrors | None = None,
    duplicates: list[Any] | None = None,
    elsewhere_count: int = 0,
    status: int = 200,
) -> Response:
    return page.render(
        "reception_person_new.html",
        status=status,
        title="Nouvelle personne",
        values=values,
        request_id=request_id,
        errors=errors or FormErrors(),
        duplicates=duplicates or [],
        elsewhere_count=elsewhere_count,
        communes=agent_communes(page),
    )


async def new_person(page: Page) -> Response:
    communes = agent_communes(page)
    values = {"territory": communes[0] if communes else ""}
    return person_form(page, values, new_request_id())


async def create_person(page: Page) -> Response:
    values = {name: page.field(name) for name in PERSON_FIELDS}
    values["foyer"] = page.field("foyer")
    request_id = page.field("request_id") or new_request_id()
    if page.field("doublons_vus") != "1":
        try:
            found = await page.calls.intake.CheckPossibleDuplicates(
                intake_pb2.CheckPossibleDuplicatesRequest(
                    territory=values["territory"],
                    first_name=values["first_name"],
                    last_name=values["last_name"],
                    birth_date=values["birth_date"],
                    phone=values["phone"],
                )
            )
        except grpc.RpcError as error:
            if error.code() not in FORM_CODES:
                raise
            # Not enough to look for duplicates (or a field refused): CreatePerson
            # decides, and names the fields at fault itself.
        else:
            if found.duplicates or found.elsewhere_count > 0:
                return person_form(
                    page,
                    values,
                    request_id,
                    duplicates=list(found.duplicates),
                    elsewhere_count=int(found.elsewhere_count),
                )
    fields = {name: values[name] for name in PERSON_FIELDS}
    try:
        created = await page.calls.intake.CreatePerson(
            intake_pb2.CreatePersonRequest(request_id=request_id, **fields)
        )
        person = created.person
        if values["foyer"]:
            await page.calls.intake.CreateHousehold(
                intake_pb2.CreateHouseholdRequest(
                    territory=person.territory,
                    member_ids=[person.person_id],
                    request_id=household_request_id(request_id),
                )
            )
    except grpc.RpcError as error:
        if error.code() not in FORM_CODES:
            raise
        return person_form(page, values, request_id, errors=form_errors(error), status=400)
    return page.redirect(f"/dossiers/nouveau?personne={person.person_id}&fait=personne_creee")


# --- Opening a dossier ---------------------------------------------------------------


async def person_of(page: Page, person_id: str) -> Any:
    if not person_id:
        return None
    return await page.calls.intake.GetPerson(intake_pb2.GetPersonRequest(person_id=person_id))


async def commune_sites(page: Page) -> list[tuple[str, list[Any]]]:
    """The sites of each of the agent's communes (ListReferenceData: the ones the intake
    service checks a dossier's site against), communes without sites left out."""
    data = await page.calls.intake.ListReferenceData(intake_pb2.ListReferenceDataRequest())
    by_commune: dict[str, list[Any]] = {}
    for site in data.sites:
        by_commune.setdefault(site.territory, []).append(site)
    return [(code, by_commune[code]) for code in agent_communes(page) if code in by_commune]


async def dossier_form(
    page: Page,
    person: Any,
    values: dict[str, Any],
    request_id: str,
    errors: FormErrors | None = None,
    status: int = 200,
    sites: list[tuple[str, list[Any]]] | None = None,
) -> Response:
    return page.render(
        "reception_dossier_new.html",
        status=status,
        title="Ouvrir un dossier",
        person=person,
        values=values,
        request_id=request_id,
        errors=errors or FormErrors(),
        communes=agent_communes(page),
        sites=await commune_sites(page) if sites is None else sites,
        done=web.messages(DONE, page.request),
    )


async def new_dossier(page: Page) -> Response:
    try:
        person = await person_of(page, web.query(page.request, "personne"))
    except grpc.RpcError as error:
        if error.code() not in FORM_CODES:
            raise
        raise web.not_found() from error  # a malformed ?personne= is a page that does not exist
    communes = agent_communes(page)
    territory = communes[0] if communes else ""
    sites = await commune_sites(page)
    # The agent's own site (the directory's) when it is one of their communes'.
    own = page.session.agent.site
    values: dict[str, Any] = {
        "motifs": [],
        "arrival_channel": "",
        "site": own if any(s.code == own for _, listed in sites for s in listed) else "",
        "urgent": "",
        "assigned_agent": "",
        "person_id": "",
        "household_id": "",
    }
    if person is not None:
        if person.territory in communes:
            territory = person.territory
        values["person_id"] = person.person_id
        if len(person.household_ids) == 1:
            values["household_id"] = person.household_ids[0]
    values["territory"] = territory
    return await dossier_form(page, person, values, new_request_id(), sites=sites)


async def open_dossier(page: Page) -> Response:
    values: dict[str, Any] = {
        name: page.field(name)
        for name in (
            "territory",
            "site",
            "arrival_channel",
            "urgent",
            "assigned_agent",
            "person_id",
            "household_id",
        )
    }
    values["motifs"] = page.fields("motifs")
    request_id = page.field("request_id") or new_request_id()
    try:
        reply = await page.calls.intake.OpenDossier(
            intake_pb2.OpenDossierRequest(
                request_id=request_id,
                territory=values["territory"],
                site=values["site"],
                motifs=values["motifs"],
                arrival_channel=values["arrival_channel"],
                urgent=bool(values["urgent"]),
                person_id=values["person_id"],
                household_id=values["household_id"],
                assigned_agent=values["assigned_agent"],
            )
        )
    except grpc.RpcError as error:
        if error.code() not in FORM_CODES:
            raise
        person = await person_of(page, values["person_id"])
        return await dossier_form(page, person, values, request_id, errors=form_errors(error), status=400)
    return page.redirect(f"/dossiers/{reply.dossier.dossier_id}?fait=dossier_ouvert")


ROUTES = [
    page_route("/accueil", reception_desk),
    page_route("/personnes", search_persons),
    page_route("/personnes/nouvelle", new_person),
    page_route("/personnes/nouvelle", create_person, methods=("POST",), name="create_person"),
    page_route("/dossiers/nouveau", new_dossier),
    page_route("/dossiers/nouveau", open_dossier, methods=("POST",), name="open_dossier"),
]
