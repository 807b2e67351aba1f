"""The fault matrix: one row per fault (client-visible effect, lost, doubled, recovered by
itself), the totals, the global checks and the notes; as text and as JSON."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from devstack.faults.checks import Problem, Truth
from devstack.faults.client import CallRecord
from devstack.faults.context import Window

HEADER = (
    "fault",
    "client-visible effect (codes seen, max latency)",
    "lost",
    "doubled",
    "recovered by itself",
)


@dataclass
class Row:
    window: Window
    calls: int
    codes: Counter[str]
    reasons: Counter[tuple[str, str]]
    max_latency: float
    lost: list[Problem]
    doubled: list[Problem]
    restarts: Counter[str]

    def effect(self) -> str:
        if not self.calls:
            return "no call"
        parts = [f"{self.calls} call{'' if self.calls == 1 else 's'}"]
        failures = [(code, n) for code, n in self.codes.most_common() if code != "OK"]
        if not failures:
            parts.append("all OK at once")
        for code, n in failures:
            why = ", ".join(f"{r} {m}" for (c, r), m in self.reasons.most_common() if c == code and r)
            parts.append(f"{code} ×{n}" + (f" ({why})" if why else ""))
        return "; ".join(parts) + f"; max {self.max_latency:.1f} s"

    def recovery(self) -> str:
        text = self.window.recovered or "-"
        if self.restarts:
            text += "; supervisord restarted " + ", ".join(
                f"{p} {n}×" for p, n in sorted(self.restarts.items())
            )
        return text

    def cells(self) -> tuple[str, str, str, str, str]:
        return (
            self.window.label,
            self.effect(),
            str(len(self.lost)),
            str(len(self.doubled)),
            self.recovery(),
        )


def trouble_at(call: CallRecord) -> float:
    """When a call first met a fault (the end of its first failed attempt), else its start."""
    return next((a.start + a.latency for a in call.attempts if a.code != "OK"), call.start)


def window_of(windows: list[Window], t: float) -> Window | None:
    return next((w for w in windows if w.start <= t < w.until), None)


def rows(
    windows: list[Window], records: list[CallRecord], truth: Truth, restarts: list[tuple[float, str]]
) -> list[Row]:
    """Each call is charged, with all its attempts' codes and its whole latency, to the window
    where it met its first fault (where it started, when it met none); a loss or a double to
    the window its call was made in; a restart to the window it happened in."""
    charged: dict[int, list[CallRecord]] = {id(w): [] for w in windows}
    for call in records:
        window = window_of(windows, trouble_at(call))
        if window is not None:
            charged[id(window)].append(call)
    found = []
    for w in windows:
        mine_calls = charged[id(w)]
        codes: Counter[str] = Counter(a.code for c in mine_calls for a in c.attempts)
        reasons: Counter[tuple[str, str]] = Counter(
            (a.code, a.reason) for c in mine_calls for a in c.attempts
        )
        mine = [p for p in truth.problems if w.start <= p.at < w.until]
        found.append(
            Row(
                window=w,
                calls=len(mine_calls),
                codes=codes,
                reasons=reasons,
                max_latency=max((c.latency for c in mine_calls), default=0.0),
                lost=[p for p in mine if p.kind == "lost"],
                doubled=[p for p in mine if p.kind == "doubled"],
                restarts=Counter(p for t, p in restarts if w.start <= t < w.until),
            )
        )
    return found


def internals(windows: list[Window], records: list[CallRecord]) -> list[str]:
    """Every INTERNAL answer, when it came and which fault was on then."""
    found = []
    for call in records:
        for a in call.attempts:
            if a.code == "INTERNAL":
                at = a.start + a.latency
                window = window_of(windows, at)
                label = window.label if window is not None else "?"
                found.append(f"  +{at:.1f} s {call.method} of dossier #{call.dossier} (during: {label})")
    return found


def table(cells: list[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
    lines = []
    for n, row in enumerate(cells):
        lines.append(
            " | ".join(
                v.ljust(widths[i]) if i != 2 and i != 3 else v.rjust(widths[i]) for i, v in enumerate(row)
            ).rstrip()
        )
        if n == 0:
            lines.append("-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def render(
    found: list[Row],
    truth: Truth,
    records: list[CallRecord],
    timings: dict[str, float],
    header: list[str],
) -> str:
    codes = Counter(a.code for c in records for a in c.attempts)
    total_lost, total_doubled = truth.lost, truth.doubled
    totals = (
        "TOTAL",
        f"{len(records)} calls, {sum(len(c.attempts) for c in records)} attempts: "
        + ", ".join(f"{k} {v}" for k, v in codes.most_common())
        + f"; max {max((c.latency for c in records), default=0.0):.1f} s",
        str(total_lost),
        str(total_doubled),
        "yes" if all(r.window.ok for r in found) else "NO",
    )
    lines = [*header, "", table([HEADER, *(r.cells() for r in found), totals]), ""]
    bad = internals([r.window for r in found], records)
    if bad:
        lines += ["INTERNAL answers:", *bad, ""]
    lines.append("Checks:")
    for what, ok, detail in truth.checks:
        lines.append(f"  [{'ok' if ok else 'FAIL'}] {what}" + (f": {detail}" if detail else ""))
    lines.append("")
    lines += counts(truth.counts)
    lines.append("")
    lines.append("Notes:")
    for r in found:
        for note in r.window.notes:
            lines.append(f"  {r.window.label}: {note}")
    problems = truth.problems
    if problems:
        lines.append("")
        lines.append(f"Problems ({len(problems)}, first 40):")
        for p in problems[:40]:
            where = f"dossier #{p.dossier}" if p.dossier >= 0 else "global"
            lines.append(f"  {p.kind}: {where} {p.key} ({p.detail}), asked at +{p.at:.1f} s")
    lines.append("")
    lines.append("Time: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
    return "\n".join(lines) + "\n"


def counts(found: dict[str, Any]) -> list[str]:
    """The counts in words: what was counted for partner messages, events, the bilan, restarts."""
    nats, hook = found.get("nats_partner", {}), found.get("webhook", {})
    events, bilan = found.get("events", {}), found.get("bilan", {})
    lines = [
        "Partner messages (one owed per status change of a referral, to its partner's channel):",
        f"  NATS partner: {nats.get('messages')} messages in the PARTNERS stream,"
        f" {nats.get('distinct_ids')} distinct Nats-Msg-Id (delivery ids), {nats.get('owed')} owed",
        f"  webhook partner: {hook.get('posts')} signed POSTs received,"
        f" {hook.get('distinct_deliveries')} distinct Entraide-Delivery-Id, {hook.get('owed')} owed;"
        f" {hook.get('duplicates_received')} received again with the same id (at-least-once retries,"
        " answered 2xx and counted once)",
        f"Events stream: {events.get('messages')} messages, {events.get('event_ids')} distinct event ids"
        f" ({events.get('republished')} republished on purpose)",
        "Bilan of the run's period, every commune: " + ", ".join(f"{k} {v}" for k, v in bilan.items()),
        "Restarts by supervisord: " + ", ".join(f"{k} {v}" for k, v in found.get("restarts", {}).items()),
    ]
    if found.get("applied_though_failed"):
        lines.append(f"Effects applied although their call failed: {found['applied_though_failed']}")
    return lines


def as_json(found: list[Row], truth: Truth, timings: dict[str, float], ok: bool) -> dict[str, Any]:
    return {
        "ok": ok,
        "rows": [
            {
                "fault": r.window.key,
                "label": r.window.label,
                "calls": r.calls,
                "codes": dict(r.codes),
                "max_latency_s": round(r.max_latency, 3),
                "lost": len(r.lost),
                "doubled": len(r.doubled),
                "recovered": r.window.ok,
                "recovery": r.recovery(),
                "recovered_s": r.window.recovered_s,
                "notes": r.window.notes,
            }
            for r in found
        ],
        "lost": truth.lost,
        "doubled": truth.doubled,
        "checks": [{"check": what, "ok": ok_, "detail": detail} for what, ok_, detail in truth.checks],
        "counts": truth.counts,
        "problems": [p.__dict__ for p in truth.problems],
        "timings_s": timings,
    }
