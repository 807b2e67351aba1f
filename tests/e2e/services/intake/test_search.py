"""SearchPersons and CheckPossibleDuplicates on the real intake process: folded name
prefixes, birth date and phone as CreatePerson normalises them, the caller's communes
only (row-level security), merged persons on request, the access log (one row per
person returned), and the duplicate rule shared with CreatePerson."""

from __future__ import annotations

import random
import string
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from entraide.v1 import intake_pb2, intake_pb2_grpc

from kernel.auth import Role
from kernel.db import Pool
from kernel.rich_status import describe
from tests.conftest import AppStack

if TYPE_CHECKING:
    from entraide.v1.intake_pb2_grpc import IntakeServiceAsyncStub as Stub

BAR_LE_DUC = "55029"
LIGNY = "55291"


def letters(n: int = 8) -> str:
    return "".join(random.choices(string.ascii_lowercase, k=n))


def unique_phone() -> str:
    return "07" + "".join(random.choices(string.digits, k=8))


@pytest.fixture
async def intake(app_stack: AppStack) -> AsyncIterator[Stub]:
    async with app_stack.channel("intake") as channel:
        yield intake_pb2_grpc.IntakeServiceStub(channel)


async def create(intake: Stub, **fields: Any) -> intake_pb2.CreatePersonResponse:
    defaults: dict[str, Any] = {
        "request_id": uuid.uuid4().hex,
        "territory": BAR_LE_DUC,
        "first_name": "Claire",
        "last_name": "Durand" + letters(6),
        "birth_date": "1984-03-27",
        "phone": unique_phone(),
    }
    reply: intake_pb2.CreatePersonResponse = await intake.CreatePerson(
        intake_pb2.CreatePersonRequest(**{**defaults, **fields}), timeout=10
    )
    return reply


async def search(intake: Stub, **fields: Any) -> list[str]:
    reply = await intake.SearchPersons(intake_pb2.SearchPersonsRequest(**fields), timeout=10)
    return [p.person_id for p in reply.persons]


async def refusal(call: Any, request: Any) -> tuple[grpc.StatusCode, str, list[str]]:
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await call(request, timeout=10)
    described = describe(error.value)
    assert described.fr and described.reason
    return error.value.code(), described.reason, [v.field for v in described.violations]


async def test_every_word_must_begin_a_word_of_the_folded_name(intake: Stub) -> None:
    tag = letters(7)
    person = (await create(intake, last_name=f"Lefèvre-Œuvray{tag}", first_name="Jean-Édouard")).person
    other = (await create(intake, last_name=f"Lefort{tag}", first_name="Jeanne")).person
    pid = person.person_id
    assert await search(intake, name=f"LEFÈVRE oeuvray{tag}") == [pid]
    assert await search(intake, name=f"oeuvray{tag[:3]} lef") == [pid]  # order of the words is free
    assert await search(intake, name=f"ed oeuvray{tag}") == [pid]  # the first name's second word
    assert await search(intake, name=f"  Œuvray{tag}, Jean.  ") == [pid]  # punctuation ignored
    assert set(await search(intake, name=f"jean lefort{tag}")) == {other.person_id}
    assert await search(intake, name=f"uvray{tag}") == []  # inside a word: not a prefix
    assert await search(intake, name=f"oeuvray{tag} marie") == []  # every word must match


async def test_birth_date_and_phone_as_create_person_normalises_them(intake: Stub) -> None:
    tag = letters(7)
    digits = "".join(random.choices(string.digits, k=8))
    person = (
        await create(intake, last_name=f"Martin{tag}", phone=f"06 {digits}", birth_date="1990-05-01")
    ).person
    await create(intake, last_name=f"Martin{tag}", birth_date="1991-05-01")
    spaced = f"+33 6 {digits[:2]} {digits[2:4]} {digits[4:6]} {digits[6:]}"
    assert await search(intake, phone=spaced) == [person.person_id]
    assert await search(intake, phone=f"06.{digits[:2]}.{digits[2:4]}.{digits[4:6]}.{digits[6:]}") == [
        person.person_id
    ]
    assert await search(intake, name=f"martin{tag}", birth_date="1990-05-01") == [person.person_id]
    assert len(await search(intake, name=f"martin{tag}")) == 2
    assert await search(intake, name=f"martin{tag}", phone="0700000000") == []


async def test_bad_criteria_are_invalid_argument_naming_the_field(intake: Stub) -> None:
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({}, "name", "FIELD_REQUIRED"),
        ({"name": "   "}, "name", "FIELD_REQUIRED"),
        ({"name": "é"}, "name", "TOO_SHORT"),
        ({"name": "-- ' --"}, "name", "TOO_SHORT"),
        ({"name": "x" * 300}, "name", "TOO_LONG"),
        ({"name": "ab\tcd"}, "name", "CONTROL_CHARACTERS"),
        ({"birth_date": "27/03/1984"}, "birth_date", "INVALID_FORMAT"),
        ({"phone": "06-12"}, "phone", "INVALID_FORMAT"),
        ({"name": "durand", "page_size": 51}, "page_size", "OUT_OF_RANGE"),
    ]
    for fields, field, reason in cases:
        code, got_reason, fields_at_fault = await refusal(
            intake.SearchPersons, intake_pb2.SearchPersonsRequest(**fields)
        )
        assert (code, got_reason, fields_at_fault) == (grpc.StatusCode.INVALID_ARGUMENT, reason, [field]), (
            fields
        )


async def test_truncated_when_more_persons_match_than_the_page(intake: Stub) -> None:
    tag = letters(7)
    for _ in range(3):
        await create(intake, last_name=f"Bernard{tag}")
    reply = await intake.SearchPersons(intake_pb2.SearchPersonsRequest(name=f"bernard{tag}", page_size=2))
    assert (len(reply.persons), reply.truncated) == (2, True)
    reply = await intake.SearchPersons(intake_pb2.SearchPersonsRequest(name=f"bernard{tag}", page_size=3))
    assert (len(reply.persons), reply.truncated) == (3, False)


async def test_merged_persons_only_on_request(intake: Stub) -> None:
    tag = letters(7)
    keep = (await create(intake, last_name=f"Petit{tag}")).person
    duplicate = (await create(intake, last_name=f"Petit{tag}")).person
    await intake.MergePersons(
        intake_pb2.MergePersonsRequest(keep_id=keep.person_id, duplicate_id=duplicate.person_id), timeout=10
    )
    assert await search(intake, name=f"petit{tag}") == [keep.person_id]
    reply = await intake.SearchPersons(
        intake_pb2.SearchPersonsRequest(name=f"petit{tag}", include_merged=True)
    )
    merged = {p.person_id: p.merged_into for p in reply.persons}
    assert merged == {keep.person_id: "", duplicate.person_id: keep.person_id}


async def test_only_the_callers_communes_and_each_person_returned_is_access_logged(
    app_stack: AppStack, pool: Pool
) -> None:
    tag = letters(7)
    async with app_stack.channel("intake") as channel:
        everywhere = intake_pb2_grpc.IntakeServiceStub(channel)
        in_bar = (await create(everywhere, last_name=f"Roux{tag}", territory=BAR_LE_DUC)).person
        in_ligny = (await create(everywhere, last_name=f"Roux{tag}", territory=LIGNY)).person
        assert set(await search(everywhere, name=f"roux{tag}")) == {in_bar.person_id, in_ligny.person_id}
    token = app_stack.token("accueil-ligny", Role.ACCUEIL, [LIGNY])
    async with app_stack.channel("intake", token) as channel:
        ligny = intake_pb2_grpc.IntakeServiceStub(channel)
        assert await search(ligny, name=f"roux{tag}") == [in_ligny.person_id]
        assert await search(ligny, name=f"nobody{tag}") == []
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            """SELECT resource_type, resource_id, action, purpose FROM audit.access_log
                WHERE actor = 'accueil-ligny' AND method LIKE '%/SearchPersons' ORDER BY id"""
        )
    logged = [(r["resource_type"], r["resource_id"], r["action"], r["purpose"]) for r in rows]
    assert ("person", in_ligny.person_id, "read", "recherche d'une personne") in logged
    assert all(r[1] != in_bar.person_id for r in logged)


async def test_partners_and_elus_cannot_search(app_stack: AppStack) -> None:
    for role in (Role.ELU, Role.PARTENAIRE, Role.OPS):
        token = app_stack.token(
            "someone", role, [BAR_LE_DUC], partner_id="caf-meuse" if role is Role.PARTENAIRE else ""
        )
        async with app_stack.channel("intake", token) as channel:
            code, reason, _ = await refusal(
                intake_pb2_grpc.IntakeServiceStub(channel).SearchPersons,
                intake_pb2.SearchPersonsRequest(name="durand"),
            )
        assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, "ROLE_NOT_ALLOWED"), role


# ---- possible duplicates ------------------------------------------------------------------


async def test_possible_duplicates_follow_create_persons_rule(intake: Stub) -> None:
    tag = letters(7)
    phone = unique_phone()
    first = (
        await create(intake, last_name=f"Lefèvre{tag}", first_name="Zoé", birth_date="1970-01-02")
    ).person
    by_phone = (await create(intake, last_name=f"Autre{tag}", phone=phone)).person
    probe = {
        "territory": BAR_LE_DUC,
        "last_name": f"LEFEVRE{tag}",
        "first_name": "zoe",
        "birth_date": "1970-01-02",
    }
    found = await intake.CheckPossibleDuplicates(
        intake_pb2.CheckPossibleDuplicatesRequest(**probe), timeout=10
    )
    assert [p.person_id for p in found.duplicates] == [first.person_id]
    assert found.elsewhere_count == 0
    # The same fields given to CreatePerson report the same persons.
    created = await create(intake, **{**probe, "phone": unique_phone()})
    assert [p.person_id for p in created.possible_duplicates] == [first.person_id]
    # Another birth date: not a duplicate by name; the phone alone is one.
    other_date = {**probe, "birth_date": "1970-01-03"}
    found = await intake.CheckPossibleDuplicates(intake_pb2.CheckPossibleDuplicatesRequest(**other_date))
    assert list(found.duplicates) == []
    spaced = f"+33 {phone[1]} {phone[2:]}"
    found = await intake.CheckPossibleDuplicates(
        intake_pb2.CheckPossibleDuplicatesRequest(territory=BAR_LE_DUC, phone=spaced)
    )
    assert [p.person_id for p in found.duplicates] == [by_phone.person_id]


async def test_duplicates_elsewhere_are_only_counted(app_stack: AppStack) -> None:
    tag = letters(7)
    async with app_stack.channel("intake") as channel:
        await create(
            intake_pb2_grpc.IntakeServiceStub(channel), last_name=f"Garnier{tag}", territory=BAR_LE_DUC
        )
    token = app_stack.token("accueil-ligny", Role.ACCUEIL, [LIGNY])
    async with app_stack.channel("intake", token) as channel:
        ligny = intake_pb2_grpc.IntakeServiceStub(channel)
        found = await ligny.CheckPossibleDuplicates(
            intake_pb2.CheckPossibleDuplicatesRequest(
                territory=LIGNY, last_name=f"Garnier{tag}", first_name="Claire", birth_date="1984-03-27"
            ),
            timeout=10,
        )
        assert (list(found.duplicates), found.elsewhere_count) == ([], 1)
        code, reason, _ = await refusal(
            ligny.CheckPossibleDuplicates,
            intake_pb2.CheckPossibleDuplicatesRequest(territory=BAR_LE_DUC, phone="0612345678"),
        )
        assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, "TERRITORY_NOT_ASSIGNED")


async def test_possible_duplicates_need_what_the_rule_reads(intake: Stub) -> None:
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"territory": BAR_LE_DUC}, "last_name", "FIELD_REQUIRED"),
        ({"territory": BAR_LE_DUC, "last_name": "Durand"}, "first_name", "FIELD_REQUIRED"),
        (
            {"territory": BAR_LE_DUC, "last_name": "Durand", "first_name": "Léa"},
            "birth_date",
            "FIELD_REQUIRED",
        ),
        ({"territory": "", "phone": "0612345678"}, "territory", "FIELD_REQUIRED"),
        ({"territory": BAR_LE_DUC, "phone": "12"}, "phone", "INVALID_FORMAT"),
        ({"territory": BAR_LE_DUC, "last_name": "--", "phone": "0612345678"}, "last_name", "INVALID_FORMAT"),
    ]
    for fields, field, reason in cases:
        code, got_reason, fields_at_fault = await refusal(
            intake.CheckPossibleDuplicates, intake_pb2.CheckPossibleDuplicatesRequest(**fields)
        )
        assert (code, got_reason, fields_at_fault) == (grpc.StatusCode.INVALID_ARGUMENT, reason, [field]), (
            fields
        )
