"""Hard input handled once in the shared gRPC layer (kernel.hard_input), on the real
services: NUL characters, bytes that are not UTF-8, too many items, dates outside the
calendar are INVALID_ARGUMENT naming each field, before any handler, and write nothing;
a message over the size limit is RESOURCE_EXHAUSTED; never INTERNAL."""

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

from kernel import hard_input, rich_status
from kernel.auth import Role
from tests.conftest import AppStack


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


async def test_bytes_that_are_not_utf8_in_a_text_field_are_invalid_argument(app_stack: AppStack) -> None:
    # GetPartnerRequest.partner_id = field 1, length-delimited: 0x0a, length, bytes.
    raw = bytes([0x0A, 3, 0xFF, 0xFE, 0x41])
    async with app_stack.channel("referral", app_stack.token("someone", Role.TRAVAILLEUR_SOCIAL)) as channel:
        call = channel.unary_unary(
            "/entraide.v1.ReferralService/GetPartner",
            request_serializer=lambda data: data,
            response_deserializer=referral_pb2.PartnerDetail.FromString,
        )
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call(raw, timeout=10)
    described = rich_status.describe(refused.value)
    assert (described.code, described.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "MALFORMED_REQUEST")
    assert "UTF-8" in described.fr


async def test_too_many_items_and_a_date_outside_the_calendar_name_their_field(app_stack: AppStack) -> None:
    async with app_stack.channel("intake") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await intake_pb2_grpc.IntakeServiceStub(channel).ListDossiers(
                intake_pb2.ListDossiersRequest(territories=["55029"] * (hard_input.MAX_ITEMS + 1)), timeout=10
            )
    described = rich_status.describe(refused.value)
    assert (described.code, described.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "TOO_MANY_ITEMS")
    assert [v.field for v in described.violations] == ["territories"]
    token = app_stack.token("resp", Role.RESPONSABLE)
    async with app_stack.channel("reporting", token) as channel:
        request = reporting_pb2.GetBilanRequest()
        getattr(request, "from").seconds = hard_input.MAX_SECONDS + 1
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await reporting_pb2_grpc.ReportingServiceStub(channel).GetBilan(request, timeout=10)
    described = rich_status.describe(refused.value)
    assert (described.code, described.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_DATE")
    assert [v.field for v in described.violations] == ["from"]
    assert described.fr.startswith("La date de début n'est pas valable")


async def test_a_message_over_the_size_limit_is_resource_exhausted_not_internal(app_stack: AppStack) -> None:
    async with app_stack.channel("intake") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await intake_pb2_grpc.IntakeServiceStub(channel).RecordInterview(
                intake_pb2.RecordInterviewRequest(
                    dossier_id=str(uuid.uuid4()), notes="x" * (hard_input.MAX_MESSAGE_BYTES + 1)
                ),
                timeout=10,
            )
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
