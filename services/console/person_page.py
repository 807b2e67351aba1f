"""A person's page: identity, dossiers, consents, and the person's rights (export of
their data, rectification), with the merge of a possible duplicate.

The intake service decides who may see or do what: a person of another commune is the
same French 404 page as an unknown one (page_route), and an action the agent's role does
not allow is refused with the service's own French sentence.
"""

from __future__ import annotations

from typing import Any

import grpc
from entraide.v1 import intake_pb2, referral_pb2
from starlette.responses import Response

from domain import labels_fr as labels
from kernel import rich_status
from kernel.auth import Role
from services.console import web
from services.console.web import FORM_CODES, FormErrors, Page, form_errors, new_request_id, page_route
from services.intake.rights import RECTIFIABLE

DONE = {
    "rectifiee": "Les données de la personne ont été rectifiées.",
    "fusionnee": "Les deux fiches ont été fusionnées : dossiers, foyers et consentements"
    " sont sur cette fiche.",
    "consentement-retire": "Le retrait du consentement est enregistré : plus rien ne part vers ce"
    " partenaire à ce titre, et les orientations en cours qu'il couvrait sont annulées.",
}
# Who records a person's withdrawal of a consent (the service decides; the form is offered to them).
WITHDRAWERS = frozenset({Role.TRAVAILLEUR_SOCIAL, Role.RESPONSABLE})
CONSENT_KINDS = {code: label.capitalize() for code, label in labels.CONSENT_KIND_LABELS.items()}
CONSENT_CHANNELS = labels.CONSENT_CHANNEL_LABELS
ROLE_REFUSAL = "ROLE_NOT_ALLOWED"


def role_refusal(error: grpc.RpcError) -> str:
    """The service's French sentence when the agent's role may not call the method; ""
    otherwise (another commune's person stays the 404 page, so its existence is not told)."""
    described = rich_status.describe(error)
    if described.code is grpc.StatusCode.PERMISSION_DENIED and described.reason == ROLE_REFUSAL:
        return described.fr
    return ""


def person_id_of(page: Page) -> str:
    return str(page.request.path_params["person_id"])


async def get_person(page: Page, person_id: str) -> Any:
    try:
        return await page.calls.intake.GetPerson(intake_pb2.GetPersonRequest(person_id=person_id))
    except grpc.RpcError as error:
        if error.code() in FORM_CODES:
            raise web.not_found() from error  # a malformed id: no such page
        raise


async def person_dossiers(page: Page, person_id: str) -> list[Any]:
    reply = await page.calls.intake.ListDossiers(
        intake_pb2.ListDossiersRequest(person_id=person_id, page_size=200)
    )
    return list(reply.dossiers)


async def person_consents(page: Page, person_id: str) -> tuple[list[Any], str]:
    """The consents, or the service's refusal for the agent's role."""
    try:
        reply = await page.calls.intake.ListConsents(intake_pb2.ListConsentsRequest(person_id=person_id))
    except grpc.RpcError as error:
        refusal = role_refusal(error)
        if not refusal:
            raise
        return [], refusal
    return list(reply.consents), ""


async def partner_names(page: Page, consents: list[Any]) -> dict[str, str]:
    if not consents:
        return {}
    reply = await page.calls.referral.ListPartners(referral_pb2.ListPartnersRequest())
    return {p.partner_id: p.name for p in reply.partners}


async def possible_duplicates(page: Page, person: Any) -> list[Any]:
    """Persons that may be the same one, offered for a merge to responsables."""
    if page.session.agent.role is not Role.RESPONSABLE or person.merged_into:
        return []
    try:
        reply = await page.calls.intake.CheckPossibleDuplicates(
            intake_pb2.CheckPossibleDuplicatesRequest(
                territory=person.territory,
                first_name=person.first_name,
                last_name=person.last_name,
                birth_date=person.birth_date,
                phone=person.phone,
            )
        )
    except grpc.RpcError as error:
        if error.code() not in FORM_CODES:
            raise
        return []  # too little known about the person to look for duplicates
    return [p for p in reply.duplicates if p.person_id != person.person_id]


async def render_person(
    page: Page, person_id: str, status: int = 200, refusal: str = "", errors: FormErrors | None = None
) -> Response:
    person = await get_person(page, person_id)
    dossiers = await person_dossiers(page, person_id)
    consents, consents_refused = await person_consents(page, person_id)
    return page.render(
        "person_page.html",
        status=status,
        title=f"{person.first_name} {person.last_name}",
        person=person,
        dossiers=dossiers,
        consents=consents,
        consents_refused=consents_refused,
        partners=await partner_names(page, consents),
        duplicates=await possible_duplicates(page, person),
        consent_kinds=CONSENT_KINDS,
        consent_channels=CONSENT_CHANNELS,
        done=web.messages(DONE, page.request),
        refusal=refusal,
        errors=errors or FormErrors(),
        merge_request_id=new_request_id(),
        withdraw_request_id=new_request_id(),
        can_withdraw=page.session.agent.role in WITHDRAWERS,
    )


async def refused(page: Page, person_id: str, error: grpc.RpcError) -> Response:
    """The person's page again with the service's refusal: the role's (403) or the
    form's fields (400); anything else is not a refusal and propagates."""
    refusal = role_refusal(error)
    if refusal:
        return await render_person(page, person_id, status=403, refusal=refusal)
    if error.code() in FORM_CODES:
        return await render_person(page, person_id, status=400, errors=form_errors(error))
    raise error


async def person_page(page: Page) -> Response:
    return await render_person(page, person_id_of(page))


async def export_person(page: Page) -> Response:
    """The right of access: everything held about the person, as a JSON download."""
    person_id = person_id_of(page)
    try:
        export = await page.calls.intake.ExportPerson(intake_pb2.ExportPersonRequest(person_id=person_id))
    except grpc.RpcError as error:
        return await refused(page, person_id, error)
    # The file's name carries the person's id only: no personal data in a file name.
    filename = f"export-{export.person_id or person_id}.json"
    return Response(
        export.json.encode("utf-8"),
        media_type="application/json; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


async def merge_persons(page: Page) -> Response:
    keep_id, duplicate_id = page.field("keep_id"), page.field("duplicate_id")
    try:
        kept = await page.calls.intake.MergePersons(
            intake_pb2.MergePersonsRequest(
                keep_id=keep_id, duplicate_id=duplicate_id, request_id=page.field("request_id")
            )
        )
    except grpc.RpcError as error:
        return await refused(page, keep_id, error)
    return page.redirect(f"/personnes/{kept.person_id or keep_id}?fait=fusionnee")


async def revoke_consent(page: Page) -> Response:
    """The person withdraws a consent (how: oral, written, electronic)."""
    person_id = person_id_of(page)
    try:
        await page.calls.intake.RevokeConsent(
            intake_pb2.RevokeConsentRequest(
                consent_id=page.field("consent_id"),
                channel=page.field("channel"),
                request_id=page.field("request_id"),
            )
        )
    except grpc.RpcError as error:
        return await refused(page, person_id, error)
    return page.redirect(f"/personnes/{person_id}?fait=consentement-retire")


def rectify_form(
    page: Page,
    person: Any,
    values: dict[str, str],
    request_id: str,
    errors: FormErrors | None = None,
    status: int = 200,
) -> Response:
    return page.render(
        "person_rectify.html",
        status=status,
        title=f"Rectifier les données de {person.first_name} {person.last_name}",
        person=person,
        values=values,
        request_id=request_id,
        errors=errors or FormErrors(),
    )


async def rectify_page(page: Page) -> Response:
    person = await get_person(page, person_id_of(page))
    values = {name: str(getattr(person, name)) for name in RECTIFIABLE}
    return rectify_form(page, person, values, new_request_id())


async def rectify_person(page: Page) -> Response:
    person_id = person_id_of(page)
    values = {name: page.field(name) for name in (*RECTIFIABLE, "reason")}
    request_id = page.field("request_id") or new_request_id()
    try:
        await page.calls.intake.RectifyPerson(
            intake_pb2.RectifyPersonRequest(person_id=person_id, request_id=request_id, **values)
        )
    except grpc.RpcError as error:
        refusal = role_refusal(error)
        if not refusal and error.code() not in FORM_CODES:
            raise
        person = await get_person(page, person_id)
        errors = FormErrors(refusal) if refusal else form_errors(error)
        return rectify_form(page, person, values, request_id, errors, status=403 if refusal else 400)
    return page.redirect(f"/personnes/{person_id}?fait=rectifiee")


ROUTES = [
    page_route("/personnes/fusionner", merge_persons, methods=("POST",)),
    page_route("/personnes/{person_id}", person_page),
    page_route("/personnes/{person_id}/export", export_person, methods=("POST",)),
    page_route("/personnes/{person_id}/consentements/retrait", revoke_consent, methods=("POST",)),
    page_route("/personnes/{person_id}/rectifier", rectify_page),
    page_route("/personnes/{person_id}/rectifier", rectify_person, methods=("POST",), name="rectify_person"),
]
