"""Pure generation: a year of a CIAS's own aid ("aides facultatives" and micro-credit) in
six communes around Bar-le-Duc, as domain events with the records an oracle counts from
(aides_oracle.py), from a seed.

Everything is derived from the arguments: the same arguments give the same events, byte
for byte and ids included (uuid5 ids, no clock, no set or hash order). No I/O.

What a generated year looks like
--------------------------------
- Budget lines voted in the December before, for each commune: secours d'urgence and
  aide alimentaire together, énergie and loyer together, mobilité (a small envelope:
  exhausted in the bigger communes, once granted beyond it by a responsable's override)
  and the micro-credit's guarantee.
- About 420 requests over the open days of the year (every aid type of the reference
  data, the communes by weight, a quarter from persons who asked before), amounts
  asked to the cent under the type's ceiling; instructed within days (some incomplete
  first), put on the agenda of the commission (every other Tuesday), decided there:
  granted (sometimes reduced), refused with a reference reason, postponed to the next
  commission (then granted or refused, or still waiting at the year's end), a few
  granted in urgency by a responsable the day after the request; some withdrawn.
  A grant never takes a household over the type's yearly ceiling (refused "plafond
  atteint" then) nor a line over its envelope (reduced to what remains, refused when
  nothing does), except once per line by an override.
- Each grant but a loan's gets its payment to make (some split in two), paid within
  days or weeks, a few cancelled. Each micro-credit is set
  up with a partner bank within weeks; some record an incident later.
- A few persons found twice are merged (one chain of two merges): a household counts once.
- No personal data: ids, codes and cents.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from devstack.synthetic import aides_events as ev
from devstack.synthetic.dijon import closed_days
from devstack.synthetic.mixes import quota
from domain.aides import AidNature, Decision, DecisionChannel, LoanIncidentKind, PaymentMode, PaymentStatus
from domain.planning import PARIS
from kernel.events import Event
from kernel.reference import ReferenceData

AIDES_NAMESPACE = uuid.UUID("5e0a3d1c-7b24-4f6e-a8c9-2d1f3b4e6a70")
AIDES_YEAR = 2030  # the generated year the reporting tests use

BAR_LE_DUC, LIGNY = "55029", "55291"
COMMUNES: Mapping[str, float] = {
    BAR_LE_DUC: 0.45,
    LIGNY: 0.2,
    "55519": 0.12,  # Tronville-en-Barrois
    "55186": 0.1,  # Fains-Véel
    "55041": 0.07,  # Behonne
    "55302": 0.06,  # Longeville-en-Barrois
}
REQUESTS = 420
TYPES: Mapping[str, float] = {
    "secours_urgence": 0.22,
    "aide_alimentaire": 0.28,
    "aide_energie": 0.2,
    "aide_loyer": 0.12,
    "aide_mobilite": 0.1,
    "microcredit": 0.08,
}
# What becomes of a request (postponed_*: postponed once, then decided or still waiting).
PLANS: Mapping[str, float] = {
    "granted": 0.6,
    "refused": 0.17,
    "withdrawn": 0.07,
    "postponed_granted": 0.07,
    "postponed_refused": 0.03,
    "postponed_waiting": 0.02,
    "undecided": 0.04,
}
REFUSALS: Mapping[str, float] = {
    "hors_criteres": 0.4,
    "dossier_incomplet": 0.15,
    "autre_dispositif": 0.25,
    "hors_territoire": 0.1,
    "autre": 0.1,
}
URGENT_TYPES = ("secours_urgence", "aide_alimentaire")
URGENT_SHARE = 0.25  # of the grants of those types
RETURNING_SHARE = 0.25
REDUCED_SHARE = 0.3
INCOMPLETE_SHARE = 0.2
SPLIT_SHARE = 0.15  # grants paid in two payments
CANCELLED_SHARE = 0.08
INCIDENT_SHARE = 0.4
MERGES = 6
# (code, label, aid types, the CIAS's envelope in cents, split over the communes by weight)
LINES: tuple[tuple[str, str, tuple[str, ...], int], ...] = (
    ("secours", "Secours d'urgence et aide alimentaire", ("secours_urgence", "aide_alimentaire"), 4_000_000),
    ("energie_logement", "Énergie et logement", ("aide_energie", "aide_loyer"), 3_500_000),
    ("mobilite", "Mobilité", ("aide_mobilite",), 120_000),
    ("microcredit", "Microcrédit personnel (garantie)", ("microcredit",), 6_000_000),
)
OVERRIDE_MAX_CENTS = 20_000  # an override takes a line at most this far beyond its envelope
# No commission after this day (later requests wait for the next year): every payment,
# loan and incident of the year is dated in the year (the next year is other tests').
LAST_DECISION = (12, 8)
BANKS = ("credit-mutuel-bar", "caisse-epargne-lorraine", "banque-postale")
MODES: Mapping[AidNature, tuple[PaymentMode, ...]] = {
    AidNature.CASH: (PaymentMode.TRANSFER, PaymentMode.CHEQUE, PaymentMode.CASH),
    AidNature.VOUCHER: (PaymentMode.VOUCHER,),
    AidNature.PREPAID_CARD: (PaymentMode.PREPAID_CARD,),
    AidNature.THIRD_PARTY: (PaymentMode.TRANSFER, PaymentMode.CHEQUE),
}


@dataclass(frozen=True)
class GeneratedRequest:
    aid_request_id: str
    person_id: str
    territory: str
    aid_type: str
    asked_cents: int
    requested_at: datetime


@dataclass(frozen=True)
class GeneratedDecision:
    aid_request_id: str
    territory: str
    aid_type: str
    decision: str
    channel: str
    granted_cents: int
    refusal_reason: str
    budget_line_id: str
    overridden: bool
    at: datetime


@dataclass(frozen=True)
class GeneratedWithdrawal:
    aid_request_id: str
    territory: str
    at: datetime


@dataclass(frozen=True)
class GeneratedPayment:
    payment_id: str
    aid_request_id: str
    territory: str
    aid_type: str
    budget_line_id: str
    amount_cents: int
    changes: tuple[tuple[datetime, str], ...]  # (at, status) in time order


@dataclass(frozen=True)
class GeneratedLoan:
    loan_id: str
    aid_request_id: str
    territory: str
    amount_cents: int
    at: datetime


@dataclass(frozen=True)
class GeneratedIncident:
    loan_id: str
    territory: str
    kind: str
    at: datetime


@dataclass(frozen=True)
class GeneratedLine:
    budget_line_id: str
    territory: str
    year: int
    label: str
    aid_types: tuple[str, ...]
    envelope_cents: int


@dataclass(frozen=True)
class AidYear:
    year: int
    requests: tuple[GeneratedRequest, ...]
    decisions: tuple[GeneratedDecision, ...]
    withdrawals: tuple[GeneratedWithdrawal, ...]
    payments: tuple[GeneratedPayment, ...]
    loans: tuple[GeneratedLoan, ...]
    incidents: tuple[GeneratedIncident, ...]
    lines: tuple[GeneratedLine, ...]
    merges: tuple[tuple[str, str], ...]  # (merged person, kept person)
    events: tuple[Event, ...]


@dataclass
class _Line:
    line: GeneratedLine
    committed: int = 0
    overridden: bool = False


@dataclass
class _Request:
    request: GeneratedRequest
    plan: str
    sequence: int = 1
    # (at, channel, commission_id, final): the decisions to take, in time order.
    decisions: list[tuple[datetime, str, str, bool]] = field(default_factory=list)


class _Generator:
    def __init__(self, seed: int, year: int, reference: ReferenceData, requests: int) -> None:
        self.key = hashlib.sha256(f"aides/{seed}/{year}".encode()).hexdigest()[:16]
        self.rng = random.Random(f"aides/{seed}/{year}")
        self.year = year
        self.reference = reference
        self.keyed: list[tuple[datetime, str, Event]] = []
        self.counter = 0
        self.lines: dict[tuple[str, str], _Line] = {}
        self.requests: list[_Request] = []
        self.decisions: list[GeneratedDecision] = []
        self.withdrawals: list[GeneratedWithdrawal] = []
        self.payments: list[GeneratedPayment] = []
        self.loans: list[GeneratedLoan] = []
        self.incidents: list[GeneratedIncident] = []
        self.merges: list[tuple[str, str]] = []
        self.granted_to: dict[tuple[str, str], int] = {}  # (person, type) → granted this year
        self.refusal_reasons = quota(requests, REFUSALS)
        self.rng.shuffle(self.refusal_reasons)
        closed = closed_days(year)
        first = date(year, 1, 2)
        self.open_days = [
            d
            for d in (first + timedelta(days=n) for n in range(360))
            if d.year == year and d.weekday() < 5 and d not in closed
        ]
        tuesdays = [d for d in self.open_days if d.weekday() == 1 and d.isocalendar().week % 2 == 0]
        last = date(year, *LAST_DECISION)
        self.commissions = [d for d in tuesdays if d <= last]
        self.year_end = self._at(date(year + 1, 1, 1), time(0, 0))
        self.last_sitting = self._at(self.commissions[-1], time(14, 0))

    def uid(self, *parts: object) -> str:
        return str(uuid.uuid5(AIDES_NAMESPACE, "/".join([self.key, *map(str, parts)])))

    def emit(self, build: Callable[..., Event], *args: Any, **kwargs: Any) -> None:
        self.counter += 1
        event_id = uuid.UUID(self.uid("event", self.counter))
        event = build(*args, event_id=event_id, **kwargs)
        self.keyed.append((event.time, str(event_id), event))

    def _at(self, day: date, at: time) -> datetime:
        return datetime.combine(day, at, PARIS).astimezone(UTC)

    def _office(self, day: date) -> datetime:
        return self._at(day, time(9, 0)) + timedelta(minutes=self.rng.randint(0, 8 * 60))

    def budget_lines(self) -> None:
        voted = self._at(date(self.year - 1, 12, 15), time(18, 30))
        for territory, weight in sorted(COMMUNES.items()):
            for code, label, types, envelope in LINES:
                line = GeneratedLine(
                    self.uid("line", territory, code),
                    territory,
                    self.year,
                    label,
                    types,
                    int(envelope * weight) // 100 * 100,
                )
                for aid_type in types:
                    self.lines[(territory, aid_type)] = _Line(line)
                self.emit(
                    ev.budget_line_created,
                    line.budget_line_id,
                    territory,
                    self.year,
                    label,
                    list(types),
                    line.envelope_cents,
                    voted,
                )

    def commission_after(self, at: datetime) -> date | None:
        day = at.astimezone(PARIS).date()
        return next((d for d in self.commissions if d > day), None)

    def request_year(self, count: int) -> None:
        rng = self.rng
        communes, types, plans = quota(count, COMMUNES), quota(count, TYPES), quota(count, PLANS)
        for values in (communes, types, plans):
            rng.shuffle(values)
        days = sorted(rng.choice(self.open_days) for _ in range(count))
        persons: dict[str, list[str]] = {}
        for n, (day, territory, aid_type, plan) in enumerate(zip(days, communes, types, plans, strict=True)):
            known = persons.setdefault(territory, [])
            if known and rng.random() < RETURNING_SHARE:
                person = rng.choice(known)
            else:
                person = self.uid("person", territory, len(known))
                known.append(person)
            ref = self.reference.aid_types[aid_type]
            asked = rng.randint(2_000, ref.ceiling_per_request_cents)
            request_id = self.uid("request", n)
            at = self._office(day)
            request = GeneratedRequest(request_id, person, territory, aid_type, asked, at)
            r = _Request(request, plan)
            self.requests.append(r)
            self.emit(
                ev.aid_requested,
                request_id,
                self.uid("dossier", person),
                person,
                territory,
                aid_type,
                asked,
                at,
            )
            self.prepare(r)

    def next_sequence(self, r: _Request) -> int:
        r.sequence += 1
        return r.sequence

    def prepare(self, r: _Request) -> None:
        """Instruction, agenda and the decisions to take (taken later, in time order)."""
        rng, q = self.rng, r.request
        urgent = r.plan == "granted" and q.aid_type in URGENT_TYPES and rng.random() < URGENT_SHARE
        if urgent and q.requested_at < self.last_sitting:
            r.decisions.append(
                (q.requested_at + timedelta(hours=rng.randint(2, 30)), DecisionChannel.URGENT, "", True)
            )
            return
        instructed = q.requested_at + timedelta(days=rng.randint(1, 6), minutes=rng.randint(0, 300))
        if rng.random() < INCOMPLETE_SHARE:
            self.emit(
                ev.aid_instructed,
                q.aid_request_id,
                q.territory,
                False,
                instructed,
                self.next_sequence(r),
                missing_documents=rng.randint(1, 3),
            )
            instructed += timedelta(days=rng.randint(3, 12))
        if r.plan == "undecided" and rng.random() < 0.5:
            return  # still waiting for its documents
        self.emit(ev.aid_instructed, q.aid_request_id, q.territory, True, instructed, self.next_sequence(r))
        if r.plan == "withdrawn":
            at = instructed + timedelta(days=rng.randint(1, 10))
            self.emit(ev.aid_withdrawn, q.aid_request_id, q.territory, at, self.next_sequence(r))
            self.withdrawals.append(GeneratedWithdrawal(q.aid_request_id, q.territory, at))
            return
        first = self.commission_after(instructed)
        if first is None or r.plan == "undecided":
            return
        scheduled = instructed + timedelta(hours=rng.randint(1, 48))
        self.emit(
            ev.aid_scheduled,
            q.aid_request_id,
            q.territory,
            self.uid("commission", first),
            scheduled,
            self.next_sequence(r),
        )
        sitting = self._at(first, time(14, 0)) + timedelta(minutes=rng.randint(0, 90))
        if r.plan.startswith("postponed"):
            r.decisions.append((sitting, DecisionChannel.COMMISSION, self.uid("commission", first), False))
            second = self.commission_after(sitting + timedelta(days=1))
            if second is None or r.plan == "postponed_waiting":
                return
            sitting = self._at(second, time(14, 0)) + timedelta(minutes=rng.randint(0, 90))
            first = second
        r.decisions.append((sitting, DecisionChannel.COMMISSION, self.uid("commission", first), True))

    def decide_all(self) -> None:
        pending = [
            (at, r.request.aid_request_id, n, r)
            for r in self.requests
            for n, (at, *_) in enumerate(r.decisions)
        ]
        for at, _, n, r in sorted(pending, key=lambda p: (p[0], p[1], p[2])):
            _, channel, commission, final = r.decisions[n]
            self.decide(r, at, channel, commission, final)

    def decide(self, r: _Request, at: datetime, channel: str, commission: str, final: bool) -> None:
        rng, q = self.rng, r.request
        slot = self.lines[(q.territory, q.aid_type)]
        line_id = slot.line.budget_line_id
        decision, amount, reason, overridden = Decision.POSTPONED, 0, "", False
        if final and r.plan.endswith("refused"):
            decision, reason = Decision.REFUSED, self.refusal_reasons.pop()
        elif final:
            ref = self.reference.aid_types[q.aid_type]
            amount = q.asked_cents
            if rng.random() < REDUCED_SHARE and amount > 5_000:
                amount = amount * rng.randint(50, 90) // 100 // 1_000 * 1_000
            so_far = self.granted_to.get((q.person_id, q.aid_type), 0)
            amount = min(amount, ref.ceiling_per_household_year_cents - so_far)
            left = slot.line.envelope_cents - slot.committed
            if amount > left:
                if not slot.overridden and amount - left <= OVERRIDE_MAX_CENTS:
                    slot.overridden = overridden = True
                elif left >= 3_000:
                    amount = left
                else:
                    amount = 0
            if amount <= 0:
                household_full = so_far >= ref.ceiling_per_household_year_cents
                decision, amount, reason = (
                    Decision.REFUSED,
                    0,
                    "plafond_atteint" if household_full else "autre",
                )
            else:
                decision = Decision.GRANTED
                slot.committed += amount
                self.granted_to[(q.person_id, q.aid_type)] = so_far + amount
        self.emit(
            ev.aid_decided,
            q.aid_request_id,
            q.territory,
            q.aid_type,
            decision,
            channel,
            at,
            self.next_sequence(r),
            amount_granted_cents=amount,
            refusal_reason=reason,
            budget_line_id=line_id,
            overridden=overridden,
            commission_id=commission,
        )
        self.decisions.append(
            GeneratedDecision(
                q.aid_request_id,
                q.territory,
                q.aid_type,
                decision,
                channel,
                amount,
                reason,
                line_id,
                overridden,
                at,
            )
        )
        if decision == Decision.POSTPONED:
            again = self.commission_after(at + timedelta(days=1))
            if again is not None:
                self.emit(
                    ev.aid_scheduled,
                    q.aid_request_id,
                    q.territory,
                    self.uid("commission", again),
                    at + timedelta(hours=1),
                    self.next_sequence(r),
                )
        if decision != Decision.GRANTED:
            return
        nature = self.reference.aid_types[q.aid_type].nature
        if nature == AidNature.LOAN:
            self.loan(r, at, amount)
        else:
            self.pay(r, at, amount, line_id, nature)

    def pay(self, r: _Request, at: datetime, amount: int, line_id: str, nature: AidNature) -> None:
        rng, q = self.rng, r.request
        parts = (
            [amount // 2, amount - amount // 2] if rng.random() < SPLIT_SHARE and amount >= 2 else [amount]
        )
        for n, part in enumerate(parts):
            payment_id = self.uid("payment", q.aid_request_id, n)
            mode = rng.choice(MODES[nature])
            changes = [(at + timedelta(minutes=1 + n), PaymentStatus.TO_PAY)]
            if rng.random() < CANCELLED_SHARE:
                changes.append((at + timedelta(days=rng.randint(5, 20), hours=2), PaymentStatus.CANCELLED))
            else:
                changes.append(
                    (at + timedelta(days=rng.randint(2, 20), hours=3, minutes=n), PaymentStatus.PAID)
                )
            for changed_at, status in changes:
                self.emit(
                    ev.payment_changed,
                    payment_id,
                    q.aid_request_id,
                    q.territory,
                    q.aid_type,
                    line_id,
                    part,
                    mode,
                    status,
                    changed_at,
                    self.next_sequence(r),
                )
            self.payments.append(
                GeneratedPayment(
                    payment_id, q.aid_request_id, q.territory, q.aid_type, line_id, part, tuple(changes)
                )
            )

    def loan(self, r: _Request, at: datetime, amount: int) -> None:
        rng, q = self.rng, r.request
        loan_id = self.uid("loan", q.aid_request_id)
        months = rng.choice((12, 18, 24, 36))
        set_up = at + timedelta(days=rng.randint(7, 21), hours=1)
        self.emit(
            ev.loan_set_up,
            loan_id,
            q.aid_request_id,
            q.territory,
            rng.choice(BANKS),
            amount,
            months,
            rng.choice((0, 150, 300, 450)),
            set_up,
        )
        self.loans.append(GeneratedLoan(loan_id, q.aid_request_id, q.territory, amount, set_up))
        if rng.random() < INCIDENT_SHARE:
            incident_at = set_up
            for sequence in range(1, rng.randint(1, 2) + 1):
                incident_at += timedelta(days=rng.randint(20, 90))
                if incident_at >= self.year_end:
                    break
                kind = rng.choice(tuple(LoanIncidentKind))
                self.emit(
                    ev.loan_incident,
                    loan_id,
                    q.aid_request_id,
                    q.territory,
                    kind,
                    amount // months,
                    incident_at,
                    sequence,
                )
                self.incidents.append(GeneratedIncident(loan_id, q.territory, kind, incident_at))

    def merge_some(self, count: int) -> None:
        """Persons found twice: pairs of distinct persons of a commune, one chain."""
        by_commune: dict[str, list[str]] = {}
        for r in self.requests:
            persons = by_commune.setdefault(r.request.territory, [])
            if r.request.person_id not in persons:
                persons.append(r.request.person_id)
        candidates = sorted(by_commune[BAR_LE_DUC])
        picked = self.rng.sample(candidates, count + 1)
        at = self._at(date(self.year, 11, 30), time(10, 0))
        kept = picked[count]
        # All into one person, who is then merged into another: chains of two.
        pairs = [(picked[n], kept) for n in range(count - 1)] + [(kept, picked[count - 1])]
        for n, (merged, keep) in enumerate(pairs):
            self.merges.append((merged, keep))
            self.emit(ev.persons_merged, merged, keep, BAR_LE_DUC, at + timedelta(minutes=n))

    def year_events(self) -> tuple[Event, ...]:
        self.keyed.sort(key=lambda item: (item[0], item[1]))
        return tuple(item[2] for item in self.keyed)


def generate_aid_year(
    seed: int, *, year: int = AIDES_YEAR, requests: int = REQUESTS, reference: ReferenceData | None = None
) -> AidYear:
    """A year of the CIAS's aid requests, decisions, payments, loans and budget lines."""
    if reference is None:
        from kernel import reference as reference_module

        reference = reference_module.load({})
    g = _Generator(seed, year, reference, requests)
    g.budget_lines()
    g.request_year(requests)
    g.decide_all()
    g.merge_some(MERGES)
    return AidYear(
        year,
        tuple(r.request for r in g.requests),
        tuple(g.decisions),
        tuple(g.withdrawals),
        tuple(g.payments),
        tuple(g.loans),
        tuple(g.incidents),
        tuple(dict.fromkeys(slot.line for slot in g.lines.values())),
        tuple(g.merges),
        g.year_events(),
    )
