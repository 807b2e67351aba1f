"""The expected collective actions and signals figures of a generated Bar-le-Duc-like
year: what a bilan must report, counted by brute force from the generated records (each
session's latest sheet, each enrolment's, goal's and signal's latest state as the
generator decided them), never from the events nor from reporting's projection.

The definitions are the bilan's (services/reporting/collective.py and signals.py say
them in words): sessions held in [start, end) in the territories; participants =
distinct persons ever on the list (not only waiting) in a programme with such a session; the
waiting list the same programmes' enrolments put on the waiting list when asked for; attendance = presences /
(presences + absences); goals reached / given up whose latest status is so and dated
in the period, goals first set in the period; outcomes dated in the period; signals
submitted in the period, qualified (not received), contacted, escalated; the shares
listed when counted in the period or the previous one of equal length, ordered by
count, previous count (descending), then code, their percentage of the total.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime

from entraide.v1 import reporting_pb2

from devstack.synthetic.outreach import GeneratedSession, OutreachYear
from domain.collective import GoalStatus
from domain.labels_fr import PARTICIPANT_OUTCOME_LABELS, SIGNAL_STATUS_LABELS, SIGNALLER_KIND_LABELS
from domain.signals import SignalStatus
from kernel.reference import ReferenceData


def _in(at: datetime | None, start: datetime, end: datetime) -> bool:
    return at is not None and start <= at < end


def _count(codes: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for code in codes:
        out[code] = out.get(code, 0) + 1
    return out


def _shares(
    now: Mapping[str, int], before: Mapping[str, int], label: Callable[[str], str]
) -> list[reporting_pb2.Share]:
    total = sum(now.values())
    codes = sorted(set(now) | set(before), key=lambda c: (-now.get(c, 0), -before.get(c, 0), c))
    return [
        reporting_pb2.Share(
            code=c,
            label=label(c),
            count=now.get(c, 0),
            percent=round(100.0 * now.get(c, 0) / total, 1) if total else 0.0,
            previous_count=before.get(c, 0),
        )
        for c in codes
    ]


def _sessions(
    years: Iterable[OutreachYear], territories: set[str], start: datetime, end: datetime
) -> list[GeneratedSession]:
    return [s for y in years for s in y.sessions if s.territory in territories and _in(s.held_at, start, end)]


def _persons(
    years: list[OutreachYear], territories: set[str], start: datetime, end: datetime
) -> tuple[int, int]:
    programmes = {s.programme_id for s in _sessions(years, territories, start, end)}
    enrolments = [
        e for y in years for e in y.enrolments if e.programme_id in programmes and e.territory in territories
    ]
    participants = {e.person_id for e in enrolments if e.ever_enrolled}
    waiting = sum(1 for e in enrolments if e.waited)
    return len(participants), waiting


def _outcomes(
    years: list[OutreachYear], territories: set[str], start: datetime, end: datetime
) -> dict[str, int]:
    return _count(
        e.outcome
        for y in years
        for e in y.enrolments
        if e.outcome and e.territory in territories and _in(e.outcome_at, start, end)
    )


def collective(
    years: Iterable[OutreachYear], territories: Iterable[str], start: datetime, end: datetime
) -> reporting_pb2.CollectiveFigures:
    ys, ts = list(years), set(territories)
    before = start - (end - start)
    sessions = _sessions(ys, ts, start, end)
    presences = sum(s.present for s in sessions)
    absences = sum(s.absent for s in sessions)
    participants, waiting = _persons(ys, ts, start, end)
    previous_participants, _ = _persons(ys, ts, before, start)
    goals = [g for y in ys for g in y.goals if g.territory in ts]
    return reporting_pb2.CollectiveFigures(
        sessions_held=len(sessions),
        participants=participants,
        attendance_rate=round(100.0 * presences / (presences + absences), 1) if presences + absences else 0.0,
        presences=presences,
        absences=absences,
        goals_reached=sum(
            1 for g in goals if g.status == GoalStatus.REACHED and _in(g.status_at, start, end)
        ),
        goals_given_up=sum(
            1 for g in goals if g.status == GoalStatus.GIVEN_UP and _in(g.status_at, start, end)
        ),
        goals_set=sum(1 for g in goals if _in(g.set_at, start, end)),
        by_outcome=_shares(
            _outcomes(ys, ts, start, end),
            _outcomes(ys, ts, before, start),
            lambda c: PARTICIPANT_OUTCOME_LABELS.get(c, c),
        ),
        previous_sessions_held=len(_sessions(ys, ts, before, start)),
        previous_participants=previous_participants,
        waiting_list=waiting,
    )


def signals(
    years: Iterable[OutreachYear],
    territories: Iterable[str],
    start: datetime,
    end: datetime,
    reference: ReferenceData,
) -> reporting_pb2.SignalFigures:
    ys, ts = list(years), set(territories)
    before = start - (end - start)
    now = [s for y in ys for s in y.signals if s.territory in ts and _in(s.submitted_at, start, end)]
    then = [s for y in ys for s in y.signals if s.territory in ts and _in(s.submitted_at, before, start)]
    return reporting_pb2.SignalFigures(
        received=len(now),
        qualified=sum(1 for s in now if s.status != SignalStatus.RECEIVED),
        dossiers_opened=sum(1 for s in now if s.status == SignalStatus.CONTACTED),
        escalated=sum(1 for s in now if s.escalated),
        previous_received=len(then),
        by_commune=_shares(
            _count(s.territory for s in now),
            _count(s.territory for s in then),
            lambda c: reference.territories.get(c, c),
        ),
        by_signaller=_shares(
            _count(s.signaller_kind for s in now),
            _count(s.signaller_kind for s in then),
            lambda c: SIGNALLER_KIND_LABELS.get(c, c),
        ),
        by_status=_shares(
            _count(s.status for s in now),
            _count(s.status for s in then),
            lambda c: SIGNAL_STATUS_LABELS.get(c, c),
        ),
    )
