"""The aid pages' handlers without servers: each page rendered from the service's answers
(fakes of AidService and DocumentService), each form's post turned into the API's request
(euros in cents, the members, the payment) or refused beside its field."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from entraide.v1 import aides_pb2, documents_pb2, intake_pb2
from starlette.datastructures import FormData, Headers, UploadFile
from starlette.requests import Request
from starlette.responses import Response

from kernel.auth import Role
from services.console import aid_commissions, aid_money, aid_pages
from services.console.directory import Agent
from services.console.sessions import Session
from services.console.state import ConsoleState
from services.console.templating import make_environment
from services.console.web import Page

LIGNY = "55291"
NBSP = "\u00a0"


@dataclass
class Fake:
    """A service's methods: each answers from `answers` and records its requests."""

    answers: dict[str, Callable[[Any], Any]]
    calls: list[tuple[str, Any]] = field(default_factory=list)

    def __getattr__(self, method: str) -> Callable[..., Any]:
        if method not in self.answers:
            raise AttributeError(method)

        async def call(request: Any, timeout: float = 10.0) -> Any:
            self.calls.append((method, request))
            return self.answers[method](request)

        return call


def commission() -> aides_pb2.Commission:
    return aides_pb2.Commission(
        commission_id="c1",
        territory=LIGNY,
        day="2031-03-12",
        starts_at="14:00",
        status="planned",
        members=["Mme Martin (vice-présidente du CCAS)", "M. Durand"],
        agenda=[
            aides_pb2.AgendaItem(
                aid_request_id="r1",
                person_label="Sonia Test",
                aid_type="secours_urgence",
                amount_asked_cents=25_000,
                reste_a_vivre_cents=277,
                status="scheduled",
            )
        ],
    )


def aid_request(status: str = "scheduled", **extra: Any) -> aides_pb2.AidRequest:
    return aides_pb2.AidRequest(
        aid_request_id="r1",
        dossier_id="d1",
        person_id="p1",
        territory=LIGNY,
        aid_type=extra.pop("aid_type", "secours_urgence"),
        status=status,
        amount_asked_cents=25_000,
        reason="Facture impayée.",
        budget=aides_pb2.HouseholdBudget(resources_cents=120_000, charges_cents=95_000, adults=1, children=2),
        reste_a_vivre_cents=277,
        quotient_familial_cents=40_000,
        eligible="yes",
        commission_id="c1" if status == "scheduled" else "",
        **extra,
    )


def services(request: aides_pb2.AidRequest) -> tuple[Fake, Fake, Fake]:
    aides = Fake(
        {
            "GetAidRequest": lambda r: request,
            "ListAidTypes": lambda r: aides_pb2.ListAidTypesResponse(
                aid_types=[
                    aides_pb2.AidType(code="secours_urgence", label="Secours d'urgence", nature="cash")
                ]
            ),
            "CreateAidRequest": lambda r: aides_pb2.AidRequest(aid_request_id="new"),
            "ListCommissions": lambda r: aides_pb2.ListCommissionsResponse(commissions=[commission()]),
            "GetCommission": lambda r: commission(),
            "ListAidRequests": lambda r: aides_pb2.ListAidRequestsResponse(
                aid_requests=[aid_request("complete")]
            ),
            "RecordDecision": lambda r: request,
            "RecordInstruction": lambda r: request,
            "ScheduleAidRequest": lambda r: commission(),
            "SetUpLoan": lambda r: aides_pb2.Loan(),
            "ListPayments": lambda r: aides_pb2.ListPaymentsResponse(
                payments=[
                    aides_pb2.Payment(
                        payment_id="pay1",
                        aid_request_id="r1",
                        amount_cents=25_000,
                        mode="transfer",
                        payee_kind="third_party",
                        payee_name="EDF Solidarité",
                        status="to_pay",
                        person_label="Sonia Test",
                        aid_type="secours_urgence",
                    )
                ]
            ),
            "RecordPayment": lambda r: aides_pb2.Payment(),
            "ListBudgetLines": lambda r: aides_pb2.ListBudgetLinesResponse(
                budget_lines=[
                    aides_pb2.BudgetLine(
                        label="Secours 2031",
                        territory=LIGNY,
                        year=2031,
                        aid_types=["secours_urgence"],
                        envelope_cents=1_000_000,
                        committed_cents=25_000,
                        remaining_cents=975_000,
                    )
                ]
            ),
            "CreateBudgetLine": lambda r: aides_pb2.BudgetLine(year=r.year),
        }
    )
    documents = Fake(
        {
            "ListDocuments": lambda r: documents_pb2.ListDocumentsResponse(
                documents=[
                    documents_pb2.Document(
                        document_id="doc1",
                        kind="bulletin_salaire",
                        media_type="application/pdf",
                        size_bytes=2048,
                    )
                ]
            ),
            "UploadDocument": lambda r: documents_pb2.Document(document_id="doc2"),
        }
    )
    intake = Fake(
        {
            "GetPerson": lambda r: intake_pb2.Person(person_id="p1", first_name="Sonia", last_name="Test"),
            "GetDossier": lambda r: intake_pb2.Dossier(dossier_id="d1", territory=LIGNY),
        }
    )
    return aides, documents, intake


def page_of(
    path: str,
    params: dict[str, str],
    request: aides_pb2.AidRequest,
    role: Role = Role.RESPONSABLE,
    form: list[tuple[str, Any]] | None = None,
) -> tuple[Page, Fake, Fake]:
    scope = {
        "type": "http",
        "method": "POST" if form is not None else "GET",
        "scheme": "http",
        "server": ("console.test", 80),
        "path": path,
        "path_params": params,
        "query_string": b"",
        "headers": Headers({"host": "console.test"}).raw,
    }
    settings = SimpleNamespace(
        theme=SimpleNamespace(name="CCAS", logo_url="", primary_colour="#123456"), env={}
    )
    state = ConsoleState(settings, None, None, make_environment({}), None)  # type: ignore[arg-type]
    state._agents = (time.monotonic() + 3600, [])
    agent = Agent("resp.bar", "Nadia Benali", "n@ccas.example", role, frozenset({LIGNY}))
    aides, documents, intake = services(request)
    calls: Any = SimpleNamespace(aides=aides, documents=documents, intake=intake)
    posted = FormData(form) if form is not None else None
    page = Page(Request(scope), state, Session(agent, "csrf", ""), calls, posted)
    return page, aides, documents


def text(response: Response) -> str:
    return bytes(response.body).decode()


async def test_the_request_form_estimates_refuses_and_sends_cents() -> None:
    values = [
        ("request_id", "rid"),
        ("aid_type", "secours_urgence"),
        ("amount_asked", "250,50"),
        ("reason", "Facture"),
        ("resources", "1 200"),
        ("charges", "950"),
        ("adults", "1"),
        ("children", "2"),
    ]
    params = {"dossier_id": "d1"}
    page, aides, _ = page_of(
        "/dossiers/d1/aides/nouvelle", params, aid_request(), form=[*values, ("calcul", "1")]
    )
    estimated = await aid_pages.create_request(page)
    assert estimated.status_code == 200 and f"2,77{NBSP}€" in text(estimated)
    assert not [c for c in aides.calls if c[0] == "CreateAidRequest"]

    page, aides, _ = page_of(
        "/dossiers/d1/aides/nouvelle", params, aid_request(), form=[*values[:2], ("amount_asked", "x")]
    )
    refused = await aid_pages.create_request(page)
    assert refused.status_code == 400 and 'id="amount_asked-erreur"' in text(refused)

    page, aides, _ = page_of("/dossiers/d1/aides/nouvelle", params, aid_request(), form=values)
    created = await aid_pages.create_request(page)
    assert created.status_code == 303 and created.headers["location"] == "/aides/demandes/new?fait=cree"
    sent = next(r for m, r in aides.calls if m == "CreateAidRequest")
    assert sent.amount_asked_cents == 25_050 and sent.budget.resources_cents == 120_000
    assert sent.budget.children == 2 and sent.request_id == "rid"


@pytest.mark.parametrize("status", ["submitted", "complete", "scheduled", "granted", "refused", "closed"])
async def test_the_request_page_in_each_status(status: str) -> None:
    extra: dict[str, Any] = {}
    if status in ("granted", "closed", "refused"):
        extra["decision"] = aides_pb2.Decision(
            decision="refused" if status == "refused" else "granted",
            channel="commission",
            amount_granted_cents=25_000,
            refusal_reason="hors_criteres" if status == "refused" else "",
        )
        extra["payments"] = [
            aides_pb2.Payment(payment_id="pay1", amount_cents=25_000, status="to_pay", mode="cheque")
        ]
    page, _, _ = page_of("/aides/demandes/r1", {"aid_request_id": "r1"}, aid_request(status, **extra))
    shown = text(await aid_pages.show_request(page))
    assert "Demande d&#39;aide de Sonia Test" in shown and f"2,77{NBSP}€" in shown
    assert ('id="form-instruction"' in shown) == (status in ("submitted", "complete"))
    assert ('id="form-inscription"' in shown) == (status == "complete")
    assert ('id="form-decision"' in shown) == (status in ("complete", "scheduled"))
    assert ("/courrier" in shown) == (status in ("granted", "refused", "closed"))
    assert "Bulletin de salaire" in shown and 'enctype="multipart/form-data"' in shown


async def test_a_loan_set_up_with_its_rate_in_basis_points() -> None:
    granted = aid_request(
        "granted",
        aid_type="microcredit",
        decision=aides_pb2.Decision(decision="granted", amount_granted_cents=300_000),
    )
    page, _, _ = page_of("/aides/demandes/r1", {"aid_request_id": "r1"}, granted)
    assert 'id="form-pret"' in text(await aid_pages.show_request(page))
    form = [
        ("request_id", "x"),
        ("bank", "credit-mutuel-bar"),
        ("amount", "3 000"),
        ("months", "24"),
        ("annual_rate", "4,5"),
        ("first_due", "2031-02-05"),
    ]
    page, aides, _ = page_of("/aides/demandes/r1/pret", {"aid_request_id": "r1"}, granted, form=form)
    done = await aid_pages.set_up_loan(page)
    assert done.status_code == 303
    sent = next(r for m, r in aides.calls if m == "SetUpLoan")
    assert (sent.amount_cents, sent.months, sent.annual_rate_bp) == (300_000, 24, 450)


async def test_an_urgent_decision_and_one_from_the_commissions_sheet() -> None:
    form = [
        ("request_id", "d"),
        ("decision", "granted"),
        ("channel", "urgent"),
        ("amount_granted", "200"),
        ("reasons", "Urgence"),
        ("payee_kind", "third_party"),
        ("payee_name", "OPH de la Meuse"),
        ("mode", "transfer"),
        ("override_reason", "Priorité"),
    ]
    page, aides, _ = page_of(
        "/aides/demandes/r1/decision", {"aid_request_id": "r1"}, aid_request("complete"), form=form
    )
    done = await aid_pages.decide(page)
    assert done.status_code == 303 and done.headers["location"] == "/aides/demandes/r1?fait=decision#decision"
    sent = next(r for m, r in aides.calls if m == "RecordDecision")
    assert sent.amount_granted_cents == 20_000 and sent.members == ["Nadia Benali"]
    assert sent.payment.payee_name == "OPH de la Meuse" and sent.override_reason == "Priorité"

    params = {"commission_id": "c1"}
    page, _, _ = page_of("/aides/commissions/c1", params, aid_request())
    shown = text(await aid_commissions.show_commission(page))
    assert 'id="form-decision-r1"' in shown and "Sonia Test" in shown and 'value="complete"' not in shown
    refused = [
        ("request_id", "e"),
        ("decision", "refused"),
        ("channel", "commission"),
        ("refusal_reason", "hors_criteres"),
        ("members", "M. Durand"),
        ("other_members", "Mme Invitée\n"),
    ]
    page, aides, _ = page_of(
        "/aides/commissions/c1/decisions/r1", {**params, "aid_request_id": "r1"}, aid_request(), form=refused
    )
    done = await aid_commissions.decide(page)
    assert done.status_code == 303
    sent = next(r for m, r in aides.calls if m == "RecordDecision")
    assert sent.members == ["M. Durand", "Mme Invitée"] and not sent.HasField("payment")
    assert sent.amount_granted_cents == 0 and sent.refusal_reason == "hors_criteres"

    page, _, _ = page_of("/aides/commissions/c1/releve", params, aid_request())
    sheet = text(await aid_commissions.decision_sheet(page))
    assert "Relevé de décisions" in sheet and "print-sheet.css" in sheet


async def test_payments_and_budget_lines() -> None:
    page, _, _ = page_of("/aides/paiements", {}, aid_request())
    shown = text(await aid_money.payments(page))
    assert "EDF Solidarité" in shown and 'action="/aides/paiements/pay1"' in shown
    assert f"250,00{NBSP}€" in shown

    form = [
        ("request_id", "p"),
        ("status", "paid"),
        ("reference", "MANDAT-1"),
        ("retour", "/aides/demandes/r1"),
    ]
    page, aides, _ = page_of("/aides/paiements/pay1", {"payment_id": "pay1"}, aid_request(), form=form)
    done = await aid_money.record_payment(page)
    assert done.headers["location"] == "/aides/demandes/r1?fait=paiement#paiements"
    sent = next(r for m, r in aides.calls if m == "RecordPayment")
    assert (sent.payment_id, sent.status, sent.reference, sent.cancel_reason) == (
        "pay1",
        "paid",
        "MANDAT-1",
        "",
    )

    page, _, _ = page_of("/aides/budget", {}, aid_request())
    lines = text(await aid_money.budget(page))
    assert "Secours 2031" in lines and f"9\u202f750,00{NBSP}€" in lines

    form = [
        ("request_id", "b"),
        ("territory", LIGNY),
        ("year", "2031"),
        ("label", "Secours"),
        ("aid_types", "secours_urgence"),
        ("aid_types", "aide_alimentaire"),
        ("envelope", "12 000"),
    ]
    page, aides, _ = page_of("/aides/budget", {}, aid_request(), form=form)
    created = await aid_money.create_line(page)
    assert created.headers["location"] == "/aides/budget?annee=2031&fait=ligne"
    sent = next(r for m, r in aides.calls if m == "CreateBudgetLine")
    assert sent.envelope_cents == 1_200_000 and list(sent.aid_types) == [
        "secours_urgence",
        "aide_alimentaire",
    ]


async def test_a_document_uploaded_on_a_request_or_refused_when_too_large() -> None:
    import io

    content = b"%PDF-1.4 piece"
    upload = UploadFile(io.BytesIO(content), filename="piece.pdf")
    form = [("request_id", "u"), ("kind", "bulletin_salaire"), ("content", upload)]
    page, _, documents = page_of(
        "/aides/demandes/r1/pieces", {"aid_request_id": "r1"}, aid_request(), form=form
    )
    done = await aid_pages.upload(page)
    assert done.headers["location"] == "/aides/demandes/r1?fait=piece#pieces"
    sent = next(r for m, r in documents.calls if m == "UploadDocument")
    assert (sent.owner_kind, sent.owner_id, sent.kind, sent.content) == (
        "aid_request",
        "r1",
        "bulletin_salaire",
        content,
    )

    big = UploadFile(io.BytesIO(b"%PDF" + b"0" * (3 * 1024 * 1024)), filename="big.pdf")
    form = [("request_id", "u"), ("kind", "bulletin_salaire"), ("content", big)]
    page, _, documents = page_of(
        "/aides/demandes/r1/pieces", {"aid_request_id": "r1"}, aid_request(), form=form
    )
    refused = await aid_pages.upload(page)
    assert refused.status_code == 400 and 'id="piece-content-erreur"' in text(refused)
    assert "trop volumineux" in text(refused)
    assert not [c for c in documents.calls if c[0] == "UploadDocument"]


async def test_the_commissions_decision_forms_post_to_the_sheet() -> None:
    page, _, _ = page_of("/aides/commissions/c1", {"commission_id": "c1"}, aid_request())
    shown = text(await aid_commissions.show_commission(page))
    assert 'action="/aides/commissions/c1/decisions/r1" id="form-decision-r1"' in shown
    assert 'aria-labelledby="decision-titre-r1"' in shown and 'name="channel" value="commission"' in shown
    assert 'id="decision-r1-members-2" name="members" value="M. Durand" checked' in shown
