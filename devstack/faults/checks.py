"""The truth after the faults: what the system holds, against the driver's tally.

Per dossier (its owed effects, `driver.Expect`): the person and the consent once, every
timeline step once (intake's tables; referral steps told apart by their status), the stage
and the outcome, the referral once with every status, each status once to the partner (on
the PARTNERS stream for the NATS partner, by distinct delivery id at the webhook receiver
for the other), the reporting facts. Globally: the bilan equal to the tally, dead letters
holding only the poison, outboxes drained, every event id once on the events stream but
the ones republished on purpose, no INTERNAL, every restart done by supervisord.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from entraide.v1 import reporting_pb2, reporting_pb2_grpc
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from devstack import cli, process_events, supervision
from devstack.faults.client import Calls, channel
from devstack.faults.context import CONSUMERS, Context
from devstack.faults.driver import DossierRun
from devstack.faults.messages import dead_letters
from devstack.faults.stack import NATS_PARTNER, WEBHOOK_PARTNER, Stack
from domain.labels_fr import REFERRAL_STATUS_LABELS
from kernel import reference
from kernel.auth import Role
from kernel.timestamps import to_timestamp

# Longest label first: « reçue par le partenaire » before a shorter one it starts with.
_STATUS_BY_LABEL = sorted(
    ((label, s) for s, label in REFERRAL_STATUS_LABELS.items()), key=lambda x: -len(x[0])
)


@dataclass(frozen=True)
class Problem:
    kind: str  # "lost" or "doubled"
    dossier: int
    key: str
    at: float  # run clock of the call that asked for it (which fault it is charged to)
    detail: str


@dataclass
class Truth:
    problems: list[Problem] = field(default_factory=list)
    checks: list[tuple[str, bool, str]] = field(default_factory=list)  # (what, ok, detail)
    counts: dict[str, Any] = field(default_factory=dict)
    final: set[str] = field(default_factory=set)  # checks that waiting cannot change

    def check(self, what: str, ok: bool, detail: str, final: bool = False) -> None:
        self.checks.append((what, ok, detail))
        if final:
            self.final.add(what)

    @property
    def worth_waiting(self) -> bool:
        """Something is still missing that the system may yet deliver."""
        return bool(self.problems) or any(not ok and what not in self.final for what, ok, _ in self.checks)

    @property
    def lost(self) -> int:
        return sum(1 for p in self.problems if p.kind == "lost")

    @property
    def doubled(self) -> int:
        return sum(1 for p in self.problems if p.kind == "doubled")

    @property
    def ok(self) -> bool:
        return not self.problems and all(ok for _, ok, _ in self.checks)


def referral_status(summary: str) -> str:
    tail = summary.rsplit(" : ", 1)[-1]
    return next((s for label, s in _STATUS_BY_LABEL if tail.startswith(label)), f"?{tail}")


async def stream_messages(js: JetStreamContext, stream: str, subject: str) -> list[Any]:
    """Every message of a stream, through an ephemeral consumer that acknowledges nothing."""
    info = await js.stream_info(stream)
    total = int(info.state.messages)
    config = ConsumerConfig(
        deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.NONE, inactive_threshold=60.0
    )
    subscription = await js.pull_subscribe(subject, stream=stream, config=config)
    found: list[Any] = []
    try:
        while len(found) < total:
            try:
                found += await subscription.fetch(min(500, total - len(found)), timeout=2)
            except TimeoutError:
                break
    finally:
        await subscription.unsubscribe()
    return found


async def settled(ctx: Context) -> bool:
    """Nothing left in flight: outboxes published, consumers caught up, deliveries made."""
    async with ctx.pool.acquire() as conn:
        for schema in ("intake", "referral"):
            if await conn.fetchval(f"SELECT count(*) FROM {schema}.outbox WHERE published_at IS NULL"):
                return False
        if await conn.fetchval("SELECT count(*) FROM referral.partner_deliveries WHERE status = 'pending'"):
            return False
    for _, durable in CONSUMERS:
        info = await ctx.js.consumer_info(ctx.settings.events_stream, durable)
        if info.num_pending or info.num_ack_pending:
            return False
    return True


async def bilan(stack: Stack, calls: Calls, start: datetime, end: datetime) -> reporting_pb2.Bilan:
    token = stack.token("faults.responsable", Role.RESPONSABLE)
    async with channel(stack.address("reporting"), stack.env) as ch:
        stub = reporting_pb2_grpc.ReportingServiceStub(ch)
        request = reporting_pb2.GetBilanRequest(
            territories=sorted(reference.load(stack.env).territories),
            to=to_timestamp(end),
            **{"from": to_timestamp(start)},  # a Python keyword
        )
        answer: reporting_pb2.Bilan = await calls.call("GetBilan", stub.GetBilan, request, token=token)
        return answer


async def truth(ctx: Context, runs: list[DossierRun], started_wall: float) -> Truth:
    found = Truth()
    ids = [uuid.UUID(r.dossier_id) for r in runs if r.dossier_id]
    referral_ids = [uuid.UUID(r.referral_id) for r in runs if r.referral_id]
    person_ids = [uuid.UUID(r.person_id) for r in runs if r.person_id]
    async with ctx.pool.acquire() as conn:
        timeline = await conn.fetch(
            "SELECT dossier_id, kind, summary FROM intake.dossier_timeline"
            " WHERE dossier_id = ANY($1::uuid[])",
            ids,
        )
        dossiers = {
            str(r["dossier_id"]): r
            for r in await conn.fetch(
                "SELECT dossier_id, stage, outcome FROM intake.dossiers WHERE dossier_id = ANY($1::uuid[])",
                ids,
            )
        }
        persons = Counter(
            {
                str(r["last_name"]): int(r["n"])
                for r in await conn.fetch(
                    "SELECT last_name, count(*) AS n FROM intake.persons WHERE last_name LIKE $1 GROUP BY 1",
                    f"Panne-{ctx.driver.tag}-%",
                )
            }
        )
        consents = Counter(
            {
                (str(r["person_id"]), str(r["partner_id"])): int(r["n"])
                for r in await conn.fetch(
                    "SELECT person_id, partner_id, count(*) AS n FROM intake.consents"
                    " WHERE person_id = ANY($1::uuid[]) GROUP BY 1, 2",
                    person_ids,
                )
            }
        )
        referrals = Counter(
            {
                str(r["dossier_id"]): int(r["n"])
                for r in await conn.fetch(
                    "SELECT dossier_id, count(*) AS n FROM referral.referrals"
                    " WHERE dossier_id = ANY($1::uuid[]) GROUP BY 1",
                    ids,
                )
            }
        )
        facts = {
            str(r["dossier_id"]): r
            for r in await conn.fetch(
                "SELECT dossier_id, opened_at, escalated, stage, outcome FROM reporting.dossier_facts"
                " WHERE dossier_id = ANY($1::uuid[])",
                ids,
            )
        }
        referral_facts = {
            str(r["referral_id"]): r
            for r in await conn.fetch(
                "SELECT referral_id, requested_at, received_at, accepted_at, in_progress_at, completed_at"
                " FROM reporting.referral_facts WHERE referral_id = ANY($1::uuid[])",
                referral_ids,
            )
        }
        deliveries = Counter(
            {
                (str(r["channel"]), str(r["status"])): int(r["n"])
                for r in await conn.fetch(
                    "SELECT channel, status, count(*) AS n FROM referral.partner_deliveries GROUP BY 1, 2"
                )
            }
        )
        backlog = {
            s: int(await conn.fetchval(f"SELECT count(*) FROM {s}.outbox WHERE published_at IS NULL"))
            for s in ("intake", "referral")
        }
    steps: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for row in timeline:
        kind = str(row["kind"])
        key = (
            f"timeline:referral:{referral_status(row['summary'])}"
            if kind == "referral"
            else f"timeline:{kind}"
        )
        steps[str(row["dossier_id"])][key] += 1

    # Partner messages: the PARTNERS stream (NATS partner), the webhook receiver (by delivery id).
    nats_messages = await stream_messages(ctx.js, "PARTNERS", "partners.>")
    nats_by_change: defaultdict[tuple[str, str], list[str]] = defaultdict(list)
    for msg in nats_messages:
        data = json.loads(msg.data).get("data", {})
        nats_by_change[(str(data.get("referral_id")), str(data.get("status")))].append(
            str((msg.headers or {}).get("Nats-Msg-Id"))
        )
    received = ctx.receiver.received

    for run in runs:
        if not run.dossier_id:
            continue
        owed = Counter(e.key for e in run.expects)
        have: Counter[str] = Counter()
        have["person"] = persons.get(f"Panne-{ctx.driver.tag}-{run.plan.number:04d}", 0)
        have["consent"] = consents.get((run.person_id, run.plan.partner), 0)
        have.update(steps.get(run.dossier_id, Counter()))
        have["referral"] = referrals.get(run.dossier_id, 0)
        fact = facts.get(run.dossier_id)
        have["fact:opened"] = int(fact is not None and fact["opened_at"] is not None)
        have["fact:escalated"] = int(fact is not None and bool(fact["escalated"]))
        dossier = dossiers.get(run.dossier_id)
        if "stage" in owed:
            have["stage"] = int(dossier is not None and dossier["stage"] == run.stage)
            have["fact:stage"] = int(fact is not None and fact["stage"] == run.stage)
        if "outcome" in owed:
            have["outcome"] = int(
                dossier is not None and dossier["outcome"] == (run.outcome if run.stage == "cloture" else "")
            )
            have["fact:outcome"] = int(fact is not None and fact["outcome"] == run.outcome)
        if run.referral_id:
            rfact = referral_facts.get(run.referral_id)
            for status in ("requested", "received", "accepted", "in_progress", "completed"):
                have[f"fact:referral:{status}"] = int(rfact is not None and rfact[f"{status}_at"] is not None)
                change = (run.referral_id, status)
                if run.plan.partner == WEBHOOK_PARTNER:
                    have[f"partner:{status}"] = len(received.by_change.get(change, ()))
                else:
                    have[f"partner:{status}"] = len(nats_by_change.get(change, ()))
        last_at = {e.key: e.at for e in run.expects}
        for key in sorted(set(owed) | {k for k in have if have[k]}):
            want, got = owed.get(key, 0), have.get(key, 0)
            at = last_at.get(key, run.last_call_at)
            if got == want + 1 and key in run.maybe:
                found.counts["applied_though_failed"] = found.counts.get("applied_though_failed", 0) + 1
            elif got < want:
                found.problems.append(Problem("lost", run.plan.number, key, at, f"{got} of {want}"))
            elif got > want:
                found.problems.append(Problem("doubled", run.plan.number, key, at, f"{got} for {want}"))

    # --- global checks --------------------------------------------------------------------------
    stray = sum(
        n
        for name, n in persons.items()
        if name not in {f"Panne-{ctx.driver.tag}-{r.plan.number:04d}" for r in runs}
    )
    found.check("no person created outside the tally", stray == 0, f"{stray} stray")
    found.check(
        "outboxes drained", not any(backlog.values()), ", ".join(f"{k} {v}" for k, v in backlog.items())
    )
    not_delivered = {k: v for k, v in deliveries.items() if k[1] != "delivered"}
    found.check(
        "partner deliveries all delivered (none pending, held or dead)",
        not not_delivered,
        ", ".join(f"{c} {s}: {n}" for (c, s), n in sorted(deliveries.items())),
    )
    found.check(
        "webhook signatures all valid", received.bad_signatures == 0, f"{received.bad_signatures} refused"
    )
    found.counts["nats_partner"] = {
        "messages": len(nats_messages),
        "distinct_ids": len({i for ids_ in nats_by_change.values() for i in ids_}),
        "owed": sum(
            1
            for r in runs
            for e in r.expects
            if e.key.startswith("partner:") and r.plan.partner == NATS_PARTNER
        ),
    }
    found.counts["webhook"] = {
        "posts": received.posts,
        "distinct_deliveries": len(received.deliveries),
        "duplicates_received": received.duplicates,
        "owed": sum(
            1
            for r in runs
            for e in r.expects
            if e.key.startswith("partner:") and r.plan.partner == WEBHOOK_PARTNER
        ),
    }

    letters = await dead_letters(ctx.pool)
    expected_letters = {(c, p["seq"]) for p in ctx.poison for c in p["consumers"]}
    unexpected = [x for x in letters if x not in expected_letters]
    missing = expected_letters - set(letters)
    found.check(
        "dead letters hold only the poison, each once per subscribed consumer",
        not unexpected and not missing and len(letters) == len(set(letters)),
        f"{len(letters)} dead letters; unexpected {unexpected}; missing {sorted(missing)}",
    )
    for consumer, seq in unexpected:
        found.problems.append(
            Problem("lost", -1, f"dead letter {consumer}@{seq}", -1.0, "a real event dead-lettered")
        )

    events = await stream_messages(ctx.js, ctx.settings.events_stream, f"{ctx.settings.subject_root}.>")
    by_id = Counter(str((m.headers or {}).get("ce-id")) for m in events)
    republished = Counter(str(d["event_id"]) for d in ctx.duplicates)
    extra = {i: n for i, n in by_id.items() if n > 1 + republished.get(i, 0)}
    found.check(
        "events stream: every event id once (the republished ones twice)",
        not extra,
        f"{len(events)} messages, {len(by_id)} event ids; {len(extra)} ids stored more often than published",
    )
    found.counts["events"] = {
        "messages": len(events),
        "event_ids": len(by_id),
        "republished": sum(republished.values()),
    }

    found.check(
        "no INTERNAL",
        not any(a.code == "INTERNAL" for c in ctx.driver.calls.records for a in c.attempts),
        "",
        final=True,
    )
    stopped = [r for r in runs if r.error]
    found.check(
        "every dossier driven to its end (no call refused or given up)",
        not stopped,
        "; ".join(f"#{r.plan.number}: {r.error}" for r in stopped[:5]),
        final=True,
    )

    # The bilan over the run's period and every commune, against the tally.
    start = datetime.fromtimestamp(started_wall, UTC) - timedelta(minutes=1)
    end = datetime.now(UTC) + timedelta(minutes=1)
    figures = await bilan(ctx.stack, ctx.driver.calls, start, end)
    opened = [r for r in runs if r.dossier_id]
    closed = [r for r in opened if r.closures]
    tally: dict[str, int] = {
        "dossiers_opened": len(opened),
        "people_received": len({r.person_id for r in opened}),
        "dossiers_closed": len(closed),
        "dossiers_solved": sum(1 for r in closed if r.outcome == "regle"),
    }
    tally.update({f"motif:{m}": n for m, n in Counter(m for r in opened for m in r.plan.motifs).items()})
    tally.update({f"outcome:{o}": n for o, n in Counter(r.outcome for r in closed).items()})
    for partner in (NATS_PARTNER, WEBHOOK_PARTNER):
        mine = [r for r in opened if r.referral_id and r.plan.partner == partner]
        done = [r for r in mine if "partner:completed" in {e.key for e in r.expects}]
        tally[f"partner:{partner}:referrals"] = len(mine)
        tally[f"partner:{partner}:completed"] = len(done)
    seen: dict[str, int] = {
        "dossiers_opened": figures.dossiers_opened,
        "people_received": figures.people_received,
        "dossiers_closed": figures.dossiers_closed,
        "dossiers_solved": figures.dossiers_solved,
    }
    seen.update({f"motif:{s.code}": s.count for s in figures.by_motif if s.count})
    seen.update({f"outcome:{s.code}": s.count for s in figures.by_outcome if s.count})
    for p in figures.partners:
        seen[f"partner:{p.partner_id}:referrals"] = p.referrals
        seen[f"partner:{p.partner_id}:completed"] = p.completed
    diffs = {
        k: (tally.get(k, 0), seen.get(k, 0))
        for k in sorted(set(tally) | set(seen))
        if tally.get(k, 0) != seen.get(k, 0)
    }
    found.check(
        "bilan equals the tally (opened, people, per motif, closed per outcome, solved, partners)",
        not diffs,
        f"{len(tally)} figures compared" + (f"; tally vs bilan: {diffs}" if diffs else ""),
    )
    for key, (want, got) in diffs.items():
        kind = "lost" if got < want else "doubled"
        found.problems.append(Problem(kind, -1, f"bilan {key}", -1.0, f"tally {want}, bilan {got}"))
    found.counts["bilan"] = {
        k: seen.get(k, 0)
        for k in ("dossiers_opened", "people_received", "dossiers_closed", "dossiers_solved")
    }
    return found


async def supervision_checks(ctx: Context, found: Truth, killed: set[str]) -> None:
    """Every restart was supervisord's own (none by hand), every killed process was restarted,
    and everything runs at the end."""
    events = process_events.read_events(supervision.events_file(ctx.stack.state))
    names = {app.name for app in cli.APPS}
    first_start: set[str] = set()
    by_hand = []
    for e in events:
        program = str(e.get("program"))
        if program not in names or e.get("state") != "STARTING":
            continue
        if program not in first_start:
            first_start.add(program)
            continue
        if not process_events.is_restart(e):
            by_hand.append(f"{program} from {e.get('from')}")
    restarts = process_events.restart_counts(events)
    found.check("no process started by hand (every restart by supervisord)", not by_hand, ", ".join(by_hand))
    not_restarted = sorted(p for p in killed if not restarts.get(p))
    found.check(
        "every killed process restarted by supervisord",
        not not_restarted,
        ", ".join(f"{p} {restarts.get(p, 0)}×" for p in sorted(names)),
    )
    status = await asyncio.to_thread(ctx.stack.programs)
    down = sorted(n for n in names if status.get(n) is None or status[n].state != "RUNNING")
    found.check("every process running at the end", not down, ", ".join(down))
    found.counts["restarts"] = {p: restarts.get(p, 0) for p in sorted(names)}
