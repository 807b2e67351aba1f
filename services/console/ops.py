"""The operations page ("Exploitation"): what the reporting service's GetOpsOverview
gives (dossiers per stage, overdue deadlines, stuck dossiers, consumer lag, outbox
backlog, dead letters, misconfigured partner channels), the standard gRPC health of
each service as this console process reaches it, and a link to a dossier's workflow in
the Temporal UI.

Who may read the overview is the reporting service's rule (ops and responsables): an
agent it refuses gets the French refusal and no figure, and no health check is made.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote

import grpc
from entraide.v1 import reporting_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from starlette.responses import Response

from kernel import rich_status, tls
from kernel.settings import Settings
from services.console.web import FormErrors, Page, PageFailure, page_route, query
from workflows.contracts import dossier_workflow_id

SERVICES = ("intake", "referral", "reporting")
# The French name of each service (and of its database schema in the outbox backlog).
SERVICE_LABELS: dict[str, str] = {
    "intake": "Accueil et dossiers (intake)",
    "referral": "Orientations et partenaires (referral)",
    "reporting": "Statistiques (reporting)",
    "console": "Console des agents",
}
HEALTH_TIMEOUT_S = 2.0
TEMPORAL_UI_VAR = "ENTRAIDE_TEMPORAL_UI_URL"
DEFAULT_TEMPORAL_UI_URL = "http://127.0.0.1:58233"
DEFAULT_STUCK_AFTER_DAYS = 30
MAX_STUCK_AFTER_DAYS = 3650
LIST_LIMIT = 100
# Why a dossier is listed (StuckDossier.reason).
REASON_LABELS: dict[str, str] = {
    "escalated": "Écoute urgente pas encore menée",
    "reminder": "Relance de suivi restée sans contact",
    "closure_proposed": "Clôture proposée restée sans suite",
    "no_progress": "Aucun avancement",
    "referral_overdue": "Orientation sans réponse du partenaire après relance",
}
# Why a partner channel cannot work (MisconfiguredChannel.reason).
CHANNEL_REASON_LABELS: dict[str, str] = {
    "MISSING_WEBHOOK_SECRET": (
        "Le secret du webhook n'est pas défini dans l'environnement du service des orientations."
    ),
    "INVALID_WEBHOOK_SECRET_REF": (
        "La référence du secret du webhook ne désigne pas une variable ENTRAIDE_WEBHOOK_SECRET_…"
    ),
    "INVALID_WEBHOOK_URL": "L'adresse du webhook n'est pas valable (https, nom d'hôte, port).",
}
CHANNEL_LABELS: dict[str, str] = {"webhook": "webhook (HTTPS)", "nats": "NATS"}
UNKNOWN_REASON = "Motif non reconnu par cette console"


@dataclass(frozen=True)
class Health:
    service: str
    label: str
    serving: bool
    # The standard status word (SERVING, NOT_SERVING…), or "" when unreachable.
    status: str


async def check_health(address: str, env: Mapping[str, str]) -> str:
    """The standard gRPC health status of the process at `address`, "" if unreachable."""
    channel = tls.secure_or_insecure_channel(address, env, aio=True)
    try:
        reply = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=""), timeout=HEALTH_TIMEOUT_S
        )
    except grpc.RpcError:
        return ""
    finally:
        await channel.close(None)
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))


async def services_health(env: Mapping[str, str]) -> list[Health]:
    settings = Settings.from_env(env)
    statuses = await asyncio.gather(*(check_health(settings.grpc_address(name), env) for name in SERVICES))
    return [
        Health(name, SERVICE_LABELS[name], status == "SERVING", status)
        for name, status in zip(SERVICES, statuses, strict=True)
    ]


def temporal_ui_base(env: Mapping[str, str]) -> str:
    return (env.get(TEMPORAL_UI_VAR, "") or DEFAULT_TEMPORAL_UI_URL).rstrip("/")


def workflow_url(env: Mapping[str, str], dossier_id: str) -> str:
    """The Temporal UI page of a dossier's workflow."""
    namespace = Settings.from_env(env).temporal_namespace
    workflow = dossier_workflow_id(dossier_id)
    return (
        f"{temporal_ui_base(env)}/namespaces/{quote(namespace, safe='')}/workflows/{quote(workflow, safe='')}"
    )


def parse_dossier_id(text: str) -> str | None:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return None


async def overview(page: Page) -> Response:
    errors = FormErrors()
    values = {
        "stuck_after_days": query(page.request, "stuck_after_days"),
        "dossier": query(page.request, "dossier"),
    }
    days = DEFAULT_STUCK_AFTER_DAYS
    if values["stuck_after_days"]:
        try:
            days = int(values["stuck_after_days"])
            if not 1 <= days <= MAX_STUCK_AFTER_DAYS:
                raise ValueError(days)
        except ValueError:
            days = DEFAULT_STUCK_AFTER_DAYS
            errors.fields["stuck_after_days"] = (
                f"Indiquez un nombre entier de jours entre 1 et {MAX_STUCK_AFTER_DAYS}."
            )
    link = ""
    if values["dossier"]:
        dossier_id = parse_dossier_id(values["dossier"])
        if dossier_id is None:
            errors.fields["dossier"] = (
                "Cet identifiant de dossier n'est pas valable : il s'écrit en 36 caractères,"
                " chiffres, lettres de a à f et tirets (par exemple 0b6f7c1e-…)."
            )
        else:
            link = workflow_url(page.state.settings.env, dossier_id)
    try:
        reply = await page.calls.reporting.GetOpsOverview(
            reporting_pb2.GetOpsOverviewRequest(stuck_after_days=days, limit=LIST_LIMIT)
        )
    except grpc.RpcError as error:
        described = rich_status.describe(error)
        if described.code is grpc.StatusCode.PERMISSION_DENIED:
            raise PageFailure(403, "Accès refusé", described.fr) from None
        raise
    health = await services_health(page.state.settings.env)
    if errors:
        errors.message = "Le formulaire contient des erreurs"
    return page.render(
        "ops_overview.html",
        400 if errors else 200,
        title="Exploitation",
        overview=reply,
        days=days,
        values=values,
        errors=errors,
        workflow_link=link,
        workflow_dossier=parse_dossier_id(values["dossier"]) or "",
        health=health,
        backlog=sorted(reply.outbox_backlog.items()),
        service_labels=SERVICE_LABELS,
        reason_labels=REASON_LABELS,
        channel_reason_labels=CHANNEL_REASON_LABELS,
        channel_labels=CHANNEL_LABELS,
        unknown_reason=UNKNOWN_REASON,
        workflow_url=lambda dossier_id: workflow_url(page.state.settings.env, dossier_id),
    )


ROUTES = [page_route("/exploitation", overview)]
