"""grpc.aio server factory: health, reflection, error mapping, graceful shutdown.

Every service builds its server here, so each one answers the standard health
service, lists its services through reflection, maps domain errors to status codes
and never answers INTERNAL for a caller's mistake.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeAlias

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from kernel import auth, faults, hard_input, idempotency, metrics, rich_status
from kernel.access import AccessPolicy
from kernel.auth import Claims
from kernel.errors import DomainError
from kernel.idempotency import RequestReplies
from kernel.logs import get_logger

log = get_logger("grpc")
# Answers that are not bugs: logged at WARNING with their reason, never as errors.
_EXPECTED = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})
# Pauses between attempts of a handler hit by a dependency fault (bounded: a few seconds).
_RETRY_PAUSES_S = (0.25, 0.75, 1.5)

# The servicer context handlers receive (grpc.aio).
Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"
Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"


@dataclass(frozen=True)
class ServiceBinding:
    """One gRPC service to serve: its generated `add_..._to_server`, servicer and full name."""

    add_to_server: Callable[[Any, grpc.aio.Server], None]
    servicer: Any
    full_name: str


class ErrorMappingInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Around every unary call: authentication and role (when an access policy is
    given), the access log, and domain errors mapped to their status code; anything
    else is INTERNAL, logged without its message (which may quote personal data)."""

    def __init__(self, policy: AccessPolicy | None = None, replies: RequestReplies | None = None) -> None:
        self.policy = policy
        self.replies = replies

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or (self.policy is None and handler.unary_unary is None):
            return handler
        if self.policy is not None and self.policy.is_open(method):
            return handler
        if handler.unary_unary is None:
            # Only unary methods carry the access policy: anything else is refused.
            return _refuse(grpc.StatusCode.UNIMPLEMENTED, "only unary calls are served")
        # grpc.aio handlers are coroutines; the stubs only know the sync signature.
        inner: Callable[[Any, Context], Awaitable[Any]] = handler.unary_unary  # type: ignore[assignment]
        policy = self.policy
        service = policy.service if policy is not None else "grpc"

        async def wrapped(request: Any, context: Context) -> Any:
            started = time.perf_counter()
            code = grpc.StatusCode.OK
            claims: Claims | None = None
            metadata = {k: v for k, v in (context.invocation_metadata() or ()) if isinstance(v, str)}
            token = auth.set_current(None)
            try:
                if policy is not None:
                    claims = policy.admit(method, metadata)
                    auth.set_current(claims)
                hard_input.check(request)
                response = await self._answer(method, inner, request, context, claims)
                if policy is not None and claims is not None:
                    await policy.record(method, claims, metadata, request, response)
                return response
            except DomainError as exc:
                code = exc.code
                if exc.code in _EXPECTED:
                    log.warning("rpc not done", extra={"method": method, "reason": exc.reason})
                if (
                    policy is not None
                    and claims is not None
                    and exc.code == grpc.StatusCode.PERMISSION_DENIED
                ):
                    await policy.record(method, claims, metadata, request, None, denied=True)
                await _abort(context, rich_status.to_status(exc))
            except grpc.aio.AbortError:
                code = context.code() or grpc.StatusCode.UNKNOWN
                raise
            except asyncio.CancelledError:
                code = grpc.StatusCode.CANCELLED  # the caller went away (its deadline, a cancel)
                raise
            except NotImplementedError:
                # A generated base method the servicer does not override.
                code = grpc.StatusCode.UNIMPLEMENTED
                await _abort(
                    context,
                    rich_status.generic_status(
                        code, "method not implemented by this server", "UNIMPLEMENTED"
                    ),
                )
            except Exception as exc:
                fault = faults.classify(exc)
                if fault is not None:
                    code = fault.code
                    log.warning(
                        "rpc not done: dependency fault",
                        extra={"method": method, "reason": fault.reason, "error_type": type(exc).__name__},
                    )
                    await _abort(context, rich_status.to_status(fault))
                code = grpc.StatusCode.INTERNAL
                log.exception("unhandled error", extra={"method": method})
                await _abort(
                    context,
                    rich_status.generic_status(
                        code, "internal error; the operators have been notified", "INTERNAL"
                    ),
                )
            finally:
                auth.reset_current(token)
                elapsed = time.perf_counter() - started
                metrics.observe_rpc(service, method, code.name, elapsed)
                log.info(
                    "rpc",
                    extra={"method": method, "code": code.name, "duration_ms": round(elapsed * 1000, 2)},
                )

        return grpc.unary_unary_rpc_method_handler(
            wrapped,
            request_deserializer=hard_input.tolerant(handler.request_deserializer, method),
            response_serializer=handler.response_serializer,
        )

    async def _answer(
        self,
        method: str,
        inner: Callable[[Any, Context], Awaitable[Any]],
        request: Any,
        context: Context,
        claims: Claims | None,
    ) -> Any:
        """The handler's answer, or the first answer to the same request id."""
        request_id = idempotency.request_id_of(request) if self.replies is not None else ""
        if not request_id or self.replies is None:
            # Calls without a request id are retried only when they change nothing.
            mutating = idempotency.FIELD in request.DESCRIPTOR.fields_by_name
            return await _with_retries(inner, request, context, retry=not mutating)
        caller = claims.subject if claims is not None else ""
        # A second less than the caller's deadline: a repeat told REQUEST_IN_FLIGHT in time.
        wait_s = remaining(context).total_seconds() - 1.0
        claim = await self.replies.claim(method, caller, request_id, idempotency.digest(request), wait_s)
        if claim.reply is not None:
            return idempotency.response_class(method).FromString(claim.reply)
        try:
            response = await _with_retries(inner, request, context, retry=True)
        except BaseException:
            # Nothing was done (or the same request id will find it done): a retry may run.
            with contextlib.suppress(Exception):
                await asyncio.shield(self.replies.release(method, caller, request_id))
            raise
        await self.replies.store(method, caller, request_id, response.SerializeToString())
        return response


async def _with_retries(
    inner: Callable[[Any, Context], Awaitable[Any]], request: Any, context: Context, retry: bool
) -> Any:
    """Runs the handler; a dependency fault is retried a few times while the caller's
    deadline allows, when running the handler again is safe."""
    for pause in (*_RETRY_PAUSES_S, None):
        try:
            return await inner(request, context)
        except Exception as exc:
            left = context.time_remaining()
            fault = faults.classify(exc)
            if (
                not retry
                or pause is None
                or fault is None
                or fault.code != grpc.StatusCode.UNAVAILABLE
                or (left is not None and left < pause + 1.0)
            ):
                raise
            log.info("retrying after a dependency fault", extra={"reason": fault.reason})
            await asyncio.sleep(pause)
    raise AssertionError("unreachable")


async def _abort(context: Context, status: grpc.Status) -> None:
    """Ends the call with a rich status (its details travel in the trailing metadata)."""
    await context.abort(status.code, status.details, status.trailing_metadata)


def _refuse(code: grpc.StatusCode, message: str) -> Handler:
    async def refuse(request: Any, context: Context) -> Any:
        await _abort(context, rich_status.generic_status(code, message, code.name))

    return grpc.unary_unary_rpc_method_handler(refuse)


def remaining(context: Context, default: timedelta = timedelta(seconds=30)) -> timedelta:
    """The caller's remaining deadline, to pass on to downstream calls."""
    left = context.time_remaining()
    if left is None:
        return default
    return timedelta(seconds=max(0.001, min(left, default.total_seconds())))


class GrpcServer:
    def __init__(
        self,
        bindings: Sequence[ServiceBinding],
        address: str,
        interceptors: Sequence[grpc.aio.ServerInterceptor[Any, Any]] = (),
        tls: grpc.ServerCredentials | None = None,
        policy: AccessPolicy | None = None,
        replies: RequestReplies | None = None,
    ) -> None:
        """`tls`: kernel.tls.server_credentials(env); None serves plaintext. `replies`:
        the answers by request id (kernel.idempotency); None keeps none."""
        self.bindings = bindings
        self.address = address
        self.tls = tls is not None
        self.policy = policy
        self.health = HealthServicer()
        self.server = grpc.aio.server(
            interceptors=[*interceptors, ErrorMappingInterceptor(policy, replies)],
            options=hard_input.grpc_options(),
        )
        for binding in bindings:
            binding.add_to_server(binding.servicer, self.server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        names = [b.full_name for b in bindings]
        reflection.enable_server_reflection(
            [*names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME],
            self.server,
        )
        if tls is None:
            self.port = self.server.add_insecure_port(address)
        else:
            self.port = self.server.add_secure_port(address, tls)

    async def start(self) -> None:
        await self.server.start()
        for name in ["", *(b.full_name for b in self.bindings)]:
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        log.info("grpc serving", extra={"address": self.address, "port": self.port, "tls": self.tls})

    async def stop(self, grace_s: float = 5.0) -> None:
        """NOT_SERVING first (load balancers drain), then finish in-flight calls."""
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace_s)
        if self.policy is not None:
            # The access-log rows of the last calls (cancelled ones' included).
            await self.policy.close()
