"""What every request of one console process shares."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from jinja2 import Environment
from starlette.requests import Request
from starlette.responses import HTMLResponse

from kernel.db import Pool
from services.console import directory
from services.console.backend import Backend
from services.console.oidc import OidcClient
from services.console.settings import ConsoleSettings

AGENT_NAMES_TTL_S = 10.0


@dataclass
class ConsoleState:
    settings: ConsoleSettings
    pool: Pool
    backend: Backend
    jinja: Environment
    oidc: OidcClient | None
    # The directory's active agents, for the names pages show (not for who may sign in:
    # sessions read the directory on every request).
    _agents: tuple[float, list[directory.Agent]] = field(default=(0.0, []), repr=False)

    async def agents(self) -> list[directory.Agent]:
        fetched_at, agents = self._agents
        if time.monotonic() - fetched_at > AGENT_NAMES_TTL_S:
            async with self.pool.acquire() as conn:
                agents = await directory.active_agents(conn)
            self._agents = (time.monotonic(), agents)
        return agents

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
