"""AidService's checks without servers: every fault at once, each naming its field in
French, nothing accepted that a handler would have to refuse later."""

from __future__ import annotations

import uuid

import pytest
from entraide.v1 import aides_pb2

from kernel import reference
from kernel.auth import Role
from kernel.errors import InvalidArgument
from services.intake.aides import validation
from services.intake.aides.access import RULES

REFERENCE = reference.load({})
DOSSIER = str(uuid.uuid4())


def _budget() -> aides_pb2.HouseholdBudget:
    return aides_pb2.HouseholdBudget(resources_cents=120000, charges_cents=80000, adults=1, children=2)


def test_a_good_request_passes() -> None:
    made = validation.new_request(
        aides_pb2.CreateAidRequestRequest(
            dossier_id=DOSSIER,
            aid_type="secours_urgence",
            amount_asked_cents=15000,
            reason="Facture",
            budget=_budget(),
        ),
        REFERENCE,
    )
    assert made.amount_asked_cents == 15000 and made.aid_type.code == "secours_urgence"


@pytest.mark.parametrize("cents", [0, -1, 10**15])
def test_an_unknown_type_and_a_bad_amount_are_named_together(cents: int) -> None:
    with pytest.raises(InvalidArgument) as error:
        validation.new_request(
            aides_pb2.CreateAidRequestRequest(
                dossier_id=DOSSIER,
                aid_type="aide_inconnue",
                amount_asked_cents=cents,
                reason="x",
                budget=_budget(),
            ),
            REFERENCE,
        )
    assert {v.field for v in error.value.violations} == {"aid_type", "amount_asked_cents"}
    assert all(v.fr.endswith(".") for v in error.value.violations)


def test_an_incomplete_instruction_lists_its_missing_documents() -> None:
    with pytest.raises(InvalidArgument) as error:
        validation.instruction(aides_pb2.RecordInstructionRequest(complete=False), REFERENCE)
    assert [v.field for v in error.value.violations] == ["missing_documents"]
    assert "pièces manquantes" in error.value.violations[0].fr
    with pytest.raises(InvalidArgument):
        validation.instruction(
            aides_pb2.RecordInstructionRequest(complete=False, missing_documents=["pas_une_piece"]), REFERENCE
        )


def test_accueil_reads_nothing_of_aides() -> None:
    for method, rule in RULES.items():
        assert Role.ACCUEIL not in rule.roles, method
    for method in ("CreateBudgetLine", "RecordPayment"):
        assert Role.TRAVAILLEUR_SOCIAL not in RULES[method].roles, method
