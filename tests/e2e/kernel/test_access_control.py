"""Authentication, authorisation and the access log: one test per rule, on real
servers and processes, with real tokens and real row-level security."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import asyncpg
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

from kernel.auth import Role, mint
from kernel.db import Pool
from tests.conftest import AGENT, TERRITORIES, AppStack

BAR_LE_DUC = "55029"
LIGNY = "55291"


async def open_in(stack: AppStack, territory: str, token: str | None = None) -> str:
    async with stack.channel("intake", token) as channel:
        response = await intake_pb2_grpc.IntakeServiceStub(channel).OpenDossier(
            intake_pb2.OpenDossierRequest(
                request_id=uuid.uuid4().hex,
                territory=territory,
                motifs=["logement"],
                arrival_channel="telephone",
            ),
            timeout=15,
        )
    return str(response.dossier.dossier_id)


async def call(stack: AppStack, token: str | None, method: str, request: Any, service: str = "intake") -> Any:
    stubs = {
        "intake": intake_pb2_grpc.IntakeServiceStub,
        "reporting": reporting_pb2_grpc.ReportingServiceStub,
        "referral": referral_pb2_grpc.ReferralServiceStub,
    }
    async with stack.channel(service, token if token is not None else "") as channel:
        return await getattr(stubs[service](channel), method)(request, timeout=15)


async def code_of(
    stack: AppStack, token: str | None, method: str, request: Any, service: str = "intake"
) -> Any:
    try:
        await call(stack, token, method, request, service)
    except grpc.aio.AioRpcError as error:
        return error.code()
    return grpc.StatusCode.OK


# ---- authentication ---------------------------------------------------------------------


async def test_missing_bad_or_expired_token_is_unauthenticated(app_stack: AppStack) -> None:
    request = intake_pb2.ListReferenceDataRequest()
    secret = app_stack.env["ENTRAIDE_JWT_SECRET"]
    tokens = {
        "missing": "",
        "garbage": "not-a-jwt",
        "wrong key": mint(
            "another-deployment-secret-key-that-is-long", AGENT, Role.TRAVAILLEUR_SOCIAL, TERRITORIES
        ),
        "expired": mint(secret, AGENT, Role.TRAVAILLEUR_SOCIAL, TERRITORIES, ttl_s=-120),
        "wrong audience": mint(secret, AGENT, Role.TRAVAILLEUR_SOCIAL, TERRITORIES, audience="another-app"),
    }
    for label, token in tokens.items():
        assert (
            await code_of(app_stack, token, "ListReferenceData", request) == grpc.StatusCode.UNAUTHENTICATED
        ), label
    assert await code_of(app_stack, None, "ListReferenceData", request) == grpc.StatusCode.UNAUTHENTICATED


# ---- roles -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "method", "request_type", "allowed"),
    [
        (Role.ELU, "OpenDossier", intake_pb2.OpenDossierRequest, False),
        (Role.ELU, "GetDossier", intake_pb2.GetDossierRequest, False),
        (Role.OPS, "GetDossierTimeline", intake_pb2.GetDossierRequest, False),
        (Role.PARTENAIRE, "GetDossier", intake_pb2.GetDossierRequest, False),
        (Role.PARTENAIRE, "CreatePerson", intake_pb2.CreatePersonRequest, False),
        (Role.ACCUEIL, "RecordInterview", intake_pb2.RecordInterviewRequest, False),
        (Role.ACCUEIL, "GetDossierTimeline", intake_pb2.GetDossierRequest, True),
        (Role.ACCUEIL, "MergePersons", intake_pb2.MergePersonsRequest, False),
        (Role.ACCUEIL, "GetDossier", intake_pb2.GetDossierRequest, True),
        (Role.TRAVAILLEUR_SOCIAL, "GetDossierTimeline", intake_pb2.GetDossierRequest, True),
        (Role.ACCUEIL, "SearchPersons", intake_pb2.SearchPersonsRequest, True),
        (Role.ELU, "SearchPersons", intake_pb2.SearchPersonsRequest, False),
        (Role.PARTENAIRE, "CheckPossibleDuplicates", intake_pb2.CheckPossibleDuplicatesRequest, False),
        (Role.ACCUEIL, "CheckPossibleDuplicates", intake_pb2.CheckPossibleDuplicatesRequest, True),
        (Role.OPS, "ListDossiers", intake_pb2.ListDossiersRequest, False),
        (Role.ACCUEIL, "ListTasks", intake_pb2.ListTasksRequest, False),
        (Role.ELU, "ListTasks", intake_pb2.ListTasksRequest, False),
        (Role.TRAVAILLEUR_SOCIAL, "ListTasks", intake_pb2.ListTasksRequest, True),
        (Role.RESPONSABLE, "ListTasks", intake_pb2.ListTasksRequest, True),
    ],
)
async def test_each_role_calls_only_its_methods(
    app_stack: AppStack, role: Role, method: str, request_type: Any, allowed: bool
) -> None:
    dossier_id = await open_in(app_stack, BAR_LE_DUC)
    token = app_stack.token(
        "someone", role, [BAR_LE_DUC], partner_id="caf-meuse" if role is Role.PARTENAIRE else ""
    )
    fields = {"dossier_id": dossier_id} if "dossier_id" in request_type.DESCRIPTOR.fields_by_name else {}
    code = await code_of(app_stack, token, method, request_type(**fields))
    assert (code != grpc.StatusCode.PERMISSION_DENIED) is allowed, code


LINK_TOKEN = f"{uuid.uuid4().hex}.{uuid.uuid4().hex}.4102444800.{'A' * 43}"


@pytest.mark.parametrize(
    ("role", "method", "message", "allowed"),
    [
        # A partner's signed link is presented by the console only (role service).
        (role, method, message, role is Role.SERVICE)
        for role in Role
        for method, message in [
            ("ReadReferralByLink", referral_pb2.ReadReferralByLinkRequest(link_token=LINK_TOKEN)),
            (
                "AnswerReferralByLink",
                referral_pb2.AnswerReferralByLinkRequest(link_token=LINK_TOKEN, action="accept"),
            ),
        ]
    ]
    + [
        # Links are made by the referring agents and the platform, revoked by the agents.
        (role, "CreateReferralLink", referral_pb2.CreateReferralLinkRequest(), allowed)
        for role, allowed in [
            (Role.TRAVAILLEUR_SOCIAL, True),
            (Role.RESPONSABLE, True),
            (Role.SERVICE, True),
            (Role.ACCUEIL, False),
            (Role.PARTENAIRE, False),
            (Role.ELU, False),
            (Role.OPS, False),
        ]
    ]
    + [
        (role, "RevokeReferralLink", referral_pb2.RevokeReferralLinkRequest(), allowed)
        for role, allowed in [
            (Role.TRAVAILLEUR_SOCIAL, True),
            (Role.RESPONSABLE, True),
            (Role.SERVICE, False),
            (Role.PARTENAIRE, False),
        ]
    ],
    ids=lambda value: value.value if isinstance(value, Role) else None,
)
async def test_each_role_calls_only_its_referral_link_methods(
    app_stack: AppStack, role: Role, method: str, message: Any, allowed: bool
) -> None:
    token = app_stack.token(
        "someone", role, [BAR_LE_DUC], partner_id="caf-meuse" if role is Role.PARTENAIRE else ""
    )
    code = await code_of(app_stack, token, method, message, "referral")
    assert (code != grpc.StatusCode.PERMISSION_DENIED) is allowed, code
    if allowed and method.endswith("ByLink"):
        assert code == grpc.StatusCode.NOT_FOUND  # an unsigned token: LINK_INVALID


async def test_elus_see_aggregates_of_their_territories_only(app_stack: AppStack) -> None:
    await open_in(app_stack, LIGNY)
    elu = app_stack.token("elu-ligny", Role.ELU, [LIGNY])
    counts = await call(app_stack, elu, "GetMotifCounts", reporting_pb2.GetMotifCountsRequest(), "reporting")
    assert counts.dossiers >= 1
    denied = await code_of(
        app_stack,
        elu,
        "GetMotifCounts",
        reporting_pb2.GetMotifCountsRequest(territory=BAR_LE_DUC),
        "reporting",
    )
    assert denied == grpc.StatusCode.PERMISSION_DENIED


# ---- territories (code and database) ------------------------------------------------------


async def test_agents_see_only_their_territories_dossiers(app_stack: AppStack) -> None:
    in_ligny = await open_in(app_stack, LIGNY)
    bar_agent = app_stack.token("agent-bar", Role.TRAVAILLEUR_SOCIAL, [BAR_LE_DUC])
    for method, request in [
        ("GetDossier", intake_pb2.GetDossierRequest(dossier_id=in_ligny)),
        ("GetDossierTimeline", intake_pb2.GetDossierRequest(dossier_id=in_ligny)),
        ("RecordInterview", intake_pb2.RecordInterviewRequest(dossier_id=in_ligny)),
        ("ListDossiers", intake_pb2.ListDossiersRequest(territory=LIGNY)),
        ("ListDossiers", intake_pb2.ListDossiersRequest(territories=[BAR_LE_DUC, LIGNY])),
        ("ListTasks", intake_pb2.ListTasksRequest(territories=[LIGNY])),
        (
            "CheckPossibleDuplicates",
            intake_pb2.CheckPossibleDuplicatesRequest(territory=LIGNY, phone="0612345678"),
        ),
        (
            "OpenDossier",
            intake_pb2.OpenDossierRequest(
                request_id="x1", territory=LIGNY, motifs=["logement"], arrival_channel="telephone"
            ),
        ),
        (
            "CreatePerson",
            intake_pb2.CreatePersonRequest(request_id="p1", territory=LIGNY, first_name="A", last_name="B"),
        ),
    ]:
        assert await code_of(app_stack, bar_agent, method, request) == grpc.StatusCode.PERMISSION_DENIED, (
            method
        )


@pytest.fixture
def app_connection_dsn(app_stack: AppStack) -> Iterator[str]:
    yield app_stack.settings.database_url


async def test_row_level_security_filters_in_the_database(app_stack: AppStack, pool: Pool) -> None:
    in_bar = await open_in(app_stack, BAR_LE_DUC)
    in_ligny = await open_in(app_stack, LIGNY)
    conn = await asyncpg.connect(app_stack.settings.database_url, server_settings={"role": "entraide_app"})
    try:

        async def visible(territories: str) -> set[str]:
            await conn.execute("SELECT set_config('entraide.territories', $1, false)", territories)
            rows = await conn.fetch(
                "SELECT dossier_id::text FROM intake.dossiers WHERE dossier_id = ANY($1::uuid[])",
                [in_bar, in_ligny],
            )
            return {r["dossier_id"] for r in rows}

        assert await visible(BAR_LE_DUC) == {in_bar}
        assert await visible(f"{BAR_LE_DUC},{LIGNY}") == {in_bar, in_ligny}
        assert await visible("") == set()
        with pytest.raises(asyncpg.InsufficientPrivilegeError):  # WITH CHECK: cannot write elsewhere
            await conn.execute("SELECT set_config('entraide.territories', $1, false)", BAR_LE_DUC)
            await conn.execute(
                "UPDATE intake.dossiers SET territory = $2 WHERE dossier_id = $1", in_bar, LIGNY
            )
    finally:
        await conn.close()
    async with pool.acquire() as admin:
        tables = await admin.fetch(
            """SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, pg_get_userbyid(c.relowner) AS owner
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = 'intake' AND c.relkind = 'r' AND c.relname IN
                      ('dossiers', 'dossier_timeline', 'notes', 'persons', 'households', 'household_members',
                       'consents')"""
        )
        is_superuser = await admin.fetchval(
            "SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = 'entraide_app'"
        )
    assert len(tables) == 7
    assert all(
        t["relrowsecurity"] and t["relforcerowsecurity"] and t["owner"] != "entraide_app" for t in tables
    )
    assert is_superuser is False


async def test_a_private_note_is_visible_to_nobody_else(app_stack: AppStack) -> None:
    dossier_id = await open_in(app_stack, BAR_LE_DUC)
    author = app_stack.token("agent-a", Role.TRAVAILLEUR_SOCIAL, [BAR_LE_DUC])
    colleague = app_stack.token("agent-b", Role.RESPONSABLE, [BAR_LE_DUC])
    await call(
        app_stack,
        author,
        "RecordInterview",
        intake_pb2.RecordInterviewRequest(dossier_id=dossier_id, notes="confidentiel", visibility="author"),
    )
    mine = await call(
        app_stack, author, "GetDossierTimeline", intake_pb2.GetDossierRequest(dossier_id=dossier_id)
    )
    theirs = await call(
        app_stack, colleague, "GetDossierTimeline", intake_pb2.GetDossierRequest(dossier_id=dossier_id)
    )
    assert [i.notes for i in mine.interviews] == ["confidentiel"]
    assert list(theirs.interviews) == []
    # Asking to read as someone else is refused: the reader is the token's subject.
    impersonation = await code_of(
        app_stack,
        colleague,
        "GetDossierTimeline",
        intake_pb2.GetDossierRequest(dossier_id=dossier_id, agent="agent-a"),
    )
    assert impersonation == grpc.StatusCode.INVALID_ARGUMENT


# ---- access log ----------------------------------------------------------------------------


async def test_reception_reads_the_steps_of_a_dossier_but_no_note(app_stack: AppStack, pool: Pool) -> None:
    dossier_id = await open_in(app_stack, BAR_LE_DUC)
    author = app_stack.token("agent-a", Role.TRAVAILLEUR_SOCIAL, [BAR_LE_DUC])
    await call(
        app_stack,
        author,
        "RecordInterview",
        intake_pb2.RecordInterviewRequest(
            dossier_id=dossier_id, notes="ce qui a été confié", visibility="team"
        ),
    )
    reception = app_stack.token("accueil-a", Role.ACCUEIL, [BAR_LE_DUC])
    seen = await call(
        app_stack, reception, "GetDossierTimeline", intake_pb2.GetDossierRequest(dossier_id=dossier_id)
    )
    assert [e.kind for e in seen.entries] == ["opened", "interview"]
    assert not seen.notes and not seen.interviews and not any(e.HasField("note") for e in seen.entries)
    # The database agrees: no note row is visible to the accueil role, even a team note.
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL ROLE entraide_app")
        await conn.execute(
            "SELECT set_config('entraide.territories', $1, true), "
            " set_config('entraide.role', 'accueil', true),"
            " set_config('entraide.subject', 'accueil-a', true)",
            BAR_LE_DUC,
        )
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM intake.notes WHERE dossier_id = $1", uuid.UUID(dossier_id)
            )
            == 0
        )


async def test_every_read_and_write_is_in_the_access_log(app_stack: AppStack, pool: Pool) -> None:
    token = app_stack.token("agent-journal", Role.TRAVAILLEUR_SOCIAL, [BAR_LE_DUC])
    dossier_id = await open_in(app_stack, BAR_LE_DUC, token)
    await call(app_stack, token, "GetDossier", intake_pb2.GetDossierRequest(dossier_id=dossier_id))
    async with app_stack.channel("intake", token) as channel:
        await intake_pb2_grpc.IntakeServiceStub(channel).GetDossierTimeline(
            intake_pb2.GetDossierRequest(dossier_id=dossier_id),
            metadata=[("x-entraide-purpose", quote("préparation RDV"))],
        )
    outsider = app_stack.token("agent-ligny", Role.TRAVAILLEUR_SOCIAL, [LIGNY])
    await code_of(app_stack, outsider, "GetDossier", intake_pb2.GetDossierRequest(dossier_id=dossier_id))
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT actor, role, action, method, purpose FROM audit.access_log"
            " WHERE resource_type = 'dossier' AND resource_id = $1 ORDER BY id",
            dossier_id,
        )
    seen = [(r["actor"], r["action"], r["method"].rsplit("/", 1)[-1], r["purpose"]) for r in rows]
    assert seen == [
        ("agent-journal", "write", "OpenDossier", "accueil"),
        ("agent-journal", "read", "GetDossier", "consultation du dossier"),
        ("agent-journal", "read", "GetDossierTimeline", "préparation RDV"),
        ("agent-ligny", "denied", "GetDossier", "consultation du dossier"),
    ]


async def test_each_person_and_dossier_a_caseload_read_returns_is_in_the_access_log(
    app_stack: AppStack, pool: Pool
) -> None:
    tag = uuid.uuid4().hex[:10]
    token = app_stack.token(f"agent-{tag}", Role.TRAVAILLEUR_SOCIAL, [BAR_LE_DUC])
    person = await call(
        app_stack,
        token,
        "CreatePerson",
        intake_pb2.CreatePersonRequest(
            request_id=tag,
            territory=BAR_LE_DUC,
            first_name="Lise",
            last_name=f"Journal{tag}",
            birth_date="1980-01-01",
        ),
    )
    person_id = person.person.person_id
    dossier_id = await open_in(app_stack, BAR_LE_DUC, token)
    await call(app_stack, token, "SearchPersons", intake_pb2.SearchPersonsRequest(name=f"journal{tag}"))
    await call(
        app_stack,
        token,
        "CheckPossibleDuplicates",
        intake_pb2.CheckPossibleDuplicatesRequest(
            territory=BAR_LE_DUC, first_name="Lise", last_name=f"Journal{tag}", birth_date="1980-01-01"
        ),
    )
    await call(app_stack, token, "ListDossiers", intake_pb2.ListDossiersRequest(territory=BAR_LE_DUC))
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT method, resource_type, resource_id, action FROM audit.access_log"
            " WHERE actor = $1 ORDER BY id",
            f"agent-{tag}",
        )
    seen = {(r["method"].rsplit("/", 1)[-1], r["resource_type"], r["resource_id"], r["action"]) for r in rows}
    assert {
        ("SearchPersons", "person", person_id, "read"),
        ("CheckPossibleDuplicates", "person", person_id, "read"),
        ("ListDossiers", "dossier", dossier_id, "read"),
    } <= seen


async def test_the_access_log_is_append_only(pool: Pool, app_stack: AppStack) -> None:
    async with pool.acquire() as conn:  # even the superuser
        await conn.execute(
            """INSERT INTO audit.access_log
                   (service, actor, role, action, method, resource_type, resource_id, purpose)
               VALUES ('t', 'a', 'ops', 'read', 'm', 'dossier', 'x', 'test')"""
        )
        for statement in (
            "UPDATE audit.access_log SET actor = 'someone else'",
            "DELETE FROM audit.access_log",
            "TRUNCATE audit.access_log",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
                await conn.execute(statement)
        with pytest.raises(asyncpg.RaiseError, match="at least 6 months"):
            await conn.fetchval("SELECT audit.purge(interval '1 day')")
        assert await conn.fetchval("SELECT count(*) FROM audit.access_log") >= 1
