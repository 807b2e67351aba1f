"""The console's guards, route by route: no page without a session, no form post
without its CSRF token, sessions shared by every console process and ended when idle,
and nothing of a person in the console's own tables or logs."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx2 as httpx
import pytest
from entraide.v1 import intake_pb2, intake_pb2_grpc
from starlette.routing import Route

from devstack import processes
from devstack.ports import free_port
from kernel import client
from kernel.auth import Role, mint
from kernel.settings import Settings
from services.console import pages
from tests.conftest import AppStack
from tests.e2e.services.console.conftest import AGENTS, Console, start_console

PAGE_ROUTES = [route for route in pages.ROUTES if isinstance(route, Route)]


def concrete(path: str) -> str:
    """A URL of a route, any id in it a fresh UUID."""
    return re.sub(r"\{[^}]+\}", lambda _: str(uuid.uuid4()), path)


def route_ids(route: Route) -> str:
    return f"{sorted(route.methods or [])}-{route.path}"


GET_ROUTES = [r for r in PAGE_ROUTES if "GET" in (r.methods or set())]
POST_ROUTES = [r for r in PAGE_ROUTES if "POST" in (r.methods or set())]


@pytest.mark.parametrize("route", GET_ROUTES, ids=route_ids)
def test_every_page_refuses_a_visitor_without_session(console: Console, route: Route) -> None:
    reply = httpx.get(f"{console.url}{concrete(route.path)}", follow_redirects=False)
    assert reply.status_code == 303, reply.text
    assert reply.headers["location"].startswith("/connexion?retour=")


@pytest.mark.parametrize("route", POST_ROUTES, ids=route_ids)
def test_every_form_refuses_a_visitor_without_session(console: Console, route: Route) -> None:
    reply = httpx.post(f"{console.url}{concrete(route.path)}", data={"x": "1"}, follow_redirects=False)
    assert reply.status_code == 303
    assert reply.headers["location"].startswith("/connexion")


async def _write_counts(database_url: str) -> tuple[int, ...]:
    conn = await asyncpg.connect(database_url)
    try:
        return tuple(
            [
                await conn.fetchval(f"SELECT count(*) FROM {table}")
                for table in (
                    "intake.dossiers",
                    "intake.dossier_timeline",
                    "intake.notes",
                    "intake.persons",
                    "intake.consents",
                )
            ]
        )
    finally:
        await conn.close()


async def test_every_form_refuses_a_post_without_its_csrf_token(
    console: Console, signed_in: dict[str, httpx.Client]
) -> None:
    http = signed_in["ts"]
    before = await _write_counts(console.env["DATABASE_URL"])
    for route in POST_ROUTES:
        for token in ("", "forged-" + uuid.uuid4().hex):
            data = {"request_id": str(uuid.uuid4()), "notes": "x", "motifs": "logement"}
            if token:
                data["csrf_token"] = token
            reply = http.post(concrete(route.path), data=data)
            assert reply.status_code == 403, (route.path, reply.status_code)
            assert "Formulaire refusé" in reply.text
    assert await _write_counts(console.env["DATABASE_URL"]) == before


@pytest.fixture(scope="module")
def second_console(app_stack: AppStack, console: Console, console_directory: Path) -> Iterator[str]:
    """A second console process on the same database (another node behind a balancer),
    with a 3-second idle timeout."""
    url = start_console(
        app_stack,
        console_directory,
        {
            "ENTRAIDE_CONSOLE_PORT": str(free_port()),
            "ENTRAIDE_CONSOLE_IDLE_TIMEOUT_S": "3",
            "ENTRAIDE_OIDC_ISSUER": console.provider.issuer,
            "ENTRAIDE_OIDC_CLIENT_ID": console.client.client_id,
            "ENTRAIDE_OIDC_CLIENT_SECRET": console.client.client_secret or "",
        },
        name="console-2",
    )
    try:
        yield url
    finally:
        processes.stop_process(app_stack.state_dir, "console-2")


def test_a_session_opened_on_one_console_serves_on_another(
    console: Console, signed_in: dict[str, httpx.Client], second_console: str
) -> None:
    cookies = signed_in["ts2"].cookies
    with httpx.Client(base_url=second_console, cookies=cookies, follow_redirects=False) as other:
        page = other.get("/taches")
        assert page.status_code == 200, page.text
        assert "Marc Henry" in page.text


def test_an_idle_session_ends_and_says_so(console: Console, second_console: str) -> None:
    http = console.sign_in(AGENTS["ts"])
    with httpx.Client(base_url=second_console, cookies=http.cookies, follow_redirects=False) as other:
        assert other.get("/taches").status_code == 200
        time.sleep(3.5)
        gone = other.get("/taches")
        assert gone.status_code == 303 and "expire=1" in gone.headers["location"]
        shown = other.get(gone.headers["location"])
        assert "Votre session a expiré" in shown.text
    # The idle timeout is the second console's; the first one's (30 min) still serves.
    assert http.get("/taches").status_code == 303  # the session row is gone for every node


async def test_the_console_keeps_no_person_data(console: Console, signed_in: dict[str, httpx.Client]) -> None:
    """After pages that showed a person's name and a note, the console's tables and log
    hold neither."""
    token = mint(console.env["ENTRAIDE_JWT_SECRET"], "ts.bar", Role.TRAVAILLEUR_SOCIAL, ["55029"])
    marker_name, marker_note = f"Zorglub{uuid.uuid4().hex[:6]}", f"secret-{uuid.uuid4().hex[:8]}"
    async with client.aio_channel(_address(console, "intake"), console.env, token) as channel:
        intake = intake_pb2_grpc.IntakeServiceStub(channel)
        person = await intake.CreatePerson(
            intake_pb2.CreatePersonRequest(
                request_id=str(uuid.uuid4()), territory="55029", first_name="Ana", last_name=marker_name
            )
        )
        opened = await intake.OpenDossier(
            intake_pb2.OpenDossierRequest(
                request_id=str(uuid.uuid4()),
                territory="55029",
                motifs=["logement"],
                arrival_channel="telephone",
                person_id=person.person.person_id,
            )
        )
        await intake.RecordInterview(
            intake_pb2.RecordInterviewRequest(
                dossier_id=opened.dossier.dossier_id, notes=marker_note, request_id=str(uuid.uuid4())
            )
        )
    http = signed_in["ts"]
    page = http.get(f"/dossiers/{opened.dossier.dossier_id}")
    assert page.status_code == 200 and marker_name in page.text and marker_note in page.text
    assert http.get(f"/personnes/{person.person.person_id}").status_code == 200
    conn = await asyncpg.connect(console.env["DATABASE_URL"])
    try:
        tables = await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'console'"
        )
        for table in tables:
            dump = await conn.fetchval(
                f"SELECT coalesce(string_agg(t::text, ' '), '') FROM console.{table[0]} t"
            )
            assert marker_name not in dump and marker_note not in dump, table[0]
    finally:
        await conn.close()
    log = console.log_text()
    assert marker_name not in log and marker_note not in log


def _address(console: Console, service: str) -> str:
    return Settings.from_env(console.env).grpc_address(service)
