"""The aid pages' translations, without servers: euros, counts and rates typed in forms
(an unreadable one refused beside its field), the aid service's refusals renamed to the
forms' inputs, the household budget's estimate, a document's download name, and the
request's page, the decision sheet and the bilan's aid section rendered from answers."""

from __future__ import annotations

import re
from typing import Any

import grpc
from entraide.v1 import aides_pb2, documents_pb2, reporting_pb2

from kernel import reference, rich_status
from kernel.errors import FailedPrecondition, InvalidArgument, Violation
from services.console.aid_forms import Typed, aid_errors, euros_value
from services.console.aid_pages import BUDGET_RENAME, REQUEST_INPUTS, estimate
from services.console.bilan import _figures, _formatters
from services.console.documents_pages import download_name, too_large_sentence
from services.console.dossier_page import RequestIds
from services.console.templating import make_environment

NBSP = "\u00a0"


class Refused(grpc.RpcError):
    """A refusal as a client receives it (code, details, trailing metadata)."""

    def __init__(self, error: Any) -> None:
        self.status = rich_status.to_status(error)

    def code(self) -> grpc.StatusCode:
        return self.status.code

    def details(self) -> str:
        return str(self.status.details)

    def trailing_metadata(self) -> Any:
        return self.status.trailing_metadata


def test_euros_counts_and_rates_as_typed() -> None:
    typed = Typed()
    assert typed.cents("a", "1 234,5") == 123_450
    assert typed.cents("b", "250 €") == 25_000
    assert typed.cents("c", "") == 0
    assert typed.count("d", "2") == 2 and typed.count("e", "", 1) == 1
    assert typed.rate_bp("f", "4,5 %") == 450 and typed.rate_bp("g", "0.75") == 75
    assert typed.refusal() is None
    assert typed.cents("h", "deux cents") == 0 and typed.count("i", "deux") == 0
    refused = typed.refusal()
    assert refused is not None and set(refused.fields) == {"h", "i"}
    assert "euros" in refused.fields["h"]
    assert euros_value(25_050) == "250,50" and euros_value(5) == "0,05"


def test_the_services_fields_are_the_forms_inputs() -> None:
    error = Refused(
        InvalidArgument(
            "bad request",
            fr="La demande n'est pas valide.",
            violations=[
                Violation("budget.resources_cents", "negative", "Les ressources sont positives."),
                Violation("amount_asked_cents", "zero", "Le montant demandé est obligatoire."),
                Violation("aid_type", "unknown", "Aide inconnue."),
                Violation("unknown_field", "?", "Autre chose."),
            ],
        )
    )
    errors = aid_errors(error, REQUEST_INPUTS, BUDGET_RENAME)
    assert errors.message == "La demande n'est pas valide."
    assert errors.fields == {
        "resources": "Les ressources sont positives.",
        "amount_asked": "Le montant demandé est obligatoire.",
        "aid_type": "Aide inconnue.",
        "unknown_field": "Autre chose.",
    }
    over = Refused(
        FailedPrecondition(
            "over the line",
            fr="La ligne « Secours 2031 » n'a plus que 12,00 € : la décision dépasserait l'enveloppe.",
        )
    )
    refused = aid_errors(over, ("amount_granted",))
    assert refused.fields == {} and "Secours 2031" in refused.message


def test_the_estimate_is_the_services_rule() -> None:
    computed = estimate({"resources": "1 200", "charges": "950", "adults": "1", "children": "2"})
    assert computed == {"reste_a_vivre": "277", "quotient_familial": "40000", "persons": "3"}
    assert estimate({"resources": "beaucoup", "adults": "1"}) is None
    assert estimate({"resources": "100", "adults": "0"}) is None


def test_a_documents_download_name_holds_no_name() -> None:
    document = documents_pb2.Document(kind="bulletin_salaire", media_type="application/pdf")
    document.uploaded_at.FromJsonString("2031-03-02T10:00:00Z")
    assert download_name(document) == "piece-bulletin_salaire-2031-03-02.pdf"
    assert download_name(documents_pb2.Document(kind="x/../y", media_type="text/html")) == "piece-xy.bin"
    assert too_large_sentence(3 * 1024 * 1024).endswith("3 Mo.")


def _request() -> aides_pb2.AidRequest:
    request = aides_pb2.AidRequest(
        aid_request_id="r1",
        dossier_id="d1",
        territory="55291",
        aid_type="microcredit",
        status="granted",
        amount_asked_cents=300_000,
        reason="Véhicule pour reprendre un emploi.",
        budget=aides_pb2.HouseholdBudget(resources_cents=120_000, charges_cents=95_000, adults=1, children=2),
        reste_a_vivre_cents=277,
        quotient_familial_cents=40_000,
        decision=aides_pb2.Decision(
            decision="granted", channel="urgent", amount_granted_cents=300_000, members=["Nadia Benali"]
        ),
        loan=aides_pb2.Loan(
            loan_id="l1",
            bank="credit-mutuel-bar",
            amount_cents=300_000,
            months=2,
            annual_rate_bp=450,
            schedule=[
                aides_pb2.Instalment(
                    number=1, due="2031-02-05", payment_cents=150_845, remaining_cents=150_000
                ),
                aides_pb2.Instalment(number=2, due="2031-03-05", payment_cents=150_563, remaining_cents=0),
            ],
            incidents=[aides_pb2.LoanIncident(day="2031-02-15", kind="late", instalment_number=1)],
        ),
    )
    return request


def render(template: str, **values: Any) -> str:
    jinja = make_environment({})
    page = jinja.get_template(template).render(
        theme={"name": "CCAS"}, path="/aides", agent=None, csrf_token="t", request_ids=RequestIds(), **values
    )
    return re.sub(r"[ \t\r\n]+", " ", page)


def test_the_request_page_shows_the_budget_the_loan_and_its_schedule() -> None:
    page = render(
        "aid_request_page.html",
        title="Demande d'aide de Sonia Test",
        r=_request(),
        aid_type=reference.load({}).aid_types["microcredit"],
        is_loan=True,
        commission=None,
        commissions=[],
        member_options=[],
        documents=[],
        names={},
        values={},
        refusal=None,
        done=None,
        can_decide_urgent=True,
        can_pay=True,
        instructable=False,
        schedulable=False,
        decidable=False,
        withdrawable=False,
        letter=True,
        loan_to_set_up=False,
        decisions=[],
        channels=[],
        modes=[],
        payee_kinds=[],
        incident_kinds=["late"],
    )
    assert f"2,77{NBSP}€ par personne et par jour" in page
    assert f"400,00{NBSP}€ par mois et par part" in page
    assert "Décision en urgence, hors commission" in page
    assert "4,50 %" in page and "Crédit Mutuel de Bar-le-Duc" in page
    assert page.count('<tr><th scope="row">') >= 2 + 6  # the budget's rows and the schedule's
    assert "retard de paiement, échéance 1" in page
    assert 'href="/aides/demandes/r1/courrier"' in page


def test_the_decision_sheet_counts_and_totals() -> None:
    commission = aides_pb2.Commission(
        commission_id="c1",
        territory="55291",
        day="2031-03-12",
        members=["Mme Martin (vice-présidente du CCAS)"],
        agenda=[
            aides_pb2.AgendaItem(
                aid_request_id="a",
                person_label="Anne A",
                aid_type="secours_urgence",
                amount_asked_cents=25_000,
                decision=aides_pb2.Decision(decision="granted", amount_granted_cents=20_000),
            ),
            aides_pb2.AgendaItem(
                aid_request_id="b",
                person_label="Bruno B",
                aid_type="aide_energie",
                amount_asked_cents=30_000,
                decision=aides_pb2.Decision(decision="refused", refusal_reason="hors_criteres"),
            ),
        ],
    )
    page = render(
        "aid_decision_sheet.html",
        title="Relevé",
        commission=commission,
        agenda=list(commission.agenda),
        total_asked=55_000,
        total_granted=20_000,
        counts={"granted": 1, "postponed": 0, "refused": 1},
    )
    assert "1 accordée, 0 ajournée, 1 refusée" in page
    assert f"200,00{NBSP}€ accordés sur 550,00{NBSP}€ demandés" in page
    assert "Ressources au-dessus du barème" in page and "print-sheet.css" in page


def test_the_bilans_aid_section() -> None:
    bilan = reporting_pb2.Bilan()
    getattr(bilan, "from").FromJsonString("2030-12-31T23:00:00Z")
    bilan.to.FromJsonString("2031-12-31T23:00:00Z")
    template = make_environment({}).get_template("bilan_aides.html")
    empty = re.sub(r"[ \t\r\n]+", " ", template.render(**_figures(bilan), **_formatters()))
    assert "Aucune aide du CCAS sur la période." in empty
    bilan.aides.CopyFrom(
        reporting_pb2.AidFigures(
            requests=3,
            granted=2,
            refused=1,
            asked_cents=123_456,
            granted_cents=50_000,
            by_month=[reporting_pb2.AidBreakdown(code="2031-03", requests=3, granted_cents=50_000)],
            budget_lines=[
                reporting_pb2.BudgetLineFigures(label="Secours 2031", year=2031, envelope_cents=100_000)
            ],
        )
    )
    page = re.sub(r"[ \t\r\n]+", " ", template.render(**_figures(bilan), **_formatters()))
    assert f"1\u202f234,56{NBSP}€" in page and "mars 2031" in page and "Secours 2031" in page
