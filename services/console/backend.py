"""The console's calls to the services, as the signed-in agent.

One channel per service for the whole process; every call carries a bearer token
minted for the agent of the session from the agents directory (so a change of role or
communes applies at the next page, and a deactivated agent is out at once). The
services verify it as any other token: roles, communes, RLS, consent and the access log
apply unchanged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import grpc
from entraide.v1 import (
    aides_pb2_grpc,
    collective_pb2_grpc,
    documents_pb2_grpc,
    intake_pb2_grpc,
    planning_pb2_grpc,
    referral_pb2_grpc,
    reporting_pb2_grpc,
    signals_pb2_grpc,
)

from kernel import auth, client
from kernel.settings import Settings
from services.console.directory import Agent
from services.console.settings import SERVICE_TOKEN_TTL_S

# The console's own subject, when it calls for a partner's answer link.
CONSOLE_SUBJECT = "console"
# A page waits this long for one service call (then says the service is unavailable).
CALL_TIMEOUT_S = 10.0


class _Bound:
    """A stub whose calls carry the agent's token and a deadline."""

    def __init__(self, stub: Any, metadata: tuple[tuple[str, str], ...]) -> None:
        self._stub = stub
        self._metadata = metadata

    def __getattr__(self, method: str) -> Callable[..., Awaitable[Any]]:
        call = getattr(self._stub, method)

        def invoke(request: Any, timeout: float = CALL_TIMEOUT_S) -> Awaitable[Any]:
            """`timeout`: a page's call by default; longer for the few that need it (an import)."""
            return call(request, metadata=self._metadata, timeout=timeout)  # type: ignore[no-any-return]

        return invoke


class AgentCalls:
    """The three services (and the planning, collective actions, signals, aid and documents,
    served by the intake process), as one agent."""

    def __init__(self, backend: Backend, token: str) -> None:
        metadata = (("authorization", f"Bearer {token}"),)
        self.intake = _Bound(backend.intake, metadata)
        self.planning = _Bound(backend.planning, metadata)
        self.collective = _Bound(backend.collective, metadata)
        self.signals = _Bound(backend.signals, metadata)
        self.aides = _Bound(backend.aides, metadata)
        self.documents = _Bound(backend.documents, metadata)
        self.referral = _Bound(backend.referral, metadata)
        self.reporting = _Bound(backend.reporting, metadata)


class Backend:
    def __init__(self, env: Mapping[str, str]) -> None:
        settings = Settings.from_env(env)
        secret = env.get("ENTRAIDE_JWT_SECRET", "")
        if not secret:
            raise RuntimeError("set ENTRAIDE_JWT_SECRET: the console mints the agents' bearer tokens")
        self._secret = secret
        self._issuer = env.get("ENTRAIDE_JWT_ISSUER", auth.ISSUER)
        self._audience = env.get("ENTRAIDE_JWT_AUDIENCE", auth.AUDIENCE)
        # token="" : no process-wide token, each call brings the agent's own.
        self._channels: dict[str, grpc.aio.Channel] = {
            name: client.aio_channel(settings.grpc_address(name), env, token="")
            for name in ("intake", "referral", "reporting")
        }
        self.intake = intake_pb2_grpc.IntakeServiceStub(self._channels["intake"])
        # The planning lives in the intake process (persons and dossiers are there).
        self.planning = planning_pb2_grpc.PlanningServiceStub(self._channels["intake"])
        # So are the collective actions and the signals (persons and dossiers again).
        self.collective = collective_pb2_grpc.CollectiveServiceStub(self._channels["intake"])
        self.signals = signals_pb2_grpc.SignalServiceStub(self._channels["intake"])
        # And the CCAS's aid and the supporting documents (on persons, dossiers, requests).
        self.aides = aides_pb2_grpc.AidServiceStub(self._channels["intake"])
        self.documents = documents_pb2_grpc.DocumentServiceStub(self._channels["intake"])
        self.referral = referral_pb2_grpc.ReferralServiceStub(self._channels["referral"])
        self.reporting = reporting_pb2_grpc.ReportingServiceStub(self._channels["reporting"])

    def _mint(
        self, subject: str, role: auth.Role, territories: frozenset[str], partner_id: str, name: str
    ) -> str:
        return auth.mint(
            self._secret,
            subject,
            role,
            territories,
            partner_id=partner_id,
            name=name,
            ttl_s=SERVICE_TOKEN_TTL_S,
            issuer=self._issuer,
            audience=self._audience,
        )

    def token_for(self, agent: Agent) -> str:
        return self._mint(agent.agent_id, agent.role, agent.territories, agent.partner_id, agent.display_name)

    def as_agent(self, agent: Agent) -> AgentCalls:
        return AgentCalls(self, self.token_for(agent))

    def as_console(self) -> AgentCalls:
        """The services as the console itself (role service): only for what no agent
        signs in for (a partner's answer link)."""
        token = self._mint(
            CONSOLE_SUBJECT, auth.Role.SERVICE, frozenset(), "", "Console web (liens des partenaires)"
        )
        return AgentCalls(self, token)

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close(None)
