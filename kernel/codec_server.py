"""Codec server: lets the Temporal UI and CLI show encrypted payloads, to those allowed.

Implements Temporal's remote codec protocol (POST /encode and /decode, body and answer
`{"payloads": [...]}`, the protobuf JSON of `Payloads`), with CORS for the Temporal UI.
Every request needs `Authorization: Bearer <jwt>` (kernel.auth); only `ops` and
`responsable` may use it. Each decode is an access to personal data and is logged with
the actor and the number of payloads, never their content.

    python -m kernel.codec_server      # ENTRAIDE_CODEC_PORT (58234), ENTRAIDE_CODEC_HOST
    temporal workflow show -w dossier-... --codec-endpoint http://127.0.0.1:58234 \\
        --codec-auth "Bearer $TOKEN"
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence

from aiohttp import hdrs, web
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads

from kernel.auth import Claims, Role, TokenVerifier
from kernel.codec import CODEC_PORT_VAR, DEFAULT_CODEC_PORT, EncryptionCodec, codec_from_env
from kernel.errors import Unauthenticated
from kernel.logs import get_logger
from kernel.runtime import run_until_signal
from kernel.settings import Settings

log = get_logger("codec")

DEFAULT_UI_ORIGIN = "http://127.0.0.1:58233"
UI_ORIGIN_VAR = "ENTRAIDE_TEMPORAL_UI_ORIGIN"
ALLOWED_ROLES = frozenset({Role.OPS, Role.RESPONSABLE})
# Temporal's payload size limit is 2 MB per payload; a page of history holds several.
MAX_BODY_BYTES = 16 * 1024 * 1024

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Transform = Callable[[Sequence[Payload]], Awaitable[list[Payload]]]

CLAIMS_KEY = web.RequestKey("claims", Claims)


def ui_origins(env: Mapping[str, str]) -> frozenset[str]:
    raw = env.get(UI_ORIGIN_VAR) or DEFAULT_UI_ORIGIN
    return frozenset(o.strip().rstrip("/") for o in raw.split(",") if o.strip())


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def build_app(codec: EncryptionCodec, verifier: TokenVerifier, origins: frozenset[str]) -> web.Application:
    @web.middleware
    async def cors(request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get(hdrs.ORIGIN, "")
        if request.method == hdrs.METH_OPTIONS:
            response: web.StreamResponse = web.Response(status=204)
        else:
            response = await handler(request)
        if origin in origins:
            response.headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = origin
            response.headers[hdrs.ACCESS_CONTROL_ALLOW_CREDENTIALS] = "true"
            if request.method == hdrs.METH_OPTIONS:
                response.headers[hdrs.ACCESS_CONTROL_ALLOW_METHODS] = "POST, OPTIONS"
                response.headers[hdrs.ACCESS_CONTROL_ALLOW_HEADERS] = (
                    "content-type, authorization, x-namespace"
                )
                response.headers[hdrs.ACCESS_CONTROL_MAX_AGE] = "600"
        response.headers[hdrs.VARY] = "Origin"
        return response

    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method == hdrs.METH_OPTIONS:
            return await handler(request)
        scheme, _, token = request.headers.get(hdrs.AUTHORIZATION, "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            log.warning("codec request refused", extra={"method": request.path, "code": "UNAUTHENTICATED"})
            return _error(401, "this endpoint needs `Authorization: Bearer <token>`")
        try:
            claims = verifier.verify(token.strip())
        except Unauthenticated as exc:
            log.warning("codec request refused", extra={"method": request.path, "code": "UNAUTHENTICATED"})
            return _error(401, exc.message)
        if claims.role not in ALLOWED_ROLES:
            log.warning(
                "codec request refused",
                extra={"method": request.path, "code": "PERMISSION_DENIED", "subject": claims.subject},
            )
            return _error(403, "only the ops and responsable roles may read Temporal payloads")
        request[CLAIMS_KEY] = claims
        return await handler(request)

    async def apply(request: web.Request, transform: Transform, action: str) -> web.StreamResponse:
        try:
            payloads = json_format.Parse(await request.read(), Payloads())
        except (json_format.ParseError, UnicodeDecodeError):
            return _error(400, 'the body must be the JSON of Payloads: {"payloads": [...]}')
        try:
            result = await transform(payloads.payloads)
        except ValueError as exc:
            # Key ids and "tampered" only: the codec's messages never hold payload content.
            return _error(422, str(exc))
        claims = request[CLAIMS_KEY]
        log.info(
            f"payloads {action}",
            extra={"method": action, "subject": claims.subject, "count": len(result), "component": "codec"},
        )
        body = json_format.MessageToJson(Payloads(payloads=result))
        return web.Response(text=body, content_type="application/json")

    async def decode(request: web.Request) -> web.StreamResponse:
        return await apply(request, codec.decode, "decode")

    async def encode(request: web.Request) -> web.StreamResponse:
        return await apply(request, codec.encode, "encode")

    async def preflight(_: web.Request) -> web.StreamResponse:
        return web.Response(status=204)  # the cors middleware answers

    app = web.Application(middlewares=[cors, authenticate], client_max_size=MAX_BODY_BYTES)
    for path, handler in (("/decode", decode), ("/encode", encode)):
        # The UI may append the namespace to the endpoint (`{namespace}` template).
        for route in (path, "/{namespace}" + path):
            app.router.add_post(route, handler)
            app.router.add_route(hdrs.METH_OPTIONS, route, preflight)
    return app


def app_from_env(env: Mapping[str, str]) -> web.Application:
    return build_app(codec_from_env(env), TokenVerifier.from_env(env), ui_origins(env))


async def serve(settings: Settings, stop: asyncio.Event, ready: asyncio.Event | None = None) -> None:
    host = settings.env.get("ENTRAIDE_CODEC_HOST", "127.0.0.1")
    port = int(settings.env.get(CODEC_PORT_VAR, DEFAULT_CODEC_PORT))
    runner = web.AppRunner(app_from_env(settings.env), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        log.info("codec server ready", extra={"address": f"http://{host}:{port}", "port": port})
        if ready is not None:
            ready.set()
        await stop.wait()
    finally:
        await runner.cleanup()


def main() -> None:
    run_until_signal("codec", serve)


if __name__ == "__main__":
    main()
