"""Aides facultatives on the real intake process: a request through instruction,
commission, decision and payment (its budget line exact, the request closed); a refused
and a postponed request; 20 concurrent grants on a line that affords 10 → exactly 10;
a responsable's override; ceilings; bad inputs refused in French with nothing written;
retries answer the same and change nothing."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import asyncpg
import grpc
import pytest
from entraide.v1 import aides_pb2, aides_pb2_grpc, intake_pb2

from domain.aides import AidRequestStatus, Decision, DecisionChannel, PaymentStatus
from kernel.auth import Role
from tests import collective_scenario as scenario
from tests.conftest import AppStack
from tests.e2e.services.intake.planning_helpers import intake, refused

if TYPE_CHECKING:
    from entraide.v1.aides_pb2_grpc import AidServiceAsyncStub as Stub
    from entraide.v1.intake_pb2_grpc import IntakeServiceAsyncStub as IntakeStub

__all__ = ["intake"]  # fixture
BAR = "55029"
INVALID = grpc.StatusCode.INVALID_ARGUMENT
REFUSED = grpc.StatusCode.FAILED_PRECONDITION
MEMBERS = ["Mme Martin (vice-présidente)", "M. Lefèvre (administrateur)"]


def rid() -> str:
    return uuid.uuid4().hex


@pytest.fixture
async def aides(app_stack: AppStack) -> AsyncIterator[Stub]:
    async with app_stack.channel("intake") as channel:
        yield aides_pb2_grpc.AidServiceStub(channel)


@pytest.fixture
async def responsable(app_stack: AppStack) -> AsyncIterator[Stub]:
    async with app_stack.channel("intake", app_stack.token("resp-aides", Role.RESPONSABLE, [BAR])) as channel:
        yield aides_pb2_grpc.AidServiceStub(channel)


async def dossier(intake: IntakeStub) -> str:
    _, dossier_id, _ = await scenario.person_and_dossier(intake, BAR, 1, rid()[:6])
    return dossier_id


def new_request(
    dossier_id: str, aid_type: str = "secours_urgence", cents: int = 15000
) -> aides_pb2.CreateAidRequestRequest:
    return aides_pb2.CreateAidRequestRequest(
        dossier_id=dossier_id,
        aid_type=aid_type,
        amount_asked_cents=cents,
        reason="Facture d'électricité impayée après une perte d'emploi.",
        budget=aides_pb2.HouseholdBudget(resources_cents=95000, charges_cents=71000, adults=1, children=2),
        request_id=rid(),
    )


async def line(responsable: Stub, envelope: int, year: int, aid_types: list[str]) -> aides_pb2.BudgetLine:
    return await responsable.CreateBudgetLine(
        aides_pb2.CreateBudgetLineRequest(
            territory=BAR,
            year=year,
            label=f"Secours {rid()[:6]}",
            aid_types=aid_types,
            envelope_cents=envelope,
            request_id=rid(),
        ),
        timeout=15,
    )


async def scheduled(
    aides: Stub, intake: IntakeStub, commission_id: str, **kw: object
) -> aides_pb2.AidRequest:
    made = await aides.CreateAidRequest(new_request(await dossier(intake), **kw), timeout=15)  # type: ignore[arg-type]
    await aides.RecordInstruction(
        aides_pb2.RecordInstructionRequest(
            aid_request_id=made.aid_request_id, complete=True, request_id=rid()
        ),
        timeout=15,
    )
    await aides.ScheduleAidRequest(
        aides_pb2.ScheduleAidRequestRequest(
            commission_id=commission_id, aid_request_id=made.aid_request_id, request_id=rid()
        ),
        timeout=15,
    )
    return made


async def commission(aides: Stub) -> aides_pb2.Commission:
    return await aides.CreateCommission(
        aides_pb2.CreateCommissionRequest(
            territory=BAR,
            day="2031-03-12",
            starts_at="14:00",
            place="Salle du conseil",
            members=MEMBERS,
            request_id=rid(),
        ),
        timeout=15,
    )


async def test_a_request_from_instruction_to_payment(
    aides: Stub, responsable: Stub, intake: IntakeStub, pool: asyncpg.Pool
) -> None:
    year = 2033  # no other test's line: an aid type is on one line per commune and year
    budget = await line(responsable, 100000, year, ["aide_alimentaire"])
    dossier_id = await dossier(intake)
    asked = new_request(dossier_id, "aide_alimentaire", 12000)
    created = await aides.CreateAidRequest(asked, timeout=15)
    assert await aides.CreateAidRequest(asked, timeout=15) == created  # a retry: the same request
    assert created.status == AidRequestStatus.SUBMITTED
    # (950 - 710) € / 3 persons / 30 days = 2,66 € per person and day: under the 10 € threshold.
    assert (created.reste_a_vivre_cents, created.eligible) == (266, "yes")

    incomplete = await aides.RecordInstruction(
        aides_pb2.RecordInstructionRequest(
            aid_request_id=created.aid_request_id,
            complete=False,
            missing_documents=["bulletin_salaire"],
            request_id=rid(),
        ),
        timeout=15,
    )
    assert (incomplete.status, list(incomplete.missing_documents)) == ("incomplete", ["bulletin_salaire"])
    await aides.RecordInstruction(
        aides_pb2.RecordInstructionRequest(
            aid_request_id=created.aid_request_id, complete=True, request_id=rid()
        ),
        timeout=15,
    )
    sitting = await commission(aides)
    agenda = await aides.ScheduleAidRequest(
        aides_pb2.ScheduleAidRequestRequest(
            commission_id=sitting.commission_id, aid_request_id=created.aid_request_id, request_id=rid()
        ),
        timeout=15,
    )
    assert [i.aid_request_id for i in agenda.agenda] == [created.aid_request_id]
    decide = aides_pb2.RecordDecisionRequest(
        aid_request_id=created.aid_request_id,
        decision=Decision.GRANTED,
        channel=DecisionChannel.COMMISSION,
        amount_granted_cents=10000,
        reasons="Aide alimentaire pour un mois.",
        members=MEMBERS,
        budget_line_id=budget.budget_line_id,
        request_id=rid(),
    )
    granted = await aides.RecordDecision(decide, timeout=15)
    again = await aides.RecordDecision(decide, timeout=15)
    assert again == granted
    assert granted.status == AidRequestStatus.GRANTED and granted.decision.amount_granted_cents == 10000
    [payment] = granted.payments
    assert (payment.status, payment.mode, payment.amount_cents) == (PaymentStatus.TO_PAY, "voucher", 10000)
    [found] = [
        b
        for b in (
            await aides.ListBudgetLines(aides_pb2.ListBudgetLinesRequest(year=year), timeout=15)
        ).budget_lines
        if b.budget_line_id == budget.budget_line_id
    ]
    assert (found.committed_cents, found.paid_cents, found.remaining_cents) == (10000, 0, 90000)

    pay = aides_pb2.RecordPaymentRequest(
        payment_id=payment.payment_id, status="paid", reference="M-2031-0042", request_id=rid()
    )
    paid = await responsable.RecordPayment(pay, timeout=15)
    assert await responsable.RecordPayment(pay, timeout=15) == paid  # a retry: paid once
    assert paid.status == PaymentStatus.PAID
    closed = await aides.GetAidRequest(
        aides_pb2.GetAidRequestRequest(aid_request_id=created.aid_request_id), timeout=15
    )
    assert closed.status == AidRequestStatus.CLOSED
    [found] = [
        b
        for b in (
            await aides.ListBudgetLines(aides_pb2.ListBudgetLinesRequest(year=year), timeout=15)
        ).budget_lines
        if b.budget_line_id == budget.budget_line_id
    ]
    assert (found.committed_cents, found.paid_cents) == (10000, 10000)
    timeline = await intake.GetDossierTimeline(
        intake_pb2.GetDossierRequest(dossier_id=dossier_id), timeout=15
    )
    summaries = [e.summary for e in timeline.entries]
    assert any(s.startswith("Demande d'aide déposée") for s in summaries), summaries
    assert any("accordée, 100,00" in s for s in summaries), summaries
    async with pool.acquire() as conn:
        types = [
            r["ce_type"]
            for r in await conn.fetch(
                "SELECT ce_type FROM intake.outbox WHERE ce_subject = $1 ORDER BY seq", created.aid_request_id
            )
        ]
    assert types == [
        "entraide.aid.requested",
        "entraide.aid.instructed",
        "entraide.aid.instructed",
        "entraide.aid.scheduled",
        "entraide.aid.decided",
        "entraide.aid.payment_changed",
        "entraide.aid.payment_changed",
    ]


async def test_refused_and_postponed(aides: Stub, intake: IntakeStub) -> None:
    sitting = await commission(aides)
    first = await scheduled(aides, intake, sitting.commission_id)
    second = await scheduled(aides, intake, sitting.commission_id)
    refusal = await aides.RecordDecision(
        aides_pb2.RecordDecisionRequest(
            aid_request_id=first.aid_request_id,
            decision=Decision.REFUSED,
            refusal_reason="autre_dispositif",
            reasons="Relève du fonds de solidarité logement.",
            members=MEMBERS[:1],
            request_id=rid(),
        ),
        timeout=15,
    )
    assert (refusal.status, refusal.decision.refusal_reason, list(refusal.payments)) == (
        "refused",
        "autre_dispositif",
        [],
    )
    postponed = await aides.RecordDecision(
        aides_pb2.RecordDecisionRequest(
            aid_request_id=second.aid_request_id,
            decision=Decision.POSTPONED,
            reasons="Attendre la réponse de la CAF.",
            members=MEMBERS,
            request_id=rid(),
        ),
        timeout=15,
    )
    assert postponed.status == AidRequestStatus.POSTPONED
    # Postponed: it may go on a later agenda.
    later = await aides.CreateCommission(
        aides_pb2.CreateCommissionRequest(territory=BAR, day="2031-04-09", members=MEMBERS, request_id=rid()),
        timeout=15,
    )
    agenda = await aides.ScheduleAidRequest(
        aides_pb2.ScheduleAidRequestRequest(
            commission_id=later.commission_id, aid_request_id=second.aid_request_id, request_id=rid()
        ),
        timeout=15,
    )
    assert [i.status for i in agenda.agenda] == ["scheduled"]


async def test_concurrent_grants_never_over_commit_a_line(
    aides: Stub, responsable: Stub, intake: IntakeStub
) -> None:
    year = 2034
    budget = await line(responsable, 10 * 5000, year, ["aide_mobilite"])
    requests = [
        await aides.CreateAidRequest(new_request(await dossier(intake), "aide_mobilite", 5000), timeout=15)
        for _ in range(20)
    ]

    async def urgent(aid_request_id: str) -> str:
        try:
            await responsable.RecordDecision(
                aides_pb2.RecordDecisionRequest(
                    aid_request_id=aid_request_id,
                    decision=Decision.GRANTED,
                    channel=DecisionChannel.URGENT,
                    amount_granted_cents=5000,
                    budget_line_id=budget.budget_line_id,
                    request_id=rid(),
                ),
                timeout=30,
            )
            return "granted"
        except grpc.aio.AioRpcError as error:
            assert error.code() == REFUSED, error.details()
            return "refused"

    outcomes = await asyncio.gather(*(urgent(r.aid_request_id) for r in requests))
    assert outcomes.count("granted") == 10 and outcomes.count("refused") == 10
    [found] = [
        b
        for b in (
            await aides.ListBudgetLines(aides_pb2.ListBudgetLinesRequest(year=year), timeout=15)
        ).budget_lines
        if b.budget_line_id == budget.budget_line_id
    ]
    assert (found.committed_cents, found.remaining_cents) == (50000, 0)
    refused_one = next(r for r, o in zip(requests, outcomes, strict=True) if o == "refused")
    seen = await refused(
        responsable.RecordDecision,
        aides_pb2.RecordDecisionRequest(
            aid_request_id=refused_one.aid_request_id,
            decision=Decision.GRANTED,
            channel=DecisionChannel.URGENT,
            amount_granted_cents=5000,
            budget_line_id=budget.budget_line_id,
            request_id=rid(),
        ),
        REFUSED,
    )
    assert "n'a plus que 0,00" in seen.fr and budget.label in seen.fr
    overridden = await responsable.RecordDecision(
        aides_pb2.RecordDecisionRequest(
            aid_request_id=refused_one.aid_request_id,
            decision=Decision.GRANTED,
            channel=DecisionChannel.URGENT,
            amount_granted_cents=5000,
            budget_line_id=budget.budget_line_id,
            override_reason="Situation d'urgence validée par le président.",
            request_id=rid(),
        ),
        timeout=15,
    )
    assert overridden.decision.override_reason


async def test_bad_inputs_are_refused_in_french_and_write_nothing(
    aides: Stub, intake: IntakeStub, pool: asyncpg.Pool
) -> None:
    dossier_id = await dossier(intake)

    async def count() -> int:
        async with pool.acquire() as conn:
            return int(
                await conn.fetchval(
                    "SELECT count(*) FROM intake.aid_requests WHERE dossier_id = $1", uuid.UUID(dossier_id)
                )
            )

    bad = new_request(dossier_id)
    bad.aid_type = "aide_inconnue"
    bad.amount_asked_cents = -5
    seen = await refused(aides.CreateAidRequest, bad, INVALID)
    assert {v.field for v in seen.violations} == {"aid_type", "amount_asked_cents"}
    assert "Type d'aide inconnu" in seen.fr
    made = await aides.CreateAidRequest(new_request(dossier_id), timeout=15)
    seen = await refused(
        aides.RecordInstruction,
        aides_pb2.RecordInstructionRequest(
            aid_request_id=made.aid_request_id, complete=False, request_id=rid()
        ),
        INVALID,
    )
    assert "pièces manquantes" in seen.fr
    seen = await refused(
        aides.RecordDecision,
        aides_pb2.RecordDecisionRequest(
            aid_request_id=made.aid_request_id,
            decision=Decision.GRANTED,
            amount_granted_cents=1000,
            members=MEMBERS,
            request_id=rid(),
        ),
        REFUSED,
    )
    assert "ordre du jour" in seen.fr
    assert await count() == 1


async def test_a_micro_credit_with_its_schedule_and_an_incident(
    aides: Stub, responsable: Stub, intake: IntakeStub
) -> None:
    made = await aides.CreateAidRequest(new_request(await dossier(intake), "microcredit", 300000), timeout=15)
    granted = await responsable.RecordDecision(
        aides_pb2.RecordDecisionRequest(
            aid_request_id=made.aid_request_id,
            decision=Decision.GRANTED,
            channel=DecisionChannel.URGENT,
            amount_granted_cents=300000,
            reasons="Achat d'un véhicule pour reprendre un emploi.",
            request_id=rid(),
        ),
        timeout=15,
    )
    assert list(granted.payments) == []  # lent by the bank, nothing paid by the CCAS
    set_up = aides_pb2.SetUpLoanRequest(
        aid_request_id=made.aid_request_id,
        bank="credit-mutuel-bar",
        amount_cents=300000,
        months=24,
        annual_rate_bp=450,
        first_due="2031-01-31",
        request_id=rid(),
    )
    loan = await aides.SetUpLoan(set_up, timeout=15)
    assert (await aides.SetUpLoan(set_up, timeout=15)).loan_id == loan.loan_id
    assert len(loan.schedule) == 24 and sum(i.principal_cents for i in loan.schedule) == 300000
    assert loan.schedule[0].payment_cents == 13094 and loan.schedule[1].due == "2031-02-28"
    assert loan.schedule[-1].remaining_cents == 0 and loan.bank_label == "Crédit Mutuel de Bar-le-Duc"
    incident = await aides.RecordLoanIncident(
        aides_pb2.RecordLoanIncidentRequest(
            loan_id=loan.loan_id,
            day="2031-04-05",
            kind="late",
            instalment_number=3,
            amount_cents=13094,
            note="Retard signalé par la banque.",
            request_id=rid(),
        ),
        timeout=15,
    )
    assert [(i.kind, i.instalment_number) for i in incident.incidents] == [("late", 3)]
    read = await aides.GetAidRequest(
        aides_pb2.GetAidRequestRequest(aid_request_id=made.aid_request_id), timeout=15
    )
    assert read.status == AidRequestStatus.CLOSED and read.loan.loan_id == loan.loan_id
    seen = await refused(
        aides.SetUpLoan,
        aides_pb2.SetUpLoanRequest(
            aid_request_id=made.aid_request_id,
            bank="banque-inconnue",
            months=0,
            first_due="demain",
            request_id=rid(),
        ),
        INVALID,
    )
    assert {v.field for v in seen.violations} == {"bank", "amount_cents", "months", "first_due"}


async def test_the_decision_letter_is_a_pdf_in_french(
    aides: Stub, responsable: Stub, intake: IntakeStub
) -> None:
    import io

    import pypdf

    made = await aides.CreateAidRequest(
        new_request(await dossier(intake), "secours_urgence", 30000), timeout=15
    )
    budget = await line(responsable, 100000, 2031, ["secours_urgence"])
    await responsable.RecordDecision(
        aides_pb2.RecordDecisionRequest(
            aid_request_id=made.aid_request_id,
            decision=Decision.GRANTED,
            channel=DecisionChannel.URGENT,
            amount_granted_cents=25000,
            reasons="Coupure d'électricité imminente.",
            budget_line_id=budget.budget_line_id,
            payment=aides_pb2.PaymentSpec(payee_kind="third_party", payee_name="Électricité de France"),
            request_id=rid(),
        ),
        timeout=15,
    )
    letter = await aides.GetDecisionLetter(
        aides_pb2.GetDecisionLetterRequest(aid_request_id=made.aid_request_id), timeout=15
    )
    assert letter.pdf.startswith(b"%PDF-") and letter.filename.startswith("decision-aide-")
    text = " ".join(
        " ".join(page.extract_text().split()) for page in pypdf.PdfReader(io.BytesIO(letter.pdf)).pages
    )
    for words in (
        "250,00 €",
        "300,00 €",
        "Électricité de France",
        "Coupure d'électricité imminente.",
        "recours gracieux",
        "tribunal administratif de Nancy",
        "deux mois",
    ):
        assert words in text, (words, text)


async def test_the_export_carries_aid_requests_and_anonymisation_erases_their_text(
    aides: Stub, intake: IntakeStub, app_stack: AppStack, pool: asyncpg.Pool
) -> None:
    import json

    from entraide.v1 import intake_pb2_grpc

    dossier_id = await dossier(intake)
    request = new_request(dossier_id)
    request.reason = f"Loyer impayé depuis mars {rid()[:8]}"
    made = await aides.CreateAidRequest(request, timeout=15)
    token = app_stack.token("resp-aides-rights", Role.RESPONSABLE, [BAR])
    async with app_stack.channel("intake", token) as channel:
        rights = intake_pb2_grpc.IntakeServiceStub(channel)
        exported = json.loads(
            (
                await rights.ExportPerson(
                    intake_pb2.ExportPersonRequest(person_id=made.person_id), timeout=15
                )
            ).json
        )
        assert [(r["aid_request_id"], r["reason"]) for r in exported["aid_requests"]] == [
            (made.aid_request_id, request.reason)
        ]
        await rights.AnonymisePerson(
            intake_pb2.AnonymisePersonRequest(person_id=made.person_id, reason="demande écrite"), timeout=15
        )
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT reason, amount_asked_cents FROM intake.aid_requests WHERE aid_request_id = $1",
            uuid.UUID(made.aid_request_id),
        )
    assert row is not None and (row["reason"], row["amount_asked_cents"]) == ("", 15000)
