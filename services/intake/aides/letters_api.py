"""AidService.GetDecisionLetter: the decision letter of a decided request, as PDF, built
on demand from the rows (nothing stored: the letter says what the rows say)."""

from __future__ import annotations

from datetime import UTC, datetime

from entraide.v1 import aides_pb2

from domain.aides import Decision, DecisionChannel, PayeeKind, PaymentMode
from domain.planning import PARIS
from kernel.errors import FailedPrecondition
from kernel.grpc_server import Context
from services.intake.aides import store, validation
from services.intake.aides.base import AidBase
from services.intake.aides.letter import LetterData, compose, render_pdf
from services.intake.schema import SCHEMA


class LetterHandlers(AidBase):
    async def GetDecisionLetter(
        self, request: aides_pb2.GetDecisionLetterRequest, context: Context
    ) -> aides_pb2.DecisionLetter:
        aid_request_id = validation.id_of(
            "aid_request_id", request.aid_request_id, "l'identifiant de la demande"
        )
        async with self.pool.acquire() as conn:
            row = await self.request_row(conn, aid_request_id)
            if row["decision"] is None:
                raise FailedPrecondition(
                    "no decision yet",
                    fr="Cette demande n'est pas encore décidée : pas de courrier de décision.",
                    reason="NOT_DECIDED",
                    field="aid_request_id",
                )
            person = await conn.fetchrow(
                f"SELECT first_name, last_name, address_line FROM {SCHEMA}.persons WHERE person_id = $1",
                row["person_id"],
            )
            payments = await store.payments_of(conn, [row["aid_request_id"]])
        assert person is not None
        first = payments[0] if payments else None
        commune = self.reference.territories.get(row["territory"], row["territory"])
        decided = row["decided_at"] or datetime.now(UTC)
        data = LetterData(
            ccas=f"CCAS de {commune}",
            commune=commune,
            day=decided.astimezone(PARIS).date(),
            person=" ".join(p for p in (person["first_name"], person["last_name"]) if p),
            address=person["address_line"] or "",
            aid_type=self.reference.aid_types[row["aid_type"]].label,
            amount_asked_cents=row["amount_asked_cents"],
            decision=Decision(row["decision"]),
            channel=DecisionChannel(row["decision_channel"]),
            amount_granted_cents=row["amount_granted_cents"],
            refusal_reason=self.reference.aid_refusal_reasons.get(row["refusal_reason"], ""),
            reasons=row["decision_reasons"],
            mode=PaymentMode(first["mode"]) if first else None,
            payee_kind=PayeeKind(first["payee_kind"]) if first else None,
            payee_name=first["payee_name"] if first else "",
            appeal_court=self.settings.appeal_court,
        )
        paragraphs = compose(data)
        return aides_pb2.DecisionLetter(
            filename=f"decision-aide-{data.day.isoformat()}.pdf",
            pdf=render_pdf(paragraphs, "Décision d'aide"),
            text="\n".join(paragraphs),
        )
