"""Faults carried by messages: poison and duplicate events on the events stream, and the
webhook partner's receiver down."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Awaitable
from datetime import UTC, datetime

import aiohttp
import asyncpg

from devstack.faults.context import Context, Window, open_probes, recovered, until
from devstack.faults.stack import WEBHOOK_PARTNER
from domain.events import EventType, short_name
from kernel import metrics

# --- messages on the events stream ---------------------------------------------------------------


async def poison(ctx: Context, window: Window) -> None:
    """Two messages no consumer can apply: one with a well-formed envelope but data that does
    not parse, one without any CloudEvents header."""
    root, stream = ctx.settings.subject_root, ctx.settings.events_stream
    event_id = str(uuid.uuid4())
    first = await ctx.js.publish(
        f"{root}.{short_name(EventType.DOSSIER_OPENED)}",
        b"\xff\xff\xff\xff not protobuf",
        headers={
            "Nats-Msg-Id": event_id,
            "ce-specversion": "1.0",
            "ce-id": event_id,
            "ce-type": EventType.DOSSIER_OPENED,
            "ce-source": "/faults",
            "ce-subject": str(uuid.uuid4()),
            "ce-time": datetime.now(UTC).isoformat(),
            "ce-datacontenttype": "application/protobuf",
            "ce-dataschema": "entraide.v1.DossierOpened",
        },
        stream=stream,
    )
    second = await ctx.js.publish(
        f"{root}.{short_name(EventType.REFERRAL_STATUS_CHANGED)}", b"{not an event", stream=stream
    )
    ctx.poison = [
        {
            "seq": first.seq,
            "subject": "dossier.opened",
            "consumers": ["reporting-projector", "referral-dossiers"],
        },
        {
            "seq": second.seq,
            "subject": "referral.status_changed",
            "consumers": ["reporting-projector", "referral-partner-notifier"],
        },
    ]
    window.notes.append(
        f"published at stream seq {first.seq} (dossier.opened, data that does not parse) and {second.seq}"
        " (referral.status_changed, no CloudEvents headers)"
    )
    expected = {(c, p["seq"]) for p in ctx.poison for c in p["consumers"]}

    async def dead_lettered() -> bool:
        return expected <= set(await dead_letters(ctx.pool))

    recovered(window, await until(ctx, dead_lettered), "each subscribed consumer dead-lettered them")


async def dead_letters(pool: asyncpg.Pool) -> list[tuple[str, int]]:
    found: list[tuple[str, int]] = []
    async with pool.acquire() as conn:
        for schema in ("intake", "referral", "reporting"):
            rows = await conn.fetch(f"SELECT consumer, stream_seq FROM {schema}.dead_letters ORDER BY id")
            found += [(str(r["consumer"]), int(r["stream_seq"])) for r in rows]
    return found


async def duplicates(ctx: Context, window: Window) -> None:
    """Events already in the stream published again with a new Nats-Msg-Id (so JetStream keeps
    them) and the same event id: only the consumers' inboxes can tell."""
    stream = ctx.settings.events_stream
    before = await duplicate_counts(ctx)
    info = await ctx.js.stream_info(stream)
    last = int(info.state.last_seq)
    poisoned = {p["seq"] for p in ctx.poison}
    seqs = [s for s in range(1, last + 1) if s not in poisoned]
    chosen = sorted(ctx.rng.sample(seqs, min(len(seqs), max(10, len(seqs) // 20))))
    for seq in chosen:
        msg = await ctx.js.get_msg(stream, seq)
        headers = dict(msg.headers or {})
        headers["Nats-Msg-Id"] = str(uuid.uuid4())
        ack = await ctx.js.publish(msg.subject or "", msg.data or b"", headers=headers, stream=stream)
        ctx.duplicates.append(
            {"seq": seq, "copy": ack.seq, "event_id": headers.get("ce-id"), "type": headers.get("ce-type")}
        )
    kinds = sorted({str(d["type"]).removeprefix("entraide.") for d in ctx.duplicates})
    window.notes.append(f"{len(chosen)} events republished (of {last}): {', '.join(kinds)}")
    owed: Counter[str] = Counter()
    for d in ctx.duplicates:
        kind = str(d["type"]).removeprefix("entraide.")
        owed["reporting-projector"] += 1
        owed["referral-dossiers"] += kind.startswith("dossier.")
        owed["referral-partner-notifier"] += kind == "referral.status_changed"

    async def skipped() -> bool:
        after = await duplicate_counts(ctx)
        window.extra["skipped"] = {c: after[c] - before[c] for c in owed}
        return all(after[c] - before[c] >= n for c, n in owed.items())

    seconds = await until(ctx, skipped)
    window.notes.append(
        "skipped as duplicates by the consumers' inboxes (their metrics): "
        + ", ".join(f"{c} {n} of {owed[c]}" for c, n in window.extra.get("skipped", {}).items())
    )
    recovered(window, seconds, "every copy skipped by every subscribed consumer")


async def duplicate_counts(ctx: Context) -> Counter[str]:
    """entraide_consumer_events_total{result="duplicate"} of each consumer, from the metrics
    endpoints of the processes that run them (a counter starts again at 0 with its process)."""
    found: Counter[str] = Counter()
    async with aiohttp.ClientSession() as session:
        for service in ("referral", "reporting"):
            async with session.get(
                metrics.url(service, ctx.stack.env), timeout=aiohttp.ClientTimeout(5)
            ) as reply:
                text = await reply.text()
            for line in text.splitlines():
                if line.startswith("entraide_consumer_events_total{") and 'result="duplicate"' in line:
                    consumer = line.split('consumer="', 1)[1].split('"', 1)[0]
                    found[consumer] += int(float(line.rsplit(" ", 1)[1]))
    return found


# --- the webhook receiver ------------------------------------------------------------------------


async def receiver_down(ctx: Context, window: Window) -> None:
    """The receiver down for the fault's time, and at least until one delivery to it failed
    (a dossier referred to the webhook partner is opened as it goes down)."""

    async def count(where: str) -> int:
        async with ctx.pool.acquire() as conn:
            n = await conn.fetchval(
                f"SELECT count(*) FROM referral.partner_deliveries WHERE channel = 'webhook' AND {where}"
            )
        return int(n)

    retried_before = await count("attempts > 1")
    await ctx.receiver.stop()
    down = ctx.clock.now()
    await open_probes(ctx, 1, urgent=False, partner=WEBHOOK_PARTNER)
    await asyncio.sleep(ctx.seconds)
    failed = await until(
        ctx, lambda: _positive(count("last_error_type IS NOT NULL AND status = 'pending'")), 30
    )
    await ctx.receiver.start()
    back = ctx.clock.now()
    failing = await count("last_error_type IS NOT NULL AND status = 'pending'")

    async def delivered() -> bool:
        window.extra["retried"] = await count("attempts > 1") - retried_before
        return not await count("status <> 'delivered'")

    seconds = await until(ctx, delivered)
    window.notes.append(
        f"receiver down {back - down:.1f} s (port closed, connections dropped)"
        + ("" if failed is not None else ", and no delivery was attempted meanwhile")
        + f"; {failing} deliveries failing when it came back,"
        f" {window.extra.get('retried', 0)} needed more than one attempt"
    )
    recovered(window, seconds, "every webhook delivery delivered, after its return")


async def _positive(value: Awaitable[int]) -> bool:
    return await value > 0
