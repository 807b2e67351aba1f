"""Small helpers shared by the end-to-end tests."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from kernel.rich_status import LOCALE, describe

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T]],
    accept: Callable[[T], bool],
    timeout: float = 10.0,
    interval: float = 0.05,
) -> T:
    """Polls `probe` until `accept` holds; fails with the last value seen."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await probe()
        if accept(value):
            return value
        if loop.time() > deadline:
            raise AssertionError(f"condition not reached within {timeout} s; last value: {value!r}")
        await asyncio.sleep(interval)


# What no call may answer: a bug, not a refusal.
FORBIDDEN = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}


def rich_details(error: grpc.RpcError) -> tuple[str, str]:
    """The reason and the French sentence a refusal carries in its status details
    (empty when missing: describe() alone would fall back to a generic sentence)."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    localized = ""
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.LocalizedMessage.DESCRIPTOR):
            message = error_details_pb2.LocalizedMessage()
            detail.Unpack(message)
            if message.locale == LOCALE:
                localized = message.message
    described = describe(error)
    return described.reason, localized and described.fr
