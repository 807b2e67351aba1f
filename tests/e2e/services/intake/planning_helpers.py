"""What the planning tests share: stubs for the intake address, permanences placed on
days no other test uses (the session's database is shared: rooms are too), refusals."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import asyncpg
import grpc
import pytest
from entraide.v1 import intake_pb2, intake_pb2_grpc, planning_pb2, planning_pb2_grpc

from kernel.auth import Role
from kernel.rich_status import Described, describe
from tests.conftest import AppStack

if TYPE_CHECKING:
    from entraide.v1.intake_pb2_grpc import IntakeServiceAsyncStub as IntakeStub
    from entraide.v1.planning_pb2_grpc import PlanningServiceAsyncStub as Stub

SITE = "ccas-bar-le-duc"
ROOMS = ("accueil", "bureau-1", "bureau-2")
PLANNING_TABLES = ("permanences", "permanence_exceptions", "appointments", "appointment_changes")


def far_monday() -> date:
    """A Monday of the 22nd century, picked at random: the clash tests' weeks."""
    return date(2101, 1, 3) + timedelta(weeks=random.randrange(0, 4500))


def near_day(weekday: int | None = None) -> date:
    """A day of the next two years (appointments are booked at most two years ahead)."""
    day = date.today() + timedelta(days=random.randrange(20, 680))
    if weekday is not None:
        day += timedelta(days=(weekday - day.isoweekday()) % 7)
    return day


def host(
    label: str = "", kind: str = "partenaire", category: str = "budget_endettement"
) -> planning_pb2.Host:
    tag = uuid.uuid4().hex[:8]
    return planning_pb2.Host(
        kind=kind, id=f"partner-{tag}", label=label or f"Association {tag}", category=category
    )


def permanence_request(first: date, **overrides: Any) -> planning_pb2.CreatePermanenceRequest:
    fields: dict[str, Any] = {
        "site": SITE,
        "room": "bureau-1",
        "host": host(),
        "recurrence": "weekly",
        "weekday": first.isoweekday(),
        "starts_at": "09:00",
        "ends_at": "12:00",
        "first_day": first.isoformat(),
        "last_day": (first + timedelta(weeks=8)).isoformat(),
        "slot_minutes": 30,
        "request_id": uuid.uuid4().hex,
    }
    fields.update(overrides)
    return planning_pb2.CreatePermanenceRequest(**fields)


@pytest.fixture
async def planning(app_stack: AppStack) -> AsyncIterator[Stub]:
    """PlanningService on the intake address, as a responsable of every demo commune."""
    async with app_stack.channel("intake", app_stack.token("resp-planning", Role.RESPONSABLE)) as channel:
        yield planning_pb2_grpc.PlanningServiceStub(channel)


@pytest.fixture
async def intake(app_stack: AppStack) -> AsyncIterator[IntakeStub]:
    async with app_stack.channel("intake") as channel:
        yield intake_pb2_grpc.IntakeServiceStub(channel)


async def new_person(intake: IntakeStub, **overrides: Any) -> intake_pb2.Person:
    tag = uuid.uuid4().hex[:8]
    fields: dict[str, Any] = {
        "request_id": uuid.uuid4().hex,
        "territory": "55029",
        "first_name": "Lucie",
        "last_name": f"Martin{tag}",
        "phone": "07" + "".join(random.choices("0123456789", k=8)),
        "email": f"{tag}@example.fr",
    }
    fields.update(overrides)
    reply = await intake.CreatePerson(intake_pb2.CreatePersonRequest(**fields), timeout=10)
    return reply.person


async def refused(call: Any, request: Any, code: grpc.StatusCode) -> Described:
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await call(request, timeout=15)
    described = describe(error.value)
    assert described.code == code, (described.code, described.message, described.fr)
    return described


async def place(planning: Stub, make: Any, attempts: int = 8) -> planning_pb2.PlannedPermanence:
    """Creates the permanence `make()` builds, again with new random days while its room
    is taken (other tests of the session plan the same rooms)."""
    for _ in range(attempts):
        try:
            return await planning.CreatePermanence(make(), timeout=15)
        except grpc.aio.AioRpcError as error:
            if describe(error).reason != "ROOM_TAKEN":
                raise
    raise AssertionError("no free room found")


async def counts(pool: asyncpg.Pool) -> dict[str, int]:
    async with pool.acquire() as conn:
        found = {t: int(await conn.fetchval(f"SELECT count(*) FROM intake.{t}")) for t in PLANNING_TABLES}
        found["events"] = int(
            await conn.fetchval(
                "SELECT count(*) FROM intake.outbox WHERE ce_type LIKE 'entraide.appointment.%'"
            )
        )
    return found
