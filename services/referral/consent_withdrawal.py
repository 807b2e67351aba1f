"""A person withdrew a consent (intake's consent.revoked): the referrals in flight that
no remaining consent covers are cancelled, by the platform, with the reason
consent_withdrawn; their workflows tell the dossier's timeline and, through the
notifier, the partner. Other referrals are left as they are."""

from __future__ import annotations

from datetime import timedelta

from entraide.v1 import events_pb2
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from domain.consent import covers
from domain.events import EventType, short_name
from domain.vocabulary import REFERRAL_TERMINAL, SYSTEM_ACTOR, ReferralAction, ReferralReason
from kernel.consumer import ConsumerSpec, Handler
from kernel.db import Connection, platform_scope
from kernel.events import Event
from kernel.idempotency import derived_id
from kernel.logs import get_logger
from kernel.runtime import ServiceContext
from kernel.temporal import domain_error_from, run_update
from services.referral.schema import SCHEMA
from workflows.contracts import ActInput, ConsentWithdrawn, dossier_workflow_id, referral_workflow_id
from workflows.dossier import DossierWorkflow
from workflows.referral import ReferralWorkflow

CONSUMER = "referral-consent-withdrawals"
# A withdrawal must not end in the dead letters because Temporal was down for a while:
# retried every RETRY_S for about an hour and a half before it does (and shows in ops).
RETRY_S = 5.0
MAX_DELIVERIES = 1000
UPDATE_TIMEOUT = timedelta(seconds=30)
log = get_logger("consent-withdrawal")


async def in_flight(conn: Connection, revoked: events_pb2.ConsentRevoked) -> list[str]:
    """The referrals to cancel: open, to this partner, for the person's dossiers, and no
    remaining consent of the person covers their data scope."""
    await platform_scope(conn, revoked.territories)
    rows = await conn.fetch(
        f"""SELECT referral_id, data_scope FROM {SCHEMA}.referrals
             WHERE dossier_id = ANY($1::uuid[]) AND partner_id = $2 AND NOT status = ANY($3::text[])
             ORDER BY referral_id""",
        list(revoked.dossier_ids),
        revoked.partner_id,
        sorted(REFERRAL_TERMINAL),
    )
    remaining = [list(scope.categories) for scope in revoked.remaining]
    return [str(r["referral_id"]) for r in rows if not covers(remaining, r["data_scope"])]


def handler(temporal: Client) -> Handler:
    async def handle(conn: Connection, event: Event) -> None:
        revoked = event.parse(events_pb2.ConsentRevoked)
        name = await conn.fetchval(
            f"SELECT name FROM {SCHEMA}.partners WHERE partner_id = $1", revoked.partner_id
        )
        withdrawn = ConsentWithdrawn(revoked.consent_id, name or revoked.partner_id, revoked.agent)
        for dossier_id in revoked.dossier_ids:
            await tell_dossier(temporal, dossier_id, withdrawn)
        for referral_id in await in_flight(conn, revoked):
            await cancel(temporal, revoked.consent_id, referral_id)

    return handle


async def tell_dossier(temporal: Client, dossier_id: str, withdrawn: ConsentWithdrawn) -> None:
    """Records the withdrawal in the dossier's timeline (its workflow records one step per
    consent, so a redelivered event adds nothing). A dossier whose workflow has ended
    (closed past its reopen delay) keeps its timeline as it was."""
    handle = temporal.get_workflow_handle_for(DossierWorkflow.run, dossier_workflow_id(dossier_id))
    try:
        await handle.signal(DossierWorkflow.consent_withdrawn, withdrawn)
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
        log.info("dossier workflow over at consent withdrawal")


async def cancel(temporal: Client, consent_id: str, referral_id: str) -> None:
    """Cancels one referral; one update id per (consent, referral), so a redelivered event
    attaches to the first cancellation. A referral that ended meanwhile is left alone."""
    handle = temporal.get_workflow_handle_for(ReferralWorkflow.run, referral_workflow_id(referral_id))
    action = ActInput(ReferralAction.CANCEL, SYSTEM_ACTOR, reason=ReferralReason.CONSENT_WITHDRAWN)
    update_id = derived_id(SYSTEM_ACTOR, CONSUMER, f"{consent_id}/{referral_id}")
    try:
        await run_update(handle, ReferralWorkflow.act, action, update_id=update_id, timeout=UPDATE_TIMEOUT)
    except WorkflowUpdateFailedError as exc:
        error = domain_error_from(exc)
        if error is None or error.reason != "WRONG_REFERRAL_STATUS":
            raise
        log.info("referral already over at consent withdrawal")
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
        log.info("referral workflow gone at consent withdrawal")


def consumer_spec(ctx: ServiceContext) -> ConsumerSpec:
    return ConsumerSpec(
        schema=SCHEMA,
        stream=ctx.settings.events_stream,
        durable=CONSUMER,
        filter_subject=f"{ctx.settings.subject_root}.{short_name(EventType.CONSENT_REVOKED)}",
        handler=handler(ctx.temporal),
        max_deliveries=MAX_DELIVERIES,
        retry_delay_s=RETRY_S,
    )
