"""Rights of the person (docs/domain.md rule 5) end to end, through intake's gRPC API on the
real processes: export everything (private notes of another agent included), rectify,
anonymise on request (the bilan's figures do not move), and who may do it."""

from __future__ import annotations

import json
import random
import string
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import asyncpg
import grpc
import pytest
from entraide.v1 import events_pb2, intake_pb2, intake_pb2_grpc, reporting_pb2, reporting_pb2_grpc

from kernel.auth import Role
from tests.conftest import AGENT, TERRITORIES, AppStack
from tests.helpers import eventually

if TYPE_CHECKING:
    from entraide.v1.intake_pb2_grpc import IntakeServiceAsyncStub as Stub
    from entraide.v1.reporting_pb2_grpc import ReportingServiceAsyncStub as ReportingStub

RESPONSABLE = "resp-1"
OTHER_AGENT = "agent-durand"
TERRITORY = "55029"


def letters(n: int = 8) -> str:
    return "".join(random.choices(string.ascii_lowercase, k=n))


@pytest.fixture
async def agent(app_stack: AppStack) -> AsyncIterator[Stub]:
    async with app_stack.channel("intake") as channel:
        yield intake_pb2_grpc.IntakeServiceStub(channel)


@pytest.fixture
async def other_agent(app_stack: AppStack) -> AsyncIterator[Stub]:
    token = app_stack.token(OTHER_AGENT, Role.TRAVAILLEUR_SOCIAL, TERRITORIES)
    async with app_stack.channel("intake", token) as channel:
        yield intake_pb2_grpc.IntakeServiceStub(channel)


@pytest.fixture
async def responsable(app_stack: AppStack) -> AsyncIterator[Stub]:
    token = app_stack.token(RESPONSABLE, Role.RESPONSABLE, TERRITORIES)
    async with app_stack.channel("intake", token) as channel:
        yield intake_pb2_grpc.IntakeServiceStub(channel)


@pytest.fixture
async def reporting(app_stack: AppStack) -> AsyncIterator[ReportingStub]:
    token = app_stack.token(RESPONSABLE, Role.RESPONSABLE, TERRITORIES)
    async with app_stack.channel("reporting", token) as channel:
        yield reporting_pb2_grpc.ReportingServiceStub(channel)


@dataclass
class Case:
    """A person with a household, a consent and a closed dossier with notes."""

    person: intake_pb2.Person
    household_id: str
    dossier: intake_pb2.Dossier
    # Words that only this case's personal data contains.
    secrets: list[str]
    private_note: str
    team_note: str


async def make_case(agent: Stub, other_agent: Stub) -> Case:
    marker = letters(10)
    first_name, last_name = f"Zoé{letters(5)}", f"Lefèvre{letters(6)}"
    phone = "06" + "".join(random.choices(string.digits, k=8))
    email = f"{letters()}@example.fr"
    address = f"{random.randint(1, 99)} rue {letters(7)}"
    birth_date = f"{random.randint(1920, 2005)}-{random.randint(1, 12):02d}-{random.randint(1, 28):02d}"
    created = await agent.CreatePerson(
        intake_pb2.CreatePersonRequest(
            request_id=uuid.uuid4().hex,
            territory=TERRITORY,
            first_name=first_name,
            last_name=last_name,
            birth_date=birth_date,
            phone=phone,
            email=email,
            address_commune=TERRITORY,
            address_line=address,
        ),
        timeout=10,
    )
    person = created.person
    household = await agent.CreateHousehold(
        intake_pb2.CreateHouseholdRequest(territory=TERRITORY, member_ids=[person.person_id]), timeout=10
    )
    opened = await agent.OpenDossier(
        intake_pb2.OpenDossierRequest(
            request_id=uuid.uuid4().hex,
            territory=TERRITORY,
            motifs=["logement", "violences_conjugales"],
            arrival_channel="visite_spontanee",
            person_id=person.person_id,
            household_id=household.household_id,
        ),
        timeout=15,
    )
    dossier_id = opened.dossier.dossier_id
    team_note = f"Expulsion annoncée {marker}-team"
    private_note = f"Violences signalées {marker}-private"
    await agent.RecordInterview(
        intake_pb2.RecordInterviewRequest(dossier_id=dossier_id, notes=team_note, visibility="team"),
        timeout=15,
    )
    await other_agent.RecordInterview(
        intake_pb2.RecordInterviewRequest(dossier_id=dossier_id, notes=private_note, visibility="author"),
        timeout=15,
    )
    await agent.CompleteEcoute(
        intake_pb2.CompleteEcouteRequest(dossier_id=dossier_id, next_stage="suivi"), timeout=15
    )
    await agent.RecordFollowUp(
        intake_pb2.RecordFollowUpRequest(dossier_id=dossier_id, notes=f"Appel CAF {marker}-follow"),
        timeout=15,
    )
    await agent.RecordConsent(
        intake_pb2.RecordConsentRequest(
            person_id=person.person_id,
            dossier_id=dossier_id,
            partner_id="cresus",
            data_scope=["identite", "contact"],
            kind="consent",
            channel="oral",
        ),
        timeout=10,
    )
    closed = await agent.CloseDossier(
        intake_pb2.CloseDossierRequest(
            dossier_id=dossier_id, outcome="regle", notes=f"Maintien dans le logement {marker}-close"
        ),
        timeout=15,
    )
    return Case(
        person=person,
        household_id=household.household_id,
        dossier=closed.dossier,
        # (The birth date is checked on the person's row: another person may share it.)
        secrets=[marker, first_name, last_name, phone, email, address],
        private_note=private_note,
        team_note=team_note,
    )


async def refused(call: Any, request: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await call(request, timeout=10)
    return error.value


async def facts(pool: asyncpg.Pool, dossier_id: str) -> dict[str, Any] | None:
    async with pool.acquire() as conn:
        row = await conn.fetchrow("SELECT * FROM reporting.dossier_facts WHERE dossier_id = $1", dossier_id)
    return dict(row) if row is not None else None


async def where_found(pool: asyncpg.Pool, text: str) -> list[str]:
    """Intake tables (every column, as text) and outbox payloads containing `text`."""
    found = []
    async with pool.acquire() as conn:
        for table in ("persons", "notes", "dossiers", "dossier_timeline", "consents", "households"):
            hit = await conn.fetchval(
                f"SELECT count(*) FROM intake.{table} t WHERE t::text ILIKE '%' || $1 || '%'", text
            )
            if hit:
                found.append(table)
        in_events = await conn.fetchval(
            """SELECT count(*) FROM intake.outbox
                WHERE position(convert_to($1, 'UTF8') IN data) > 0 OR ce_subject ILIKE '%' || $1 || '%'""",
            text,
        )
        if in_events:
            found.append("outbox")
    return found


async def motif_counts(reporting: ReportingStub, dossier: intake_pb2.Dossier) -> reporting_pb2.MotifCounts:
    request = reporting_pb2.GetMotifCountsRequest(territory=dossier.territory)
    getattr(request, "from").CopyFrom(dossier.opened_at)
    end = dossier.opened_at.ToDatetime() + timedelta(seconds=1)
    request.to.FromDatetime(end)
    return await reporting.GetMotifCounts(request, timeout=10)


# ---------------------------------------------------------------- export (right of access)


async def test_export_returns_everything_including_interviews_and_referrals(
    agent: Stub, other_agent: Stub, responsable: Stub, pool: asyncpg.Pool
) -> None:
    case = await make_case(agent, other_agent)
    reply = await responsable.ExportPerson(
        intake_pb2.ExportPersonRequest(person_id=case.person.person_id), timeout=10
    )
    assert reply.person_id == case.person.person_id
    document = json.loads(reply.json)

    person = document["person"]
    assert person["person_id"] == case.person.person_id
    assert (person["first_name"], person["last_name"]) == (case.person.first_name, case.person.last_name)
    assert (person["birth_date"], person["phone"], person["email"]) == (
        case.person.birth_date,
        case.person.phone,
        case.person.email,
    )
    assert (person["address_commune"], person["address_line"]) == (TERRITORY, case.person.address_line)
    assert document["merged_records"] == []
    assert [h["household_id"] for h in document["households"]] == [case.household_id]
    assert document["households"][0]["member_ids"] == [case.person.person_id]
    (consent,) = document["consents"]
    assert (consent["partner_id"], consent["data_scope"], consent["agent"]) == (
        "cresus",
        ["identite", "contact"],
        AGENT,
    )
    (dossier,) = document["dossiers"]
    assert dossier["dossier_id"] == case.dossier.dossier_id
    assert (dossier["stage"], dossier["outcome"]) == ("cloture", "regle")
    assert dossier["motifs"] == ["logement", "violences_conjugales"]
    assert [t["kind"] for t in dossier["timeline"]] == [
        "opened",
        "interview",
        "interview",
        "ecoute_completed",
        "follow_up",
        "closed",
    ]
    notes = {(n["kind"], n["author"], n["visibility"]): n["body"] for n in dossier["notes"]}
    # Every note, including the interview private to another agent.
    assert notes[("interview", AGENT, "team")] == case.team_note
    assert notes[("interview", OTHER_AGENT, "author")] == case.private_note
    assert {kind for kind, _, _ in notes} == {"interview", "follow_up", "closure"}
    # Referrals are not built yet: the export already has their (empty) place.
    assert document["referrals"] == []

    # The access log records who exported whom, and why.
    async with pool.acquire() as conn:
        logged = await conn.fetch(
            """SELECT * FROM audit.access_log
                WHERE method LIKE '%/ExportPerson' AND resource_id = $1""",
            case.person.person_id,
        )
    assert logged
    assert {(r["actor"], r["role"], r["action"], r["resource_type"], r["purpose"]) for r in logged} == {
        (RESPONSABLE, "responsable", "read", "person", "droit d'accès")
    }


async def test_the_private_note_is_not_shown_to_the_team_but_is_exported(
    agent: Stub, other_agent: Stub, responsable: Stub
) -> None:
    case = await make_case(agent, other_agent)
    timeline = await agent.GetDossierTimeline(
        intake_pb2.GetDossierRequest(dossier_id=case.dossier.dossier_id), timeout=10
    )
    assert case.private_note not in [i.notes for i in timeline.interviews]
    reply = await responsable.ExportPerson(
        intake_pb2.ExportPersonRequest(person_id=case.person.person_id), timeout=10
    )
    assert case.private_note in reply.json


async def test_export_of_a_merged_person_gathers_both_records(agent: Stub, responsable: Stub) -> None:
    def request(first: str) -> intake_pb2.CreatePersonRequest:
        return intake_pb2.CreatePersonRequest(
            request_id=uuid.uuid4().hex, territory=TERRITORY, first_name=first, last_name="Martin" + letters()
        )

    keep = (await agent.CreatePerson(request("Paul"), timeout=10)).person
    duplicate = (await agent.CreatePerson(request("Pol"), timeout=10)).person
    await responsable.MergePersons(
        intake_pb2.MergePersonsRequest(keep_id=keep.person_id, duplicate_id=duplicate.person_id), timeout=10
    )
    reply = await responsable.ExportPerson(
        intake_pb2.ExportPersonRequest(person_id=duplicate.person_id), timeout=10
    )
    document = json.loads(reply.json)
    assert document["person"]["person_id"] == keep.person_id
    assert [r["person_id"] for r in document["merged_records"]] == [duplicate.person_id]
    assert document["merged_records"][0]["first_name"] == "Pol"


# ---------------------------------------------------------------- rectification


async def test_rectify_changes_the_fields_given_and_keeps_the_others(
    agent: Stub, other_agent: Stub, responsable: Stub, pool: asyncpg.Pool
) -> None:
    case = await make_case(agent, other_agent)
    new_last = "Lefebvre" + letters(6)
    rectified = await responsable.RectifyPerson(
        intake_pb2.RectifyPersonRequest(
            person_id=case.person.person_id,
            last_name=f" {new_last} ",
            phone="+33 7 11 22 33 44",
            address_commune="55291",
            reason="erreur de saisie signalée par la personne",
        ),
        timeout=10,
    )
    assert (rectified.last_name, rectified.phone, rectified.address_commune) == (
        new_last,
        "0711223344",
        "55291",
    )
    assert (rectified.first_name, rectified.birth_date, rectified.email, rectified.address_line) == (
        case.person.first_name,
        case.person.birth_date,
        case.person.email,
        case.person.address_line,
    )
    assert list(rectified.household_ids) == [case.household_id]
    assert await agent.GetPerson(intake_pb2.GetPersonRequest(person_id=case.person.person_id)) == rectified
    async with pool.acquire() as conn:
        name_key = await conn.fetchval(
            "SELECT name_key FROM intake.persons WHERE person_id = $1", uuid.UUID(case.person.person_id)
        )
        events = await conn.fetch(
            "SELECT * FROM intake.outbox WHERE ce_subject = $1 AND ce_type = 'entraide.person.rectified'",
            case.person.person_id,
        )
    assert name_key == f"{new_last.lower()}|{case.person.first_name.lower().replace('é', 'e')}"
    (event,) = events
    payload = events_pb2.PersonRectified.FromString(event["data"])
    assert (payload.person_id, payload.territory) == (case.person.person_id, TERRITORY)
    assert new_last.encode() not in event["data"] and b"0711223344" not in event["data"]

    # The same rectification again changes nothing and writes no event.
    again = await responsable.RectifyPerson(
        intake_pb2.RectifyPersonRequest(person_id=case.person.person_id, last_name=new_last), timeout=10
    )
    assert again == rectified
    async with pool.acquire() as conn:
        count = await conn.fetchval(
            """SELECT count(*) FROM intake.outbox
                WHERE ce_subject = $1 AND ce_type = 'entraide.person.rectified'""",
            case.person.person_id,
        )
    assert count == 1


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, "give at least one field to rectify"),
        ({"birth_date": "2999-01-01"}, "birth_date cannot be in the future"),
        ({"birth_date": "02/11/1979"}, "birth_date must be a date written YYYY-MM-DD"),
        ({"email": "not-an-email"}, "email must look like name@example.fr"),
        ({"phone": "12"}, "phone must have 10 to 15 digits"),
        ({"first_name": "---"}, "first_name must contain at least one letter"),
        ({"last_name": "x" * 101}, "last_name is at most 100 characters"),
        ({"address_commune": "99999"}, "address_commune '99999' is not a commune"),
        ({"address_line": "1 rue\nde la Paix"}, "address_line must not contain control characters"),
        ({"first_name": "Zoé", "reason": "a\tb"}, "reason must not contain control characters"),
    ],
)
async def test_rectify_refuses_bad_input(
    agent: Stub, responsable: Stub, fields: dict[str, str], expected: str
) -> None:
    person = (
        await agent.CreatePerson(
            intake_pb2.CreatePersonRequest(
                request_id=uuid.uuid4().hex, territory=TERRITORY, first_name="Ana", last_name="B" + letters()
            ),
            timeout=10,
        )
    ).person
    error = await refused(
        responsable.RectifyPerson, intake_pb2.RectifyPersonRequest(person_id=person.person_id, **fields)
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert expected in (error.details() or "")
    assert "not-an-email" not in (error.details() or "")  # personal values are never quoted
    unchanged = await agent.GetPerson(intake_pb2.GetPersonRequest(person_id=person.person_id), timeout=10)
    assert unchanged == person


async def test_rectify_unknown_or_malformed_person(responsable: Stub) -> None:
    error = await refused(
        responsable.RectifyPerson,
        intake_pb2.RectifyPersonRequest(person_id=str(uuid.uuid4()), first_name="Ana"),
    )
    assert error.code() == grpc.StatusCode.NOT_FOUND
    error = await refused(
        responsable.RectifyPerson, intake_pb2.RectifyPersonRequest(person_id="nope", first_name="Ana")
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT


# ---------------------------------------------------------------- anonymisation


async def test_anonymisation_leaves_the_bilans_figures_identical(
    agent: Stub,
    other_agent: Stub,
    responsable: Stub,
    reporting: ReportingStub,
    pool: asyncpg.Pool,
) -> None:
    case = await make_case(agent, other_agent)
    dossier_id = case.dossier.dossier_id
    for secret in case.secrets:
        assert await where_found(pool, secret), secret  # the probe finds the data before
    # The bilan has seen the whole lifecycle before the anonymisation.
    before = await eventually(
        lambda: facts(pool, dossier_id), lambda f: f is not None and f["outcome"] == "regle", timeout=15
    )
    counts_before = await motif_counts(reporting, case.dossier)
    assert counts_before.dossiers >= 1

    reply = await responsable.AnonymisePerson(
        intake_pb2.AnonymisePersonRequest(person_id=case.person.person_id, reason="demande écrite"),
        timeout=10,
    )
    assert (reply.person_id, reply.dossiers, reply.notes) == (case.person.person_id, 1, 4)

    # Identity, contact and free text are gone from every intake table and event.
    for secret in case.secrets:
        assert await where_found(pool, secret) == [], secret
    person = await agent.GetPerson(intake_pb2.GetPersonRequest(person_id=case.person.person_id), timeout=10)
    assert (person.first_name, person.last_name, person.birth_date, person.phone, person.email) == (
        "ANONYME",
        "ANONYME",
        "",
        "",
        "",
    )
    # Codes survive: commune of residence, household, consent (legal trace), dossier codes.
    assert (person.territory, person.address_commune, list(person.household_ids)) == (
        TERRITORY,
        TERRITORY,
        [case.household_id],
    )
    consents = await agent.ListConsents(
        intake_pb2.ListConsentsRequest(person_id=case.person.person_id), timeout=10
    )
    assert [(c.partner_id, c.agent) for c in consents.consents] == [("cresus", AGENT)]
    dossier = await agent.GetDossier(intake_pb2.GetDossierRequest(dossier_id=dossier_id), timeout=10)
    assert (list(dossier.motifs), dossier.arrival_channel, dossier.stage, dossier.outcome) == (
        ["logement", "violences_conjugales"],
        "visite_spontanee",
        "cloture",
        "regle",
    )
    async with pool.acquire() as conn:
        notes = await conn.fetch(
            "SELECT body, erased_at, author FROM intake.notes WHERE dossier_id = $1", uuid.UUID(dossier_id)
        )
        marks = await conn.fetchrow(
            """SELECT p.anonymised_at AS person_at, d.anonymised_at AS dossier_at
                 FROM intake.persons p JOIN intake.dossiers d ON d.person_id = p.person_id
                WHERE p.person_id = $1""",
            uuid.UUID(case.person.person_id),
        )
        (event,) = await conn.fetch(
            "SELECT * FROM intake.outbox WHERE ce_subject = $1 AND ce_type = 'entraide.person.anonymised'",
            case.person.person_id,
        )
    assert len(notes) == 4 and all(n["body"] == "" and n["erased_at"] is not None for n in notes)
    assert {n["author"] for n in notes} == {AGENT, OTHER_AGENT}
    assert marks is not None and marks["person_at"] is not None and marks["dossier_at"] is not None
    payload = events_pb2.PersonAnonymised.FromString(event["data"])
    assert (payload.person_id, payload.territory, list(payload.dossiers)) == (
        case.person.person_id,
        TERRITORY,
        [dossier_id],
    )

    # Once reporting has consumed the anonymisation event, its figures are unchanged.
    async def consumed() -> bool:
        async with pool.acquire() as conn:
            return bool(
                await conn.fetchval(
                    "SELECT EXISTS (SELECT 1 FROM reporting.inbox WHERE event_id = $1)", event["event_id"]
                )
            )

    await eventually(consumed, bool, timeout=15)
    assert await facts(pool, dossier_id) == before
    assert await motif_counts(reporting, case.dossier) == counts_before

    # A second request changes nothing more.
    again = await responsable.AnonymisePerson(
        intake_pb2.AnonymisePersonRequest(person_id=case.person.person_id), timeout=10
    )
    assert (again.dossiers, again.notes) == (1, 0)
    # An anonymised person has nothing left to rectify.
    error = await refused(
        responsable.RectifyPerson,
        intake_pb2.RectifyPersonRequest(person_id=case.person.person_id, first_name="Zoé"),
    )
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_anonymising_a_merged_duplicate_anonymises_the_person(agent: Stub, responsable: Stub) -> None:
    last_name = "Garnier" + letters()

    async def create(first: str) -> intake_pb2.Person:
        request = intake_pb2.CreatePersonRequest(
            request_id=uuid.uuid4().hex, territory=TERRITORY, first_name=first, last_name=last_name
        )
        return (await agent.CreatePerson(request, timeout=10)).person

    keep, duplicate = await create("Inès"), await create("Ines")
    await responsable.MergePersons(
        intake_pb2.MergePersonsRequest(keep_id=keep.person_id, duplicate_id=duplicate.person_id), timeout=10
    )
    reply = await responsable.AnonymisePerson(
        intake_pb2.AnonymisePersonRequest(person_id=duplicate.person_id), timeout=10
    )
    assert reply.person_id == keep.person_id
    for person_id in (keep.person_id, duplicate.person_id):
        person = await agent.GetPerson(intake_pb2.GetPersonRequest(person_id=person_id), timeout=10)
        assert (person.first_name, person.last_name) == ("ANONYME", "ANONYME")


# ---------------------------------------------------------------- who may


async def test_only_a_responsable_of_the_territory_may_exercise_rights(
    app_stack: AppStack, agent: Stub, other_agent: Stub, pool: asyncpg.Pool
) -> None:
    case = await make_case(agent, other_agent)
    person_id = case.person.person_id
    calls = (
        ("ExportPerson", intake_pb2.ExportPersonRequest(person_id=person_id)),
        ("RectifyPerson", intake_pb2.RectifyPersonRequest(person_id=person_id, first_name="Eve")),
        ("AnonymisePerson", intake_pb2.AnonymisePersonRequest(person_id=person_id)),
    )
    for role in (Role.TRAVAILLEUR_SOCIAL, Role.ACCUEIL, Role.ELU, Role.OPS):
        async with app_stack.channel("intake", app_stack.token("someone", role, TERRITORIES)) as channel:
            stub = intake_pb2_grpc.IntakeServiceStub(channel)
            for method, request in calls:
                error = await refused(getattr(stub, method), request)
                assert error.code() == grpc.StatusCode.PERMISSION_DENIED, (role, method)

    # A responsable of another commune: denied, and the denial is logged.
    elsewhere = [t for t in TERRITORIES if t != TERRITORY]
    token = app_stack.token("resp-ailleurs", Role.RESPONSABLE, elsewhere)
    async with app_stack.channel("intake", token) as channel:
        stub = intake_pb2_grpc.IntakeServiceStub(channel)
        for method, request in calls:
            error = await refused(getattr(stub, method), request)
            assert error.code() == grpc.StatusCode.PERMISSION_DENIED, method
            assert "territory" in (error.details() or "")
    async with pool.acquire() as conn:
        denied = await conn.fetchval(
            """SELECT count(*) FROM audit.access_log
                WHERE actor = 'resp-ailleurs' AND action = 'denied' AND resource_id = $1""",
            person_id,
        )
    assert denied == 3

    # Nothing was changed by the refused calls.
    person = await agent.GetPerson(intake_pb2.GetPersonRequest(person_id=person_id), timeout=10)
    assert (person.first_name, person.last_name, person.phone) == (
        case.person.first_name,
        case.person.last_name,
        case.person.phone,
    )
    async with pool.acquire() as conn:
        notes = await conn.fetchval(
            "SELECT count(*) FROM intake.notes WHERE dossier_id = $1 AND body <> ''",
            uuid.UUID(case.dossier.dossier_id),
        )
    assert notes == 4


async def test_rights_on_unknown_or_malformed_ids(responsable: Stub) -> None:
    for method, request_type in (
        ("ExportPerson", intake_pb2.ExportPersonRequest),
        ("AnonymisePerson", intake_pb2.AnonymisePersonRequest),
    ):
        call = getattr(responsable, method)
        assert (await refused(call, request_type(person_id=str(uuid.uuid4())))).code() == (
            grpc.StatusCode.NOT_FOUND
        )
        assert (await refused(call, request_type(person_id="12"))).code() == grpc.StatusCode.INVALID_ARGUMENT
        assert (await refused(call, request_type())).code() == grpc.StatusCode.INVALID_ARGUMENT
