"""Pure generation: a synthetic year of a CIAS, as domain events, from a seed.

Everything is derived from the arguments: the same arguments give the same events, byte
for byte and ids included, whatever the interpreter's hash seed (no set or hash order,
no uuid4, no clock: mixes are read in code order) and whatever the order of the mixes'
keys. No I/O but reading the demo directory's partners (`mixes.load_partners`).

What a generated year looks like
--------------------------------
- Dossiers open on working days (Monday to Friday, fixed French public holidays
  excepted) during office hours (8:30-12:00, 13:30-17:00, Paris time), with a
  seasonality: fewer in summer, about half as many in August, a peak at the rentrée.
- People come back: with `people` below the number of dossiers, that many distinct
  persons open them, exactly. A returning person's later dossier reuses an earlier
  person of the same commune (one return in twenty comes from another commune: people
  move within a CIAS). A new person is `person.created` (ids only) just before their
  `dossier.opened` at reception, which carries the person's id.
- Violence motifs are mostly urgent (listened to within hours; a few are
  escalated after 24 h), other dossiers reach `ecoute` within days
  (`interview_recorded` + `stage_changed`).
- The outcome decides the path: "écoute + conseil" closes from `ecoute` or after a
  short `suivi`; dossiers with a referral go `ecoute → orientation`, their referrals
  run `requested → received → accepted → in_progress → completed` (or `rejected`,
  `failed`, `cancelled`, or `reminder` at 10 days then `expired` at 30 days, for
  "orienté sans retour"), the dossier moves to `suivi` when a partner accepts, and is
  closed weeks later; the others go `ecoute → suivi → cloture` with follow-ups.
- Every timestamp lies inside the year: a dossier opened late in December has its
  timeline compressed to end before 31 December 20:00 (Paris). `open_share` leaves
  the most recently opened dossiers open at year end instead.
- Quotas, not dice: the motif, commune, arrival channel and outcome of the dossiers
  are allocated from the mixes by largest remainder, then shuffled. 750 dossiers with
  the default outcome mix give exactly 454 "réglé" (the Soissons figure), and
  `generate_with_counts` gives exactly the requested number of dossiers per motif.
- No personal data: ids (uuid), codes, partner ids and agent ids (`agent-07`) only.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import math
import random
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from entraide.v1 import events_pb2
from google.protobuf.message import Message

from devstack.synthetic.mixes import (
    AGENTS,
    DEFAULT_CHANNEL_MIX,
    DEFAULT_MOTIF_MIX,
    DEFAULT_OUTCOME_MIX,
    DEFAULT_SITES,
    DEFAULT_TERRITORIES,
    FIXED_HOLIDAYS,
    GAVE_UP,
    LISTENED,
    MONTH_WEIGHTS,
    MOVED_OR_DIED,
    NO_SOLUTION,
    OFFICE_HOURS,
    PARIS,
    REFERRAL_OUTCOMES,
    REFERRED_NO_ANSWER,
    SITES,
    SOLVED,
    URGENT_SHARE,
    Partner,
    canonical,
    load_partners,
    quota,
)
from domain.events import EventType
from domain.vocabulary import (
    REFERRAL_REMINDER,
    SYSTEM_ACTOR,
    ReferralReason,
    ReferralStatus,
    Stage,
)
from kernel.events import Event, new_event
from kernel.timestamps import to_timestamp

SOURCE_INTAKE = "entraide/intake"
SOURCE_REFERRAL = "entraide/referral"
# Namespace of every synthetic id (dossiers, people, referrals, events).
SYNTHETIC_NAMESPACE = uuid.UUID("3b0e6c1a-5f7d-4c55-9d1e-7a9f0c2b4e61")
DEMO_SEED = 1

_Status = ReferralStatus
_Reason = ReferralReason
# One step's event: (ce-type, source, subject, data) for the time it happens at.
_Build = Callable[[datetime], tuple[EventType, str, str, Message]]
_Add = Callable[[timedelta, EventType, str, str, Callable[[datetime], Message]], None]


@dataclass
class _Step:
    offset: timedelta
    build: _Build


@dataclass
class _Dossier:
    number: int
    opened_at: datetime
    motifs: list[str]
    territory: str
    channel: str
    outcome: str
    stays_open: bool = False
    person: int = -1  # the number of the dossier whose opening created the person

    steps: list[_Step] = field(default_factory=list)


def _lognormal(
    rng: random.Random, median: timedelta, sigma: float, low: timedelta, high: timedelta
) -> timedelta:
    value = median * math.exp(rng.gauss(0.0, sigma))
    return max(low, min(high, value))


def _working_days(year: int) -> list[list[date]]:
    months: list[list[date]] = [[] for _ in range(12)]
    day = date(year, 1, 1)
    while day.year == year:
        if day.weekday() < 5 and (day.month, day.day) not in FIXED_HOLIDAYS:
            months[day.month - 1].append(day)
        day += timedelta(days=1)
    return months


def _opening_times(rng: random.Random, year: int, count: int) -> list[datetime]:
    months = _working_days(year)
    cumulative: list[float] = []
    total = 0.0
    for weight, days in zip(MONTH_WEIGHTS, months, strict=True):
        total += weight * len(days)  # intake per working day follows the month's weight
        cumulative.append(total)
    times = []
    for _ in range(count):
        month = bisect.bisect_right(cumulative, rng.random() * total)
        day = rng.choice(months[min(month, 11)])
        start, end = rng.choice(OFFICE_HOURS)
        span = (end.hour * 60 + end.minute) - (start.hour * 60 + start.minute)
        minute = start.hour * 60 + start.minute + rng.randrange(span)
        local = datetime.combine(day, time(minute // 60, minute % 60, rng.randrange(60)), PARIS)
        times.append(local.astimezone(UTC))
    return sorted(times)


def _run_key(kind: str, seed: int, year: int, params: Mapping[str, Any]) -> str:
    canonical = json.dumps({"kind": kind, "seed": seed, "year": year, **params}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


class _Generator:
    def __init__(
        self,
        rng: random.Random,
        key: str,
        partners: Sequence[Partner],
        referral_rate: float,
        outcome_mix: Mapping[str, float],
    ) -> None:
        self.rng = rng
        self.key = key
        self.partners = partners
        self.partner_names = {p.partner_id: p.name for p in partners}
        # Referral probability by outcome so that the overall rate is `referral_rate`:
        # "orienté sans retour" always has one, "écoute + conseil" never.
        total = math.fsum(outcome_mix.values())
        forced = outcome_mix.get(REFERRED_NO_ANSWER, 0.0) / total
        free = 1.0 - forced - outcome_mix.get(LISTENED, 0.0) / total
        self.free_referral_rate = max(0.0, min(1.0, (referral_rate - forced) / free)) if free > 0 else 0.0

    def uid(self, *parts: object) -> uuid.UUID:
        return uuid.uuid5(SYNTHETIC_NAMESPACE, "/".join([self.key, *map(str, parts)]))

    def partner_for(self, motif: str, territory: str, exclude: Iterable[str] = ()) -> str:
        excluded = set(exclude)
        for candidates in (
            [p for p in self.partners if motif in p.motifs and territory in p.territories],
            [p for p in self.partners if motif in p.motifs],
            list(self.partners),
        ):
            usable = [p for p in candidates if p.partner_id not in excluded] or candidates
            if usable:
                return self.rng.choice(usable).partner_id
        return "partenaire-inconnu"

    def plan(self, d: _Dossier) -> None:
        rng = self.rng
        dossier_id = str(self.uid("dossier", d.number))
        person_id = str(self.uid("person", d.person))
        territory, primary = d.territory, d.motifs[0]
        agent = rng.choice(AGENTS)
        urgent = rng.random() < URGENT_SHARE.get(primary, 0.02)
        sites = SITES.get(territory, DEFAULT_SITES)
        site = rng.choice(sites)
        base = {"dossier_id": dossier_id, "territory": territory}
        steps = d.steps

        def add(
            offset: timedelta,
            kind: EventType,
            source: str,
            subject: str,
            make: Callable[[datetime], Message],
        ) -> None:
            steps.append(_Step(offset, lambda at: (kind, source, subject, make(at))))

        def dossier_event(offset: timedelta, kind: EventType, make: Callable[[datetime], Message]) -> None:
            add(offset, kind, SOURCE_INTAKE, dossier_id, make)

        def stage(offset: timedelta, from_stage: Stage, to_stage: Stage) -> None:
            dossier_event(
                offset,
                EventType.DOSSIER_STAGE_CHANGED,
                lambda at: events_pb2.DossierStageChanged(
                    **base, from_stage=from_stage, to_stage=to_stage, at=to_timestamp(at), cycle=0
                ),
            )

        created = -timedelta(minutes=rng.randint(2, 10))
        if d.person == d.number:
            add(
                created,
                EventType.PERSON_CREATED,
                SOURCE_INTAKE,
                person_id,
                lambda at: events_pb2.PersonCreated(
                    person_id=person_id, territory=territory, at=to_timestamp(at)
                ),
            )
        dossier_event(
            timedelta(0),
            EventType.DOSSIER_OPENED,
            lambda at: events_pb2.DossierOpened(
                **base,
                site=site,
                motifs=d.motifs,
                arrival_channel=d.channel,
                urgent=urgent,
                opened_at=to_timestamp(at),
                person_id=person_id,
            ),
        )
        # reception → ecoute: within hours when urgent (a few escalated at 24 h), days otherwise.
        if urgent and rng.random() < 0.06:
            dossier_event(
                timedelta(hours=24),
                EventType.DOSSIER_ESCALATED,
                lambda at: events_pb2.DossierEscalated(**base, due_at=to_timestamp(at), at=to_timestamp(at)),
            )
            t = timedelta(hours=rng.uniform(25, 40))
        elif urgent:
            t = timedelta(hours=rng.uniform(0.5, 20))
        else:
            t = _lognormal(rng, timedelta(days=2), 0.9, timedelta(minutes=20), timedelta(days=21))
        dossier_event(
            t,
            EventType.INTERVIEW_RECORDED,
            lambda at: events_pb2.InterviewRecorded(
                **base, interview_id=str(self.uid("interview", d.number, 1)), at=to_timestamp(at)
            ),
        )
        stage(t, Stage.RECEPTION, Stage.ECOUTE)
        if d.stays_open and rng.random() < 0.3:
            return  # still in écoute at year end
        t += _lognormal(rng, timedelta(days=3), 0.8, timedelta(minutes=30), timedelta(days=30))
        outcome = d.outcome
        referred = outcome == REFERRED_NO_ANSWER or (
            outcome != LISTENED and rng.random() < self.free_referral_rate
        )

        def ecoute_completed(offset: timedelta, next_stage: Stage) -> None:
            dossier_event(
                offset,
                EventType.ECOUTE_COMPLETED,
                lambda at: events_pb2.EcouteCompleted(
                    **base, motifs=d.motifs, next_stage=next_stage, at=to_timestamp(at), interviews=1
                ),
            )
            stage(offset, Stage.ECOUTE, next_stage)

        def follow_ups(start: timedelta, end: timedelta) -> None:
            for _ in range(rng.choice((0, 1, 1, 2, 3))):
                at_offset = start + (end - start) * rng.uniform(0.1, 0.9)
                dossier_event(
                    at_offset,
                    EventType.FOLLOW_UP_RECORDED,
                    lambda at: events_pb2.FollowUpRecorded(**base, at=to_timestamp(at)),
                )

        def close(offset: timedelta, from_stage: Stage) -> None:
            if d.stays_open:
                return
            dossier_event(
                offset,
                EventType.DOSSIER_CLOSED,
                lambda at: events_pb2.DossierClosed(**base, outcome=outcome, at=to_timestamp(at), cycle=0),
            )
            stage(offset, from_stage, Stage.CLOTURE)

        if not referred:
            if outcome == LISTENED and rng.random() < 0.5:
                close(t, Stage.ECOUTE)  # listening and advice were enough
                return
            ecoute_completed(t, Stage.SUIVI)
            median = timedelta(days=10 if outcome == LISTENED else 30)
            end = t + _lognormal(rng, median, 0.7, timedelta(days=1), timedelta(days=180))
            follow_ups(t, end)
            close(end, Stage.SUIVI)
            return
        ecoute_completed(t, Stage.ORIENTATION)
        motifs = list(d.motifs)
        count = 2 if rng.random() < 0.2 else 1
        partners: list[str] = []
        suivi_at: timedelta | None = None
        last = t
        for index in range(count):
            motif = motifs[index % len(motifs)]
            partner = self.partner_for(motif, territory, partners)
            partners.append(partner)
            fate = self.referral_fate(outcome, first=index == 0)
            requested = t + timedelta(minutes=rng.randint(5, 240))
            accepted_at, ended = self.referral(
                d.number, index, dossier_id, territory, motif, partner, agent, requested, fate, add
            )
            if accepted_at is not None:
                suivi_at = accepted_at if suivi_at is None else min(suivi_at, accepted_at)
            last = max(last, ended)
        # The dossier moves to suivi when a partner accepts, otherwise when the
        # referrals have ended.
        suivi_at = suivi_at if suivi_at is not None else last + timedelta(hours=rng.uniform(1, 48))
        stage(suivi_at, Stage.ORIENTATION, Stage.SUIVI)
        end = max(last, suivi_at) + _lognormal(
            rng, timedelta(days=7), 0.6, timedelta(hours=2), timedelta(days=60)
        )
        follow_ups(suivi_at, end)
        close(end, Stage.SUIVI)

    def referral_fate(self, outcome: str, *, first: bool) -> ReferralStatus:
        """The status a referral ends in, given its dossier's outcome."""
        if not first:
            return self.rng.choices(
                (_Status.COMPLETED, _Status.REJECTED, _Status.EXPIRED), (0.6, 0.25, 0.15)
            )[0]
        return {
            SOLVED: _Status.COMPLETED,
            REFERRED_NO_ANSWER: _Status.EXPIRED,
            NO_SOLUTION: self.rng.choice((_Status.REJECTED, _Status.FAILED)),
            GAVE_UP: self.rng.choice((_Status.FAILED, _Status.CANCELLED)),
            MOVED_OR_DIED: _Status.CANCELLED,
        }.get(outcome, _Status.COMPLETED)

    def referral(
        self,
        number: int,
        index: int,
        dossier_id: str,
        territory: str,
        motif: str,
        partner: str,
        agent: str,
        requested: timedelta,
        fate: ReferralStatus,
        add: _Add,
    ) -> tuple[timedelta | None, timedelta]:
        """Adds one referral's statuses; returns (accepted offset or None, last offset)."""
        rng = self.rng
        referral_id = str(self.uid("referral", number, index))
        partner_user = f"{partner}-user-{rng.randint(1, 3)}"
        sequence = 0
        previous = ""

        def status(offset: timedelta, value: str, actor: str, reason: str = "", outcome: str = "") -> None:
            nonlocal sequence, previous
            sequence += 1
            seq, prev = sequence, previous
            if value != REFERRAL_REMINDER:
                previous = value
            add(
                offset,
                EventType.REFERRAL_STATUS_CHANGED,
                SOURCE_REFERRAL,
                referral_id,
                lambda at: events_pb2.ReferralStatusChanged(
                    referral_id=referral_id,
                    dossier_id=dossier_id,
                    partner_id=partner,
                    partner_name=self.partner_names.get(partner, ""),
                    territory=territory,
                    motif=motif,
                    status=value,
                    previous_status=prev,
                    reason=reason,
                    outcome=outcome,
                    at=to_timestamp(at),
                    actor=actor,
                    sequence=seq,
                ),
            )

        def later(t: timedelta, median_days: float, low_hours: float, high_days: float) -> timedelta:
            return t + _lognormal(
                rng, timedelta(days=median_days), 0.7, timedelta(hours=low_hours), timedelta(days=high_days)
            )

        t = requested
        status(t, _Status.REQUESTED, agent)
        if fate == _Status.EXPIRED:
            status(t + timedelta(days=10), REFERRAL_REMINDER, SYSTEM_ACTOR)
            t += timedelta(days=30)
            status(t, _Status.EXPIRED, SYSTEM_ACTOR)
            return None, t
        if fate == _Status.CANCELLED:
            t = later(t, 5, 2, 25)
            reason = rng.choice((_Reason.NEED_GONE, _Reason.PERSON_REFUSED, _Reason.REDIRECTED))
            status(t, _Status.CANCELLED, agent, reason=reason)
            return None, t
        t = later(t, 2, 1, 9)
        status(t, _Status.RECEIVED, partner_user)
        if fate == _Status.REJECTED:
            t = later(t, 2, 1, 15)
            reason = rng.choice(
                (_Reason.NO_CAPACITY, _Reason.NOT_ELIGIBLE, _Reason.REDIRECTED, _Reason.PERSON_REFUSED)
            )
            status(t, _Status.REJECTED, partner_user, reason=reason)
            return None, t
        t = later(t, 1, 1, 10)
        status(t, _Status.ACCEPTED, partner_user)
        accepted = t
        t = later(t, 4, 2, 30)
        status(t, _Status.IN_PROGRESS, partner_user)
        if fate == _Status.FAILED:
            t = later(t, 14, 24, 90)
            reason = rng.choice(
                (_Reason.PERSON_UNREACHABLE, _Reason.PERSON_REFUSED, _Reason.NEED_GONE, _Reason.NO_CAPACITY)
            )
            status(t, _Status.FAILED, partner_user, reason=reason)
            return accepted, t
        t = later(t, 21, 24, 120)
        status(t, _Status.COMPLETED, partner_user, outcome=rng.choice(REFERRAL_OUTCOMES))
        return accepted, t


def _assign_persons(rng: random.Random, dossiers: Sequence[_Dossier], people: int) -> None:
    """Exactly `people` distinct persons over the dossiers (in opening order): the
    returns are drawn among the dossiers that are not their commune's first."""
    returns = len(dossiers) - people
    if people < 1 or returns < 0:
        raise ValueError("people must be between 1 and the number of dossiers")
    seen: set[str] = set()
    eligible = []
    for d in dossiers:
        if d.territory in seen:
            eligible.append(d.number)
        seen.add(d.territory)
    if returns > len(eligible):
        least = len(dossiers) - len(eligible)
        raise ValueError(f"people must be at least {least} (each commune's first dossier is a new person)")
    returning = set(rng.sample(eligible, returns))
    persons_of: dict[str, list[int]] = {}
    for d in dossiers:
        if d.number not in returning:
            d.person = d.number
        else:
            elsewhere = [t for t in persons_of if t != d.territory]
            commune = rng.choice(elsewhere) if elsewhere and rng.random() < 0.05 else d.territory
            d.person = rng.choice(persons_of[commune])
        persons_of.setdefault(d.territory, []).append(d.person)


def _generate(
    kind: str,
    seed: int,
    year: int,
    motif_plan: list[list[str]],
    territories: Mapping[str, float],
    channel_mix: Mapping[str, float],
    outcome_mix: Mapping[str, float],
    referral_rate: float,
    open_share: float,
    people: int | None,
    params: Mapping[str, Any],
) -> list[Event]:
    rng = random.Random(f"{kind}/{seed}/{year}")
    count = len(motif_plan)
    key = _run_key(kind, seed, year, params)
    partners = load_partners()
    generator = _Generator(rng, key, partners, referral_rate, outcome_mix)
    opened = _opening_times(rng, year, count)
    lists = [quota(count, territories), quota(count, channel_mix), quota(count, outcome_mix)]
    for values in lists:
        rng.shuffle(values)
    territory_of, channel_of, outcome_of = lists
    still_open = round(count * open_share)
    dossiers = [
        _Dossier(
            number,
            opened[number],
            motif_plan[number],
            territory_of[number],
            channel_of[number],
            outcome_of[number],
            stays_open=number >= count - still_open,
        )
        for number in range(count)
    ]
    persons_rng = random.Random(f"people/{kind}/{seed}/{year}")
    _assign_persons(persons_rng, dossiers, count if people is None else people)
    # Nothing after 31 December 20:00 (Paris): late timelines are compressed.
    limit = datetime(year, 12, 31, 20, 0, tzinfo=PARIS).astimezone(UTC)
    keyed: list[tuple[datetime, int, int, Event]] = []
    for d in dossiers:
        generator.plan(d)
        ordered = sorted(enumerate(d.steps), key=lambda pair: (pair[1].offset, pair[0]))
        # Compressed from the opening on (the person is created just before it).
        span = ordered[-1][1].offset
        factor = min(1.0, (limit - d.opened_at) / span) if span > timedelta(0) else 1.0
        for index, (_, step) in enumerate(ordered):
            at = d.opened_at + (step.offset * factor if step.offset > timedelta(0) else step.offset)
            at = at.replace(microsecond=at.microsecond - at.microsecond % 1000)  # millisecond stamps
            event_type, source, subject, payload = step.build(at)
            event = new_event(
                event_type,
                source,
                subject,
                payload,
                event_id=generator.uid("event", d.number, index),
                time=at,
            )
            keyed.append((at, d.number, index, event))
    keyed.sort(key=lambda item: item[:3])
    return [item[3] for item in keyed]


def generate_year(
    seed: int,
    *,
    year: int = 2026,
    dossiers: int = 750,
    territories: Mapping[str, float] | None = None,
    motif_mix: Mapping[str, float] | None = None,
    channel_mix: Mapping[str, float] | None = None,
    outcome_mix: Mapping[str, float] | None = None,
    referral_rate: float = 0.4,
    multi_motif_rate: float = 0.15,
    open_share: float = 0.0,
    people: int | None = None,
) -> list[Event]:
    """A year of a CIAS as events in time order; deterministic for the arguments.

    The dossiers' main motifs follow `motif_mix` exactly (quotas); `multi_motif_rate`
    of them get a second motif, drawn from the same mix. `people` distinct persons open
    them (default: one per dossier)."""
    mix = canonical(motif_mix or DEFAULT_MOTIF_MIX)
    rng = random.Random(f"motifs/{seed}/{year}")
    primaries = quota(dossiers, mix)
    rng.shuffle(primaries)
    plan = []
    for primary in primaries:
        motifs = [primary]
        others = {m: w for m, w in mix.items() if m != primary and w > 0}
        if others and rng.random() < multi_motif_rate:
            motifs.append(rng.choices(list(others), weights=list(others.values()))[0])
        plan.append(motifs)
    territories = canonical(territories or DEFAULT_TERRITORIES)
    channels = canonical(channel_mix or DEFAULT_CHANNEL_MIX)
    outcomes = canonical(outcome_mix or DEFAULT_OUTCOME_MIX)
    params = {
        "dossiers": dossiers,
        "territories": territories,
        "motif_mix": mix,
        "channels": channels,
        "outcomes": outcomes,
        "referral_rate": referral_rate,
        "multi_motif_rate": multi_motif_rate,
        "open_share": open_share,
        **({"people": people} if people is not None else {}),
    }
    return _generate(
        "year", seed, year, plan, territories, channels, outcomes, referral_rate, open_share, people, params
    )


def generate_with_counts(
    seed: int,
    counts_by_motif: Mapping[str, int],
    *,
    year: int = 2026,
    territories: Mapping[str, float] | None = None,
    channel_mix: Mapping[str, float] | None = None,
    outcome_mix: Mapping[str, float] | None = None,
    referral_rate: float = 0.4,
    open_share: float = 0.0,
    people: int | None = None,
) -> list[Event]:
    """Exactly `counts_by_motif[m]` dossiers with the single motif `m` (e.g.
    `SOISSONS_153`, `dijon_counts(1000)`); the rest as in `generate_year`."""
    if any(n < 0 for n in counts_by_motif.values()):
        raise ValueError("counts must not be negative")
    rng = random.Random(f"counts/{seed}/{year}")
    primaries = [m for m in sorted(counts_by_motif) for _ in range(counts_by_motif[m])]
    rng.shuffle(primaries)
    territories = canonical(territories or DEFAULT_TERRITORIES)
    channels = canonical(channel_mix or DEFAULT_CHANNEL_MIX)
    outcomes = canonical(outcome_mix or DEFAULT_OUTCOME_MIX)
    params = {
        "counts": dict(counts_by_motif),
        "territories": territories,
        "channels": channels,
        "outcomes": outcomes,
        "referral_rate": referral_rate,
        "open_share": open_share,
        **({"people": people} if people is not None else {}),
    }
    return _generate(
        "counts",
        seed,
        year,
        [[m] for m in primaries],
        territories,
        channels,
        outcomes,
        referral_rate,
        open_share,
        people,
        params,
    )


def demo_events(year: int) -> list[Event]:
    """The demo's synthetic year: about 750 people a year (Soissons), some of them back
    with a second dossier. The same events, ids included, on every run."""
    return generate_year(DEMO_SEED, year=year, dossiers=860, people=750)
