"""Pure generation: a Dijon-like year of permanences and appointments at the Maison de
la solidarité de Dijon (devstack/synthetic/dijon.py), as domain events, from a seed.

Everything is derived from the arguments: the same arguments give the same events, byte
for byte and ids included (uuid5 ids, no clock, no set or hash order). No I/O.

What a generated year looks like
--------------------------------
- The rota: the 18 partners' and the élu's half-day permanences in the two rooms,
  weekly or every other week (on the parity of the weeks since `dijon.ROTA_EPOCH`, so
  the rota carries over from one year to the next), never two in the same room at the
  same half-day of the same week; the same rota every year of a seed.
- Sessions are held on working days (public holidays, 1-21 August and the Christmas week
  closed), a few sessions of each partner are not held; each session is cut into its
  host's slots (20, 30 or 45 minutes). The CCAS agents receive by appointment outside
  the rooms (no room, no permanence), 45 minutes, eight half-days a week.
- Exactly `visits` visits (arrived or seen): the appointments are drawn among the slots
  (weighted by each host's demand, one appointment per slot), their final statuses
  allocated by quotas: 7 % cancelled, 0.5 % with nothing recorded, and of the recorded
  ones 90 % visits, 7 % no-shows and 3 % excused no-shows (a no-show rate of 10 %). Some
  visits are walk-ins (booked and checked in at once), some no-shows are corrected to
  seen later; 6 % of the appointments are moved once, 1 % twice (from another slot of
  the same host within four weeks, each move one version more).
- Times: booked days before (a lognormal lead), moved and cancelled before the start,
  check-in at the start, seen at the end, a no-show recorded after the end.
- No personal data: ids, codes, organisations' names.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import random
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from entraide.v1 import events_pb2
from google.protobuf.message import Message

from devstack.synthetic import dijon
from devstack.synthetic.dijon import Host
from domain.events import EventType
from domain.planning import PARIS, AppointmentStatus, HostKind, Recurrence
from kernel.events import Event, new_event
from kernel.timestamps import to_timestamp

SOURCE = "entraide/intake"
# Namespace of every id of a generated activity year (permanences, appointments, events).
ACTIVITY_NAMESPACE = uuid.UUID("6f1d2c4e-8a3b-4e7f-b2d5-1c9e0a7f3b58")
DEFAULT_VISITS = 6000
DEFAULT_GROWTH = 0.045  # visits of a year over the previous one
S = AppointmentStatus


@dataclass(frozen=True)
class Permanence:
    permanence_id: str
    host: Host
    room: str
    weekday: int  # 0 = Monday
    half: int  # index in dijon.HALF_DAYS
    parity: int | None  # None: every week; 0 or 1: the weeks of that parity

    def held_on(self, day: date) -> bool:
        return day.weekday() == self.weekday and self.parity in (None, week_parity(day))


@dataclass(frozen=True)
class Slot:
    host: Host
    permanence_id: str  # empty for an agent
    room: str  # empty for an agent
    starts_at: datetime  # UTC
    ends_at: datetime


@dataclass(frozen=True)
class GeneratedAppointment:
    """An appointment as the generator decided it: its final place and status."""

    number: int
    appointment_id: str
    slot: Slot  # the latest placement
    status: AppointmentStatus
    walk_in: bool
    booked_at: datetime
    moves: int
    territory: str = dijon.TERRITORY
    site: str = dijon.SITE

    @property
    def host(self) -> Host:
        return self.slot.host


@dataclass(frozen=True)
class ActivityYear:
    year: int
    permanences: tuple[Permanence, ...]
    appointments: tuple[GeneratedAppointment, ...]
    events: tuple[Event, ...]


def week_parity(day: date) -> int:
    return ((day - dijon.ROTA_EPOCH).days // 7) % 2


def place_permanences(seed: int) -> list[Permanence]:
    """The rota: every partner's and the élu's permanence in a room and half-day, weekly
    ones on both week parities of a (room, weekday, half-day), fortnightly ones on one,
    never two on the same parity; deterministic for the seed."""
    rng = random.Random(f"dijon-rota/{seed}")
    cells = [(room, day, half) for room in dijon.ROOMS for day in range(5) for half in range(2)]
    rng.shuffle(cells)
    taken: dict[tuple[str, int, int], set[int]] = {cell: set() for cell in cells}
    hosts = sorted([*dijon.PARTNERS, dijon.ELU], key=lambda h: (h.recurrence != Recurrence.WEEKLY, h.host_id))
    out = []
    for host in hosts:
        if host.recurrence == Recurrence.WEEKLY:
            cell = next((c for c in cells if not taken[c]), None)
            parities: set[int] = {0, 1}
        else:
            # Fill the other week of a half-used half-day first: rooms stay free for whole ones.
            cell = next((c for c in cells if len(taken[c]) == 1), None) or next(
                (c for c in cells if not taken[c]), None
            )
            parities = {0, 1} - taken[cell] if cell else set()
            parities = {min(parities)} if parities else set()
        if cell is None or not parities:
            raise ValueError("the rooms have no free half-day left for every permanence")
        taken[cell] |= parities
        room, weekday, half = cell
        parity = None if len(parities) == 2 else min(parities)
        permanence_id = str(uuid.uuid5(ACTIVITY_NAMESPACE, f"permanence/{seed}/{host.host_id}"))
        out.append(Permanence(permanence_id, host, room, weekday, half, parity))
    return sorted(out, key=lambda p: (p.room, p.weekday, p.half, p.parity is None, p.parity or 0))


def _working_days(year: int) -> list[date]:
    closed = dijon.closed_days(year)
    day, out = date(year, 1, 1), []
    while day.year == year:
        if day.weekday() < 5 and day not in closed:
            out.append(day)
        day += timedelta(days=1)
    return out


def _slots(host: Host, permanence_id: str, room: str, day: date, half: int) -> list[Slot]:
    start, end = dijon.HALF_DAYS[half]
    at = datetime.combine(day, start, PARIS)
    stop = datetime.combine(day, end, PARIS)
    step = timedelta(minutes=host.slot_minutes)
    out = []
    while at + step <= stop:
        out.append(Slot(host, permanence_id, room, at.astimezone(UTC), (at + step).astimezone(UTC)))
        at += step
    return out


def year_slots(rng: random.Random, year: int, permanences: Sequence[Permanence]) -> list[Slot]:
    """Every slot of the year: the permanences' sessions held (a few not held) and the
    agents' half-days (a few weeks off), in time order."""
    days = _working_days(year)
    slots: list[Slot] = []
    for permanence in permanences:
        held = [d for d in days if permanence.held_on(d)]
        off = set(rng.sample(held, min(len(held), rng.randint(*dijon.SESSIONS_OFF_PER_YEAR))))
        for day in held:
            if day not in off:
                slots += _slots(
                    permanence.host, permanence.permanence_id, permanence.room, day, permanence.half
                )
    for agent in dijon.AGENTS:
        off = set(rng.sample(days, 25))  # five weeks of holidays
        for day in days:
            if day in off:
                continue
            for weekday, half in dijon.AGENT_HALF_DAYS:
                if day.weekday() == weekday:
                    slots += _slots(agent, "", "", day, half)
    return sorted(slots, key=lambda s: (s.starts_at, s.room, s.host.host_id))


def status_plan(visits: int) -> list[AppointmentStatus]:
    """Final statuses with exactly `visits` visits (SEEN standing for every visit here)."""
    no_shows = round(visits * dijon.NO_SHOW_SHARE / dijon.VISIT_SHARE)
    excused = round(visits * dijon.EXCUSED_SHARE / dijon.VISIT_SHARE)
    recorded = visits + no_shows + excused
    total = round(recorded / (1 - dijon.CANCELLED_SHARE - dijon.UNRECORDED_SHARE))
    unrecorded = round(total * dijon.UNRECORDED_SHARE)
    cancelled = total - recorded - unrecorded
    return (
        [S.SEEN] * visits
        + [S.NO_SHOW] * no_shows
        + [S.NO_SHOW_EXCUSED] * excused
        + [S.BOOKED] * unrecorded
        + [S.CANCELLED] * cancelled
    )


def _choose(rng: random.Random, slots: Sequence[Slot], count: int) -> tuple[list[Slot], list[Slot]]:
    """`count` slots drawn without replacement weighted by their host's demand
    (Efraimidis-Spirakis keys), and the others; both in time order."""
    if count > len(slots):
        raise ValueError(f"{count} appointments do not fit in the year's {len(slots)} slots")
    keys = [(rng.random() ** (1.0 / s.host.demand), -i) for i, s in enumerate(slots)]
    order = sorted(range(len(slots)), key=lambda i: keys[i], reverse=True)
    chosen = set(order[:count])
    return [s for i, s in enumerate(slots) if i in chosen], [
        s for i, s in enumerate(slots) if i not in chosen
    ]


def _minutes(rng: random.Random, low: float, high: float) -> timedelta:
    return timedelta(seconds=round(rng.uniform(low, high) * 60))


def _between(rng: random.Random, a: datetime, b: datetime) -> datetime:
    if b <= a:
        return a
    return a + timedelta(seconds=rng.randrange(int((b - a).total_seconds()) or 1))


class _Year:
    def __init__(self, seed: int, year: int, visits: int) -> None:
        self.key = hashlib.sha256(f"dijon-activity/{seed}/{year}/{visits}".encode()).hexdigest()[:16]
        self.rng = random.Random(f"dijon-activity/{seed}/{year}/{visits}")
        self.year = year
        self.permanences = place_permanences(seed)
        slots = year_slots(self.rng, year, self.permanences)
        statuses = status_plan(visits)
        self.rng.shuffle(statuses)
        chosen, free = _choose(self.rng, slots, len(statuses))
        self.free: dict[str, list[Slot]] = {}
        for slot in free:
            self.free.setdefault(slot.host.host_id, []).append(slot)  # in time order
        self.statuses = statuses
        self.chosen = chosen

    def uid(self, *parts: object) -> uuid.UUID:
        return uuid.uuid5(ACTIVITY_NAMESPACE, "/".join([self.key, *map(str, parts)]))

    def earlier_slot(self, slot: Slot) -> Slot | None:
        """A free slot of the same host within four weeks of `slot` (then no longer free)."""
        free = self.free.get(slot.host.host_id, [])
        starts = [s.starts_at for s in free]
        low = bisect.bisect_left(starts, slot.starts_at - timedelta(days=28))
        high = bisect.bisect_right(starts, slot.starts_at + timedelta(days=28))
        if low >= high:
            return None
        return free.pop(self.rng.randrange(low, high))

    def plan(self) -> tuple[list[GeneratedAppointment], list[Event]]:
        rng = self.rng
        n = len(self.chosen)
        visits = [i for i in range(n) if self.statuses[i] == S.SEEN]
        walk_ins = set(rng.sample(visits, round(len(visits) * dijon.WALK_IN_SHARE)))
        booked_ahead = [i for i in range(n) if i not in walk_ins]
        movers = rng.sample(booked_ahead, round(n * (dijon.MOVED_SHARE + dijon.MOVED_TWICE_SHARE)))
        twice = set(movers[: round(n * dijon.MOVED_TWICE_SHARE)])
        moved = set(movers)
        corrected = set(
            rng.sample(
                [i for i in visits if i not in walk_ins], round(len(visits) * dijon.CORRECTED_NO_SHOW_SHARE)
            )
        )
        appointments: list[GeneratedAppointment] = []
        keyed: list[tuple[datetime, int, int, Event]] = []
        for number, (slot, planned) in enumerate(zip(self.chosen, self.statuses, strict=True)):
            appointment_id = str(self.uid("appointment", number))
            steps: list[tuple[datetime, EventType, Message]] = []
            placements = [slot]
            if number in moved:
                for _ in range(2 if number in twice else 1):
                    earlier = self.earlier_slot(slot)
                    if earlier is not None:
                        placements.insert(0, earlier)
            walk_in = number in walk_ins
            status = planned
            if walk_in:
                booked_at = slot.starts_at
            else:
                lead = timedelta(days=9) * math.exp(rng.gauss(0.0, 0.8))
                lead = max(timedelta(hours=3), min(timedelta(days=60), lead))
                booked_at = (min(p.starts_at for p in placements) - lead).replace(microsecond=0)
            steps.append(
                (
                    booked_at,
                    EventType.APPOINTMENT_BOOKED,
                    events_pb2.AppointmentBooked(
                        appointment_id=appointment_id,
                        place=self.place(placements[0]),
                        at=to_timestamp(booked_at),
                        walk_in=walk_in,
                    ),
                )
            )
            last = booked_at
            # Every move happens before the earliest of the places' times (the booking too).
            before = min(p.starts_at for p in placements) - timedelta(hours=1)
            for version, target in enumerate(placements[1:], start=2):
                last = _between(rng, last + timedelta(minutes=1), before).replace(microsecond=0)
                steps.append(
                    (
                        last,
                        EventType.APPOINTMENT_MOVED,
                        events_pb2.AppointmentMoved(
                            appointment_id=appointment_id,
                            place=self.place(target),
                            at=to_timestamp(last),
                            version=version,
                        ),
                    )
                )
            start, end = slot.starts_at, slot.ends_at
            if planned == S.CANCELLED:
                at = _between(rng, last + timedelta(minutes=1), start - timedelta(minutes=15))
                steps.append(
                    (
                        at,
                        EventType.APPOINTMENT_CANCELLED,
                        events_pb2.AppointmentCancelled(
                            appointment_id=appointment_id,
                            territory=dijon.TERRITORY,
                            at=to_timestamp(at),
                            by_person=rng.random() < 0.7,
                        ),
                    )
                )
            elif planned == S.SEEN:
                if walk_in:
                    records = [(start, S.ARRIVED), (end + _minutes(rng, 0, 10), S.SEEN)]
                elif number in corrected:
                    proposed = end + timedelta(minutes=30) + _minutes(rng, 0, 90)
                    records = [(proposed, S.NO_SHOW), (proposed + _minutes(rng, 60, 72 * 60), S.SEEN)]
                else:
                    kind = rng.random()
                    arrived = start - _minutes(rng, 0, 10)
                    seen = end + _minutes(rng, 0, 10)
                    if kind < 0.8:
                        records = [(arrived, S.ARRIVED), (seen, S.SEEN)]
                    elif kind < 0.9:
                        records = [(seen, S.SEEN)]
                    else:
                        records = [(arrived, S.ARRIVED)]
                status = records[-1][1]
                steps += [
                    (at, EventType.ATTENDANCE_RECORDED, self.attendance(appointment_id, st, at))
                    for at, st in records
                ]
            elif planned == S.NO_SHOW:
                at = end + timedelta(minutes=30) + _minutes(rng, 0, 120)
                steps.append(
                    (at, EventType.ATTENDANCE_RECORDED, self.attendance(appointment_id, S.NO_SHOW, at))
                )
            elif planned == S.NO_SHOW_EXCUSED:
                at = end + _minutes(rng, 60, 48 * 60)
                steps.append(
                    (
                        at,
                        EventType.ATTENDANCE_RECORDED,
                        self.attendance(appointment_id, S.NO_SHOW_EXCUSED, at),
                    )
                )
            appointments.append(
                GeneratedAppointment(
                    number, appointment_id, slot, status, walk_in, booked_at, len(placements) - 1
                )
            )
            for index, (at, event_type, data) in enumerate(steps):
                event = new_event(
                    event_type,
                    SOURCE,
                    appointment_id,
                    data,
                    event_id=self.uid("event", number, index),
                    time=at,
                )
                keyed.append((at, number, index, event))
        keyed.sort(key=lambda item: item[:3])
        return appointments, [item[3] for item in keyed]

    def place(self, slot: Slot) -> events_pb2.AppointmentPlace:
        host = slot.host
        partner = host.kind == HostKind.PARTENAIRE
        return events_pb2.AppointmentPlace(
            territory=dijon.TERRITORY,
            site=dijon.SITE,
            room=slot.room,
            permanence_id=slot.permanence_id,
            host_kind=host.kind,
            partner_id=host.host_id if partner else "",
            partner_name=host.name if partner else "",
            category=host.category,
            starts_at=to_timestamp(slot.starts_at),
            ends_at=to_timestamp(slot.ends_at),
        )

    @staticmethod
    def attendance(
        appointment_id: str, status: AppointmentStatus, at: datetime
    ) -> events_pb2.AttendanceRecorded:
        return events_pb2.AttendanceRecorded(
            appointment_id=appointment_id, territory=dijon.TERRITORY, status=status, at=to_timestamp(at)
        )


def generate_dijon_year(seed: int, *, year: int, visits: int = DEFAULT_VISITS) -> ActivityYear:
    """A year of the Maison de la solidarité de Dijon with exactly `visits` visits."""
    generated = _Year(seed, year, visits)
    appointments, events = generated.plan()
    return ActivityYear(year, tuple(generated.permanences), tuple(appointments), tuple(events))


def generate_dijon_years(
    seed: int, *, year: int, visits: int = DEFAULT_VISITS, growth: float = DEFAULT_GROWTH
) -> tuple[ActivityYear, ActivityYear]:
    """The previous year (visits / (1 + growth), rounded) and `year` (`visits`)."""
    previous = generate_dijon_year(seed, year=year - 1, visits=round(visits / (1 + growth)))
    return previous, generate_dijon_year(seed, year=year, visits=visits)


def events_of(years: Iterable[ActivityYear]) -> list[Event]:
    """The years' events in time order (ties: in the order of the years given)."""
    keyed = [(e.time, n, i, e) for n, y in enumerate(years) for i, e in enumerate(y.events)]
    keyed.sort(key=lambda item: item[:3])
    return [item[3] for item in keyed]
