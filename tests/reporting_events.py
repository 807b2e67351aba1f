"""Small event builders for the reporting tests: dossiers with a given motif mix,
appointments, published straight to the session's events stream (as intake's relay
would)."""

from __future__ import annotations

import asyncio
import itertools
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import nats
from entraide.v1 import events_pb2
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from domain.events import EventType
from domain.planning import HostKind
from kernel.events import Event, new_event
from kernel.settings import Settings
from services.reporting.projection.tables import CONSUMER

CHANNELS = ("visite_spontanee", "telephone", "rendez_vous", "permanence_maire")


def _ts(at: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(at)
    return stamp


def _event(kind: str, dossier_id: str, data: Message, at: datetime) -> Event:
    return new_event(f"entraide.{kind}", "tests/reporting", dossier_id, data, time=at)


@dataclass
class Dossier:
    territory: str
    motifs: list[str]
    opened_at: datetime
    channel: str = "visite_spontanee"
    outcome: str = ""  # closed with this outcome when set
    dossier_id: str = ""
    person_id: str = ""

    def events(self) -> list[Event]:
        d = self.dossier_id = self.dossier_id or str(uuid.uuid4())
        at = self.opened_at
        out = [
            _event(
                "dossier.opened",
                d,
                events_pb2.DossierOpened(
                    dossier_id=d,
                    territory=self.territory,
                    site="mairie",
                    motifs=self.motifs,
                    arrival_channel=self.channel,
                    opened_at=_ts(at),
                    person_id=self.person_id,
                ),
                at,
            )
        ]
        stages = ["reception", "ecoute", "orientation", "suivi"] + (["cloture"] if self.outcome else [])
        for i, (a, b) in enumerate(itertools.pairwise(stages)):
            t = at + timedelta(days=i + 1)
            out.append(
                _event(
                    "dossier.stage_changed",
                    d,
                    events_pb2.DossierStageChanged(
                        dossier_id=d, territory=self.territory, from_stage=a, to_stage=b, at=_ts(t)
                    ),
                    t,
                )
            )
        if self.outcome:
            t = at + timedelta(days=len(stages) - 1)
            out.append(
                _event(
                    "dossier.closed",
                    d,
                    events_pb2.DossierClosed(
                        dossier_id=d, territory=self.territory, outcome=self.outcome, at=_ts(t)
                    ),
                    t,
                )
            )
        return out


def persons_merged(merged_id: str, keep_id: str, at: datetime, territory: str = "55029") -> Event:
    """intake's `person.merged`: the duplicate's dossiers are now the kept person's."""
    data = events_pb2.PersonsMerged(keep_id=keep_id, merged_id=merged_id, territory=territory, at=_ts(at))
    return new_event("entraide.person.merged", "tests/reporting", keep_id, data, time=at)


def mix(
    territory: str,
    year: int,
    motifs: Sequence[tuple[str, int]],
    *,
    solved: int = 0,
    seed: int = 7,
    returning: float = 0.0,
) -> list[Dossier]:
    """One dossier per motif unit, spread over the year; the first `solved` closed `regle`.
    Each dossier has a person: a new one, or (share `returning`) one met before."""
    rng = random.Random(seed)
    start = datetime(year, 1, 1, tzinfo=UTC)
    dossiers = []
    for code, count in motifs:
        for _ in range(count):
            opened = start + timedelta(seconds=rng.randrange(0, 360 * 86400 - 6 * 86400))
            dossiers.append(Dossier(territory, [code], opened, rng.choice(CHANNELS)))
    for dossier in dossiers[:solved]:
        dossier.outcome = "regle"
    people = random.Random(f"people/{seed}")
    met: list[str] = []
    for dossier in sorted(dossiers, key=lambda d: d.opened_at):
        if met and people.random() < returning:
            dossier.person_id = people.choice(met)
        else:
            dossier.person_id = str(uuid.UUID(int=people.getrandbits(128)))
            met.append(dossier.person_id)
    return dossiers


def referral_events(
    dossier: Dossier, partner_id: str, statuses: Sequence[tuple[str, float]], partner_name: str = ""
) -> list[Event]:
    """Status changes of one referral, each `hours` after the dossier opened; every one
    carries `partner_name` (the directory's name when the referral was requested)."""
    referral_id = str(uuid.uuid4())
    out = []
    previous = ""
    for sequence, (status, hours) in enumerate(statuses, start=1):
        at = dossier.opened_at + timedelta(hours=hours)
        data = events_pb2.ReferralStatusChanged(
            referral_id=referral_id,
            dossier_id=dossier.dossier_id,
            partner_id=partner_id,
            partner_name=partner_name,
            territory=dossier.territory,
            motif=dossier.motifs[0],
            status=status,
            previous_status=previous,
            at=_ts(at),
            sequence=sequence,
        )
        out.append(
            new_event("entraide.referral.status_changed", "tests/reporting", referral_id, data, time=at)
        )
        previous = status
    return out


def appointment_place(
    starts_at: datetime,
    *,
    territory: str = "21231",
    site: str = "maison-solidarite-dijon",
    room: str = "bureau-1",
    host_kind: str = HostKind.PARTENAIRE,
    partner_id: str = "adil-21",
    partner_name: str = "ADIL de la Côte-d'Or",
    category: str = "logement",
    permanence_id: str = "",
    minutes: int = 30,
) -> events_pb2.AppointmentPlace:
    """Where and when an appointment is held (a partner's permanence in Dijon by default)."""
    return events_pb2.AppointmentPlace(
        territory=territory,
        site=site,
        room=room,
        permanence_id=permanence_id,
        host_kind=host_kind,
        partner_id=partner_id if host_kind == HostKind.PARTENAIRE else "",
        partner_name=partner_name if host_kind == HostKind.PARTENAIRE else "",
        category=category,
        starts_at=_ts(starts_at),
        ends_at=_ts(starts_at + timedelta(minutes=minutes)),
    )


def appointment_booked(
    appointment_id: str, place: events_pb2.AppointmentPlace, at: datetime, *, walk_in: bool = False
) -> Event:
    data = events_pb2.AppointmentBooked(
        appointment_id=appointment_id, place=place, at=_ts(at), walk_in=walk_in
    )
    return new_event(EventType.APPOINTMENT_BOOKED, "tests/reporting", appointment_id, data, time=at)


def appointment_moved(
    appointment_id: str, place: events_pb2.AppointmentPlace, at: datetime, version: int
) -> Event:
    data = events_pb2.AppointmentMoved(
        appointment_id=appointment_id, place=place, at=_ts(at), version=version
    )
    return new_event(EventType.APPOINTMENT_MOVED, "tests/reporting", appointment_id, data, time=at)


def appointment_cancelled(
    appointment_id: str, at: datetime, *, territory: str = "21231", by_person: bool = False
) -> Event:
    data = events_pb2.AppointmentCancelled(
        appointment_id=appointment_id, territory=territory, at=_ts(at), by_person=by_person
    )
    return new_event(EventType.APPOINTMENT_CANCELLED, "tests/reporting", appointment_id, data, time=at)


def attendance_recorded(appointment_id: str, status: str, at: datetime, *, territory: str = "21231") -> Event:
    data = events_pb2.AttendanceRecorded(
        appointment_id=appointment_id, territory=territory, status=status, at=_ts(at)
    )
    return new_event(EventType.ATTENDANCE_RECORDED, "tests/reporting", appointment_id, data, time=at)


async def publish(settings: Settings, events: Sequence[Event], *, msg_id_suffix: str = "") -> None:
    """Publishes to the events stream; a suffix gives the same event a new Nats-Msg-Id
    (a duplicate JetStream does not catch: only the consumers' inbox does)."""
    nc = await nats.connect(settings.nats_url)
    try:
        js = nc.jetstream()
        acks = []
        for event in events:
            headers = event.headers()
            if msg_id_suffix:
                headers["Nats-Msg-Id"] = f"{event.id}{msg_id_suffix}"
            acks.append(
                await js.publish_async(event.nats_subject(settings.subject_root), event.data, headers=headers)
            )
            if len(acks) >= 2000:
                await asyncio.gather(*acks)
                acks = []
        await asyncio.gather(*acks)
    finally:
        await nc.close()


async def drained(settings: Settings, timeout: float = 30.0, consumer: str = CONSUMER) -> None:
    """Waits until the projector has acknowledged everything in the stream."""
    nc = await nats.connect(settings.nats_url)
    try:
        js = nc.jetstream()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            try:
                info = await js.consumer_info(settings.events_stream, consumer)
                if info.num_pending == 0 and info.num_ack_pending == 0:
                    return
            except nats.js.errors.NotFoundError:
                pass
            if loop.time() > deadline:
                raise TimeoutError(f"{consumer} did not catch up")
            await asyncio.sleep(0.1)
    finally:
        await nc.close()


def shuffled(events: list[Event], seed: int = 3) -> list[Event]:
    out = list(events)
    random.Random(seed).shuffle(out)
    return out
