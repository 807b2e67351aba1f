"""What the console's HTTP tests share: the guards of a form page, people created over
gRPC for set-up, unique names and phones."""

from __future__ import annotations

import random
import re
import string
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import httpx2 as httpx
import pytest
from entraide.v1 import intake_pb2, intake_pb2_grpc

from kernel.auth import Role
from tests.conftest import AppStack
from tests.e2e.services.console.conftest import BAR, LIGNY

if TYPE_CHECKING:
    from entraide.v1.intake_pb2_grpc import IntakeServiceAsyncStub as Stub


def letters(n: int = 8) -> str:
    return "".join(random.choices(string.ascii_lowercase, k=n))


def unique_phone() -> str:
    return "07" + "".join(random.choices(string.digits, k=8))


def csrf_of(page: httpx.Response) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, page.text
    return match.group(1)


def form_tokens(http: httpx.Client, url: str) -> tuple[str, str]:
    """The CSRF token and the request id of the form page at `url`."""
    page = http.get(url)
    assert page.status_code == 200, page.text
    request_id = re.search(r'name="request_id" value="([^"]+)"', page.text)
    assert request_id, page.text
    return csrf_of(page), request_id.group(1)


@pytest.fixture
async def intake(app_stack: AppStack) -> AsyncIterator[Stub]:
    """Intake as a responsable of Bar-le-Duc and Ligny, for set-up."""
    token = app_stack.token("setup.console", Role.RESPONSABLE, [BAR, LIGNY])
    async with app_stack.channel("intake", token) as channel:
        yield intake_pb2_grpc.IntakeServiceStub(channel)


async def create_person(intake: Stub, **fields: Any) -> Any:
    defaults: dict[str, Any] = {
        "request_id": uuid.uuid4().hex,
        "territory": BAR,
        "first_name": "Hélène",
        "last_name": "Bézier" + letters(6),
        "birth_date": "1984-03-27",
        "phone": unique_phone(),
    }
    reply = await intake.CreatePerson(intake_pb2.CreatePersonRequest(**{**defaults, **fields}), timeout=10)
    return reply.person
