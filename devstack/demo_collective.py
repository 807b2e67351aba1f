"""Demo collective action and signals for `make up`: a "RV du CIAS" programme at
Bar-le-Duc (with the Centre social de la Côte Sainte-Catherine, two facilitators, at the
antenne of the Côte Sainte-Catherine), four weekly sessions, the demo people enrolled
(they exist with their dossiers: devstack.demo), a goal each, the first session's
attendance; and two signals from the demo signaleur (a secrétaire de mairie at Behonne,
devstack/demo_agents.json).

Idempotent: the programme is found by its name when an earlier `make up` created it,
and every later call's request id derives from its first day (the same requests again:
replayed, nothing added); the signals have fixed request ids. Everything goes through
CollectiveService and SignalService, as the console would.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path

from entraide.v1 import (
    collective_pb2,
    collective_pb2_grpc,
    intake_pb2,
    intake_pb2_grpc,
    signals_pb2,
    signals_pb2_grpc,
)

from devstack import tokens
from domain.collective import EnrolmentStatus, GoalStatus, SessionPresence
from domain.planning import PARIS
from kernel import client
from kernel.auth import Role, mint
from kernel.settings import Settings

AGENTS_FILE = Path(__file__).resolve().parent / "demo_agents.json"
BAR = "55029"
PROGRAMME_NAME = "RV du CIAS"
SITE = "antenne-cote-sainte-catherine"
PARTNER_ID = "centre-social-cote-sainte-catherine"
PARTNER_NAME = "Centre social de la Côte Sainte-Catherine"
FACILITATORS = ("Mme Laurent (CESF, CIAS)", "M. Renard (animateur, centre social)")
SESSIONS = 4
# The demo people of devstack.demo (their persons' and dossiers' request ids), and a goal each.
ENROLLED = (
    ("1", "Prendre le bus pour aller faire ses courses"),
    ("2", "Refaire sa carte d'identité"),
    ("3", "Participer à l'atelier cuisine du centre social"),
)
# The first session's attendance, by demo person.
FIRST_SESSION = {
    "1": SessionPresence.PRESENT,
    "2": SessionPresence.ABSENT_EXCUSED,
    "3": SessionPresence.PRESENT,
}
# When the demo directory has no signaleur (it should: devstack/demo_agents.json).
FALLBACK_SIGNALLER = ("demo.signaleur", "Secrétaire de mairie de démonstration", ("55041",))
DEMO_SIGNALS = (
    signals_pb2.SubmitSignalRequest(
        first_name="Gaston",
        last_name="Exemple",
        address_line="3 rue de la Fontaine (adresse fictive)",
        description="Personne âgée seule, ne sort plus depuis l'hiver ; les voisins s'inquiètent"
        " (situation fictive de démonstration).",
        consent_to_contact=True,
        request_id="demo-signal-1",
    ),
    signals_pb2.SubmitSignalRequest(
        phone="0600000021",
        description="Famille récemment installée, factures d'énergie impayées selon le bailleur"
        " (situation fictive de démonstration).",
        consent_to_contact=False,
        request_id="demo-signal-2",
    ),
)


def first_thursday() -> date:
    """The Thursday two weeks ago: two sessions held, two to come."""
    today = datetime.now(PARIS).date()
    return today - timedelta(days=(today.isoweekday() - 4) % 7) - timedelta(weeks=2)


def signaller() -> tuple[str, str, tuple[str, ...]]:
    """The demo directory's signaleur (subject, name, communes): the console shows it its signals."""
    agents = json.loads(AGENTS_FILE.read_text(encoding="utf-8")).get("agents", [])
    for agent in agents:
        if agent.get("role") == Role.SIGNALEUR.value:
            return str(agent["agent_id"]), str(agent["display_name"]), tuple(agent["territories"])
    return FALLBACK_SIGNALLER


async def demo_dossier(intake: intake_pb2_grpc.IntakeServiceAsyncStub, key: str) -> tuple[str, str]:
    """A demo person's id and dossier (devstack.demo's requests again: replayed)."""
    people = await intake.SearchPersons(intake_pb2.SearchPersonsRequest(phone=f"060000000{key}"), timeout=30)
    person = next(iter(people.persons), None)
    if person is None:
        return "", ""
    dossiers = await intake.ListDossiers(
        intake_pb2.ListDossiersRequest(person_id=person.person_id, page_size=10), timeout=30
    )
    first = min(dossiers.dossiers, key=lambda d: d.opened_at.ToDatetime(), default=None)
    return person.person_id, first.dossier_id if first is not None else ""


async def programme_of(
    collective: collective_pb2_grpc.CollectiveServiceAsyncStub,
) -> tuple[collective_pb2.Programme, bool]:
    """The demo programme, created unless an earlier `make up` did (and whether now)."""
    listed = await collective.ListProgrammes(
        collective_pb2.ListProgrammesRequest(territories=[BAR], include_closed=True), timeout=30
    )
    found = next((p for p in listed.programmes if p.name == PROGRAMME_NAME), None)
    if found is not None:
        programme = await collective.GetProgramme(
            collective_pb2.GetProgrammeRequest(programme_id=found.programme_id), timeout=30
        )
        return programme, False
    first = first_thursday()
    created = await collective.CreateProgramme(
        collective_pb2.CreateProgrammeRequest(
            territory=BAR,
            name=PROGRAMME_NAME,
            aim="Remobilisation autour de projets simples, en petit groupe",
            partner_id=PARTNER_ID,
            partner_name=PARTNER_NAME,
            facilitators=[collective_pb2.Facilitator(label=label) for label in FACILITATORS],
            site=SITE,
            rhythm="Le jeudi après-midi, chaque semaine",
            first_day=first.isoformat(),
            last_day=(first + timedelta(weeks=SESSIONS - 1)).isoformat(),
            capacity=8,
            request_id=f"demo-collective-{first.isoformat()}",
        ),
        timeout=30,
    )
    return created, True


async def run_programme(
    collective: collective_pb2_grpc.CollectiveServiceAsyncStub,
    intake: intake_pb2_grpc.IntakeServiceAsyncStub,
) -> str:
    programme, created = await programme_of(collective)
    first = date.fromisoformat(programme.first_day)
    key = f"demo-collective-{programme.first_day}"
    sessions = []
    for week in range(SESSIONS):
        sessions.append(
            await collective.AddSession(
                collective_pb2.AddSessionRequest(
                    programme_id=programme.programme_id,
                    day=(first + timedelta(weeks=week)).isoformat(),
                    starts_at="14:00",
                    ends_at="16:30",
                    request_id=f"{key}-session-{week + 1}",
                ),
                timeout=30,
            )
        )
    enrolments: dict[str, str] = {}
    for person_key, goal in ENROLLED:
        person_id, dossier_id = await demo_dossier(intake, person_key)
        if not dossier_id:
            continue
        enrolment = await collective.Enrol(
            collective_pb2.EnrolRequest(
                programme_id=programme.programme_id,
                person_id=person_id,
                dossier_id=dossier_id,
                consent=True,
                request_id=f"{key}-enrol-{person_key}",
            ),
            timeout=30,
        )
        if enrolment.status != EnrolmentStatus.ENROLLED:
            continue
        enrolments[person_key] = enrolment.enrolment_id
        await collective.SetGoal(
            collective_pb2.SetGoalRequest(
                enrolment_id=enrolment.enrolment_id,
                title=goal,
                status=GoalStatus.UNDER_WAY,
                request_id=f"{key}-goal-{person_key}",
            ),
            timeout=30,
        )
    if enrolments:
        await record_first_session(collective, sessions[0].session_id, enrolments, key)
    state = "created now" if created else "already there"
    return f"programme {PROGRAMME_NAME!r} {state}: {len(sessions)} sessions, {len(enrolments)} participants"


async def record_first_session(
    collective: collective_pb2_grpc.CollectiveServiceAsyncStub,
    session_id: str,
    enrolments: dict[str, str],
    key: str,
) -> None:
    await collective.RecordSessionAttendance(
        collective_pb2.RecordSessionAttendanceRequest(
            session_id=session_id,
            attendance=[
                collective_pb2.SessionAttendance(
                    enrolment_id=enrolment_id, presence=FIRST_SESSION[person_key]
                )
                for person_key, enrolment_id in enrolments.items()
            ],
            request_id=f"{key}-attendance-1",
        ),
        timeout=30,
    )


async def submit_signals(settings: Settings) -> int:
    subject, name, communes = signaller()
    token = mint(
        tokens.signing_secret(settings.env),
        subject,
        Role.SIGNALEUR,
        frozenset(communes),
        name=name,
        ttl_s=600,
    )
    async with client.aio_channel(settings.grpc_address("intake"), settings.env, token) as channel:
        signals = signals_pb2_grpc.SignalServiceStub(channel)
        before = await signals.ListMySignals(signals_pb2.ListMySignalsRequest(), timeout=30)
        known = {s.signal_id for s in before.signals}
        new = 0
        for request in DEMO_SIGNALS:
            submitted = signals_pb2.SubmitSignalRequest(territory=communes[0])
            submitted.MergeFrom(request)
            receipt = await signals.SubmitSignal(submitted, timeout=30)
            new += receipt.signal_id not in known
    return new


async def collective_demo(settings: Settings) -> str:
    """The demo programme and signals; what was done, in a line."""
    address = settings.grpc_address("intake")
    async with client.aio_channel(address, settings.env, tokens.demo_token(settings.env)) as channel:
        done = await run_programme(
            collective_pb2_grpc.CollectiveServiceStub(channel), intake_pb2_grpc.IntakeServiceStub(channel)
        )
    new = await submit_signals(settings)
    return f"{done}; {new} signals submitted now, {len(DEMO_SIGNALS) - new} already there"
