"""The dossier page: its summary and deadlines, the écoute, consents, orientations,
suivi, closure and timeline, each section with the forms that make sense at the
dossier's stage (the services still decide, and their French refusals are shown next
to the form's fields, the typed text kept).

GET /dossiers/{dossier_id} reads the timeline first: a dossier the agent may not read
ends there (the French 404 page), before any other call. GET
/dossiers/{dossier_id}/orientations is the referrals list alone, which the page
refreshes with htmx. The actions (POST) are in dossier_actions.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import grpc
from entraide.v1 import intake_pb2, referral_pb2
from starlette.responses import Response
from starlette.routing import Route

from domain import labels_fr as labels
from domain.vocabulary import REFERRAL_TERMINAL
from kernel.auth import Role
from kernel.reference import ReferenceData
from services.console import directory
from services.console.aid_dossier import DONE as AID_DONE
from services.console.aid_dossier import aid_sections
from services.console.dossier_actions import ACTIONS, DONE, Action, dossier_of
from services.console.templating import PARIS
from services.console.web import (
    FORM_CODES,
    FormErrors,
    Page,
    code_of,
    form_errors,
    new_request_id,
    page_route,
    query,
    read_by_path_id,
)
from services.intake.access import FOLLOWING

DEADLINE_LABELS = {code: label.capitalize() for code, label in labels.DEADLINE_LABELS.items()}
CONSENT_KINDS = {code: label.capitalize() for code, label in labels.CONSENT_KIND_LABELS.items()}
CONSENT_CHANNELS = labels.CONSENT_CHANNEL_LABELS
VISIBILITIES = {"team": "Équipe", "author": "Privée — visible de moi seul"}
NEXT_STAGES = {"orientation": "Orientation vers un partenaire", "suivi": "Suivi par le CCAS"}
# Form fields that carry several values (checkboxes).
MULTI_FIELDS = frozenset({"motifs", "data_scope"})
# Fields of each form (by form-key prefix): the error summary links to them.
FORM_FIELDS: dict[str, frozenset[str]] = {
    "entretien": frozenset({"notes", "visibility"}),
    "fin-ecoute": frozenset({"next_stage", "motifs"}),
    "consentement": frozenset({"partner_id", "data_scope", "kind", "channel", "legal_basis"}),
    "orientation": frozenset({"motif", "message_for_partner", "data_scope"}),
    "annulation": frozenset({"reason"}),
    "contact": frozenset({"notes", "visibility"}),
    "attribution": frozenset({"assignee"}),
    "cloture": frozenset({"outcome", "notes"}),
    "reouverture": frozenset({"reason"}),
    "piece": frozenset({"kind", "content"}),
}
# Codes of a referral call that mean « not known to the referral service yet » (its
# read model follows intake's events) or « not at this stage »: shown as none.
NOT_YET = frozenset({grpc.StatusCode.NOT_FOUND, grpc.StatusCode.FAILED_PRECONDITION})

Values = dict[str, str | list[str]]


class RequestIds(dict[str, str]):
    """A request id per form of the page, made when the form is rendered."""

    def __missing__(self, key: str) -> str:
        self[key] = value = new_request_id()
        return value


@dataclass
class Refusal:
    """A form the service refused: shown again with its errors and what was typed."""

    form: str
    errors: FormErrors
    values: Values
    request_id: str
    anchors: dict[str, str] = field(default_factory=dict)


def _posted(page: Page) -> Values:
    values: Values = {}
    if page.form is None:
        return values
    for name in page.form.keys():
        if name in ("csrf_token", "request_id"):
            continue
        values[name] = page.fields(name) if name in MULTI_FIELDS else page.field(name)
    return values


def _clock(value: Any) -> str:
    return value.ToDatetime(tzinfo=UTC).astimezone(PARIS).strftime("%H:%M") if value.seconds else ""


def _permanence(permanence: referral_pb2.Permanence, communes: Mapping[str, str]) -> str:
    """« le 12/03/2025 à 09:00 jusqu'à 12:00, Maison des solidarités, 1 rue … (Bar-le-Duc) »."""
    if not permanence.starts_at.seconds:
        return ""
    start = permanence.starts_at.ToDatetime(tzinfo=UTC).astimezone(PARIS)
    text = f"le {start:%d/%m/%Y} de {start:%H:%M}"
    if permanence.ends_at.seconds:
        text += f" à {_clock(permanence.ends_at)}"
    place = permanence.location
    where = ", ".join(part for part in (place.name, place.address) if part)
    if place.commune:
        where += f" ({communes.get(place.commune, place.commune)})"
    return f"{text}, {where}" if where else text


async def _suggestions(page: Page, dossier_id: str) -> list[referral_pb2.Suggestion]:
    try:
        reply = await page.calls.referral.SuggestPartners(
            referral_pb2.SuggestPartnersRequest(dossier_id=dossier_id)
        )
    except grpc.RpcError as error:
        if code_of(error) in NOT_YET:
            return []
        raise
    return list(reply.suggestions)


async def _referrals(page: Page, dossier_id: str) -> list[referral_pb2.Referral] | None:
    """The dossier's referrals; None while the referral service does not know it yet."""
    try:
        reply = await page.calls.referral.ListDossierReferrals(
            referral_pb2.ListDossierReferralsRequest(dossier_id=dossier_id)
        )
    except grpc.RpcError as error:
        if code_of(error) in NOT_YET:
            return None
        raise
    return list(reply.referrals)


async def _partners(page: Page, territory: str) -> list[referral_pb2.Partner]:
    reply = await page.calls.referral.ListPartners(referral_pb2.ListPartnersRequest(territory=territory))
    return list(reply.partners)


async def _person(page: Page, person_id: str) -> intake_pb2.Person | None:
    if not person_id:
        return None
    try:
        person: intake_pb2.Person = await page.calls.intake.GetPerson(
            intake_pb2.GetPersonRequest(person_id=person_id)
        )
    except grpc.RpcError as error:
        if code_of(error) in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED):
            return None
        raise
    return person


async def _consents(page: Page, person_id: str) -> list[intake_pb2.Consent]:
    if not person_id:
        return []
    try:
        reply = await page.calls.intake.ListConsents(intake_pb2.ListConsentsRequest(person_id=person_id))
    except grpc.RpcError as error:
        if code_of(error) in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED):
            return []
        raise
    return list(reply.consents)


async def _agents(page: Page) -> list[directory.Agent]:
    return await page.state.agents()


async def _timeline(page: Page, dossier_id: str) -> intake_pb2.DossierTimeline:
    timeline: intake_pb2.DossierTimeline = await read_by_path_id(
        page.calls.intake.GetDossierTimeline(intake_pb2.GetDossierRequest(dossier_id=dossier_id))
    )
    return timeline


def _defaults(dossier: intake_pb2.Dossier, suggestions: list[referral_pb2.Suggestion]) -> dict[str, Values]:
    values: dict[str, Values] = {
        "entretien": {"visibility": "team"},
        "contact": {"visibility": "team"},
        "fin-ecoute": {"next_stage": "orientation", "motifs": list(dossier.motifs)},
        "consentement": {"kind": "consent", "data_scope": ["motif"]},
    }
    for suggestion in suggestions:
        served = list(suggestion.motifs) or list(dossier.motifs)
        values[f"orientation-{suggestion.partner.partner_id}"] = {
            "motif": served[0] if served else "",
            "data_scope": ["motif"],
        }
    return values


def _anchors(refusal: Refusal) -> dict[str, str]:
    known = FORM_FIELDS.get(refusal.form.split("-")[0], frozenset())
    if refusal.form in FORM_FIELDS:
        known = FORM_FIELDS[refusal.form]
    return {
        name: f"{refusal.form}-{name}" if name in known else f"form-{refusal.form}"
        for name in refusal.errors.fields
    }


async def _nothing() -> list[Any]:
    return []


async def render_dossier(page: Page, dossier_id: str, refusal: Refusal | None = None) -> Response:
    timeline = await _timeline(page, dossier_id)
    dossier = timeline.dossier
    # Reception sees where the dossier stands; the écoute, consents and referrals are the
    # work of those who follow it (the services refuse reception those calls).
    follows = page.session.agent.role in FOLLOWING
    aides_task = asyncio.ensure_future(aid_sections(page, dossier_id))
    try:
        suggestions, referrals, partners, person, consents, agents = await asyncio.gather(
            _suggestions(page, dossier_id) if follows else _nothing(),
            _referrals(page, dossier_id) if follows else _nothing(),
            _partners(page, dossier.territory),
            _person(page, dossier.person_id),
            _consents(page, dossier.person_id) if follows else _nothing(),
            _agents(page),
        )
    except BaseException:
        aides_task.cancel()
        raise
    aides = await aides_task
    reference = page.state.jinja.globals["reference"]
    communes = reference.territories if isinstance(reference, ReferenceData) else {}
    names = {agent.agent_id: agent.display_name for agent in agents}
    colleagues = [
        agent
        for agent in agents
        if agent.role in (Role.TRAVAILLEUR_SOCIAL, Role.RESPONSABLE)
        and dossier.territory in agent.territories
    ]
    suggested = {s.partner.partner_id for s in suggestions}
    partner_names = {p.partner_id: p.name for p in partners} | {
        s.partner.partner_id: s.partner.name for s in suggestions
    }
    now = datetime.now(UTC)
    deadlines = [
        {
            "label": DEADLINE_LABELS.get(d.kind, d.kind),
            "due_at": d.due_at,
            "overdue": d.due_at.ToDatetime(tzinfo=UTC) < now,
        }
        for d in timeline.deadlines
    ]
    values = _defaults(dossier, suggestions)
    request_ids = RequestIds()
    if refusal is not None:
        values[refusal.form] = refusal.values
        if refusal.request_id:
            request_ids[refusal.form] = refusal.request_id
        refusal.anchors = _anchors(refusal)
    code = query(page.request, "fait")
    done = (DONE.get(code) or AID_DONE.get(code)) if refusal is None else None
    return page.render(
        "dossier_page.html",
        status=400 if refusal is not None else 200,
        title=f"Dossier de {person.first_name} {person.last_name}" if person is not None else "Dossier",
        dossier=dossier,
        dossier_id=dossier.dossier_id,
        entries=list(timeline.entries),
        deadlines=deadlines,
        person=person,
        consents=consents,
        suggestions=[{"s": s, "permanence": _permanence(s.next_permanence, communes)} for s in suggestions],
        referrals=referrals,
        open_referrals=[r for r in referrals or [] if r.status not in REFERRAL_TERMINAL],
        partners=[p for p in partners if p.partner_id not in suggested],
        suggested_partners=[s.partner for s in suggestions],
        partner_names=partner_names,
        names=names,
        colleagues=colleagues,
        me=page.agent_id,
        values=values,
        request_ids=request_ids,
        refusal=refusal,
        done=done,
        follows=follows,
        deadline_labels=DEADLINE_LABELS,
        consent_kinds=CONSENT_KINDS,
        consent_channels=CONSENT_CHANNELS,
        visibilities=VISIBILITIES,
        next_stages=NEXT_STAGES,
        **aides,
    )


async def dossier(page: Page) -> Response:
    return await render_dossier(page, dossier_of(page))


async def dossier_referrals(page: Page) -> Response:
    """The referrals list alone (htmx refreshes it on the page)."""
    dossier_id = dossier_of(page)
    referrals = await _referrals(page, dossier_id)
    if referrals is None:
        # Not known to the referral service: check the agent may read the dossier at all.
        await _timeline(page, dossier_id)
    return page.render("dossier_referrals.html", dossier_id=dossier_id, referrals=referrals)


def action_route(action: Action) -> Route:
    """POST /dossiers/{dossier_id}<path>: the call, then the page (post/redirect/get),
    or the page again with the refusal next to the form's fields (status 400)."""

    async def handler(page: Page) -> Response:
        dossier_id = dossier_of(page)
        try:
            done = await action.run(page)
        except grpc.RpcError as error:
            if code_of(error) not in FORM_CODES:
                raise
            refusal = Refusal(
                action.form_key(page), form_errors(error), _posted(page), page.field("request_id")
            )
            return await render_dossier(page, dossier_id, refusal)
        section = DONE[done][1]
        return page.redirect(f"/dossiers/{quote(dossier_id, safe='')}?fait={done}#{section}")

    name = "dossier" + action.path.replace("/", "_").replace("{", "").replace("}", "")
    return page_route("/dossiers/{dossier_id}" + action.path, handler, methods=("POST",), name=name)


ROUTES = [
    page_route("/dossiers/{dossier_id}", dossier, name="dossier"),
    page_route("/dossiers/{dossier_id}/orientations", dossier_referrals, name="dossier_referrals"),
    *(action_route(action) for action in ACTIONS),
]
