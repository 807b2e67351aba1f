"""The driver: N dossiers through their whole lifecycle, a bounded number at a time, every
call through the retrying client, and the tally of what the system owes for each one.

A dossier: its person, opening (some urgent: the driver waits for the escalation before
listening), consent for its partner, interview, end of écoute, sometimes an assignment,
a referral to the NATS partner or to the webhook partner, the partner's answers
(acknowledge, accept, start, complete), a follow-up, the suivi, the closure with an
outcome; some are reopened, and some of those closed again. Each effect the system owes
(a timeline step, a partner message, a fact in reporting) is an `Expect` tied to the time
of the call that asked for it, so that a loss or a double is charged to the fault that was
on at that time.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from entraide.v1 import intake_pb2, intake_pb2_grpc, referral_pb2, referral_pb2_grpc

from devstack.faults.client import Calls, Clock, GaveUp, Refused, channel
from devstack.faults.stack import AGENT, NATS_PARTNER, TIMERS, WEBHOOK_PARTNER, Stack
from kernel import reference
from kernel.auth import Role

CONCURRENCY = 8
ESCALATION_WAIT_S = 120.0
READ_MODEL_WAIT_S = 120.0
# The partner's answers, in order, and the status each one gives the referral.
PARTNER_STEPS = (
    ("AcknowledgeReferral", "received"),
    ("AcceptReferral", "accepted"),
    ("StartReferral", "in_progress"),
    ("CompleteReferral", "completed"),
)
URGENT_S = float(TIMERS["ENTRAIDE_URGENT_ECOUTE_S"])


@dataclass(frozen=True)
class Plan:
    """What the driver does with one dossier (drawn from the seed)."""

    number: int
    territory: str
    motifs: tuple[str, ...]
    channel: str
    urgent: bool
    partner: str
    assign: bool
    outcome: str
    reopen: bool
    second_outcome: str  # closed again after the reopening with this outcome, "" for not
    probe: bool = False  # opened by an injector just before a worker outage


@dataclass(frozen=True)
class Expect:
    """An effect the system owes: `key` (e.g. "timeline:interview", "partner:accepted") and
    the time of the call that asked for it."""

    key: str
    at: float


@dataclass
class DossierRun:
    plan: Plan
    person_id: str = ""
    dossier_id: str = ""
    referral_id: str = ""
    stage: str = ""  # the stage its last answered step left it in
    outcome: str = ""  # of its last closure
    closures: int = 0
    opened_at: float | None = None  # run clock, when OpenDossier answered
    escalation_due: float | None = None  # run clock
    expects: list[Expect] = field(default_factory=list)
    last_call_at: float = 0.0
    last_close_at: float = 0.0
    error: str = ""  # why the driver stopped early ("" when the lifecycle ran to its end)
    # Effects of the call in flight (of the call that failed, once the driver stopped): they
    # may or may not have been applied.
    maybe: set[str] = field(default_factory=set)
    finished: bool = False


@functools.cache
def _site_of(territory: str) -> str:
    """The first site of the commune in the reference data, "" for a commune without."""
    sites = reference.load({}).sites_of([territory])
    return sites[0].code if sites else ""


def plans(count: int, seed: int, first: int = 0) -> list[Plan]:
    rng = random.Random(seed)
    data = reference.load({})
    motifs = sorted(data.motifs)
    channels = sorted(data.arrival_channels)
    territories = sorted(data.territories)
    outcomes = sorted(data.closure_outcomes)
    found = []
    for number in range(first, first + count):
        chosen = tuple(rng.sample(motifs, rng.choice((1, 1, 2))))
        reopen = rng.random() < 0.2
        found.append(
            Plan(
                number=number,
                territory=rng.choice(territories),
                motifs=chosen,
                channel=rng.choice(channels),
                urgent=rng.random() < 0.1,
                partner=NATS_PARTNER if number % 2 == 0 else WEBHOOK_PARTNER,
                assign=rng.random() < 0.25,
                outcome=rng.choice(outcomes),
                reopen=reopen,
                second_outcome=rng.choice(outcomes) if reopen and rng.random() < 0.5 else "",
            )
        )
    return found


class Driver:
    def __init__(
        self,
        stack: Stack,
        calls: Calls,
        clock: Clock,
        pool: asyncpg.Pool,
        released: Callable[[float], Awaitable[None]],
        tag: str,
    ) -> None:
        self.stack = stack
        self.calls = calls
        self.clock = clock
        self.pool = pool
        self.released = released  # returns once the fault schedule is that far (0 → 1)
        self.tag = tag
        self.runs: list[DossierRun] = []
        self.limit = asyncio.Semaphore(CONCURRENCY)
        self.agent_token = stack.token(AGENT, Role.TRAVAILLEUR_SOCIAL)
        self.partner_tokens = {
            p: stack.token(f"faults.{p}", Role.PARTENAIRE, partner_id=p)
            for p in (NATS_PARTNER, WEBHOOK_PARTNER)
        }
        self._channels = [channel(stack.address(s), stack.env) for s in ("intake", "referral")]
        self.intake = intake_pb2_grpc.IntakeServiceStub(self._channels[0])
        self.referral = referral_pb2_grpc.ReferralServiceStub(self._channels[1])
        self.in_flight = 0
        self.all_done = False
        self._busy = asyncio.Condition()

    async def close(self) -> None:
        for c in self._channels:
            await c.close(None)

    # --- scheduling --------------------------------------------------------------------------

    async def run(self, planned: list[Plan]) -> None:
        """Every planned dossier, dossier i released once the fault schedule is i/N done (so
        that dossiers are in flight during every fault), at most CONCURRENCY at a time."""

        async def one(index: int, plan: Plan) -> None:
            await self.released(index / max(1, len(planned)))
            async with self.limit:
                await self.drive(plan)

        try:
            await asyncio.gather(*(one(i, p) for i, p in enumerate(planned)))
        finally:
            self.all_done = True
            await self._changed()

    async def _changed(self) -> None:
        async with self._busy:
            self._busy.notify_all()

    async def wait_busy(self, timeout: float) -> None:
        """Until a dossier is being driven (or the driver is done), at most `timeout` s."""
        async with self._busy:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._busy.wait_for(lambda: self.in_flight > 0 or self.all_done), timeout
                )

    async def probe(self, planned: list[Plan]) -> list[asyncio.Task[DossierRun]]:
        """Urgent dossiers opened now, outside the concurrency bound; returns once each is
        opened (or failed to open), their lifecycles going on in the returned tasks."""
        opened = [asyncio.Event() for _ in planned]
        tasks = [asyncio.create_task(self.drive(p, opened=e)) for p, e in zip(planned, opened, strict=True)]
        await asyncio.gather(*(e.wait() for e in opened))
        return tasks

    # --- one dossier ---------------------------------------------------------------------------

    def _rid(self, plan: Plan, step: str) -> str:
        return f"faults-{self.tag}-{plan.number}-{step}"

    async def _call(
        self, run: DossierRun, method: str, fn: Any, request: Any, owes: tuple[str, ...] = (), token: str = ""
    ) -> Any:
        """One call through the retrying client; once answered, the effects it `owes` are owed
        from the time it was made. While it runs they are `maybe`: a call that fails for good
        may still have been applied."""
        at = run.last_call_at = self.clock.now()
        run.maybe = set(owes)
        answer = await self.calls.call(
            method, fn, request, token=token or self.agent_token, dossier=run.plan.number
        )
        run.maybe = set()
        for key in owes:
            self._owe(run, key, at)
        return answer

    def _owe(self, run: DossierRun, key: str, at: float | None = None) -> None:
        run.expects.append(Expect(key, self.clock.now() if at is None else at))

    async def drive(self, plan: Plan, opened: asyncio.Event | None = None) -> DossierRun:
        run = DossierRun(plan)
        self.runs.append(run)
        self.in_flight += 1
        await self._changed()
        try:
            await self._lifecycle(run, opened)
            run.finished = True
            # Where it ended: the stage of its last step, the outcome of its last closure.
            for key in ("stage", "fact:stage"):
                self._owe(run, key, run.last_call_at)
            if run.closures:
                for key in ("outcome", "fact:outcome"):
                    self._owe(run, key, run.last_close_at)
        except (Refused, GaveUp) as exc:
            run.error = str(exc)
        except Exception as exc:  # reported, never hidden: the run fails
            run.error = f"{type(exc).__name__}: {exc}"
        finally:
            self.in_flight -= 1
            await self._changed()
            if opened is not None:
                opened.set()
        return run

    async def _lifecycle(self, run: DossierRun, opened: asyncio.Event | None) -> None:
        plan = run.plan
        intake, referral = self.intake, self.referral
        person = await self._call(
            run,
            "CreatePerson",
            intake.CreatePerson,
            intake_pb2.CreatePersonRequest(
                request_id=self._rid(plan, "person"),
                territory=plan.territory,
                first_name="Essai",
                last_name=f"Panne-{self.tag}-{plan.number:04d}",
                birth_date="1980-01-01",
            ),
            owes=("person",),
        )
        run.person_id = person.person.person_id
        answer = await self._call(
            run,
            "OpenDossier",
            intake.OpenDossier,
            intake_pb2.OpenDossierRequest(
                request_id=self._rid(plan, "open"),
                territory=plan.territory,
                site=_site_of(plan.territory),
                motifs=list(plan.motifs),
                arrival_channel=plan.channel,
                urgent=plan.urgent,
                person_id=run.person_id,
            ),
            owes=("timeline:opened", "fact:opened"),
        )
        run.dossier_id = answer.dossier.dossier_id
        run.stage = answer.dossier.stage
        run.opened_at = self.clock.now()
        if opened is not None:
            opened.set()
        if plan.urgent:
            # The urgent écoute deadline counts from the opening as the workflow recorded it,
            # i.e. at or before the answer.
            run.escalation_due = run.opened_at + URGENT_S
            self._owe(run, "timeline:escalated", run.escalation_due)
            self._owe(run, "fact:escalated", run.escalation_due)
            await self._wait_escalated(run)
        await self._call(
            run,
            "RecordConsent",
            intake.RecordConsent,
            intake_pb2.RecordConsentRequest(
                person_id=run.person_id,
                dossier_id=run.dossier_id,
                partner_id=plan.partner,
                data_scope=["motif"],
                kind="consent",
                channel="oral",
                request_id=self._rid(plan, "consent"),
            ),
            owes=("consent",),
        )
        await self._step(
            run,
            "interview",
            "RecordInterview",
            intake.RecordInterview,
            intake_pb2.RecordInterviewRequest(
                dossier_id=run.dossier_id,
                notes="Entretien d'essai (données fictives).",
                request_id=self._rid(plan, "interview"),
            ),
        )
        await self._step(
            run,
            "ecoute_completed",
            "CompleteEcoute",
            intake.CompleteEcoute,
            intake_pb2.CompleteEcouteRequest(
                dossier_id=run.dossier_id, next_stage="orientation", request_id=self._rid(plan, "ecoute")
            ),
        )
        if plan.assign:
            await self._step(
                run,
                "assigned",
                "AssignAgent",
                intake.AssignAgent,
                intake_pb2.AssignAgentRequest(
                    dossier_id=run.dossier_id, assignee="agent.relais", request_id=self._rid(plan, "assign")
                ),
            )
        await self._wait_known_to_referral(run)
        created = await self._call(
            run,
            "CreateReferral",
            referral.CreateReferral,
            referral_pb2.CreateReferralRequest(
                dossier_id=run.dossier_id,
                partner_id=plan.partner,
                motif=plan.motifs[0],
                message_for_partner="Orientation d'essai (situation fictive).",
                request_id=self._rid(plan, "referral"),
            ),
            owes=("referral", "timeline:referral:requested", "partner:requested", "fact:referral:requested"),
        )
        run.referral_id = created.referral_id
        token = self.partner_tokens[plan.partner]
        for method, status in PARTNER_STEPS:
            await self._call(
                run,
                method,
                getattr(referral, method),
                referral_pb2.ReferralActionRequest(
                    referral_id=run.referral_id,
                    outcome="need_met" if status == "completed" else "",
                    request_id=self._rid(plan, f"partner-{status}"),
                ),
                owes=(f"timeline:referral:{status}", f"partner:{status}", f"fact:referral:{status}"),
                token=token,
            )
        await self._step(
            run,
            "follow_up",
            "RecordFollowUp",
            intake.RecordFollowUp,
            intake_pb2.RecordFollowUpRequest(
                dossier_id=run.dossier_id, notes="Contact d'essai.", request_id=self._rid(plan, "follow-up")
            ),
        )
        await self._step(
            run,
            "stage_changed",
            "StartSuivi",
            intake.StartSuivi,
            intake_pb2.StepRequest(dossier_id=run.dossier_id, request_id=self._rid(plan, "suivi")),
        )
        await self._close(run, plan.outcome, "close")
        if plan.reopen:
            await self._step(
                run,
                "reopened",
                "ReopenDossier",
                intake.ReopenDossier,
                intake_pb2.ReopenDossierRequest(
                    dossier_id=run.dossier_id,
                    reason="Nouvelle demande.",
                    request_id=self._rid(plan, "reopen"),
                ),
            )
            if plan.second_outcome:
                await self._close(run, plan.second_outcome, "close-again")

    async def _step(self, run: DossierRun, kind: str, method: str, fn: Any, request: Any) -> None:
        answer = await self._call(run, method, fn, request, owes=(f"timeline:{kind}",))
        run.stage = answer.dossier.stage

    async def _close(self, run: DossierRun, outcome: str, step: str) -> None:
        run.last_close_at = self.clock.now()
        await self._step(
            run,
            "closed",
            "CloseDossier",
            self.intake.CloseDossier,
            intake_pb2.CloseDossierRequest(
                dossier_id=run.dossier_id,
                outcome=outcome,
                notes="Clôture d'essai.",
                request_id=self._rid(run.plan, step),
            ),
        )
        run.outcome = outcome
        run.closures += 1

    async def _wait_escalated(self, run: DossierRun) -> None:
        """Polls the timeline (reads through the retrying client) until the escalation is
        there; bounded, the check then reports it missing."""
        deadline = self.clock.now() + ESCALATION_WAIT_S
        while self.clock.now() < deadline:
            timeline = await self._call(
                run,
                "GetDossierTimeline",
                self.intake.GetDossierTimeline,
                intake_pb2.GetDossierRequest(dossier_id=run.dossier_id),
            )
            if any(e.kind == "escalated" for e in timeline.entries):
                return
            await asyncio.sleep(0.5)

    async def _wait_known_to_referral(self, run: DossierRun) -> None:
        """The referral service learns of a dossier from its events, a moment after the RPC
        (CreateReferral answers NOT_FOUND before): its read model, read in the database."""
        deadline = self.clock.now() + READ_MODEL_WAIT_S
        dossier_id = uuid.UUID(run.dossier_id)
        while self.clock.now() < deadline:
            try:
                async with self.pool.acquire() as conn:
                    if await conn.fetchval(
                        "SELECT 1 FROM referral.dossiers WHERE dossier_id = $1", dossier_id
                    ):
                        return
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                pass  # PostgreSQL restarting
            await asyncio.sleep(0.2)
        raise TimeoutError(f"the referral service did not learn of dossier {run.plan.number} within the wait")
