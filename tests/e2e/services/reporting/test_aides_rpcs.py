"""Aid requests played through the real AidService reach the bilan exactly: the events
the intake handlers write are the ones the reporting projection folds (requests,
decisions by kind, amounts granted and paid to the cent, the budget line's totals, a
refusal's reason). In a commune no other aid test uses (Resson)."""

from __future__ import annotations

import uuid
from datetime import datetime

from entraide.v1 import aides_pb2, aides_pb2_grpc, intake_pb2_grpc, reporting_pb2, reporting_pb2_grpc

from domain.aides import Decision, DecisionChannel
from domain.planning import PARIS
from kernel.auth import Role
from kernel.timestamps import to_timestamp
from tests import collective_scenario as scenario
from tests.conftest import AppStack
from tests.helpers import eventually

RESSON = "55426"


def rid() -> str:
    return uuid.uuid4().hex


async def test_requests_decided_and_paid_through_the_rpcs_are_in_the_bilan(app_stack: AppStack) -> None:
    year = datetime.now(PARIS).year
    token = app_stack.token("resp-aides-resson", Role.RESPONSABLE, [RESSON])
    async with app_stack.channel("intake", token) as channel:
        aides = aides_pb2_grpc.AidServiceStub(channel)
        intake = intake_pb2_grpc.IntakeServiceStub(channel)
        line = await aides.CreateBudgetLine(
            aides_pb2.CreateBudgetLineRequest(
                territory=RESSON,
                year=year,
                label="Secours Resson",
                aid_types=["secours_urgence"],
                envelope_cents=50000,
                request_id=rid(),
            ),
            timeout=15,
        )
        made = []
        for n in range(3):
            _, dossier_id, _ = await scenario.person_and_dossier(intake, RESSON, n + 1, rid()[:6])
            made.append(
                await aides.CreateAidRequest(
                    aides_pb2.CreateAidRequestRequest(
                        dossier_id=dossier_id,
                        aid_type="secours_urgence",
                        amount_asked_cents=12000 + n,
                        reason="Facture impayée.",
                        budget=aides_pb2.HouseholdBudget(
                            resources_cents=80000, charges_cents=70000, adults=1
                        ),
                        request_id=rid(),
                    ),
                    timeout=15,
                )
            )
        decisions = [
            (Decision.GRANTED, 10050, "", ""),
            (Decision.REFUSED, 0, "hors_criteres", "Ressources suffisantes."),
            (Decision.POSTPONED, 0, "", "Attendre la CAF."),
        ]
        payment_id = ""
        for aid, (decision, cents, reason, why) in zip(made, decisions, strict=True):
            decided = await aides.RecordDecision(
                aides_pb2.RecordDecisionRequest(
                    aid_request_id=aid.aid_request_id,
                    decision=decision,
                    channel=DecisionChannel.URGENT,
                    amount_granted_cents=cents,
                    refusal_reason=reason,
                    reasons=why,
                    budget_line_id=line.budget_line_id if cents else "",
                    request_id=rid(),
                ),
                timeout=15,
            )
            payment_id = payment_id or (decided.payments[0].payment_id if decided.payments else "")
        await aides.RecordPayment(
            aides_pb2.RecordPaymentRequest(payment_id=payment_id, status="paid", request_id=rid()), timeout=15
        )

    start = datetime(year, 1, 1, tzinfo=PARIS)
    end = datetime(year + 1, 1, 1, tzinfo=PARIS)
    request = reporting_pb2.GetBilanRequest(territories=[RESSON])
    getattr(request, "from").CopyFrom(to_timestamp(start))
    request.to.CopyFrom(to_timestamp(end))
    async with app_stack.channel("reporting", app_stack.token("elu-resson", Role.ELU, [RESSON])) as channel:
        reporting = reporting_pb2_grpc.ReportingServiceStub(channel)

        async def bilan() -> reporting_pb2.Bilan:
            return await reporting.GetBilan(request, timeout=15)

        got = await eventually(bilan, lambda b: b.aides.paid_cents == 10050, timeout=30)
    figures = got.aides
    assert (figures.requests, figures.granted, figures.refused, figures.postponed, figures.urgent) == (
        3,
        1,
        1,
        1,
        3,
    )
    assert (figures.asked_cents, figures.granted_cents, figures.paid_cents) == (36003, 10050, 10050)
    assert [(r.code, r.count) for r in figures.refusal_reasons] == [("hors_criteres", 1)]
    [budget] = [b for b in figures.budget_lines if b.budget_line_id == line.budget_line_id]
    assert (budget.envelope_cents, budget.committed_cents, budget.paid_cents, budget.remaining_cents) == (
        50000,
        10050,
        10050,
        39950,
    )
