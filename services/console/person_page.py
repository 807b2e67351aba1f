"""A person's page: identity, dossiers, consents, appointments and how the person
agreed to be reminded of them, and the person's rights (export of their data,
rectification), with the merge of a possible duplicate.

The intake service decides who may see or do what: a person of another commune is the
same French 404 page as an unknown one (page_route), and an action the agent's role does
not allow is refused with the service's own French sentence.
"""

from __future__ import annotations

from typing import Any

import grpc
from entraide.v1 import intake_pb2, planning_pb2, referral_pb2
from starlette.responses import Response

from domain import labels_fr as labels
from domain.planning import ContactChannel
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
    "contact": "Les préférences de contact sont enregistrées.",
}
CONTACT_CHANNELS = [(c.value, labels.CONTACT_CHANNEL_LABELS[c].capitalize()) for c in ContactChannel]
# The contact form's inputs, prefixed: the person's page holds several forms.
CONTACT_RENAME = {
    "consent": "contact-consent",
    "channel": "contact-channel",
    "opted_out": "contact-opted_out",
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


async def planning_section(call: Any) -> tuple[Any, str]:
    """A read of the planning for the person's page, or the service's refusal for the
    agent's role (the rest of the page stays usable)."""
    try:
        return await call, ""
    except grpc.RpcError as error:
        refusal = role_refusal(error)
        if refusal:
            return None, refusal
        if error.code() is grpc.StatusCode.UNIMPLEMENTED:
            return None, "Les rendez-vous ne sont pas encore disponibles sur ce déploiement."
        raise


async def person_appointments(page: Page, person_id: str) -> tuple[list[Any], str]:
    reply, refusal = await planning_section(
        page.calls.planning.ListAppointments(planning_pb2.ListAppointmentsRequest(person_id=person_id))
    )
    return (list(reply.appointments) if reply is not None else []), refusal


async def contact_preferences(page: Page, person_id: str) -> tuple[Any, str]:
    try:
        return await planning_section(
            page.calls.planning.GetContactPreferences(
                planning_pb2.GetContactPreferencesRequest(person_id=person_id)
            )
        )
    except grpc.RpcError as error:
        if error.code() is not grpc.StatusCode.NOT_FOUND:
            raise
        return planning_pb2.ContactPreferences(person_id=person_id), ""  # nothing recorded yet


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
    page: Page,
    person_id: str,
    status: int = 200,
    refusal: str = "",
    errors: FormErrors | None = None,
    contact_typed: Any = None,
) -> Response:
    person = await get_person(page, person_id)
    dossiers = await person_dossiers(page, person_id)
    consents, consents_refused = await person_consents(page, person_id)
    appointments: list[Any] = []
    appointments_refused, contact, contact_refused = "", None, ""
    if not person.merged_into:  # a merged record's appointments are on the record kept
        appointments, appointments_refused = await person_appointments(page, person_id)
        contact, contact_refused = await contact_preferences(page, person_id)
    if contact_typed is not None:
        contact = contact_typed  # the refused form shows what was typed
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
        appointments=appointments,
        appointments_refused=appointments_refused,
        contact=contact,
        contact_refused=contact_refused,
        contact_channels=CONTACT_CHANNELS,
        contact_request_id=new_request_id(),
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


async def set_contact_preferences(page: Page) -> Response:
    """Whether the person agrees to be reminded of appointments, how, and an opt-out."""
    person_id = person_id_of(page)
    typed = planning_pb2.ContactPreferences(
        person_id=person_id,
        consent=page.field("consent") == "1",
        channel=page.field("channel"),
        opted_out=page.field("opted_out") == "1",
    )
    try:
        await page.calls.planning.SetContactPreferences(
            planning_pb2.SetContactPreferencesRequest(
                person_id=person_id,
                consent=typed.consent,
                channel=typed.channel,
                opted_out=typed.opted_out,
                request_id=page.field("request_id"),
            )
        )
    except grpc.RpcError as error:
        refusal = role_refusal(error)
        if refusal:
            return await render_person(page, person_id, status=403, refusal=refusal)
        if error.code() not in FORM_CODES:
            raise
        errors = form_errors(error)
        errors.fields = {CONTACT_RENAME.get(k, k): v for k, v in errors.fields.items()}
        return await render_person(page, person_id, status=400, errors=errors, contact_typed=typed)
    return page.redirect(f"/personnes/{person_id}?fait=contact#rendez-vous")


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
    page_route("/personnes/{person_id}/contact", set_contact_preferences, methods=("POST",)),
    page_route("/personnes/{person_id}/rectifier", rectify_page),
    page_route("/personnes/{person_id}/rectifier", rectify_person, methods=("POST",), name="rectify_person"),
]
