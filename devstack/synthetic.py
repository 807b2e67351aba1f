"""Synthetic activity of a CIAS: a year of dossiers and referrals, as domain events.

Used by the demo (`make up` publishes one synthetic year so the bilan has content) and
by the benchmarks and reporting tests. Everything is derived from a seed: the same
arguments give the same events, byte for byte and ids included, whatever the
interpreter's hash seed (no set or hash order, no uuid4, no clock: mixes are read in
code order) and whatever the order of the mixes' keys. So publishing a year twice is
harmless: `publish_new` (the demo) skips the events the stream already holds, whatever
JetStream's duplicate window; `write_outbox` skips known event ids; and the consumers'
inbox applies an event once, forever.

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

The seeds' figures and the deployment's motif codes
---------------------------------------------------
- Soissons (Bureau des interventions): 153 dossiers, 120 about housing →
  `SOISSONS_153` (`logement` 120; the 33 others spread over the other problems the
  article names: rent and debts, jobs, violence, school dropout, neighbours).
- Dijon (Maison de la solidarité): 39 % access to rights, 12 % financial, 11 %
  administrative help, 7 % employment, 6 % health → `DIJON_MIX`. The reference data
  has no separate code for administrative help (`acces_aux_droits` is labelled
  "Accès aux droits / démarches administratives"): merging it there would report 50 %
  and lose the distinction the seed makes, so **administrative help is mapped onto
  `numerique`** (help with the now online procedures, the closest separate code);
  access to rights → `acces_aux_droits`, financial → `difficultes_financieres`,
  employment → `emploi`, health → `sante`. The remaining 25 % are spread over
  `logement`, `famille`, `alimentation`, `violences_conjugales`, `justice`,
  `mobilite`, `scolarite`. `dijon_counts(total)` turns it into exact counts (use a
  multiple of 100 for exact percentages).
- The default motif mix of `generate_year` is the average of the two seeds' mixes.
- Outcomes: 454 of 750 dossiers "réglé" (Soissons) → `regle` = 454/750 of dossiers.

Commands::

    python -m devstack.synthetic --year 2026 --dossiers 750 --seed 1            # figures, JSON
    python -m devstack.synthetic --year 2026 --dossiers 750 --seed 1 --publish  # to the stack's NATS
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import hashlib
import json
import math
import os
import random
import sys
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from entraide.v1 import events_pb2
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from kernel.db import Connection
from kernel.events import Event, new_event

PARIS = ZoneInfo("Europe/Paris")
PARTNERS_FILE = Path(__file__).resolve().parent.parent / "deploy" / "local" / "demo_partners.json"
SOURCE_INTAKE = "entraide/intake"
SOURCE_REFERRAL = "entraide/referral"
SYSTEM_ACTOR = "entraide-system"
# Namespace of every synthetic id (dossiers, people, referrals, events).
SYNTHETIC_NAMESPACE = uuid.UUID("3b0e6c1a-5f7d-4c55-9d1e-7a9f0c2b4e61")

# Soissons: "depuis le 1er janvier 2021, 153 dossiers ont été traités, 120 concernaient
# des questions de logement"; the 33 others over the problems the article lists.
SOISSONS_153: Mapping[str, int] = {
    "logement": 120,
    "difficultes_financieres": 10,
    "emploi": 6,
    "violences_conjugales": 5,
    "famille": 4,
    "voisinage": 4,
    "scolarite": 2,
    "acces_aux_droits": 2,
}
# Dijon: 39 % access to rights, 12 % financial, 11 % administrative help (→ numerique,
# see the module docstring), 7 % employment, 6 % health; 25 % other motifs.
DIJON_MIX: Mapping[str, float] = {
    "acces_aux_droits": 0.39,
    "difficultes_financieres": 0.12,
    "numerique": 0.11,
    "emploi": 0.07,
    "sante": 0.06,
    "logement": 0.08,
    "famille": 0.05,
    "alimentation": 0.04,
    "violences_conjugales": 0.03,
    "justice": 0.02,
    "mobilite": 0.02,
    "scolarite": 0.01,
}
SOISSONS_MIX: Mapping[str, float] = {m: n / 153 for m, n in SOISSONS_153.items()}
# In code order: never iterate a set here, its order changes with PYTHONHASHSEED.
DEFAULT_MOTIF_MIX: Mapping[str, float] = {
    m: (SOISSONS_MIX.get(m, 0.0) + DIJON_MIX.get(m, 0.0)) / 2 for m in sorted({*SOISSONS_MIX, *DIJON_MIX})
}
# The CIAS of Bar-le-Duc's communes (INSEE codes), by weight of population.
DEFAULT_TERRITORIES: Mapping[str, float] = {
    "55029": 0.55,  # Bar-le-Duc
    "55291": 0.15,  # Ligny-en-Barrois
    "55519": 0.09,  # Tronville-en-Barrois
    "55186": 0.08,  # Fains-Véel
    "55040": 0.07,  # Behonne
    "55302": 0.06,  # Longeville-en-Barrois
}
DEFAULT_CHANNEL_MIX: Mapping[str, float] = {
    "visite_spontanee": 0.40,
    "telephone": 0.22,
    "rendez_vous": 0.12,
    "permanence_maire": 0.07,
    "signalement_tiers": 0.05,
    "orientation_partenaire": 0.05,
    "signalement_elu": 0.04,
    "courriel": 0.03,
    "aller_vers": 0.02,
}
# Soissons: 454 dossiers "réglés" for about 750 people a year.
DEFAULT_OUTCOME_MIX: Mapping[str, float] = {
    "regle": 454 / 750,
    "ecoute_conseil": 0.20,
    "oriente_sans_retour": 0.07,
    "abandon": 0.06,
    "sans_solution": 0.045,
    "demenagement_deces": 1 - 454 / 750 - 0.20 - 0.07 - 0.06 - 0.045,
}
# Relative intake per month: quieter in summer, half in August, the rentrée peak.
MONTH_WEIGHTS = (1.10, 1.00, 1.05, 1.00, 0.95, 0.95, 0.80, 0.45, 1.15, 1.10, 1.05, 0.85)
# Share of urgent dossiers by motif (violence; loss of housing within days).
URGENT_SHARE: Mapping[str, float] = {"violences_conjugales": 0.8, "famille": 0.15, "logement": 0.06}
FIXED_HOLIDAYS = ((1, 1), (5, 1), (5, 8), (7, 14), (8, 15), (11, 1), (11, 11), (12, 25))
OFFICE_HOURS = ((time(8, 30), time(12, 0)), (time(13, 30), time(17, 0)))
SITES: Mapping[str, Sequence[str]] = {
    "55029": ("Accueil du CIAS", "Antenne sociale centre", "Antenne sociale Côte Sainte-Catherine"),
}
DEFAULT_SITES = ("Permanence en mairie",)
AGENTS = tuple(f"agent-{n:02d}" for n in range(1, 13))
REFERRAL_OUTCOMES = ("solution_trouvee", "solution_partielle")


@dataclass(frozen=True)
class Partner:
    partner_id: str
    motifs: frozenset[str]
    territories: frozenset[str]
    name: str = ""


def load_partners(path: Path = PARTNERS_FILE) -> list[Partner]:
    """The demo directory's partners: the plain `partners` list or the HSDS-like
    `organizations` (with services carrying motifs and communes)."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    partners = []
    for p in raw.get("partners", []):
        partners.append(
            Partner(p["partner_id"], frozenset(p["motifs"]), frozenset(p["territories"]), p.get("name", ""))
        )
    for org in raw.get("organizations", []):
        services = org.get("services", [])
        motifs = {m for s in services for m in s.get("motifs", [])}
        communes = {c for s in services for c in s.get("communes", [])}
        partners.append(Partner(org["id"], frozenset(motifs), frozenset(communes), org.get("name", "")))
    return sorted(partners, key=lambda p: p.partner_id)


def canonical(mix: Mapping[str, float]) -> dict[str, float]:
    """`mix` in code order: what is drawn from a mix never depends on the order its
    codes were inserted in (e.g. from a set, whose order changes with PYTHONHASHSEED)."""
    return {k: float(mix[k]) for k in sorted(mix)}


def quota(total: int, mix: Mapping[str, float]) -> list[str]:
    """`total` codes in the proportions of `mix` (largest remainder; ties by code)."""
    weights = {k: v for k, v in canonical(mix).items() if v > 0}
    if total < 0 or not weights:
        raise ValueError("a mix needs a positive weight and the total must not be negative")
    scale = total / math.fsum(weights.values())  # exact sum: the same whatever the order
    exact = {k: v * scale for k, v in weights.items()}
    counts = {k: math.floor(v) for k, v in exact.items()}
    left = total - sum(counts.values())
    for k in sorted(exact, key=lambda k: (-(exact[k] - counts[k]), k))[:left]:
        counts[k] += 1
    return [k for k in sorted(counts) for _ in range(counts[k])]


def dijon_counts(total: int = 1000) -> dict[str, int]:
    """Exact per-motif counts of the Dijon mix (percentages exact for a multiple of 100)."""
    return dict(Counter(quota(total, DIJON_MIX)))


@dataclass
class _Step:
    offset: timedelta
    build: Callable[[datetime], tuple[str, str, str, Message]]


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


def _stamp(at: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(at)
    return stamp


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
        forced = outcome_mix.get("oriente_sans_retour", 0.0) / total
        free = 1.0 - forced - outcome_mix.get("ecoute_conseil", 0.0) / total
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
            offset: timedelta, kind: str, source: str, subject: str, make: Callable[[datetime], Message]
        ) -> None:
            steps.append(_Step(offset, lambda at: (kind, source, subject, make(at))))

        def dossier_event(offset: timedelta, kind: str, make: Callable[[datetime], Message]) -> None:
            add(offset, f"entraide.dossier.{kind}", SOURCE_INTAKE, dossier_id, make)

        def stage(offset: timedelta, from_stage: str, to_stage: str) -> None:
            dossier_event(
                offset,
                "stage_changed",
                lambda at: events_pb2.DossierStageChanged(
                    **base, from_stage=from_stage, to_stage=to_stage, at=_stamp(at), cycle=0
                ),
            )

        created = -timedelta(minutes=rng.randint(2, 10))
        if d.person == d.number:
            add(
                created,
                "entraide.person.created",
                SOURCE_INTAKE,
                person_id,
                lambda at: events_pb2.PersonCreated(person_id=person_id, territory=territory, at=_stamp(at)),
            )
        dossier_event(
            timedelta(0),
            "opened",
            lambda at: events_pb2.DossierOpened(
                **base,
                site=site,
                motifs=d.motifs,
                arrival_channel=d.channel,
                urgent=urgent,
                opened_at=_stamp(at),
                person_id=person_id,
            ),
        )
        # reception → ecoute: within hours when urgent (a few escalated at 24 h), days otherwise.
        if urgent and rng.random() < 0.06:
            dossier_event(
                timedelta(hours=24),
                "escalated",
                lambda at: events_pb2.DossierEscalated(**base, due_at=_stamp(at), at=_stamp(at)),
            )
            t = timedelta(hours=rng.uniform(25, 40))
        elif urgent:
            t = timedelta(hours=rng.uniform(0.5, 20))
        else:
            t = _lognormal(rng, timedelta(days=2), 0.9, timedelta(minutes=20), timedelta(days=21))
        dossier_event(
            t,
            "interview_recorded",
            lambda at: events_pb2.InterviewRecorded(
                **base, interview_id=str(self.uid("interview", d.number, 1)), at=_stamp(at)
            ),
        )
        stage(t, "reception", "ecoute")
        if d.stays_open and rng.random() < 0.3:
            return  # still in écoute at year end
        t += _lognormal(rng, timedelta(days=3), 0.8, timedelta(minutes=30), timedelta(days=30))
        outcome = d.outcome
        referred = outcome == "oriente_sans_retour" or (
            outcome != "ecoute_conseil" and rng.random() < self.free_referral_rate
        )

        def ecoute_completed(offset: timedelta, next_stage: str) -> None:
            dossier_event(
                offset,
                "ecoute_completed",
                lambda at: events_pb2.EcouteCompleted(
                    **base, motifs=d.motifs, next_stage=next_stage, at=_stamp(at), interviews=1
                ),
            )
            stage(offset, "ecoute", next_stage)

        def follow_ups(start: timedelta, end: timedelta) -> None:
            for _ in range(rng.choice((0, 1, 1, 2, 3))):
                at_offset = start + (end - start) * rng.uniform(0.1, 0.9)
                dossier_event(
                    at_offset,
                    "follow_up_recorded",
                    lambda at: events_pb2.FollowUpRecorded(**base, at=_stamp(at)),
                )

        def close(offset: timedelta, from_stage: str) -> None:
            if d.stays_open:
                return
            dossier_event(
                offset,
                "closed",
                lambda at: events_pb2.DossierClosed(**base, outcome=outcome, at=_stamp(at), cycle=0),
            )
            stage(offset, from_stage, "cloture")

        if not referred:
            if outcome == "ecoute_conseil" and rng.random() < 0.5:
                close(t, "ecoute")  # listening and advice were enough
                return
            ecoute_completed(t, "suivi")
            median = timedelta(days=10 if outcome == "ecoute_conseil" else 30)
            end = t + _lognormal(rng, median, 0.7, timedelta(days=1), timedelta(days=180))
            follow_ups(t, end)
            close(end, "suivi")
            return
        ecoute_completed(t, "orientation")
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
        stage(suivi_at, "orientation", "suivi")
        end = max(last, suivi_at) + _lognormal(
            rng, timedelta(days=7), 0.6, timedelta(hours=2), timedelta(days=60)
        )
        follow_ups(suivi_at, end)
        close(end, "suivi")

    def referral_fate(self, outcome: str, *, first: bool) -> str:
        if not first:
            return self.rng.choices(("completed", "rejected", "expired"), (0.6, 0.25, 0.15))[0]
        return {
            "regle": "completed",
            "oriente_sans_retour": "expired",
            "sans_solution": self.rng.choice(("rejected", "failed")),
            "abandon": self.rng.choice(("failed", "cancelled")),
            "demenagement_deces": "cancelled",
        }.get(outcome, "completed")

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
        fate: str,
        add: Callable[[timedelta, str, str, str, Callable[[datetime], Message]], None],
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
            if value != "reminder":
                previous = value
            add(
                offset,
                "entraide.referral.status_changed",
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
                    at=_stamp(at),
                    actor=actor,
                    sequence=seq,
                ),
            )

        def later(t: timedelta, median_days: float, low_hours: float, high_days: float) -> timedelta:
            return t + _lognormal(
                rng, timedelta(days=median_days), 0.7, timedelta(hours=low_hours), timedelta(days=high_days)
            )

        t = requested
        status(t, "requested", agent)
        if fate == "expired":
            status(t + timedelta(days=10), "reminder", SYSTEM_ACTOR)
            t += timedelta(days=30)
            status(t, "expired", SYSTEM_ACTOR)
            return None, t
        if fate == "cancelled":
            t = later(t, 5, 2, 25)
            status(t, "cancelled", agent, reason=rng.choice(("need_gone", "person_refused", "redirected")))
            return None, t
        t = later(t, 2, 1, 9)
        status(t, "received", partner_user)
        if fate == "rejected":
            t = later(t, 2, 1, 15)
            reason = rng.choice(("no_capacity", "not_eligible", "redirected", "person_refused"))
            status(t, "rejected", partner_user, reason=reason)
            return None, t
        t = later(t, 1, 1, 10)
        status(t, "accepted", partner_user)
        accepted = t
        t = later(t, 4, 2, 30)
        status(t, "in_progress", partner_user)
        if fate == "failed":
            t = later(t, 14, 24, 90)
            reason = rng.choice(("person_unreachable", "person_refused", "need_gone", "no_capacity"))
            status(t, "failed", partner_user, reason=reason)
            return accepted, t
        t = later(t, 21, 24, 120)
        status(t, "completed", partner_user, outcome=rng.choice(REFERRAL_OUTCOMES))
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


@dataclass(frozen=True)
class Figures:
    """What a bilan of the generated events must report (computed from the events)."""

    dossiers: int
    people: int
    solved: int
    urgent: int
    by_motif: dict[str, int]
    by_territory: dict[str, int]
    by_channel: dict[str, int]
    by_outcome: dict[str, int]
    referrals: int
    referrals_by_final_status: dict[str, int]
    events_by_type: dict[str, int]

    def as_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def figures(events: Iterable[Event]) -> Figures:
    opened: dict[str, events_pb2.DossierOpened] = {}
    motifs: dict[str, list[str]] = {}
    outcome: dict[str, str] = {}
    referral_status: dict[str, tuple[int, str]] = {}
    types: Counter[str] = Counter()
    for event in events:
        types[event.type] += 1
        if event.type == "entraide.dossier.opened":
            data = event.parse(events_pb2.DossierOpened)
            opened[data.dossier_id] = data
            motifs.setdefault(data.dossier_id, list(data.motifs))
        elif event.type == "entraide.dossier.ecoute_completed":
            completed = event.parse(events_pb2.EcouteCompleted)
            if completed.motifs:
                motifs[completed.dossier_id] = list(completed.motifs)
        elif event.type == "entraide.dossier.closed":
            closed = event.parse(events_pb2.DossierClosed)
            outcome[closed.dossier_id] = closed.outcome
        elif event.type == "entraide.referral.status_changed":
            changed = event.parse(events_pb2.ReferralStatusChanged)
            if changed.status != "reminder":
                current = referral_status.get(changed.referral_id, (0, ""))
                referral_status[changed.referral_id] = max(current, (changed.sequence, changed.status))
    by_outcome = Counter(outcome.values())
    return Figures(
        dossiers=len(opened),
        people=len({d.person_id or d.dossier_id for d in opened.values()}),
        solved=by_outcome.get("regle", 0),
        urgent=sum(1 for d in opened.values() if d.urgent),
        by_motif=dict(sorted(Counter(m for ms in motifs.values() for m in set(ms)).items())),
        by_territory=dict(sorted(Counter(d.territory for d in opened.values()).items())),
        by_channel=dict(sorted(Counter(d.arrival_channel for d in opened.values()).items())),
        by_outcome=dict(sorted(by_outcome.items())),
        referrals=len(referral_status),
        referrals_by_final_status=dict(sorted(Counter(s for _, s in referral_status.values()).items())),
        events_by_type=dict(sorted(types.items())),
    )


async def publish(js: JetStreamContext, subject_root: str, events: Sequence[Event], batch: int = 500) -> int:
    """Publishes in order, pipelined, `Nats-Msg-Id` = event id, every PubAck awaited
    per batch; returns how many JetStream stored (duplicates within its window excluded)."""
    stored = 0
    for start in range(0, len(events), batch):
        chunk = events[start : start + batch]
        acks = [
            await js.publish_async(e.nats_subject(subject_root), e.data, headers=e.headers()) for e in chunk
        ]
        for ack in await asyncio.gather(*acks):
            stored += 0 if ack.duplicate else 1
    return stored


async def stored_event_ids(
    js: JetStreamContext, stream: str, subject_root: str, batch: int = 2000
) -> set[uuid.UUID]:
    """The ids (`Nats-Msg-Id`) of the events `stream` holds under `<subject_root>.>`:
    one pass of a temporary consumer over the stream, headers only."""
    info = await js.stream_info(stream)
    if not info.state.messages:
        return set()
    config = ConsumerConfig(
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.NONE,
        headers_only=True,
        mem_storage=True,
        inactive_threshold=60.0,  # the server drops it even if this process dies
    )
    sub = await js.pull_subscribe(f"{subject_root}.>", stream=stream, config=config)
    ids: set[uuid.UUID] = set()
    try:
        pending = True
        while pending:
            try:
                messages = await sub.fetch(batch, timeout=2)
            except (TimeoutError, NatsTimeoutError):
                break
            for message in messages:
                msg_id = (message.headers or {}).get("Nats-Msg-Id", "")
                try:
                    ids.add(uuid.UUID(msg_id))
                except ValueError:
                    continue  # not one of our events
            pending = bool(messages) and messages[-1].metadata.num_pending > 0
    finally:
        await sub.unsubscribe()
        if config.name:  # set by pull_subscribe
            try:
                await js.delete_consumer(stream, config.name)
            except NotFoundError:
                pass
    return ids


async def publish_new(
    js: JetStreamContext, stream: str, subject_root: str, events: Sequence[Event]
) -> tuple[int, int]:
    """Publishes, in order, the events `stream` does not hold yet (by id: whatever
    JetStream's duplicate window, a second run publishes nothing); returns (how many
    JetStream stored, how many were already there)."""
    known = await stored_event_ids(js, stream, subject_root)
    missing = [e for e in events if e.id not in known]
    return await publish(js, subject_root, missing), len(events) - len(missing)


OUTBOX_COLUMNS = ("event_id", "ce_type", "ce_source", "ce_subject", "ce_time", "data_schema", "data")


async def write_outbox(conn: Connection, schema: str, events: Sequence[Event]) -> int:
    """Adds the events to `<schema>.outbox` (COPY, then insert in order, known event
    ids skipped) for the relay to publish; returns how many rows were added."""
    records = [
        (n, e.id, e.type, e.source, e.subject, e.time, e.data_schema, e.data) for n, e in enumerate(events)
    ]
    async with conn.transaction():
        await conn.execute(
            """CREATE TEMP TABLE IF NOT EXISTS synthetic_outbox
                   (ord int, event_id uuid, ce_type text, ce_source text, ce_subject text,
                    ce_time timestamptz, data_schema text, data bytea)"""
        )
        await conn.execute("TRUNCATE synthetic_outbox")
        await conn.copy_records_to_table(
            "synthetic_outbox", records=records, columns=("ord", *OUTBOX_COLUMNS)
        )
        columns = ", ".join(OUTBOX_COLUMNS)
        status = await conn.execute(
            f"""INSERT INTO {schema}.outbox ({columns})
                SELECT {columns} FROM synthetic_outbox ORDER BY ord
                ON CONFLICT (event_id) DO NOTHING"""
        )
        await conn.execute("DROP TABLE synthetic_outbox")
        # Wakes the relay (kernel.outbox listens on <schema>_outbox).
        await conn.execute("SELECT pg_notify($1, '')", f"{schema}_outbox")
    return int(status.rsplit(" ", 1)[-1])


async def publish_to_stack(events: Sequence[Event], env: Mapping[str, str] | None = None) -> int:
    """Publishes to the stack's NATS (NATS_URL, ENTRAIDE_EVENTS_STREAM, ENTRAIDE_SUBJECT_ROOT)."""
    from kernel import messaging
    from kernel.settings import Settings

    settings = Settings.from_env(env)
    nc = await messaging.connect(settings.nats_url, "synthetic")
    try:
        js = nc.jetstream()
        await messaging.ensure_events_stream(js, settings.events_stream, settings.subject_root)
        return await publish(js, settings.subject_root, events)
    finally:
        await nc.close()


DEMO_SEED = 1


def demo_events(year: int) -> list[Event]:
    """The demo's synthetic year: about 750 people a year (Soissons), some of them back
    with a second dossier. The same events, ids included, on every run."""
    return generate_year(DEMO_SEED, year=year, dossiers=860, people=750)


async def demo_year(env: Mapping[str, str], wait_s: float = 180.0) -> str:
    """The demo's synthetic year (ENTRAIDE_DEMO_SYNTHETIC_YEAR: `1` (default) → last
    year, a 4-digit value → that year, `0` → none), published to the stack; waits until
    the reporting projector has caught up so the bilan has content when `make up` ends.
    Harmless when repeated: the same events, the same ids, and the events the stream
    already holds are not published again (`publish_new`)."""
    from kernel import messaging
    from kernel.settings import Settings
    from services.reporting.projector import CONSUMER

    flag = (env.get("ENTRAIDE_DEMO_SYNTHETIC_YEAR") or "1").strip().lower()
    if flag in ("0", "false", "no", "off"):
        return "synthetic year: skipped (ENTRAIDE_DEMO_SYNTHETIC_YEAR=0)"
    year = int(flag) if flag.isdigit() and len(flag) == 4 else datetime.now(PARIS).year - 1
    events = demo_events(year)
    settings = Settings.from_env(env)
    nc = await messaging.connect(settings.nats_url, "synthetic-demo")
    try:
        js = nc.jetstream()
        await messaging.ensure_events_stream(js, settings.events_stream, settings.subject_root)
        stored, known = await publish_new(js, settings.events_stream, settings.subject_root, events)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        lag = -1
        while loop.time() < deadline:
            try:
                info = await js.consumer_info(settings.events_stream, CONSUMER)
            except NotFoundError:
                break  # no reporting service: nothing to wait for
            lag = (info.num_pending or 0) + (info.num_ack_pending or 0)
            if lag == 0:
                break
            await asyncio.sleep(0.5)
    finally:
        await nc.close()
    caught_up = "projected" if lag <= 0 else f"{lag} events still to project"
    return f"synthetic year {year}: {len(events)} events, {stored} new, {known} already there ({caught_up})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devstack.synthetic", description="Generate a synthetic year of CIAS activity."
    )
    parser.add_argument("--year", type=int, default=2026)
    parser.add_argument("--dossiers", type=int, default=750)
    parser.add_argument("--people", type=int, help="distinct persons (default: one per dossier)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--referral-rate", type=float, default=0.4)
    parser.add_argument("--open-share", type=float, default=0.0, help="share left open at year end")
    parser.add_argument("--publish", action="store_true", help="publish to the stack's NATS (NATS_URL...)")
    args = parser.parse_args(argv)
    events = generate_year(
        args.seed,
        year=args.year,
        dossiers=args.dossiers,
        people=args.people,
        referral_rate=args.referral_rate,
        open_share=args.open_share,
    )
    summary = figures(events).as_json()
    if args.publish:
        stored = asyncio.run(publish_to_stack(events, os.environ))
        summary["published"] = {"events": len(events), "stored": stored, "duplicates": len(events) - stored}
    json.dump(summary, sys.stdout, ensure_ascii=False, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
