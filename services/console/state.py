"""What every request of one console process shares."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jinja2 import Environment
from starlette.requests import Request
from starlette.responses import HTMLResponse

from kernel.db import Pool
from services.console.backend import Backend
from services.console.oidc import OidcClient
from services.console.settings import ConsoleSettings


@dataclass
class ConsoleState:
    settings: ConsoleSettings
    pool: Pool
    backend: Backend
    jinja: Environment
    oidc: OidcClient | None

    def render(self, request: Request, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        session = values.get("session")
        html = self.jinja.get_template(template).render(
            theme=self.settings.theme,
            path=request.url.path,
            agent=session.agent if session is not None else None,
            csrf_token=session.csrf_token if session is not None else "",
            **values,
        )
        return HTMLResponse(html, status_code=status)
