"""ReferralService gRPC handlers: the partner directory, suggestions, and referrals.

Referral changes go through workflows (the dossier's for creation, the referral's own
for every later status); reads come from the referral service's tables, on connections
scoped to the caller (a partner's sees only its referrals, by row-level security).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import asyncpg
from entraide.v1 import referral_pb2, referral_pb2_grpc
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from domain.labels_fr import REFERRAL_ACTION_VERBS, REFERRAL_REASON_LABELS, REFERRAL_STATUS_LABELS
from domain.vocabulary import REFERRAL_OUTCOMES, REFERRAL_REASONS, REFERRAL_STATUSES, REFERRAL_TERMINAL
from kernel import auth, idempotency
from kernel.auth import Claims, Role
from kernel.db import Pool, ScopedPool, system_scope
from kernel.errors import DomainError, FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from kernel.grpc_server import Context, remaining
from kernel.reference import ReferenceData
from kernel.temporal import domain_error_from, run_update
from kernel.timestamps import to_timestamp
from services.referral import directory, links, referrals
from services.referral.schema import SCHEMA
from workflows.contracts import (
    ActInput,
    OrientInput,
    ReferralTimers,
    dossier_workflow_id,
    referral_workflow_id,
)
from workflows.dossier import DossierWorkflow
from workflows.referral import ReferralWorkflow

MAX_MESSAGE = 2000
MAX_COMMENT = 500
_REQUEST_ID = re.compile(r"^[\x21-\x7e]{1,100}$")
REFERRAL_ID_NAMESPACE = uuid.UUID("5d2b8f0e-8c57-4f0b-9d7c-1f3e2a4b6c88")
SERVICE_NAME = "entraide.v1.ReferralService"
T = TypeVar("T")
# The partner actions a link may perform (each as the partner's own RPC).
LINK_ACTIONS = ("acknowledge", "accept", "reject", "start", "complete", "fail")
# An answer under way holds its link this long at most (then a retry may take it over).
LINK_ANSWER_STALE_S = 45.0


def _dossier_gone() -> FailedPrecondition:
    """The refusal of a step on a dossier whose workflow has ended."""
    return FailedPrecondition(
        "this dossier is closed for good",
        fr="Ce dossier est clôturé définitivement (son délai de réouverture est passé) :"
        " aucune orientation n'est plus possible.",
        reason="REOPEN_DELAY_PASSED",
    )


def _referral_gone() -> FailedPrecondition:
    """The refusal of an action on a referral whose workflow has ended."""
    return FailedPrecondition(
        "this referral is over",
        fr="Cette orientation est terminée : elle ne peut plus changer.",
        reason="REFERRAL_OVER",
    )


def _partner_not_found() -> NotFound:
    return NotFound(
        "no partner with this partner_id in the directory",
        fr="Aucun partenaire de l'annuaire ne porte cet identifiant (voir `entraide partenaires`).",
        reason="PARTNER_NOT_FOUND",
        field="partner_id",
    )


# French names of the request fields, as a person reads them.
ID_LABELS = {"dossier_id": "l'identifiant du dossier", "referral_id": "l'identifiant de l'orientation"}
REFERENTIEL = "`entraide referentiel`"


def _invalid(field: str, message: str, fr: str, reason: str) -> InvalidArgument:
    return InvalidArgument(message, fr=fr, reason=reason, field=field)


def _quoted(values: list[str]) -> str:
    return ", ".join(f"« {v} »" for v in values)


def _choices(codes: tuple[str, ...] | list[str], labels: dict[str, str]) -> str:
    """« code » (what it means), …: the codes a person may give, with their French words."""
    return ", ".join(f"« {c} » ({labels[c]})" if c in labels else f"« {c} »" for c in codes)


def _uuid(raw: str, name: str) -> str:
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        label = ID_LABELS.get(name, f"l'identifiant {name}")
        if not raw:
            raise _invalid(
                name, f"{name} is required (a UUID)", f"Indiquez {label}.", "FIELD_REQUIRED"
            ) from None
        raise _invalid(
            name,
            f"{name} must be a UUID",
            f"{label[:1].upper()}{label[1:]} n'est pas valable :"
            " il compte 36 caractères, copiez-le en entier.",
            "INVALID_ID",
        ) from None


def _unknown_motif(field: str, motif: str) -> InvalidArgument:
    if not motif:
        return _invalid(
            field,
            f"{field} is required",
            f"Indiquez le motif (liste des motifs : {REFERENTIEL}).",
            "FIELD_REQUIRED",
        )
    return _invalid(
        field,
        f"unknown motif {motif[:40]!r}",
        f"Motif inconnu : « {motif[:40]} » (liste des motifs : {REFERENTIEL}).",
        "UNKNOWN_MOTIF",
    )


def _unknown_territory(territory: str) -> InvalidArgument:
    return _invalid(
        "territory",
        f"territory {territory[:20]!r} is not a commune of this deployment",
        f"La commune « {territory[:20]} » n'est pas une commune de ce déploiement"
        f" (liste des communes : {REFERENTIEL}).",
        "UNKNOWN_TERRITORY",
    )


def _partner_message(row: asyncpg.Record) -> referral_pb2.Partner:
    return referral_pb2.Partner(
        partner_id=row["partner_id"],
        name=row["name"],
        kind=row["kind"],
        motifs=list(row["motifs"]),
        territories=list(row["territories"]),
    )


def _location(loc: directory.Location) -> referral_pb2.Location:
    return referral_pb2.Location(
        location_id=loc.location_id, name=loc.name, address=loc.address, commune=loc.commune
    )


def _permanence(found: directory.NextPermanence | None) -> referral_pb2.Permanence | None:
    if found is None:
        return None
    return referral_pb2.Permanence(
        starts_at=to_timestamp(found.starts_at),
        ends_at=to_timestamp(found.ends_at),
        location=_location(found.location),
    )


def referral_message(
    row: asyncpg.Record, partner_name: str, changes: list[asyncpg.Record], for_partner: bool
) -> referral_pb2.Referral:
    """A partner's view carries only what it needs: no dossier id, no referrer."""
    person = json.loads(row["person"]) if isinstance(row["person"], str) else dict(row["person"])
    return referral_pb2.Referral(
        referral_id=str(row["referral_id"]),
        dossier_id="" if for_partner else str(row["dossier_id"]),
        partner_id=row["partner_id"],
        partner_name=partner_name,
        territory=row["territory"],
        motif=row["motif"],
        message_for_partner=row["message_for_partner"],
        data_scope=list(row["data_scope"]),
        status=row["status"],
        reason=row["reason"],
        outcome=row["outcome"],
        created_at=to_timestamp(row["created_at"]),
        updated_at=to_timestamp(row["updated_at"]),
        person=referral_pb2.PersonSnapshot(**person) if person else None,
        sequence=row["sequence"],
        history=[
            referral_pb2.ReferralChange(
                sequence=c["sequence"],
                status=c["status"],
                reason=c["reason"],
                outcome=c["outcome"],
                actor="" if for_partner and c["actor"] != auth.current().subject else c["actor"],
                at=to_timestamp(c["at"]),
            )
            for c in changes
        ],
        referrer="" if for_partner else row["referrer"],
        reminded=row["reminded_at"] is not None,
    )


class ReferralServicer(referral_pb2_grpc.ReferralServiceServicer):
    def __init__(
        self,
        pool: Pool,
        temporal: Client,
        reference: ReferenceData,
        timers: ReferralTimers,
        link_config: links.LinkConfig | None = None,
    ) -> None:
        self.pool = pool  # the directory: public data, no row-level security
        self.scoped = ScopedPool(pool)
        self.temporal = temporal
        self.reference = reference
        self.timers = timers
        self.links = link_config or links.LinkConfig(None)

    # ---- directory ---------------------------------------------------------------------
    async def ListPartners(
        self, request: referral_pb2.ListPartnersRequest, context: Context
    ) -> referral_pb2.ListPartnersResponse:
        if request.motif and request.motif not in self.reference.motifs:
            raise _unknown_motif("motif", request.motif)
        if request.territory and request.territory not in self.reference.territories:
            raise _unknown_territory(request.territory)
        async with self.pool.acquire() as conn:
            rows = await directory.list_partners(conn, request.motif or None, request.territory or None)
        return referral_pb2.ListPartnersResponse(partners=[_partner_message(r) for r in rows])

    async def GetPartner(
        self, request: referral_pb2.GetPartnerRequest, context: Context
    ) -> referral_pb2.PartnerDetail:
        async with self.pool.acquire() as conn:
            row = await directory.get_partner(conn, request.partner_id)
            if row is None:
                raise _partner_not_found()
            (org,) = await directory.load_organizations(conn, [request.partner_id])
        return referral_pb2.PartnerDetail(
            partner=_partner_message(row),
            description=org.description,
            email=org.email,
            phone=org.phone,
            website=org.website,
            services=[
                referral_pb2.PartnerService(
                    service_id=s.service_id,
                    name=s.name,
                    motifs=s.motifs,
                    communes=s.communes,
                    eligibility=s.eligibility,
                )
                for s in org.services
            ],
            locations=[_location(loc) for loc in org.locations],
            schedules=[
                referral_pb2.Schedule(
                    weekday=s.weekday,
                    opens_at=s.opens_at.strftime("%H:%M"),
                    closes_at=s.closes_at.strftime("%H:%M"),
                    location_id=s.location_id,
                    service_id=s.service_id or "",
                )
                for loc in org.locations
                for s in loc.schedules
            ],
            next_permanence=_permanence(directory.next_permanence(org, datetime.now(UTC))),
        )

    async def ImportDirectory(
        self, request: referral_pb2.ImportDirectoryRequest, context: Context
    ) -> referral_pb2.ImportDirectoryResponse:
        if len(request.document) > 5_000_000:
            raise _invalid(
                "document",
                "$: the document is larger than 5 MB",
                "L'annuaire importé dépasse 5 Mo : découpez-le en plusieurs fichiers.",
                "DOCUMENT_TOO_LARGE",
            )
        organizations = directory.parse_document(request.document, self.reference)
        async with self.pool.acquire() as conn, conn.transaction():
            counts = await directory.upsert_organizations(conn, organizations)
        return referral_pb2.ImportDirectoryResponse(**counts)

    async def ExportDirectory(
        self, request: referral_pb2.ExportDirectoryRequest, context: Context
    ) -> referral_pb2.ExportDirectoryResponse:
        async with self.pool.acquire() as conn:
            organizations = await directory.load_organizations(conn)
        document = directory.to_document(organizations)
        return referral_pb2.ExportDirectoryResponse(
            document=json.dumps(document, ensure_ascii=False, indent=1)
        )

    async def SuggestPartners(
        self, request: referral_pb2.SuggestPartnersRequest, context: Context
    ) -> referral_pb2.SuggestPartnersResponse:
        dossier = await self._dossier(request.dossier_id)
        territory, motifs = dossier["territory"], list(dossier["motifs"])
        async with self.pool.acquire() as conn:
            services = await conn.fetch(
                f"""SELECT partner_id, service_id, motifs FROM {SCHEMA}.partner_services
                     WHERE motifs && $1 AND $2 = ANY(communes)""",
                motifs,
                territory,
            )
            partner_ids = sorted({s["partner_id"] for s in services})
            rows = {r["partner_id"]: r for r in await directory.list_partners(conn, None, None)}
            organizations = await directory.load_organizations(conn, partner_ids)
        now = datetime.now(UTC)
        suggestions = []
        for org in organizations:
            mine = [s for s in services if s["partner_id"] == org.partner_id]
            served = sorted({m for s in mine for m in s["motifs"]} & set(motifs))
            permanence = directory.next_permanence(org, now, {s["service_id"] for s in mine})
            suggestions.append((len(served), permanence, org, served))
        far = datetime.max.replace(tzinfo=UTC)
        suggestions.sort(key=lambda s: (-s[0], s[1].starts_at if s[1] else far, s[2].name))
        return referral_pb2.SuggestPartnersResponse(
            suggestions=[
                referral_pb2.Suggestion(
                    partner=_partner_message(rows[org.partner_id]),
                    motifs=served,
                    next_permanence=_permanence(permanence),
                )
                for _, permanence, org, served in suggestions
            ]
        )

    # ---- referrals, agent side --------------------------------------------------------
    async def CreateReferral(
        self, request: referral_pb2.CreateReferralRequest, context: Context
    ) -> referral_pb2.Referral:
        agent = auth.acting_subject(request.agent)
        dossier_id = _uuid(request.dossier_id, "dossier_id")
        if request.motif not in self.reference.motifs:
            raise _unknown_motif("motif", request.motif)
        message = request.message_for_partner.strip()
        if len(message) > MAX_MESSAGE:
            raise _invalid(
                "message_for_partner",
                f"message_for_partner is at most {MAX_MESSAGE} characters",
                f"Le message pour le partenaire fait au plus {MAX_MESSAGE} caractères.",
                "TOO_LONG",
            )
        scope = list(dict.fromkeys(["motif", *request.data_scope]))
        unknown = [s[:40] for s in scope if s not in self.reference.consent_data_scopes]
        if unknown:
            known = sorted(self.reference.consent_data_scopes)
            raise _invalid(
                "data_scope",
                f"unknown data_scope category(ies): {', '.join(unknown[:5])} (known: {', '.join(known)})",
                f"Catégorie de données inconnue : {_quoted(unknown[:5])}"
                f" (catégories possibles : {_quoted(known)}).",
                "UNKNOWN_DATA_SCOPE",
            )
        if request.request_id and not _REQUEST_ID.match(request.request_id):
            raise _invalid(
                "request_id",
                "request_id is 1 to 100 printable characters without spaces",
                "L'identifiant de la demande compte 1 à 100 caractères, sans espace ni accent.",
                "INVALID_FORMAT",
            )
        async with self.pool.acquire() as conn:
            partner = await directory.get_partner(conn, request.partner_id)
        if partner is None:
            raise _partner_not_found()
        await self._dossier(dossier_id)  # NOT_FOUND / PERMISSION_DENIED
        referral_id = (
            str(uuid.uuid5(REFERRAL_ID_NAMESPACE, f"{dossier_id}\x00{request.request_id}"))
            if request.request_id
            else str(uuid.uuid4())
        )
        command = OrientInput(
            agent=agent,
            referral_id=referral_id,
            partner_id=partner["partner_id"],
            partner_name=partner["name"],
            motif=request.motif,
            message_for_partner=message,
            data_scope=scope,
            timers=self.timers,
        )
        handle = self.temporal.get_workflow_handle(dossier_workflow_id(dossier_id))
        await self._update(handle, DossierWorkflow.orient, command, context, _dossier_gone, request)
        return await self._referral_view(referral_id, for_partner=False)

    async def CancelReferral(
        self, request: referral_pb2.CancelReferralRequest, context: Context
    ) -> referral_pb2.Referral:
        agent = auth.acting_subject(request.agent)
        referral_id = _uuid(request.referral_id, "referral_id")
        if len(request.reason) > MAX_COMMENT:
            raise _invalid(
                "reason",
                f"reason is at most {MAX_COMMENT} characters",
                f"Le motif d'annulation fait au plus {MAX_COMMENT} caractères.",
                "TOO_LONG",
            )
        await self._referral_view(referral_id, for_partner=False)  # NOT_FOUND outside the territories
        action = ActInput("cancel", agent, comment=request.reason.strip())
        handle = self.temporal.get_workflow_handle(referral_workflow_id(referral_id))
        await self._update(handle, ReferralWorkflow.act, action, context, _referral_gone, request)
        return await self._referral_view(referral_id, for_partner=False)

    async def ListDossierReferrals(
        self, request: referral_pb2.ListDossierReferralsRequest, context: Context
    ) -> referral_pb2.ListReferralsResponse:
        dossier_id = _uuid(request.dossier_id, "dossier_id")
        await self._dossier(dossier_id)
        async with self.scoped.acquire() as conn:
            rows = await referrals.of_dossier(conn, dossier_id)
            views = [
                referral_message(
                    r,
                    await self._partner_name(r["partner_id"]),
                    await referrals.history(conn, r["referral_id"]),
                    False,
                )
                for r in rows
            ]
        return referral_pb2.ListReferralsResponse(referrals=views)

    # ---- referrals, partner side ------------------------------------------------------
    async def ListMyReferrals(
        self, request: referral_pb2.ListMyReferralsRequest, context: Context
    ) -> referral_pb2.ListReferralsResponse:
        claims = auth.current()
        if request.status and request.status not in REFERRAL_STATUSES:
            raise _invalid(
                "status",
                f"status is one of {', '.join(REFERRAL_STATUSES)}",
                f"Statut d'orientation inconnu : « {request.status[:20]} »."
                f" Statuts possibles : {_choices(REFERRAL_STATUSES, REFERRAL_STATUS_LABELS)}.",
                "INVALID_CHOICE",
            )
        name = await self._partner_name(claims.partner_id)
        async with self.scoped.acquire() as conn:
            rows = await referrals.of_partner(conn, claims.partner_id, request.status or None)
            views = [
                referral_message(r, name, await referrals.history(conn, r["referral_id"]), True) for r in rows
            ]
        return referral_pb2.ListReferralsResponse(referrals=views)

    async def GetReferral(
        self, request: referral_pb2.GetReferralRequest, context: Context
    ) -> referral_pb2.Referral:
        referral_id = _uuid(request.referral_id, "referral_id")
        return await self._referral_view(referral_id, for_partner=auth.current().role is Role.PARTENAIRE)

    async def AcknowledgeReferral(
        self, request: referral_pb2.ReferralActionRequest, context: Context
    ) -> referral_pb2.Referral:
        return await self._partner_act("acknowledge", request, context)

    async def AcceptReferral(
        self, request: referral_pb2.ReferralActionRequest, context: Context
    ) -> referral_pb2.Referral:
        return await self._partner_act("accept", request, context)

    async def RejectReferral(
        self, request: referral_pb2.ReferralActionRequest, context: Context
    ) -> referral_pb2.Referral:
        return await self._partner_act("reject", request, context)

    async def StartReferral(
        self, request: referral_pb2.ReferralActionRequest, context: Context
    ) -> referral_pb2.Referral:
        return await self._partner_act("start", request, context)

    async def CompleteReferral(
        self, request: referral_pb2.ReferralActionRequest, context: Context
    ) -> referral_pb2.Referral:
        return await self._partner_act("complete", request, context)

    async def FailReferral(
        self, request: referral_pb2.ReferralActionRequest, context: Context
    ) -> referral_pb2.Referral:
        return await self._partner_act("fail", request, context)

    # ---- answering without an account: signed single-referral links --------------------
    async def CreateReferralLink(
        self, request: referral_pb2.CreateReferralLinkRequest, context: Context
    ) -> referral_pb2.ReferralLink:
        claims = auth.current()
        referral_id = uuid.UUID(_uuid(request.referral_id, "referral_id"))
        ttl_s = request.ttl_s or self.links.ttl_s
        if not links.MIN_TTL_S <= ttl_s <= links.MAX_TTL_S:
            raise _invalid(
                "ttl_s",
                f"ttl_s is {links.MIN_TTL_S} to {links.MAX_TTL_S} seconds (0: the deployment's default)",
                "La durée de validité du lien va d'une minute à 30 jours (0 : la durée par défaut).",
                "OUT_OF_RANGE",
            )
        key = self._link_key()
        if claims.role is Role.SERVICE:
            async with self.pool.acquire() as conn:
                found = await links.target(conn, referral_id)
            if found is None:
                raise NotFound(
                    "no referral with this id",
                    fr="Aucune orientation ne porte cet identifiant.",
                    reason="REFERRAL_NOT_FOUND",
                    field="referral_id",
                )
            partner_id, territory, status = found["partner_id"], found["territory"], found["status"]
        else:  # an agent: only a referral of their communes (row-level security)
            view = await self._referral_view(str(referral_id), for_partner=False)
            partner_id, territory, status = view.partner_id, view.territory, view.status
        if status in REFERRAL_TERMINAL:
            raise FailedPrecondition(
                f"this referral is {status}: there is nothing left to answer",
                fr=f"Cette orientation est {REFERRAL_STATUS_LABELS.get(status, status)} :"
                " le partenaire n'a plus rien à y répondre, aucun lien n'est créé.",
                reason="REFERRAL_OVER",
                field="referral_id",
            )
        request_key = idempotency.key_of(request, "CreateReferralLink")
        link_id = uuid.uuid5(links.REQUEST_NAMESPACE, request_key) if request_key else uuid.uuid4()
        expires_at = links.expiry(datetime.now(UTC), int(ttl_s))
        async with system_scope(self.pool, [territory]) as conn:
            row = await links.insert(
                conn, link_id, referral_id, partner_id, territory, expires_at, claims.subject
            )
        token = links.sign(key, row["link_id"], row["referral_id"], row["expires_at"])
        return referral_pb2.ReferralLink(
            link_token=token,
            expires_at=to_timestamp(row["expires_at"]),
            link_id=str(row["link_id"]),
            referral_id=str(row["referral_id"]),
            url=self.links.url(token),
        )

    async def RevokeReferralLink(
        self, request: referral_pb2.RevokeReferralLinkRequest, context: Context
    ) -> referral_pb2.RevokeReferralLinkResponse:
        if request.link_token and request.link_id:
            raise _invalid(
                "link_id",
                "give link_token or link_id, not both",
                "Indiquez le lien ou son identifiant, pas les deux.",
                "UNEXPECTED_FIELD",
            )
        if request.link_token:
            parsed = links.verify(self.links.key, request.link_token)
            if parsed is None:
                raise links.invalid()
            link_id = parsed.link_id
        else:
            link_id = uuid.UUID(_uuid(request.link_id, "link_id"))
        async with self.scoped.acquire() as conn:  # only the links of the caller's communes
            row = await links.revoke(conn, link_id)
        if row is None:
            raise NotFound(
                "no link with this id among your communes' referrals",
                fr="Aucun lien de réponse ne porte cet identifiant parmi les orientations de vos communes.",
                reason="LINK_NOT_FOUND",
                field="link_token" if request.link_token else "link_id",
            )
        return referral_pb2.RevokeReferralLinkResponse(
            link_id=str(row["link_id"]),
            referral_id=str(row["referral_id"]),
            revoked_at=to_timestamp(row["revoked_at"]),
        )

    async def ReadReferralByLink(
        self, request: referral_pb2.ReadReferralByLinkRequest, context: Context
    ) -> referral_pb2.Referral:
        found: list[str] = []
        try:
            token, row = await self._good_link(request.link_token, found)
            return await self._as_link(row, lambda: self._referral_view(str(token.referral_id), True))
        except DomainError as refusal:
            await self._log_refused_link_use("ReadReferralByLink", refusal, found)
            raise

    async def AnswerReferralByLink(
        self, request: referral_pb2.AnswerReferralByLinkRequest, context: Context
    ) -> referral_pb2.Referral:
        found: list[str] = []
        try:
            return await self._answer_by_link(request, context, found)
        except DomainError as refusal:
            await self._log_refused_link_use("AnswerReferralByLink", refusal, found)
            raise

    async def _answer_by_link(
        self, request: referral_pb2.AnswerReferralByLinkRequest, context: Context, found: list[str]
    ) -> referral_pb2.Referral:
        if request.action not in LINK_ACTIONS:
            raise _invalid(
                "action",
                f"action is one of {', '.join(LINK_ACTIONS)}",
                "Réponse inconnue : choisissez accuser réception, accepter, refuser, commencer"
                " l'accompagnement, terminer ou déclarer en échec.",
                "INVALID_CHOICE" if request.action else "FIELD_REQUIRED",
            )
        # A retry of this answer (same request id) is recognised by its key.
        answer_key = idempotency.key_of(request, "AnswerReferralByLink") or uuid.uuid4().hex
        token, row = await self._good_link(request.link_token, found, answer_key)
        action = referral_pb2.ReferralActionRequest(
            referral_id=str(token.referral_id),
            reason=request.reason,
            outcome=request.outcome,
            comment=request.comment,
            request_id=request.request_id,
        )
        if row["used_at"] is not None:  # recorded by this very answer, then interrupted
            return await self._as_link(row, lambda: self._referral_view(str(token.referral_id), True))
        async with system_scope(self.pool, [row["territory"]]) as conn:
            if not await links.begin_answer(conn, token.link_id, answer_key, LINK_ANSWER_STALE_S):
                raise links.used()  # another answer through this link is under way
        recorded = False
        try:
            view = await self._as_link(row, lambda: self._partner_act(request.action, action, context))
            recorded = True
        finally:
            async with system_scope(self.pool, [row["territory"]]) as conn:
                await links.end_answer(conn, token.link_id, answer_key, recorded)
        return view

    def _link_key(self) -> bytes:
        if self.links.key is None:
            raise FailedPrecondition(
                "referral links need ENTRAIDE_LINK_SECRET or ENTRAIDE_JWT_SECRET in the referral service",
                fr="Les liens de réponse ne sont pas configurés sur ce déploiement : signalez-le à"
                " l'exploitation.",
                reason="LINKS_NOT_CONFIGURED",
            )
        return self.links.key

    async def _good_link(
        self, raw: str, found: list[str], answer_key: str = ""
    ) -> tuple[links.Token, asyncpg.Record]:
        """The checked token and its link row; the link's refusal otherwise. `found`
        receives the referral id once the link is known (for the access log)."""
        token = links.verify(self.links.key, raw)
        if token is None:
            raise links.invalid()
        async with self.pool.acquire() as conn:
            row = await links.find(conn, token.link_id)
        if row is not None and row["referral_id"] == token.referral_id:
            found.append(str(token.referral_id))
        links.check(row, token, datetime.now(UTC), answer_key)
        assert row is not None, "links.check refuses an unknown link"
        return token, row

    async def _as_link(self, row: asyncpg.Record, call: Callable[[], Awaitable[T]]) -> T:
        """Runs `call` as the link's partner: a partner's scope (row-level security by
        partner id), its view of the referral, its actions; the actor is the link."""
        partner = Claims(f"link:{row['link_id']}", Role.PARTENAIRE, frozenset(), row["partner_id"])
        token = auth.set_current(partner)
        try:
            return await call()
        finally:
            auth.reset_current(token)

    async def _log_refused_link_use(self, method: str, refusal: DomainError, found: list[str]) -> None:
        """A refused use of a link, in the access log like the rule's successful ones
        (a role refusal never reaches the handler: the gRPC layer logs it)."""
        claims = auth.current()
        async with self.pool.acquire() as conn:
            await conn.execute(
                """INSERT INTO audit.access_log
                       (service, actor, role, action, method, resource_type, resource_id, purpose)
                   VALUES ('referral', $1, $2, 'denied', $3, $4, $5, $6)""",
                claims.subject,
                claims.role.value,
                f"/{SERVICE_NAME}/{method}",
                "referral" if found else "",
                found[0] if found else "",
                f"réponse du partenaire par lien ({refusal.reason})",
            )

    # ---- plumbing ----------------------------------------------------------------------
    async def _partner_act(
        self, action: str, request: referral_pb2.ReferralActionRequest, context: Context
    ) -> referral_pb2.Referral:
        claims = auth.current()
        referral_id = _uuid(request.referral_id, "referral_id")
        reason = outcome = ""
        verb = REFERRAL_ACTION_VERBS.get(action, action)
        if action in ("reject", "fail"):
            if request.reason not in REFERRAL_REASONS:
                raise _invalid(
                    "reason",
                    f"{action} needs a reason: one of {', '.join(REFERRAL_REASONS)}",
                    f"Pour {verb} cette orientation, indiquez un motif parmi :"
                    f" {_choices(REFERRAL_REASONS, REFERRAL_REASON_LABELS)}.",
                    "INVALID_CHOICE" if request.reason else "FIELD_REQUIRED",
                )
            reason = request.reason
        elif request.reason:
            raise _invalid(
                "reason",
                f"{action} takes no reason",
                f"Pour {verb} cette orientation, aucun motif n'est attendu : laissez-le vide.",
                "UNEXPECTED_FIELD",
            )
        if action == "complete":
            if request.outcome not in REFERRAL_OUTCOMES:
                raise _invalid(
                    "outcome",
                    f"complete needs an outcome: one of {', '.join(REFERRAL_OUTCOMES)}",
                    "Pour terminer cette orientation, indiquez son issue parmi :"
                    f" {_choices(REFERRAL_OUTCOMES, REFERRAL_REASON_LABELS)}.",
                    "INVALID_CHOICE" if request.outcome else "FIELD_REQUIRED",
                )
            outcome = request.outcome
        elif request.outcome:
            raise _invalid(
                "outcome",
                f"{action} takes no outcome",
                f"Pour {verb} cette orientation, aucune issue n'est attendue : laissez-la vide.",
                "UNEXPECTED_FIELD",
            )
        comment = request.comment.strip()
        if len(comment) > MAX_COMMENT:
            raise _invalid(
                "comment",
                f"comment is at most {MAX_COMMENT} characters",
                f"Le commentaire fait au plus {MAX_COMMENT} caractères.",
                "TOO_LONG",
            )
        if "other" in (reason, outcome) and not comment:
            raise _invalid(
                "comment",
                "with 'other', say why in comment",
                "Avec « autre », précisez la raison dans le commentaire.",
                "FIELD_REQUIRED",
            )
        await self._referral_view(referral_id, for_partner=True)  # NOT_FOUND unless the caller's
        handle = self.temporal.get_workflow_handle(referral_workflow_id(referral_id))
        command = ActInput(action, claims.subject, reason=reason, outcome=outcome, comment=comment)
        await self._update(handle, ReferralWorkflow.act, command, context, _referral_gone, request)
        return await self._referral_view(referral_id, for_partner=True)

    async def _update(
        self,
        handle: Any,
        update: Any,
        command: object,
        context: Context,
        gone: Callable[[], FailedPrecondition],
        request: Any,
    ) -> Any:
        """`gone`: the refusal when the workflow has ended (the dossier or referral is over).
        The update id derives from the request id, so Temporal answers a repeat with the
        first call's outcome."""
        update_id = idempotency.key_of(request, update.__name__) or None
        try:
            return await run_update(handle, update, command, update_id=update_id, timeout=remaining(context))
        except WorkflowUpdateFailedError as exc:
            raise domain_error_from(exc) or FailedPrecondition(
                "the workflow refused this change", fr="Cette demande a été refusée.", reason="STEP_REFUSED"
            ) from None
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise gone() from None
            raise

    async def _dossier(self, raw_dossier_id: str) -> asyncpg.Record:
        """The dossier's territory and motifs (read model); NOT_FOUND / PERMISSION_DENIED."""
        dossier_id = _uuid(raw_dossier_id, "dossier_id")
        async with self.pool.acquire() as conn:
            row = await referrals.dossier_facts(conn, dossier_id)
        if row is None:
            raise NotFound(
                "no dossier with this id (a dossier opened a moment ago may take a second to appear)",
                fr="Aucun dossier ne porte cet identifiant (un dossier ouvert à l'instant peut mettre"
                " une seconde à apparaître : réessayez).",
                reason="DOSSIER_NOT_FOUND",
                field="dossier_id",
            )
        claims = auth.current()
        if claims.role is Role.PARTENAIRE:
            raise PermissionDenied(
                "a partner does not read dossiers",
                fr="Un partenaire n'a pas accès aux dossiers : seules les orientations qu'il reçoit lui sont"
                " transmises.",
                reason="ROLE_NOT_ALLOWED",
            )
        claims.require_dossier_territory(row["territory"])
        return row

    async def _partner_name(self, partner_id: str) -> str:
        async with self.pool.acquire() as conn:
            row = await directory.get_partner(conn, partner_id)
        return str(row["name"]) if row else ""

    async def _referral_view(self, referral_id: str, for_partner: bool) -> referral_pb2.Referral:
        claims = auth.current()
        async with self.scoped.acquire() as conn:
            row = await referrals.get_referral(conn, referral_id)
            if row is None or (for_partner and row["partner_id"] != claims.partner_id):
                raise NotFound(
                    "no referral with this id among yours",
                    fr="Aucune orientation ne porte cet identifiant parmi les vôtres.",
                    reason="REFERRAL_NOT_FOUND",
                    field="referral_id",
                )
            changes = await referrals.history(conn, row["referral_id"])
        return referral_message(row, await self._partner_name(row["partner_id"]), changes, for_partner)
