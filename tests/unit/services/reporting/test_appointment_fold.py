"""The appointments' fold (services.reporting.projection.fold), without any server: the
appointment events folded into one delta per appointment, the same whatever the arrival
order, the duplicates and the batch split (each batch's delta merged by the rules of the
upsert, projection/appointments.py)."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from domain.planning import AppointmentStatus, HostKind
from kernel.events import Event
from services.reporting import activity
from services.reporting.projection.fold import AppointmentDelta, Fold, fold
from tests.reporting_events import (
    appointment_booked,
    appointment_cancelled,
    appointment_moved,
    appointment_place,
    attendance_recorded,
)

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
S = AppointmentStatus


def h(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def ids(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(n)]


A = ids(9, seed=1)


def scenario() -> list[Event]:
    """Every path of an appointment: seen; moved twice (the later version stamped earlier);
    cancelled; a no-show corrected to seen; a walk-in; an excused no-show; two moves of
    the same version at the same time (the greater place wins); moved after a no-show
    (booked again); an élu's and an agent's appointments."""
    day = h(48)
    return [
        appointment_booked(A[0], appointment_place(day), h(0)),
        attendance_recorded(A[0], S.ARRIVED, day - timedelta(minutes=5)),
        attendance_recorded(A[0], S.SEEN, day + timedelta(minutes=30)),
        appointment_booked(A[1], appointment_place(day, room="bureau-2"), h(1)),
        appointment_moved(A[1], appointment_place(day + timedelta(days=7)), h(5), version=2),
        appointment_moved(A[1], appointment_place(day + timedelta(days=14)), h(4), version=3),
        appointment_booked(A[2], appointment_place(day + timedelta(hours=1)), h(2)),
        appointment_cancelled(A[2], h(20), by_person=True),
        appointment_booked(A[3], appointment_place(day + timedelta(hours=2)), h(3)),
        attendance_recorded(A[3], S.NO_SHOW, day + timedelta(hours=3)),
        attendance_recorded(A[3], S.SEEN, day + timedelta(hours=4)),
        appointment_booked(A[4], appointment_place(day, room="bureau-2"), day, walk_in=True),
        attendance_recorded(A[4], S.ARRIVED, day),  # the same time as the walk-in's booking
        attendance_recorded(A[4], S.SEEN, day + timedelta(minutes=40)),
        appointment_booked(A[5], appointment_place(day + timedelta(hours=3)), h(6)),
        attendance_recorded(A[5], S.NO_SHOW_EXCUSED, day + timedelta(hours=4)),
        appointment_booked(A[6], appointment_place(day), h(7)),
        appointment_moved(A[6], appointment_place(day + timedelta(days=1), room="bureau-1"), h(9), version=2),
        appointment_moved(A[6], appointment_place(day + timedelta(days=1), room="bureau-2"), h(9), version=2),
        appointment_booked(A[7], appointment_place(day, host_kind=HostKind.ELU, category=""), h(8)),
        attendance_recorded(A[7], S.NO_SHOW, day + timedelta(hours=1)),
        appointment_moved(
            A[7], appointment_place(day + timedelta(days=2), host_kind=HostKind.ELU, category=""), h(60), 2
        ),
        appointment_booked(
            A[8], appointment_place(day, host_kind=HostKind.AGENT, room="", category="", minutes=45), h(10)
        ),
        attendance_recorded(A[8], S.SEEN, day + timedelta(minutes=45)),
        # A renamed partner: its latest name wins.
        appointment_booked(
            str(uuid.UUID(int=1)), appointment_place(day, partner_name="ADIL 21", room="bureau-2"), h(-100)
        ),
    ]


def _latest(a: object, b: object) -> object:
    return b if a is None else a if b is None else max(a, b)  # type: ignore[call-overload]


def merge_appointment(a: AppointmentDelta, b: AppointmentDelta) -> AppointmentDelta:
    """The upsert's merge of a row (a) with a batch's delta (b)."""
    place = _latest(a.place, b.place)
    territory = place[2] if place else a.territory or b.territory  # type: ignore[index]
    return AppointmentDelta(
        a.appointment_id,
        territory=territory,
        place=place,  # type: ignore[arg-type]
        status=_latest(a.status, b.status),  # type: ignore[arg-type]
        walk_in=a.walk_in or b.walk_in,
        booked_at=min((t for t in (a.booked_at, b.booked_at) if t is not None), default=None),
    )


def merge(a: Fold, b: Fold) -> Fold:
    out = Fold(appointments=dict(a.appointments), host_names=dict(a.host_names))
    for k, d in b.appointments.items():
        out.appointments[k] = merge_appointment(out.appointments[k], d) if k in out.appointments else d
    for k, name in b.host_names.items():
        out.host_names[k] = _latest(out.host_names.get(k), name)  # type: ignore[assignment]
    return out


def normal(f: Fold) -> Fold:
    """A row's territory is its placement's once it has one (the upsert's rule)."""
    for delta in f.appointments.values():
        if delta.place is not None:
            delta.territory = delta.place[2]
    return f


def test_any_order_duplicates_and_batch_split_give_the_same_deltas() -> None:
    events = scenario()
    expected = normal(fold(events))
    rng = random.Random(17)
    for _ in range(300):
        shuffled = rng.sample(events, len(events))
        shuffled += rng.sample(events, rng.randint(0, 6))  # duplicates the inbox did not catch
        assert normal(fold(shuffled)) == expected
        cuts = sorted(rng.sample(range(1, len(shuffled)), rng.randint(1, 10)))
        combined = Fold()
        for a, b in zip([0, *cuts], [*cuts, len(shuffled)], strict=True):
            combined = merge(combined, normal(fold(shuffled[a:b])))
        assert normal(combined) == expected


def test_an_appointment_keeps_its_latest_placement_and_status() -> None:
    f = fold(scenario())
    day = h(48)
    seen = f.appointments[A[0]]
    assert seen.status == (day + timedelta(minutes=30), 2, S.SEEN)
    assert (seen.booked_at, seen.walk_in, seen.territory) == (h(0), False, "21231")
    moved = f.appointments[A[1]]
    assert moved.place is not None and moved.place[:2] == (3, h(4))  # the greater version, though earlier
    assert moved.place[10] == day + timedelta(days=14) and moved.place[4] == "bureau-1"
    assert moved.status == (h(5), 0, S.BOOKED) and moved.booked_at == h(1)
    assert f.appointments[A[2]].status == (h(20), 5, S.CANCELLED)
    assert f.appointments[A[3]].status == (day + timedelta(hours=4), 2, S.SEEN)  # corrected
    walk_in = f.appointments[A[4]]
    assert walk_in.walk_in and walk_in.status == (day + timedelta(minutes=40), 2, S.SEEN)
    assert f.appointments[A[5]].status == (day + timedelta(hours=4), 4, S.NO_SHOW_EXCUSED)
    tie = f.appointments[A[6]].place
    assert tie is not None and tie[4] == "bureau-2"  # same version and time: the greater place
    elu = f.appointments[A[7]]
    assert elu.status == (h(60), 0, S.BOOKED)  # moved after its no-show: booked again
    assert elu.place is not None and (elu.place[6], elu.place[7], elu.place[8]) == (HostKind.ELU, "", "")
    agent = f.appointments[A[8]]
    assert agent.place is not None and agent.place[4] == "" and agent.place[6] == HostKind.AGENT
    assert f.host_names == {"adil-21": (day, "ADIL de la Côte-d'Or")}  # the latest name


def test_an_attendance_before_its_booking_waits_for_its_place() -> None:
    (a,) = ids(1, seed=2)
    early = fold([attendance_recorded(a, S.SEEN, h(10))])
    assert early.appointments[a].place is None and early.appointments[a].territory == "21231"
    both = fold([attendance_recorded(a, S.SEEN, h(10)), appointment_booked(a, appointment_place(h(9)), h(1))])
    assert both.appointments[a].status == (h(10), 2, S.SEEN)
    assert both.appointments[a].place is not None


def test_malformed_appointment_events_are_refused() -> None:
    with pytest.raises(ValueError, match="uuid appointment id"):
        fold([appointment_booked("not-a-uuid", appointment_place(h(1)), h(0))])
    (a,) = ids(1, seed=3)
    no_start = appointment_place(h(1))
    no_start.ClearField("starts_at")
    with pytest.raises(ValueError, match="without territory, site or start"):
        fold([appointment_booked(a, no_start, h(0))])
    with pytest.raises(ValueError, match="unknown host kind"):
        fold([appointment_booked(a, appointment_place(h(1), host_kind="voisin"), h(0))])
    with pytest.raises(ValueError, match="not an attendance"):
        fold([attendance_recorded(a, S.CANCELLED, h(0))])


def test_activity_counts_statuses_as_the_bilan_defines_them() -> None:
    counts = activity.Counts()
    for status, walk_in in [
        (S.BOOKED, False),
        (S.ARRIVED, True),
        (S.SEEN, False),
        (S.NO_SHOW, False),
        (S.NO_SHOW_EXCUSED, False),
        (S.CANCELLED, True),
    ]:
        counts.add(status, walk_in, 2)
    assert counts == activity.Counts(appointments=10, visits=4, no_shows=4, excused=2, walk_ins=2)
    assert activity.no_show_rate(1, 2) == 33.3 and activity.no_show_rate(0, 0) == 0.0
    assert activity.growth(6000, 5742) == 4.5 and activity.growth(3, 0) == 0.0
    group = ("maison-solidarite-dijon", HostKind.ELU, "", "")
    assert activity.category_of(group) == "elus" and activity.partner_of(group) is None
    assert activity.category_of(("s", HostKind.AGENT, "", "")) == "ccas"
    assert activity.category_of(("s", HostKind.PARTENAIRE, "p", "logement")) == "logement"
