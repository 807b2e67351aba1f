"""The pure rules of signals, without servers: who signals as what, what a signaller
reads of its signal, the dossier's arrival channel, « unreachable » after N attempts;
SubmitSignal's checks, every fault at once and in French."""

from __future__ import annotations

import pytest
from entraide.v1 import signals_pb2

from domain.signals import ARRIVAL_CHANNEL, MAX_DESCRIPTION, SignallerKind, SignallerView, SignalStatus
from kernel import reference
from kernel.auth import Role
from kernel.errors import InvalidArgument
from services.intake.signals import rules, validation
from services.intake.signals.access import RULES

REFERENCE = reference.load({})


def test_the_kind_of_signaller_follows_the_role() -> None:
    assert rules.signaller_kind(Role.ELU) is SignallerKind.ELU
    assert rules.signaller_kind(Role.SIGNALEUR) is SignallerKind.SECRETAIRE_MAIRIE
    for role in (Role.ACCUEIL, Role.TRAVAILLEUR_SOCIAL, Role.RESPONSABLE):
        assert rules.signaller_kind(role) is SignallerKind.AGENT
    with pytest.raises(ValueError):
        rules.signaller_kind(Role.PARTENAIRE)


@pytest.mark.parametrize(
    ("status", "attempts", "view"),
    [
        (SignalStatus.RECEIVED, 0, SignallerView.RECEIVED),
        (SignalStatus.RECEIVED, 1, SignallerView.TAKEN_IN_CHARGE),
        (SignalStatus.CONTACTED, 0, SignallerView.TAKEN_IN_CHARGE),
        (SignalStatus.UNREACHABLE, 3, SignallerView.CLOSED),
        (SignalStatus.DECLINED, 0, SignallerView.CLOSED),
        (SignalStatus.NOT_RELEVANT, 1, SignallerView.CLOSED),
    ],
)
def test_a_signaller_reads_received_taken_in_charge_or_closed_only(
    status: SignalStatus, attempts: int, view: SignallerView
) -> None:
    assert rules.signaller_view(status, attempts) is view


def test_the_dossier_arrives_as_an_elus_signal_or_as_aller_vers() -> None:
    assert rules.arrival_channel(SignallerKind.ELU) == ARRIVAL_CHANNEL
    assert rules.arrival_channel(SignallerKind.SECRETAIRE_MAIRIE) == ARRIVAL_CHANNEL
    assert rules.arrival_channel(SignallerKind.AGENT) == "aller_vers"
    assert {ARRIVAL_CHANNEL, "aller_vers"} <= set(REFERENCE.arrival_channels)


def test_unreachable_after_the_deployments_attempts() -> None:
    assert not rules.may_be_unreachable(2, 3)
    assert rules.may_be_unreachable(3, 3)


def test_a_signaller_reaches_no_case_method() -> None:
    for method, rule in RULES.items():
        if method in ("SubmitSignal", "ListMySignals"):
            assert {Role.SIGNALEUR, Role.ELU} <= rule.roles, method
        else:
            assert Role.SIGNALEUR not in rule.roles and Role.ELU not in rule.roles, method
    assert Role.ACCUEIL not in RULES["ListMySignals"].roles


def _submit(**fields: object) -> signals_pb2.SubmitSignalRequest:
    base: dict[str, object] = {
        "territory": "55041",
        "last_name": "Durand",
        "description": "Personne âgée isolée, ne sort plus.",
        "request_id": "r-1",
    }
    base.update(fields)
    return signals_pb2.SubmitSignalRequest(**base)  # type: ignore[arg-type]


def test_a_signal_with_a_phone_only_is_enough_and_normalised() -> None:
    new = validation.new_signal(_submit(last_name="", phone="+33 6 12 34 56 78"), REFERENCE)
    assert new.phone == "0612345678" and new.last_name is None


def test_bad_inputs_are_named_in_french_all_at_once() -> None:
    with pytest.raises(InvalidArgument) as error:
        validation.new_signal(
            _submit(territory="99999", last_name="", description="  ", email="pas-une-adresse"), REFERENCE
        )
    fields = {v.field: v for v in error.value.violations}
    assert set(fields) == {"territory", "email", "description"}
    assert "déploiement" in fields["territory"].fr
    assert "description" in fields["description"].fr


def test_no_identity_at_all_is_refused() -> None:
    with pytest.raises(InvalidArgument) as error:
        validation.new_signal(_submit(last_name=""), REFERENCE)
    (violation,) = error.value.violations
    assert violation.reason == "IDENTITY_REQUIRED" and "retrouver la personne" in violation.fr


def test_a_description_too_long_is_refused() -> None:
    with pytest.raises(InvalidArgument) as error:
        validation.new_signal(_submit(description="x" * (MAX_DESCRIPTION + 1)), REFERENCE)
    assert error.value.violations[0].reason == "TOO_LONG"


def test_the_qualification_is_one_of_the_statuses_other_than_received() -> None:
    assert validation.qualified_status("declined") is SignalStatus.DECLINED
    for raw in ("", "received", "nope"):
        with pytest.raises(InvalidArgument) as error:
            validation.qualified_status(raw)
        assert error.value.violations[0].field == "status"


def test_ids_derive_from_the_request() -> None:
    one = validation.derived_id(validation.SIGNAL_ID_NAMESPACE, "55041", "mairie", "r-1")
    assert one == validation.derived_id(validation.SIGNAL_ID_NAMESPACE, "55041", "mairie", "r-1")
    assert one != validation.derived_id(validation.SIGNAL_ID_NAMESPACE, "55041", "autre", "r-1")
    assert validation.derived_id(validation.SIGNAL_ID_NAMESPACE, "55041", "mairie", "") != one
