"""Demo planning for `make up`: a few partners' permanences in the demo sites' rooms (one
every other week, one with a cancelled session), and appointments for three fictional
people, two of whom agreed to be reminded (one by SMS, one by e-mail): their
confirmations reach the local SMS stand-in and mail catcher, and the console's
*Messages envoyés* page.

Idempotent: a permanence already held by its host in its room is kept (the request ids
carry the week they were first placed in, so a later `make up` finds them instead of
placing them again), and a person who already has an appointment to come gets no other.
Everything goes through PlanningService, as the console would.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import grpc
from entraide.v1 import intake_pb2, intake_pb2_grpc, planning_pb2, planning_pb2_grpc

from devstack import tokens
from domain.planning import PARIS, AppointmentStatus, ContactChannel, ExceptionKind, HostKind, Recurrence
from kernel import client, reference
from kernel.auth import Role, mint
from kernel.settings import Settings

# The demo's planner: a responsable of every commune (a fixed subject: request ids replay).
PLANNER = "demo.responsable"
SLOT_SEARCH_DAYS = 28


@dataclass(frozen=True)
class DemoPermanence:
    key: str
    site: str
    room: str
    host: HostKind
    host_id: str
    label: str
    category: str
    recurrence: Recurrence
    weekday: int
    starts_at: str
    ends_at: str
    slot_minutes: int
    # A session of next week is not held (the partner is away).
    cancel_next_week: bool = False


DEMO_PERMANENCES = (
    DemoPermanence(
        "caf",
        "ccas-bar-le-duc",
        "bureau-1",
        HostKind.PARTENAIRE,
        "caf-meuse",
        "CAF de la Meuse",
        "acces_aux_droits",
        Recurrence.WEEKLY,
        2,
        "09:00",
        "12:00",
        30,
    ),
    DemoPermanence(
        "cresus",
        "ccas-bar-le-duc",
        "bureau-2",
        HostKind.PARTENAIRE,
        "cresus-grand-est",
        "CRESUS Grand Est",
        "budget_endettement",
        Recurrence.FORTNIGHTLY,
        4,
        "14:00",
        "17:00",
        45,
    ),
    DemoPermanence(
        "victimes",
        "antenne-cote-sainte-catherine",
        "salle-reunion",
        HostKind.PARTENAIRE,
        "france-victimes-55",
        "France Victimes 55",
        "aide_aux_victimes",
        Recurrence.WEEKLY,
        1,
        "14:00",
        "16:00",
        30,
        cancel_next_week=True,
    ),
    DemoPermanence(
        "maire",
        "mairie-ligny",
        "bureau-social",
        HostKind.ELU,
        "elu.ligny",
        "Permanence de M. le Maire",
        "elus",
        Recurrence.WEEKLY,
        3,
        "10:00",
        "12:00",
        20,
    ),
)


@dataclass(frozen=True)
class DemoVisitor:
    """A fictional person with an appointment at a demo permanence."""

    key: str
    first_name: str
    last_name: str
    birth_date: str
    phone: str
    email: str
    permanence: str  # DemoPermanence.key
    channel: ContactChannel | None  # None: not to be contacted


DEMO_VISITORS = (
    DemoVisitor("1", "Sacha", "Rendez-Vous", "1990-04-12", "0600000011", "", "caf", ContactChannel.SMS),
    DemoVisitor(
        "2",
        "Morgan",
        "Courriel",
        "1982-11-03",
        "",
        "morgan.courriel@demo.entraide.localhost",
        "cresus",
        ContactChannel.EMAIL,
    ),
    DemoVisitor("3", "Lou", "Sansmessage", "2001-07-19", "0600000013", "", "victimes", None),
)


def week_of(day: date) -> date:
    return day - timedelta(days=day.isoweekday() - 1)


async def place(
    planning: planning_pb2_grpc.PlanningServiceAsyncStub, demo: DemoPermanence, monday: date
) -> tuple[planning_pb2.PlannedPermanence, bool]:
    """The demo permanence, placed now unless its host already holds it there."""
    listed = await planning.ListPermanences(
        planning_pb2.ListPermanencesRequest(site=demo.site, room=demo.room, host_id=demo.host_id), timeout=30
    )
    for found in listed.permanences:
        if found.weekday == demo.weekday and found.starts_at == demo.starts_at and not found.last_day:
            return found, False
    first_day = monday + timedelta(days=demo.weekday - 1)
    placed = await planning.CreatePermanence(
        planning_pb2.CreatePermanenceRequest(
            site=demo.site,
            room=demo.room,
            host=planning_pb2.Host(kind=demo.host, id=demo.host_id, label=demo.label, category=demo.category),
            recurrence=demo.recurrence,
            weekday=demo.weekday,
            starts_at=demo.starts_at,
            ends_at=demo.ends_at,
            first_day=first_day.isoformat(),
            slot_minutes=demo.slot_minutes,
            request_id=f"demo-permanence-{demo.key}-{first_day.isoformat()}",
        ),
        timeout=30,
    )
    if demo.cancel_next_week:
        placed = await planning.AddPermanenceException(
            planning_pb2.AddPermanenceExceptionRequest(
                permanence_id=placed.permanence_id,
                exception=planning_pb2.PermanenceException(
                    kind=ExceptionKind.CANCELLED,
                    date=(first_day + timedelta(days=7)).isoformat(),
                    reason="Intervenante en formation",
                ),
                request_id=f"demo-exception-{demo.key}-{first_day.isoformat()}",
            ),
            timeout=30,
        )
    return placed, True


async def visitor_id(intake: intake_pb2_grpc.IntakeServiceAsyncStub, visitor: DemoVisitor) -> str:
    created = await intake.CreatePerson(
        intake_pb2.CreatePersonRequest(
            request_id=f"demo-visitor-{visitor.key}",
            territory="55029",
            first_name=visitor.first_name,
            last_name=visitor.last_name,
            birth_date=visitor.birth_date,
            phone=visitor.phone,
            email=visitor.email,
            address_line="2 rue de l'Exemple (adresse fictive)",
        ),
        timeout=30,
    )
    return str(created.person.person_id)


async def book_visitor(
    planning: planning_pb2_grpc.PlanningServiceAsyncStub,
    visitor: DemoVisitor,
    person_id: str,
    permanence: planning_pb2.PlannedPermanence,
) -> bool:
    """Contact preferences, then an appointment at the first free slot unless one is to come."""
    if visitor.channel is not None:
        await planning.SetContactPreferences(
            planning_pb2.SetContactPreferencesRequest(
                person_id=person_id,
                consent=True,
                channel=visitor.channel,
                request_id=f"demo-contact-{visitor.key}",
            ),
            timeout=30,
        )
    now = datetime.now(UTC)
    listed = await planning.ListAppointments(
        planning_pb2.ListAppointmentsRequest(person_id=person_id), timeout=30
    )
    if any(
        a.status == AppointmentStatus.BOOKED and a.starts_at.ToDatetime(tzinfo=UTC) > now
        for a in listed.appointments
    ):
        return False
    today = datetime.now(PARIS).date()
    slots = await planning.ListSlots(
        planning_pb2.ListSlotsRequest(
            permanence_id=permanence.permanence_id,
            from_day=(today + timedelta(days=1)).isoformat(),
            to_day=(today + timedelta(days=SLOT_SEARCH_DAYS)).isoformat(),
        ),
        timeout=30,
    )
    if not slots.slots:
        return False
    slot = slots.slots[0]
    await planning.BookAppointment(
        planning_pb2.BookAppointmentRequest(
            person_id=person_id,
            permanence_id=permanence.permanence_id,
            starts_at=slot.starts_at,
            motif="acces_aux_droits",
            request_id=f"demo-appointment-{visitor.key}-{slot.starts_at.ToDatetime(tzinfo=UTC).isoformat()}",
        ),
        timeout=30,
    )
    return True


async def plan_demo(settings: Settings) -> str:
    """Places the demo permanences and books the demo visitors; what was done, in a line."""
    planner = mint(
        tokens.signing_secret(settings.env),
        PLANNER,
        Role.RESPONSABLE,
        reference.load(settings.env).territories,
        ttl_s=600,
    )
    address = settings.grpc_address("intake")
    monday = week_of(datetime.now(PARIS).date())
    async with (
        client.aio_channel(address, settings.env, planner) as planner_channel,
        client.aio_channel(address, settings.env, tokens.demo_token(settings.env)) as agent_channel,
    ):
        planning = planning_pb2_grpc.PlanningServiceStub(planner_channel)
        intake = intake_pb2_grpc.IntakeServiceStub(agent_channel)
        permanences: dict[str, planning_pb2.PlannedPermanence] = {}
        placed = 0
        for demo in DEMO_PERMANENCES:
            try:
                permanences[demo.key], new = await place(planning, demo, monday)
            except grpc.aio.AioRpcError as exc:
                if exc.code() is not grpc.StatusCode.FAILED_PRECONDITION:
                    raise
                continue  # its room is taken by a permanence placed by hand: kept as it is
            placed += new
        booked = 0
        for visitor in DEMO_VISITORS:
            permanence = permanences.get(visitor.permanence)
            if permanence is not None:
                booked += await book_visitor(planning, visitor, await visitor_id(intake, visitor), permanence)
    return (
        f"{placed} permanences placed now, {len(permanences) - placed} already there;"
        f" {booked} appointments booked now"
    )
