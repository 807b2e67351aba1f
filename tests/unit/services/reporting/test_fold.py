"""The projection's pure fold (services.reporting.projection.fold), without any server:
events built with `kernel.events.new_event` folded into deltas, and those deltas merged
by the rules of the upserts (projection/apply.py), whatever the arrival order and the
batch split."""

from __future__ import annotations

import random
import typing
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from entraide.v1 import events_pb2
from google.protobuf.message import Message

from domain.events import CATALOGUE, DOSSIER_EVENTS, EventType
from domain.vocabulary import REFERRAL_REMINDER, ReferralStatus, Stage
from kernel.events import Event, new_event
from kernel.timestamps import to_timestamp
from services.reporting.projection import fold as fold_module
from services.reporting.projection.fold import HANDLERS, DossierDelta, Fold, ReferralDelta, fold

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
COMMUNE = "55029"


def h(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def event(event_type: EventType, subject: str, data: Message) -> Event:
    return new_event(event_type, "tests/unit/reporting", subject, data)


def opened(
    dossier: str,
    at: datetime,
    motifs: Sequence[str] = ("logement",),
    person: str = "",
    territory: str = COMMUNE,
    channel: str = "telephone",
    urgent: bool = False,
) -> Event:
    data = events_pb2.DossierOpened(
        dossier_id=dossier,
        territory=territory,
        site="mairie",
        motifs=list(motifs),
        arrival_channel=channel,
        urgent=urgent,
        opened_at=to_timestamp(at),
        person_id=person,
    )
    return event(EventType.DOSSIER_OPENED, dossier, data)


def stage(dossier: str, at: datetime, to_stage: str, from_stage: str = "") -> Event:
    data = events_pb2.DossierStageChanged(
        dossier_id=dossier, territory=COMMUNE, from_stage=from_stage, to_stage=to_stage, at=to_timestamp(at)
    )
    return event(EventType.DOSSIER_STAGE_CHANGED, dossier, data)


def ecoute(dossier: str, at: datetime, motifs: Sequence[str]) -> Event:
    data = events_pb2.EcouteCompleted(
        dossier_id=dossier, territory=COMMUNE, motifs=list(motifs), at=to_timestamp(at)
    )
    return event(EventType.ECOUTE_COMPLETED, dossier, data)


def dossier_event(event_type: EventType, dossier: str, at: datetime, **fields: object) -> Event:
    """An event about one dossier of COMMUNE at `at`, its message read from the catalogue."""
    data = CATALOGUE[event_type].message(dossier_id=dossier, territory=COMMUNE, at=to_timestamp(at), **fields)
    return event(event_type, dossier, data)


def closed(dossier: str, at: datetime, outcome: str) -> Event:
    return dossier_event(EventType.DOSSIER_CLOSED, dossier, at, outcome=outcome)


def reopened(dossier: str, at: datetime) -> Event:
    return dossier_event(EventType.DOSSIER_REOPENED, dossier, at)


def escalated(dossier: str, at: datetime) -> Event:
    return dossier_event(EventType.DOSSIER_ESCALATED, dossier, at)


def reminder(dossier: str, at: datetime) -> Event:
    return dossier_event(EventType.SUIVI_REMINDER, dossier, at)


def closure_proposed(dossier: str, at: datetime) -> Event:
    return dossier_event(EventType.CLOSURE_PROPOSED, dossier, at)


def interview(dossier: str, at: datetime) -> Event:
    return dossier_event(EventType.INTERVIEW_RECORDED, dossier, at)


def follow_up(dossier: str, at: datetime) -> Event:
    return dossier_event(EventType.FOLLOW_UP_RECORDED, dossier, at)


def assigned(dossier: str, at: datetime) -> Event:
    return dossier_event(EventType.DOSSIER_ASSIGNED, dossier, at, assigned_agent="agent-1")


def referral(
    referral_id: str,
    status: str,
    at: datetime,
    sequence: int,
    *,
    dossier: str = "",
    partner: str = "caf-meuse",
    name: str = "",
    outcome: str = "",
    reason: str = "",
) -> Event:
    data = events_pb2.ReferralStatusChanged(
        referral_id=referral_id,
        dossier_id=dossier,
        partner_id=partner,
        partner_name=name,
        territory=COMMUNE,
        motif="logement",
        status=status,
        outcome=outcome,
        reason=reason,
        at=to_timestamp(at),
        sequence=sequence,
    )
    return event(EventType.REFERRAL_STATUS_CHANGED, referral_id, data)


def merged(merged_id: str, keep_id: str, at: datetime = T0) -> Event:
    data = events_pb2.PersonsMerged(
        keep_id=keep_id, merged_id=merged_id, territory=COMMUNE, at=to_timestamp(at)
    )
    return event(EventType.PERSONS_MERGED, keep_id, data)


def ids(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(n)]


def scenario() -> list[Event]:
    """Dossiers through every kind of dossier event (re-entered stages, several
    closures, equal times), referrals with reminders and renamed partners, merges."""
    d1, d2, d3 = ids(3, seed=1)
    p1, p2, p3 = ids(3, seed=2)
    r1, r2 = ids(2, seed=3)
    return [
        opened(d1, h(0), ["logement", "energie"], person=p1, urgent=True),
        interview(d1, h(1)),
        escalated(d1, h(2)),
        escalated(d1, h(2.5)),
        stage(d1, h(3), Stage.ECOUTE, Stage.RECEPTION),
        ecoute(d1, h(4), ["energie"]),
        stage(d1, h(5), Stage.ORIENTATION, Stage.ECOUTE),
        stage(d1, h(6), Stage.ECOUTE, Stage.ORIENTATION),  # back to the écoute
        stage(d1, h(7), Stage.SUIVI, Stage.ECOUTE),
        follow_up(d1, h(8)),
        reminder(d1, h(20)),
        reminder(d1, h(40)),
        closure_proposed(d1, h(50)),
        closed(d1, h(60), "regle"),
        reopened(d1, h(70)),
        assigned(d1, h(71)),
        closed(d1, h(80), "abandon"),
        opened(d2, h(1), ["emploi"], person=p2, channel="visite_spontanee"),
        stage(d2, h(2), Stage.ECOUTE, Stage.RECEPTION),
        stage(d2, h(9), Stage.ORIENTATION, Stage.ECOUTE),
        stage(d2, h(9), Stage.SUIVI, Stage.ECOUTE),  # same time: the later stage wins
        opened(d3, h(2), ["sante"]),  # no person
        ecoute(d3, h(5), ["alimentation"]),
        ecoute(d3, h(5), ["budget"]),  # same time: the greater motifs win
        referral(r1, ReferralStatus.REQUESTED, h(10), 1, dossier=d1, name="CAF de la Meuse"),
        referral(r1, ReferralStatus.RECEIVED, h(11), 2, dossier=d1, name="CAF de la Meuse"),
        referral(r1, REFERRAL_REMINDER, h(12), 3, dossier=d1, name="CAF de la Meuse"),
        referral(r1, REFERRAL_REMINDER, h(13), 4, dossier=d1, name="CAF de la Meuse"),
        referral(r1, ReferralStatus.ACCEPTED, h(14), 5, dossier=d1, name="CAF de la Meuse"),
        referral(
            r1, ReferralStatus.COMPLETED, h(15), 6, dossier=d1, outcome="need_met", name="CAF de la Meuse"
        ),
        referral(r2, ReferralStatus.REQUESTED, h(16), 1, dossier=d2, partner="cpam-meuse", name="CPAM 55"),
        referral(
            r2, ReferralStatus.REJECTED, h(17), 2, dossier=d2, partner="cpam-meuse", reason="no_capacity"
        ),
        merged(p2, p3, h(30)),
        merged(p3, p1, h(31)),
    ]


# The upserts' merge of a row (a) with a batch's delta (b), column by column (apply.py).
def _least(a: datetime | None, b: datetime | None) -> datetime | None:
    return min((x for x in (a, b) if x is not None), default=None)


def _greatest(a: datetime | None, b: datetime | None) -> datetime | None:
    return max((x for x in (a, b) if x is not None), default=None)


def _coalesce(a: typing.Any, b: typing.Any) -> typing.Any:
    return a if a is not None else b


def _latest(a: typing.Any, b: typing.Any) -> typing.Any:
    return b if a is None else a if b is None else max(a, b)


def _first(a: dict[str, datetime], b: dict[str, datetime]) -> dict[str, datetime]:
    return {k: v for k in a.keys() | b.keys() if (v := _least(a.get(k), b.get(k))) is not None}


def merge_dossier(a: DossierDelta, b: DossierDelta) -> DossierDelta:
    motifs = a.motifs
    if b.motifs and (
        motifs is None or (b.motifs[0], ",".join(b.motifs[1])) > (motifs[0], ",".join(motifs[1]))
    ):
        motifs = b.motifs
    return DossierDelta(
        a.dossier_id,
        territory=a.territory or b.territory,
        person_id=_coalesce(a.person_id, b.person_id),
        site=_coalesce(a.site, b.site),
        arrival_channel=_coalesce(a.arrival_channel, b.arrival_channel),
        urgent=_coalesce(a.urgent, b.urgent),
        opened_at=_least(a.opened_at, b.opened_at),
        motifs=motifs,
        stage=_latest(a.stage, b.stage),
        first=_first(a.first, b.first),
        closed=_latest(a.closed, b.closed),
        escalated_at=_least(a.escalated_at, b.escalated_at),
        reminder_at=_greatest(a.reminder_at, b.reminder_at),
        closure_proposed_at=_greatest(a.closure_proposed_at, b.closure_proposed_at),
        last_activity_at=_greatest(a.last_activity_at, b.last_activity_at),
        reopened=a.reopened + b.reopened,
        reminders=a.reminders + b.reminders,
    )


def merge_referral(a: ReferralDelta, b: ReferralDelta) -> ReferralDelta:
    return ReferralDelta(
        a.referral_id,
        dossier_id=a.dossier_id or b.dossier_id,
        partner_id=a.partner_id or b.partner_id,
        territory=a.territory or b.territory,
        motif=a.motif or b.motif,
        status=_latest(a.status, b.status),
        first=_first(a.first, b.first),
        reminders=a.reminders + b.reminders,
        reminder_at=_greatest(a.reminder_at, b.reminder_at),
    )


def merge(a: Fold, b: Fold) -> Fold:
    out = Fold(dict(a.dossiers), dict(a.referrals), [*a.merges, *b.merges], dict(a.partner_names))
    for k, d in b.dossiers.items():
        out.dossiers[k] = merge_dossier(out.dossiers[k], d) if k in out.dossiers else d
    for k, r in b.referrals.items():
        out.referrals[k] = merge_referral(out.referrals[k], r) if k in out.referrals else r
    for k, name in b.partner_names.items():
        out.partner_names[k] = _latest(out.partner_names.get(k), name)
    return out


def normal(f: Fold) -> Fold:
    """Merges are recorded as a set (record_merges: sorted, ON CONFLICT DO NOTHING)."""
    return replace(f, merges=sorted(set(f.merges)))


def test_any_order_and_batch_split_give_the_same_deltas() -> None:
    events = scenario()
    expected = normal(fold(events))
    rng = random.Random(13)
    for _ in range(200):
        shuffled = rng.sample(events, len(events))
        assert normal(fold(shuffled)) == expected
        cuts = sorted(rng.sample(range(1, len(shuffled)), rng.randint(1, 8)))
        batches = [shuffled[a:b] for a, b in zip([0, *cuts], [*cuts, len(shuffled)], strict=True)]
        combined = Fold()
        for batch in batches:
            combined = merge(combined, fold(batch))
        assert normal(combined) == expected


def test_a_dossier_keeps_its_first_times_and_its_latest_state() -> None:
    d1, d2, d3 = ids(3, seed=1)
    p1, p2, _ = ids(3, seed=2)
    f = fold(scenario())
    one = f.dossiers[d1]
    assert (one.territory, one.site, one.arrival_channel, one.urgent) == (
        COMMUNE,
        "mairie",
        "telephone",
        True,
    )
    assert one.person_id == p1 and one.opened_at == h(0)
    # The first time in each stage, even after going back to the écoute.
    assert one.first == {"ecoute_at": h(3), "orientation_at": h(5), "suivi_at": h(7)}
    # Latest wins: the stage of the last event, the last closure's outcome, the last motifs.
    assert one.stage == (h(80), 4, Stage.CLOTURE)
    assert one.closed == (h(80), 0, "abandon")
    assert one.motifs == (h(4), ["energie"])
    assert one.escalated_at == h(2)  # the first escalation
    assert (one.reminder_at, one.closure_proposed_at, one.last_activity_at) == (h(40), h(50), h(80))
    assert (one.reminders, one.reopened) == (2, 1)  # counters add up
    # Equal times: the stage of the greater rank wins, the greater motifs win.
    two = f.dossiers[d2]
    assert two.stage == (h(9), 3, Stage.SUIVI)
    assert two.first == {"ecoute_at": h(2), "orientation_at": h(9), "suivi_at": h(9)}
    assert two.person_id == p2 and two.closed is None
    three = f.dossiers[d3]
    assert three.motifs == (h(5), ["budget"]) and three.person_id is None
    assert three.stage == (h(2), 0, Stage.RECEPTION) and three.first == {}
    assert f.persons == {p1, p2}


def test_a_referral_keeps_its_latest_status_its_first_times_and_its_reminders() -> None:
    d1, d2, _ = ids(3, seed=1)
    r1, r2 = ids(2, seed=3)
    f = fold(scenario())
    one = f.referrals[r1]
    assert (one.dossier_id, one.partner_id, one.territory, one.motif) == (
        d1,
        "caf-meuse",
        COMMUNE,
        "logement",
    )
    assert one.status == (6, h(15), ReferralStatus.COMPLETED, "need_met", "")
    assert one.first == {
        ReferralStatus.REQUESTED: h(10),
        ReferralStatus.RECEIVED: h(11),
        ReferralStatus.ACCEPTED: h(14),
        ReferralStatus.COMPLETED: h(15),
    }
    assert (one.reminders, one.reminder_at) == (2, h(13))  # a reminder is not a status
    two = f.referrals[r2]
    assert (two.dossier_id, two.partner_id) == (d2, "cpam-meuse")
    assert two.status == (2, h(17), ReferralStatus.REJECTED, "", "no_capacity")
    assert f.partner_names == {
        "caf-meuse": (True, h(10), "CAF de la Meuse"),
        "cpam-meuse": (True, h(16), "CPAM 55"),
    }
    # The sequence orders statuses before their time: a late-stamped earlier status loses.
    late = fold(
        [referral(r1, ReferralStatus.ACCEPTED, h(99), 2), referral(r1, ReferralStatus.CANCELLED, h(1), 3)]
    )
    assert late.referrals[r1].status == (3, h(1), ReferralStatus.CANCELLED, "", "")


def test_a_requested_name_outranks_a_later_status_name() -> None:
    (r1,) = ids(1, seed=4)
    f = fold(
        [
            referral(r1, ReferralStatus.RECEIVED, h(50), 2, name="Ancien nom"),
            referral(r1, ReferralStatus.REQUESTED, h(10), 1, name="Nouveau nom"),
        ]
    )
    assert f.partner_names == {"caf-meuse": (True, h(10), "Nouveau nom")}
    assert fold([referral(r1, ReferralStatus.REQUESTED, h(1), 1)]).partner_names == {}  # no name carried


def test_a_merged_person() -> None:
    _, p2, p3 = ids(3, seed=2)
    f = fold([merged(p2.upper(), "{" + p3 + "}")])
    assert f.merges == [(p2, p3)]  # canonical uuids
    assert f.dossiers == {} and f.persons == set()
    with pytest.raises(ValueError, match="person id is not a uuid"):
        fold([merged("not-a-uuid", p3)])


def test_malformed_events_are_refused() -> None:
    (d,) = ids(1, seed=5)
    with pytest.raises(ValueError, match="without territory or motifs"):
        fold([opened(d, h(0), motifs=[])])
    with pytest.raises(ValueError, match="without a dossier id"):
        fold([stage("", h(0), Stage.ECOUTE)])
    with pytest.raises(ValueError, match="without referral id or status"):
        fold([referral(d, "", h(0), 1)])
    wrong = replace(opened(d, h(0)), type=EventType.DOSSIER_CLOSED)  # data of another type
    with pytest.raises(ValueError, match="carries"):
        fold([wrong])


def test_types_reporting_does_not_project_change_nothing() -> None:
    (p,) = ids(1, seed=6)
    created = new_event(
        EventType.PERSON_CREATED, "tests", p, events_pb2.PersonCreated(person_id=p, territory=COMMUNE)
    )
    unknown = replace(created, type="entraide.person.unknown")
    assert fold([created, unknown]) == Fold()


def test_every_dossier_event_is_projected_from_its_catalogue_message() -> None:
    assert DOSSIER_EVENTS <= HANDLERS.keys()
    assert {EventType.REFERRAL_STATUS_CHANGED, EventType.PERSONS_MERGED} <= HANDLERS.keys()
    for event_type, handler in HANDLERS.items():
        hints = typing.get_type_hints(handler, vars(fold_module))
        message = [t for name, t in hints.items() if name != "return"][1]
        assert message is CATALOGUE[EventType(event_type)].message, event_type
