"""Security headers on every answer: a CSP without inline script or style, no framing,
no sniffing, no referrer leaving the console."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send


def content_security_policy(issuer: str) -> str:
    # form-action also covers redirects after a form post (sign-out goes to the provider).
    provider = ""
    if issuer:
        parts = urlsplit(issuer)
        provider = f" {parts.scheme}://{parts.netloc}"
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src 'self'; form-action 'self'{provider}; frame-ancestors 'none'; "
        "base-uri 'none'; object-src 'none'"
    )


class SecurityHeaders:
    def __init__(self, app: ASGIApp, issuer: str) -> None:
        self.app = app
        self.headers = [
            (b"content-security-policy", content_security_policy(issuer).encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"same-origin"),
            (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
            (b"cross-origin-opener-policy", b"same-origin"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.extend(self.headers)
                path = scope.get("path", "")
                if not path.startswith("/static/"):
                    # Pages hold personal data: never kept by the browser or a proxy.
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
