"""The console under 20 signed-in agents: the dossier page and the interview form post,
beside the gRPC calls that page makes, measured in the same run.

    source .state/stack.env     # a running stack: `make up`
    python -m bench.console [--agents 20] [--seconds 20] [--url http://127.0.0.1:58080] [--json]

Each agent has two dossiers of its own (with a person, so every read of the page has
something to read). Phase "console": every agent loops GET /dossiers/<id> then POST
/dossiers/<id>/entretien (a fresh request id each time, the 303 not followed). Phase
"grpc": every agent loops, on its other dossier, what that page asks of the services —
GetDossierTimeline, then SuggestPartners, ListDossierReferrals, ListPartners, GetPerson
and ListConsents at once, as the page does — then RecordInterview. Both phases run for
the same time with the same number of agents, alternating (--rounds) so neither always
runs on a warmer or larger database. Target: page p95 ≤ 1.5 × calls p95 + 20 ms.

Bench agents (bench.NN) are added to the console's directory and signed in by opening
sessions in its table (sign-in itself is not measured); they are deactivated at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import asyncpg  # type: ignore[import-untyped, unused-ignore]
import grpc
import httpx2
from entraide.v1 import intake_pb2, intake_pb2_grpc, referral_pb2, referral_pb2_grpc

from bench.lifecycle import percentile
from devstack import tokens
from kernel import client
from kernel.auth import Role, mint
from kernel.settings import Settings
from services.console import directory, sessions
from services.console.settings import CONSOLE_PORT_VAR, DEFAULT_PORT

COMMUNE = "55029"
NOTES = "Entretien de banc d'essai : situation décrite, pistes évoquées."


@dataclass
class Samples:
    page_ms: list[float] = field(default_factory=list)
    post_ms: list[float] = field(default_factory=list)
    errors: int = 0


@dataclass
class Agent:
    agent_id: str
    token: str
    cookie: str = ""
    csrf: str = ""
    console_dossier: str = ""
    grpc_dossier: str = ""
    person_id: str = ""


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000


async def set_up(env: dict[str, str], count: int) -> list[Agent]:
    settings = Settings.from_env(env)
    secret = tokens.signing_secret(env)
    agents = [
        Agent(f"bench.{n:02d}", mint(secret, f"bench.{n:02d}", Role.TRAVAILLEUR_SOCIAL, [COMMUNE]))
        for n in range(count)
    ]
    conn = await asyncpg.connect(settings.database_url)
    try:
        await directory.upsert(
            conn,
            [
                directory.Agent(
                    a.agent_id,
                    f"Agent de banc {a.agent_id}",
                    f"{a.agent_id}@bench.invalid",
                    Role.TRAVAILLEUR_SOCIAL,
                    frozenset({COMMUNE}),
                )
                for a in agents
            ],
        )
        for agent in agents:
            agent.cookie = await sessions.open_session(conn, agent.agent_id)
            agent.csrf = await conn.fetchval(
                f"SELECT csrf_token FROM {directory.SCHEMA}.sessions WHERE agent_id = $1"
                " ORDER BY created_at DESC LIMIT 1",
                agent.agent_id,
            )
    finally:
        await conn.close()
    for agent in agents:
        async with client.aio_channel(settings.grpc_address("intake"), env, agent.token) as channel:
            intake = intake_pb2_grpc.IntakeServiceStub(channel)
            person = await intake.CreatePerson(
                intake_pb2.CreatePersonRequest(
                    request_id=f"bench-person-{agent.agent_id}",
                    territory=COMMUNE,
                    first_name="Camille",
                    last_name=f"Banc {agent.agent_id}",
                )
            )
            agent.person_id = person.person.person_id
            opened = []
            for purpose in ("console", "grpc"):
                reply = await intake.OpenDossier(
                    intake_pb2.OpenDossierRequest(
                        request_id=f"bench-{purpose}-{agent.agent_id}-{uuid.uuid4().hex[:8]}",
                        territory=COMMUNE,
                        motifs=["logement"],
                        arrival_channel="telephone",
                        person_id=agent.person_id,
                        assigned_agent=agent.agent_id,
                    )
                )
                opened.append(reply.dossier.dossier_id)
            agent.console_dossier, agent.grpc_dossier = opened
    return agents


async def tear_down(env: dict[str, str], agents: list[Agent]) -> None:
    conn = await asyncpg.connect(Settings.from_env(env).database_url)
    try:
        ids = [a.agent_id for a in agents]
        await conn.execute(f"DELETE FROM {directory.SCHEMA}.sessions WHERE agent_id = ANY($1)", ids)
        await conn.execute(
            f"UPDATE {directory.SCHEMA}.agents SET active = false WHERE agent_id = ANY($1)", ids
        )
    finally:
        await conn.close()


async def console_loop(url: str, agent: Agent, until: float, samples: Samples) -> None:
    async with httpx2.AsyncClient(
        base_url=url, cookies={sessions.COOKIE: agent.cookie}, timeout=30, follow_redirects=False
    ) as http:
        while time.monotonic() < until:
            start = time.perf_counter()
            page = await http.get(f"/dossiers/{agent.console_dossier}")
            if page.status_code != 200:
                samples.errors += 1
                continue
            samples.page_ms.append(_ms(start))
            form = {
                "csrf_token": agent.csrf,
                "request_id": str(uuid.uuid4()),
                "notes": NOTES,
                "visibility": "team",
            }
            start = time.perf_counter()
            posted = await http.post(f"/dossiers/{agent.console_dossier}/entretien", data=form)
            if posted.status_code != 303:
                samples.errors += 1
                continue
            samples.post_ms.append(_ms(start))


async def grpc_loop(env: dict[str, str], agent: Agent, until: float, samples: Samples) -> None:
    settings = Settings.from_env(env)
    async with (
        client.aio_channel(settings.grpc_address("intake"), env, agent.token) as intake_channel,
        client.aio_channel(settings.grpc_address("referral"), env, agent.token) as referral_channel,
    ):
        intake = intake_pb2_grpc.IntakeServiceStub(intake_channel)
        referral = referral_pb2_grpc.ReferralServiceStub(referral_channel)
        dossier = agent.grpc_dossier
        while time.monotonic() < until:
            start = time.perf_counter()
            try:
                await intake.GetDossierTimeline(intake_pb2.GetDossierRequest(dossier_id=dossier))
                calls: list[Awaitable[Any]] = [
                    referral.SuggestPartners(referral_pb2.SuggestPartnersRequest(dossier_id=dossier)),
                    referral.ListDossierReferrals(
                        referral_pb2.ListDossierReferralsRequest(dossier_id=dossier)
                    ),
                    referral.ListPartners(referral_pb2.ListPartnersRequest(territory=COMMUNE)),
                    intake.GetPerson(intake_pb2.GetPersonRequest(person_id=agent.person_id)),
                    intake.ListConsents(intake_pb2.ListConsentsRequest(person_id=agent.person_id)),
                ]
                await asyncio.gather(*calls, return_exceptions=False)
            except grpc.RpcError:
                samples.errors += 1
                continue
            samples.page_ms.append(_ms(start))
            start = time.perf_counter()
            try:
                await intake.RecordInterview(
                    intake_pb2.RecordInterviewRequest(
                        dossier_id=dossier, notes=NOTES, visibility="team", request_id=str(uuid.uuid4())
                    )
                )
            except grpc.RpcError:
                samples.errors += 1
                continue
            samples.post_ms.append(_ms(start))


async def phase(
    agents: list[Agent], seconds: float, loop: Callable[[Agent, float, Samples], Awaitable[None]]
) -> Samples:
    samples = Samples()
    until = time.monotonic() + seconds
    await asyncio.gather(*(loop(agent, until, samples) for agent in agents))
    return samples


@dataclass
class Result:
    agents: int
    seconds_per_phase: float
    console_page_p50_ms: float
    console_page_p95_ms: float
    console_post_p50_ms: float
    console_post_p95_ms: float
    grpc_page_p50_ms: float
    grpc_page_p95_ms: float
    grpc_post_p50_ms: float
    grpc_post_p95_ms: float
    pages: int
    posts: int
    errors: int
    page_target_ms: float
    post_target_ms: float
    page_within_target: bool
    post_within_target: bool


def summarise(agents: int, seconds: float, console: Samples, direct: Samples) -> Result:
    def p(values: list[float], pct: float) -> float:
        return round(percentile(values, pct), 1) if values else float("nan")

    page_target = round(1.5 * p(direct.page_ms, 95) + 20, 1)
    post_target = round(1.5 * p(direct.post_ms, 95) + 20, 1)
    return Result(
        agents,
        seconds,
        p(console.page_ms, 50),
        p(console.page_ms, 95),
        p(console.post_ms, 50),
        p(console.post_ms, 95),
        p(direct.page_ms, 50),
        p(direct.page_ms, 95),
        p(direct.post_ms, 50),
        p(direct.post_ms, 95),
        len(console.page_ms),
        len(console.post_ms),
        console.errors + direct.errors,
        page_target,
        post_target,
        p(console.page_ms, 95) <= page_target,
        p(console.post_ms, 95) <= post_target,
    )


async def run(args: argparse.Namespace) -> Result:
    env = dict(os.environ)
    url = args.url or f"http://127.0.0.1:{env.get(CONSOLE_PORT_VAR) or DEFAULT_PORT}"
    agents = await set_up(env, args.agents)
    console, direct = Samples(), Samples()
    try:
        per_round = args.seconds / args.rounds
        for number in range(args.rounds):
            steps = [("console", console), ("grpc", direct)]
            for name, samples in steps if number % 2 == 0 else reversed(steps):
                print(f"round {number + 1}/{args.rounds}: {name} ({per_round:.0f} s)", file=sys.stderr)
                got = await phase(
                    agents,
                    per_round,
                    (lambda a, u, s: console_loop(url, a, u, s))
                    if name == "console"
                    else (lambda a, u, s: grpc_loop(env, a, u, s)),
                )
                samples.page_ms += got.page_ms
                samples.post_ms += got.post_ms
                samples.errors += got.errors
    finally:
        await tear_down(env, agents)
    return summarise(args.agents, args.seconds, console, direct)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench.console", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20.0, help="per phase, split over the rounds")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--url", default="", help="the console (default: ENTRAIDE_CONSOLE_PORT on 127.0.0.1)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = asyncio.run(run(args))
    if args.json:
        print(json.dumps(asdict(result)))
    else:
        print(
            f"{result.agents} agents, {result.pages} pages and {result.posts} interview posts"
            " through the console\n"
            f"dossier page:   console p50 {result.console_page_p50_ms} ms,"
            f" p95 {result.console_page_p95_ms} ms;"
            f" its gRPC calls p50 {result.grpc_page_p50_ms} ms, p95 {result.grpc_page_p95_ms} ms;"
            f" target p95 ≤ {result.page_target_ms} ms: {'met' if result.page_within_target else 'NOT met'}\n"
            f"interview post: console p50 {result.console_post_p50_ms} ms,"
            f" p95 {result.console_post_p95_ms} ms;"
            f" RecordInterview p50 {result.grpc_post_p50_ms} ms, p95 {result.grpc_post_p95_ms} ms;"
            f" target p95 ≤ {result.post_target_ms} ms: {'met' if result.post_within_target else 'NOT met'}\n"
            f"errors: {result.errors}"
        )
    return 0 if result.errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
