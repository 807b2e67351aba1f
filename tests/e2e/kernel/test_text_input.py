"""Hard input handled once in the shared gRPC layer: text with a NUL character (which
PostgreSQL cannot store) is INVALID_ARGUMENT naming each field, before any handler, and
writes nothing; an out-of-calendar cut-off is refused too."""

from __future__ import annotations

import uuid

import grpc
import pytest
from entraide.v1 import (
    intake_pb2,
    intake_pb2_grpc,
    referral_pb2,
    referral_pb2_grpc,
    reporting_pb2,
    reporting_pb2_grpc,
)

from kernel import rich_status, text_input
from kernel.auth import Role
from kernel.errors import InvalidArgument
from tests.conftest import AppStack


def test_the_paths_of_nul_characters_in_nested_and_repeated_fields() -> None:
    request = intake_pb2.OpenDossierRequest(request_id="ok", motifs=["logement", "a\x00b"], site="x\x00")
    with pytest.raises(InvalidArgument) as refused:
        text_input.require_storable_text(request)
    assert sorted(v.field for v in refused.value.violations) == ["motifs[1]", "site"]
    text_input.require_storable_text(intake_pb2.OpenDossierRequest(motifs=["logement"], site="é ü"))


async def test_a_nul_character_is_invalid_argument_for_any_role(app_stack: AppStack) -> None:
    for role in (Role.TRAVAILLEUR_SOCIAL, Role.ELU, Role.OPS):
        async with app_stack.channel("referral", app_stack.token("someone", role)) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await referral_pb2_grpc.ReferralServiceStub(channel).GetPartner(
                    referral_pb2.GetPartnerRequest(partner_id="\x00"), timeout=10
                )
        described = rich_status.describe(refused.value)
        assert described.code == grpc.StatusCode.INVALID_ARGUMENT, role
        assert described.reason == "INVALID_CHARACTERS"
        assert [v.field for v in described.violations] == ["partner_id"]
        assert "caractère nul" in described.fr


async def test_a_person_with_a_nul_in_a_name_is_refused_and_not_written(app_stack: AppStack) -> None:
    async with app_stack.channel("intake") as channel:
        intake = intake_pb2_grpc.IntakeServiceStub(channel)
        request_id = str(uuid.uuid4())
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await intake.CreatePerson(
                intake_pb2.CreatePersonRequest(
                    request_id=request_id, territory="55029", first_name="Jea\x00n", last_name="Dupont"
                ),
                timeout=10,
            )
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert [v.field for v in rich_status.describe(refused.value).violations] == ["first_name"]
        # The same request id, corrected, creates the person: the refusal stored nothing.
        created = await intake.CreatePerson(
            intake_pb2.CreatePersonRequest(
                request_id=request_id, territory="55029", first_name="Jean", last_name="Dupont"
            ),
            timeout=10,
        )
        assert created.created


async def test_a_stuck_cut_off_out_of_the_calendar_is_out_of_range(app_stack: AppStack) -> None:
    async with app_stack.channel("reporting", app_stack.token("ops", Role.OPS)) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await reporting_pb2_grpc.ReportingServiceStub(channel).GetOpsOverview(
                reporting_pb2.GetOpsOverviewRequest(stuck_after_days=2147483647), timeout=10
            )
    described = rich_status.describe(refused.value)
    assert described.code == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in described.violations] == ["stuck_after_days"]
