"""Administration, for responsables: the console's agents directory (the console's own
table: its rules are here), the partner directory (the referral service's: import and
export through its RPCs, its errors shown against their JSON path) and the reference
data (the intake service's).

Every change to the agents directory writes one access-log row (kernel.access), in the
same transaction: who (the responsable's agent id), what, and which agent id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import grpc
from entraide.v1 import intake_pb2, referral_pb2
from starlette.datastructures import UploadFile
from starlette.responses import Response

from kernel import access, reference, rich_status
from kernel.auth import ROLE_LABELS, Role
from kernel.db import Connection
from services.console import directory
from services.console.directory import PERSON_ROLES, Agent
from services.console.web import (
    FORM_CODES,
    FormErrors,
    Page,
    PageFailure,
    messages,
    new_request_id,
    not_found,
    page_route,
    query,
)

ACCESS_SERVICE = "console"
ACCESS_PURPOSE = "annuaire des agents"
ACCESS_RESOURCE = "agent"
_IDENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
MAX_TEXT = 200
MAX_DOCUMENT_BYTES = 5_000_000
ROLE_CHOICES = [(role.value, ROLE_LABELS[role].capitalize()) for role in PERSON_ROLES]
# Roles that work on communes (a partner's agent works on its organisation's referrals).
TERRITORIAL_ROLES = frozenset(r for r in PERSON_ROLES if r is not Role.PARTENAIRE)
DONE = {
    "ajout": "L'agent a été ajouté à l'annuaire : il pourra se connecter avec son adresse électronique.",
    "modification": (
        "Les informations de l'agent ont été enregistrées : elles s'appliquent à sa prochaine page."
    ),
    "desactivation": "L'agent a été désactivé : ses sessions sont fermées et il ne peut plus se connecter.",
    "reactivation": "L'agent a été réactivé : il peut de nouveau se connecter.",
}


def require_responsable(page: Page) -> None:
    if page.session.agent.role is not Role.RESPONSABLE:
        raise PageFailure(
            403, "Accès refusé", "L'administration de la console est réservée aux agents de rôle responsable."
        )


async def log_change(conn: Connection, page: Page, method: str, agent_id: str) -> None:
    """One access-log row for a change to the agents directory (ids only, no names)."""
    await access.write_access_log(
        conn,
        service=ACCESS_SERVICE,
        actor=page.agent_id,
        role=page.session.agent.role.value,
        action="write",
        method=method,
        resources=[(ACCESS_RESOURCE, agent_id)],
        purpose=ACCESS_PURPOSE,
    )


# ---- home --------------------------------------------------------------------------


async def home(page: Page) -> Response:
    require_responsable(page)
    return page.render("admin_home.html", title="Administration")


# ---- agents ------------------------------------------------------------------------


@dataclass
class Assignment:
    """What a form says an agent does, once checked."""

    role: Role
    territories: frozenset[str]
    site: str
    team: str
    partner_id: str


def _reference(page: Page) -> reference.ReferenceData:
    """The deployment's reference data, as loaded once for the templates."""
    data = page.state.jinja.globals["reference"]
    assert isinstance(data, reference.ReferenceData)
    return data


def _communes_allowed(page: Page) -> list[tuple[str, str]]:
    """The communes a responsable may give: those they cover themselves."""
    data = _reference(page)
    mine = page.session.agent.territories
    return [
        (code, label) for code, label in sorted(data.territories.items(), key=lambda i: i[1]) if code in mine
    ]


def _assignment(page: Page, errors: FormErrors, kept: frozenset[str] = frozenset()) -> Assignment | None:
    """The role, communes, site, team and partner of the posted form; `kept`: the agent's
    communes outside the responsable's, left as they are."""
    role_code = page.field("role")
    role = next((r for r in PERSON_ROLES if r.value == role_code), None)
    if role is None:
        errors.fields["role"] = "Choisissez le rôle de l'agent."
    known = _reference(page).territories
    communes = frozenset(page.fields("communes"))
    outside = sorted(c for c in communes if c not in page.session.agent.territories)
    if outside:
        names = ", ".join(known.get(c, "commune inconnue") for c in outside)
        errors.fields["communes"] = (
            f"Vous ne pouvez donner que les communes que vous couvrez vous-même ; pas : {names}."
        )
    elif role in TERRITORIAL_ROLES and not communes | kept:
        errors.fields["communes"] = "Cochez au moins une commune où l'agent travaille."
    partner_id = page.field("partner_id")
    if role is Role.PARTENAIRE:
        if not partner_id:
            errors.fields["partner_id"] = "Indiquez l'identifiant de l'organisme partenaire de cet agent."
        elif not _IDENT.match(partner_id):
            errors.fields["partner_id"] = (
                "L'identifiant de l'organisme s'écrit en lettres, chiffres, points, tirets (100 au plus)."
            )
    else:
        partner_id = ""
    site, team = page.field("site"), page.field("team")
    for name, value in (("site", site), ("team", team)):
        if len(value) > MAX_TEXT:
            errors.fields[name] = f"{MAX_TEXT} caractères au plus."
    sites = _reference(page).sites
    if site and "site" not in errors.fields and site not in sites:
        # The reception form starts on the agent's site: a code of the reference data.
        errors.fields["site"] = (
            "Ce site n'existe pas : indiquez le code d'un site du référentiel, par exemple "
            f"« {next(iter(sites), 'ccas-bar-le-duc')} » (liste : Référentiel, « Sites d'accueil »),"
            " ou laissez vide."
        )
    if errors or role is None:
        return None
    return Assignment(role, communes | kept, site, team, partner_id)


def _agent_values(agent: Agent) -> dict[str, str]:
    return {"role": agent.role.value, "site": agent.site, "team": agent.team, "partner_id": agent.partner_id}


async def _agents_page(
    page: Page, status: int = 200, errors: FormErrors | None = None, values: dict[str, str] | None = None
) -> Response:
    async with page.state.pool.acquire() as conn:
        listed = await directory.all_agents(conn)
    return page.render(
        "admin_agents.html",
        status,
        title="Annuaire des agents",
        listed=listed,
        errors=errors or FormErrors(),
        values=values or {},
        chosen=set(page.fields("communes")),
        roles=ROLE_CHOICES,
        communes=_communes_allowed(page),
        done=messages(DONE, page.request),
        self_id=page.agent_id,
        request_id=new_request_id(),
    )


async def agents(page: Page) -> Response:
    require_responsable(page)
    return await _agents_page(page)


async def add_agent(page: Page) -> Response:
    require_responsable(page)
    errors = FormErrors()
    values = {
        name: page.field(name)
        for name in ("agent_id", "display_name", "email", "role", "site", "team", "partner_id")
    }
    agent_id, name, email = values["agent_id"], values["display_name"], values["email"]
    if not _IDENT.match(agent_id):
        errors.fields["agent_id"] = (
            "Indiquez un identifiant d'agent : lettres sans accent, chiffres, points ou tirets"
            " (100 caractères au plus), par exemple « ts.bar »."
        )
    if not name or len(name) > MAX_TEXT:
        errors.fields["display_name"] = f"Indiquez le nom de l'agent ({MAX_TEXT} caractères au plus)."
    if not _EMAIL.match(email) or len(email) > 254:
        errors.fields["email"] = (
            "Indiquez l'adresse électronique professionnelle de l'agent, par exemple prenom.nom@ccas.fr."
        )
    assignment = _assignment(page, errors)
    if assignment is not None and not errors:
        agent = Agent(
            agent_id=agent_id,
            display_name=name,
            email=email,
            role=assignment.role,
            territories=assignment.territories,
            site=assignment.site,
            team=assignment.team,
            partner_id=assignment.partner_id,
        )
        async with page.state.pool.acquire() as conn, conn.transaction():
            if await directory.add(conn, agent):
                await log_change(conn, page, "console/AddAgent", agent_id)
                return page.redirect("/administration/agents?fait=ajout")
            existing = await directory.get(conn, agent_id)
            if existing is not None and existing.email.lower() == email.lower() and existing.active:
                # The same form posted twice: already done.
                return page.redirect("/administration/agents?fait=ajout")
            if existing is not None:
                errors.fields["agent_id"] = "Cet identifiant est déjà celui d'un autre agent de l'annuaire."
            elif await directory.email_taken(conn, email):
                errors.fields["email"] = "Cette adresse électronique est déjà celle d'un agent de l'annuaire."
            else:
                errors.message = "L'agent n'a pas pu être ajouté : réessayez."
    errors.message = errors.message or "L'agent n'a pas été ajouté : corrigez le formulaire."
    return await _agents_page(page, 400, errors, values)


async def _agent_or_404(page: Page) -> Agent:
    agent_id = str(page.request.path_params.get("agent_id", ""))
    async with page.state.pool.acquire() as conn:
        agent = await directory.get(conn, agent_id) if _IDENT.match(agent_id) else None
    if agent is None:
        raise not_found()
    return agent


def _edit_page(page: Page, agent: Agent, status: int = 200, errors: FormErrors | None = None) -> Response:
    posted = page.form is not None
    return page.render(
        "admin_agent.html",
        status,
        title=f"Modifier l'agent {agent.display_name}",
        target=agent,
        errors=errors or FormErrors(),
        values={
            **_agent_values(agent),
            **({n: page.field(n) for n in ("role", "site", "team", "partner_id")} if posted else {}),
        },
        chosen=set(page.fields("communes")) if posted else set(agent.territories),
        kept=sorted(agent.territories - page.session.agent.territories),
        roles=ROLE_CHOICES,
        communes=_communes_allowed(page),
        self_id=page.agent_id,
        request_id=new_request_id(),
    )


async def agent_page(page: Page) -> Response:
    require_responsable(page)
    return _edit_page(page, await _agent_or_404(page))


async def edit_agent(page: Page) -> Response:
    require_responsable(page)
    agent = await _agent_or_404(page)
    errors = FormErrors()
    kept = agent.territories - page.session.agent.territories
    assignment = _assignment(page, errors, frozenset(kept))
    if assignment is not None and agent.agent_id == page.agent_id and assignment.role is not Role.RESPONSABLE:
        errors.fields["role"] = "Vous ne pouvez pas retirer votre propre rôle de responsable."
    if assignment is None or errors:
        errors.message = "Les modifications n'ont pas été enregistrées : corrigez le formulaire."
        return _edit_page(page, agent, 400, errors)
    unchanged = (agent.role, agent.territories, agent.site, agent.team, agent.partner_id) == (
        assignment.role,
        assignment.territories,
        assignment.site,
        assignment.team,
        assignment.partner_id,
    )
    if not unchanged:
        async with page.state.pool.acquire() as conn, conn.transaction():
            if not await directory.assign(
                conn,
                agent.agent_id,
                assignment.role,
                assignment.territories,
                assignment.site,
                assignment.team,
                assignment.partner_id,
            ):
                raise not_found()
            await log_change(conn, page, "console/UpdateAgent", agent.agent_id)
    return page.redirect("/administration/agents?fait=modification")


async def _set_active(page: Page, active: bool) -> Response:
    require_responsable(page)
    agent = await _agent_or_404(page)
    if not active and agent.agent_id == page.agent_id:
        raise PageFailure(
            409,
            "Action impossible",
            "Vous ne pouvez pas désactiver votre propre compte : demandez-le à un autre responsable.",
        )
    if agent.active != active:
        async with page.state.pool.acquire() as conn, conn.transaction():
            if not await directory.set_active(conn, agent.agent_id, active):
                raise not_found()
            await log_change(
                conn, page, "console/ReactivateAgent" if active else "console/DeactivateAgent", agent.agent_id
            )
    return page.redirect(f"/administration/agents?fait={'reactivation' if active else 'desactivation'}")


async def deactivate(page: Page) -> Response:
    return await _set_active(page, False)


async def reactivate(page: Page) -> Response:
    return await _set_active(page, True)


# ---- partner directory (the referral service's) -------------------------------------


@dataclass(frozen=True)
class PathError:
    """One refusal of an imported document: where in the JSON, and why (in French)."""

    path: str
    text: str


async def _partners_page(
    page: Page,
    status: int = 200,
    document: str = "",
    problems: list[PathError] | None = None,
    message: str = "",
) -> Response:
    exported = await page.calls.referral.ExportDirectory(referral_pb2.ExportDirectoryRequest())
    done = ""
    if query(page.request, "fait") == "import":
        counts = [query(page.request, n) for n in ("organismes", "services", "lieux", "horaires")]
        if all(c.isdigit() for c in counts):
            done = (
                f"L'annuaire des partenaires a été importé : {counts[0]} organisme(s),"
                f" {counts[1]} service(s), {counts[2]} lieu(x) et {counts[3]} horaire(s) de permanence."
            )
    return page.render(
        "admin_partners.html",
        status,
        title="Annuaire des partenaires",
        exported=exported.document,
        document=document,
        problems=problems or [],
        message=message,
        done=done,
        request_id=new_request_id(),
    )


async def partners(page: Page) -> Response:
    require_responsable(page)
    return await _partners_page(page)


async def partners_download(page: Page) -> Response:
    require_responsable(page)
    exported = await page.calls.referral.ExportDirectory(referral_pb2.ExportDirectoryRequest())
    return Response(
        exported.document,
        media_type="application/json; charset=utf-8",
        headers={"content-disposition": 'attachment; filename="annuaire-partenaires.json"'},
    )


async def _uploaded(page: Page) -> str | None:
    """The uploaded file's text, "" without a file, None when it is not UTF-8 or too big."""
    upload = page.form.get("fichier") if page.form is not None else None
    if not isinstance(upload, UploadFile) or not upload.filename:
        return ""
    content = await upload.read(MAX_DOCUMENT_BYTES + 1)
    if len(content) > MAX_DOCUMENT_BYTES:
        return None
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None


async def import_partners(page: Page) -> Response:
    require_responsable(page)
    uploaded = await _uploaded(page)
    document = page.field("document")
    if uploaded is None:
        return await _partners_page(
            page,
            400,
            document,
            message="Le fichier envoyé n'est pas un fichier texte JSON en UTF-8 de 5 Mo au plus.",
        )
    document = uploaded or document
    if not document:
        return await _partners_page(
            page, 400, message="Collez le document JSON de l'annuaire, ou choisissez son fichier."
        )
    request_id = page.field("request_id")
    try:
        reply = await page.calls.referral.ImportDirectory(
            referral_pb2.ImportDirectoryRequest(document=document, request_id=request_id[:100])
        )
    except grpc.RpcError as error:
        described = rich_status.describe(error)
        if described.code not in FORM_CODES:
            raise
        problems = [PathError(v.field, v.fr) for v in described.violations]
        return await _partners_page(
            page, 400, document, problems, "L'annuaire n'a pas été importé : " + described.fr
        )
    return page.redirect(
        f"/administration/partenaires?fait=import&organismes={reply.organizations}&services={reply.services}"
        f"&lieux={reply.locations}&horaires={reply.schedules}"
    )


# ---- reference data (the intake service's) ------------------------------------------


async def reference_data(page: Page) -> Response:
    require_responsable(page)
    data = await page.calls.intake.ListReferenceData(intake_pb2.ListReferenceDataRequest())
    scopes = _reference(page).consent_data_scopes
    tables = [
        ("motifs", "Motifs de demande", data.motifs),
        ("canaux", "Canaux d'arrivée", data.arrival_channels),
        ("communes", "Communes (code INSEE)", data.territories),
        ("sites", "Sites d'accueil", data.sites),
        ("issues", "Issues de clôture d'un dossier", data.closure_outcomes),
        ("resultats", "Résultats d'une orientation (donnés par le partenaire)", data.referral_outcomes),
        ("raisons", "Raisons d'un refus ou d'un échec d'orientation", data.referral_reasons),
        ("taches", "Types de tâches à traiter", data.task_kinds),
    ]
    return page.render(
        "admin_reference.html",
        title="Référentiel",
        tables=tables,
        scopes=sorted(scopes.items()),
    )


ROUTES = [
    page_route("/administration", home),
    page_route("/administration/agents", agents),
    page_route("/administration/agents", add_agent, methods=("POST",), name="add_agent"),
    page_route("/administration/agents/{agent_id}", agent_page),
    page_route("/administration/agents/{agent_id}", edit_agent, methods=("POST",), name="edit_agent"),
    page_route("/administration/agents/{agent_id}/desactiver", deactivate, methods=("POST",)),
    page_route("/administration/agents/{agent_id}/reactiver", reactivate, methods=("POST",)),
    page_route("/administration/partenaires", partners),
    page_route("/administration/partenaires", import_partners, methods=("POST",), name="import_partners"),
    page_route("/administration/partenaires/annuaire.json", partners_download),
    page_route("/administration/referentiel", reference_data),
]
