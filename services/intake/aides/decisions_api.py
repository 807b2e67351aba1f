"""AidService.RecordDecision: a commission's decision on a request of its agenda, or an
urgent one by a responsable. A grant is checked against the aid type's ceilings and
committed on its budget line in the same transaction, the line's row locked, so that
concurrent decisions can never over-commit it; its payment to make is written with it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
from entraide.v1 import aides_pb2, events_pb2

from domain.aides import (
    AidNature,
    AidRequestStatus,
    Decision,
    DecisionChannel,
    PaymentMode,
    PaymentStatus,
    may_commit,
)
from domain.events import EventType
from domain.labels_fr import DECISION_LABELS
from domain.money import format_euros
from domain.planning import PARIS
from kernel import auth, idempotency
from kernel.auth import Role
from kernel.db import Connection
from kernel.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from kernel.grpc_server import Context
from kernel.reference import AidTypeRef
from kernel.timestamps import to_timestamp
from services.intake.aides import store, validation
from services.intake.aides.base import AidBase, emit, wrong_status
from services.intake.aides.convert import aid_request_message
from services.intake.documents import store as document_store
from workflows.contracts import aid_request_workflow_id

URGENT_FROM = frozenset(
    {
        AidRequestStatus.SUBMITTED,
        AidRequestStatus.INCOMPLETE,
        AidRequestStatus.COMPLETE,
        AidRequestStatus.SCHEDULED,
        AidRequestStatus.POSTPONED,
    }
)
# How an aid of each nature is paid unless the decision says otherwise.
DEFAULT_MODE: dict[AidNature, PaymentMode] = {
    AidNature.CASH: PaymentMode.TRANSFER,
    AidNature.VOUCHER: PaymentMode.VOUCHER,
    AidNature.PREPAID_CARD: PaymentMode.PREPAID_CARD,
    AidNature.THIRD_PARTY: PaymentMode.TRANSFER,
}


@dataclass(frozen=True)
class Commitment:
    budget_line_id: str
    overridden: bool


def refusal(message: str, fr: str, reason: str, field: str) -> FailedPrecondition:
    return FailedPrecondition(message, fr=fr, reason=reason, field=field)


class DecisionHandlers(AidBase):
    async def RecordDecision(
        self, request: aides_pb2.RecordDecisionRequest, context: Context
    ) -> aides_pb2.AidRequest:
        aid_request_id = validation.id_of(
            "aid_request_id", request.aid_request_id, "l'identifiant de la demande"
        )
        made = validation.decision(request, self.reference)
        claims = auth.current()
        if made.channel is DecisionChannel.URGENT and claims.role is not Role.RESPONSABLE:
            raise PermissionDenied(
                "an urgent decision is a responsable's",
                fr="Seul un responsable peut décider en urgence, hors commission.",
                reason="ROLE_NOT_ALLOWED",
                field="channel",
            )
        if made.override_reason and claims.role is not Role.RESPONSABLE:
            raise PermissionDenied(
                "only a responsable overrides a budget line",
                fr="Seul un responsable peut accorder au-delà de la ligne budgétaire.",
                reason="ROLE_NOT_ALLOWED",
                field="override_reason",
            )
        key = idempotency.key_of(request, "aid-decision")
        now = datetime.now(UTC)
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                row = await self.request_row(conn, aid_request_id, for_update=True)
                if not await store.change_done(conn, key):
                    await self._decide(conn, row, made, claims.subject, now, key)
            row = await self.request_row(conn, aid_request_id)
            payments = await store.payments_of(conn, [row["aid_request_id"]])
        await self.tell_current(aid_request_id, context)
        return aid_request_message(row, self.reference, payments)

    async def _decide(
        self,
        conn: Connection,
        row: asyncpg.Record,
        made: validation.DecisionInput,
        actor: str,
        now: datetime,
        key: str,
    ) -> int:
        status = AidRequestStatus(row["status"])
        aid_request_id = str(row["aid_request_id"])
        members = made.members
        if made.channel is DecisionChannel.COMMISSION:
            if status is not AidRequestStatus.SCHEDULED or row["commission_id"] is None:
                raise wrong_status(
                    row["status"], "la décider en commission (inscrivez-la d'abord à l'ordre du jour)"
                )
            commission = await store.commission(conn, str(row["commission_id"]), for_update=True)
            assert commission is not None
            if not members:
                raise InvalidArgument(
                    "members: the commission's members who decided",
                    fr="Indiquez les membres de la commission qui ont décidé.",
                    reason="FIELD_REQUIRED",
                    field="members",
                )
            unknown = [m for m in members if m not in commission["members"]]
            if unknown:
                raise InvalidArgument(
                    f"members not of the commission: {unknown}",
                    fr=f"Ne sont pas membres de cette commission : {', '.join(unknown)}.",
                    reason="NOT_A_MEMBER",
                    field="members",
                )
            if commission["status"] != "held":
                await store.update(
                    conn, "commissions", "commission_id", commission["commission_id"], {"status": "held"}
                )
        else:
            if status not in URGENT_FROM:
                raise wrong_status(row["status"], "la décider")
            members = [actor]
        ref = self.reference.aid_types[row["aid_type"]]
        commitment = Commitment("", False)
        if made.decision is Decision.GRANTED:
            commitment = await self._commit(conn, row, ref, made, now)
        new_status = {
            Decision.GRANTED: AidRequestStatus.GRANTED,
            Decision.POSTPONED: AidRequestStatus.POSTPONED,
            Decision.REFUSED: AidRequestStatus.REFUSED,
        }[made.decision]
        sequence = int(row["version"]) + 1
        summary = f"Décision : aide {DECISION_LABELS[made.decision]}"
        if made.decision is Decision.GRANTED:
            summary += f", {format_euros(made.amount_granted_cents)}"
        if made.channel is DecisionChannel.URGENT:
            summary += " (en urgence, hors commission)"
        version = await self.changed(
            conn,
            row,
            values={
                "status": new_status.value,
                "decision": made.decision.value,
                "decision_channel": made.channel.value,
                "amount_granted_cents": made.amount_granted_cents,
                "refusal_reason": made.refusal_reason,
                "decision_reasons": made.reasons,
                "decision_members": members,
                "budget_line_id": commitment.budget_line_id or None,
                "override_reason": made.override_reason if commitment.overridden else "",
                "decided_by": actor,
                "decided_at": now,
            },
            change=f"decided_{made.decision.value}",
            actor=actor,
            at=now,
            request_key=key,
            summary=summary,
            event=(
                EventType.AID_DECIDED,
                events_pb2.AidDecided(
                    aid_request_id=aid_request_id,
                    territory=row["territory"],
                    aid_type=row["aid_type"],
                    decision=made.decision.value,
                    channel=made.channel.value,
                    amount_granted_cents=made.amount_granted_cents,
                    refusal_reason=made.refusal_reason,
                    budget_line_id=commitment.budget_line_id,
                    overridden=commitment.overridden,
                    commission_id=str(row["commission_id"] or ""),
                    at=to_timestamp(now),
                    sequence=sequence,
                ),
            ),
        )
        if made.decision is not Decision.POSTPONED:
            # The request's supporting documents are kept for a while after the decision.
            await document_store.set_delete_after_for_aid(
                conn, aid_request_id, now, self.settings.document_retention_days
            )
        if made.decision is Decision.GRANTED and ref.nature is not AidNature.LOAN:
            await self._payment_due(conn, row, ref, made, commitment, now)
        return version

    async def _commit(
        self,
        conn: Connection,
        row: asyncpg.Record,
        ref: AidTypeRef,
        made: validation.DecisionInput,
        now: datetime,
    ) -> Commitment:
        amount = made.amount_granted_cents
        if ref.ceiling_per_request_cents and amount > ref.ceiling_per_request_cents:
            raise refusal(
                f"over the aid type's ceiling per request ({ref.ceiling_per_request_cents} cents)",
                f"Le plafond de « {ref.label} » est de {format_euros(ref.ceiling_per_request_cents)}"
                f" par demande : {format_euros(amount)}, c'est trop.",
                "CEILING_PER_REQUEST",
                "amount_granted_cents",
            )
        year = now.astimezone(PARIS).year
        if ref.ceiling_per_household_year_cents:
            already = await store.household_granted(
                conn, row["person_id"], ref.code, year, str(row["aid_request_id"])
            )
            if already + amount > ref.ceiling_per_household_year_cents:
                left = max(ref.ceiling_per_household_year_cents - already, 0)
                raise refusal(
                    "over the household's yearly ceiling",
                    f"Le foyer a déjà reçu {format_euros(already)} de « {ref.label} » en {year} ; le plafond"
                    f" annuel est de {format_euros(ref.ceiling_per_household_year_cents)} : il reste au plus"
                    f" {format_euros(left)}.",
                    "CEILING_PER_HOUSEHOLD",
                    "amount_granted_cents",
                )
        line_id = made.budget_line_id or await store.line_for(conn, row["territory"], year, ref.code) or ""
        if not line_id:
            if ref.nature is AidNature.LOAN:
                return Commitment("", False)  # a micro-credit is lent by the bank: no envelope needed
            raise refusal(
                "no budget line for this aid type and year",
                f"Aucune ligne budgétaire {year} ne couvre « {ref.label} » : un responsable doit la créer.",
                "NO_BUDGET_LINE",
                "budget_line_id",
            )
        line = await store.budget_line(conn, line_id, for_update=True)
        if line is None or line["territory"] != row["territory"] or ref.code not in line["aid_types"]:
            raise refusal(
                "the budget line does not cover this request",
                f"Cette ligne budgétaire ne couvre pas « {ref.label} » dans cette commune.",
                "WRONG_BUDGET_LINE",
                "budget_line_id",
            )
        overridden = False
        if not may_commit(line["envelope_cents"], line["committed_cents"], amount):
            if not made.override_reason:
                left = line["envelope_cents"] - line["committed_cents"]
                raise refusal(
                    f"budget line {line['label']!r} has {left} cents left",
                    f"La ligne budgétaire « {line['label']} » n'a plus que {format_euros(left)} disponibles :"
                    f" {format_euros(amount)} la dépasserait. Un responsable peut accorder au-delà,"
                    " motif à l'appui.",
                    "BUDGET_EXCEEDED",
                    "amount_granted_cents",
                )
            overridden = True
        await store.update(
            conn,
            "budget_lines",
            "budget_line_id",
            line["budget_line_id"],
            {"committed_cents": line["committed_cents"] + amount},
        )
        return Commitment(str(line["budget_line_id"]), overridden)

    async def _payment_due(
        self,
        conn: Connection,
        row: asyncpg.Record,
        ref: AidTypeRef,
        made: validation.DecisionInput,
        commitment: Commitment,
        now: datetime,
    ) -> None:
        aid_request_id = str(row["aid_request_id"])
        payment_id = validation.derived_id(validation.PAYMENT_NAMESPACE, aid_request_id, "first")
        mode = made.mode or DEFAULT_MODE[ref.nature]
        await store.insert(
            conn,
            "payments",
            {
                "payment_id": payment_id,
                "aid_request_id": row["aid_request_id"],
                "territory": row["territory"],
                "budget_line_id": commitment.budget_line_id or None,
                "amount_cents": made.amount_granted_cents,
                "mode": mode.value,
                "payee_kind": made.payee_kind.value,
                "payee_name": made.payee_name,
                "status": PaymentStatus.TO_PAY.value,
                "due_at": now + timedelta(seconds=self.settings.payment_s),
                "created_at": now,
                "updated_at": now,
            },
            "payment_id",
        )
        await emit(
            conn,
            EventType.AID_PAYMENT_CHANGED,
            aid_request_id,
            f"{aid_request_workflow_id(aid_request_id)}/payment/{payment_id}/1",
            events_pb2.AidPaymentChanged(
                payment_id=payment_id,
                aid_request_id=aid_request_id,
                territory=row["territory"],
                aid_type=row["aid_type"],
                budget_line_id=commitment.budget_line_id,
                amount_cents=made.amount_granted_cents,
                mode=mode.value,
                status=PaymentStatus.TO_PAY.value,
                at=to_timestamp(now),
                sequence=1,
            ),
            now,
        )
