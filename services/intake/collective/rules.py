"""The collective actions' rules that need no I/O: where an enrolment goes, which goal
changes are allowed, a sheet's counts, what a participant's dossier timeline reads
(their own line only, never another participant's name) and how those entries merge
with the dossier's steps. docs/collective.md says them in words."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import TypeVar

from domain.collective import EnrolmentStatus, GoalStatus, SessionPresence
from domain.labels_fr import GOAL_STATUS_LABELS, MONTHS_FR, SESSION_PRESENCE_LABELS, WEEKDAY_LABELS

# A goal moves forward; reached and given up are final unless reopened to under way
# (the participant takes it up again). Staying at the same status changes nothing.
GOAL_TRANSITIONS: dict[GoalStatus, frozenset[GoalStatus]] = {
    GoalStatus.PROPOSED: frozenset({GoalStatus.UNDER_WAY, GoalStatus.REACHED, GoalStatus.GIVEN_UP}),
    GoalStatus.UNDER_WAY: frozenset({GoalStatus.REACHED, GoalStatus.GIVEN_UP}),
    GoalStatus.REACHED: frozenset({GoalStatus.UNDER_WAY}),
    GoalStatus.GIVEN_UP: frozenset({GoalStatus.UNDER_WAY}),
}
# A goal is set as proposed or already under way.
INITIAL_GOAL_STATUSES = frozenset({GoalStatus.PROPOSED, GoalStatus.UNDER_WAY})
# Whose line a sheet may carry: participants on the list (a correction also keeps the
# lines already on the sheet, e.g. of a participant who withdrew since).
ON_THE_LIST = frozenset({EnrolmentStatus.ENROLLED})
# Statuses that end an enrolment: nothing changes them any more but an outcome.
ENDED = frozenset({EnrolmentStatus.WITHDRAWN, EnrolmentStatus.COMPLETED})


def goal_change_allowed(current: GoalStatus, wanted: GoalStatus) -> bool:
    return wanted is current or wanted in GOAL_TRANSITIONS[current]


def placement(capacity: int, enrolled: int) -> EnrolmentStatus:
    """Enrolled while places remain, else on the waiting list."""
    return EnrolmentStatus.ENROLLED if enrolled < capacity else EnrolmentStatus.WAITING


def waiting_positions(waiting_arrivals: Iterable[int]) -> dict[int, int]:
    """Arrival number → position on the waiting list (1 = next), in arrival order."""
    return {arrival: n for n, arrival in enumerate(sorted(waiting_arrivals), start=1)}


@dataclass(frozen=True)
class SheetCounts:
    expected: int
    present: int
    # Every absence, excused ones included (`excused` counts those among them).
    absent: int
    excused: int


def sheet_counts(presences: Iterable[SessionPresence]) -> SheetCounts:
    listed = list(presences)
    present = sum(1 for p in listed if p is SessionPresence.PRESENT)
    excused = sum(1 for p in listed if p is SessionPresence.ABSENT_EXCUSED)
    return SheetCounts(len(listed), present, len(listed) - present, excused)


def day_fr(day: date) -> str:
    """« jeudi 12 mars » (the timeline shows the entry's full date beside it)."""
    first = "1er" if day.day == 1 else str(day.day)
    return f"{WEEKDAY_LABELS[day.isoweekday()]} {first} {MONTHS_FR[day.month - 1]}"


def session_summary(programme_name: str, day: date, presence: SessionPresence) -> str:
    """« Atelier collectif « RV du CIAS » du jeudi 12 mars : présent(e) »."""
    return f"Atelier collectif « {programme_name} » du {day_fr(day)} : {SESSION_PRESENCE_LABELS[presence]}"


def goal_summary(title: str, status: GoalStatus) -> str:
    """« Projet « Prendre le bus » : atteint »."""
    return f"Projet « {title} » : {GOAL_STATUS_LABELS[status]}"


# What an erased goal's title reads as (in the timeline and the participant's page).
ERASED_TITLE = "intitulé effacé"


def erased_goal_summary(summary: str) -> str:
    """A goal entry without its title, its status kept: « Projet (intitulé effacé) :
    atteint ». The status label is the text after the last « : » (no label holds one)."""
    _, sep, status = summary.rpartition(" : ")
    return f"Projet ({ERASED_TITLE}) : {status}" if sep else f"Projet ({ERASED_TITLE})"


def session_entry_key(session_id: str) -> str:
    """One entry per session (a corrected sheet rewrites it)."""
    return f"session/{session_id}"


GOAL_ENTRY_PREFIX = "goal/"


def goal_entry_key(goal_id: str, version: int) -> str:
    """One entry per state of a goal (set, then each change of status)."""
    return f"{GOAL_ENTRY_PREFIX}{goal_id}/{version}"


T = TypeVar("T")
U = TypeVar("U")


def merge_by_time(steps: Sequence[tuple[datetime, T]], extra: Sequence[tuple[datetime, U]]) -> list[T | U]:
    """The dossier's steps in their own order, each extra entry placed before the first
    step that comes after it (ties: the step first); extras in time order. The steps'
    order is never changed (a step's number is its order, whatever its date)."""
    pending = sorted(extra, key=lambda e: e[0])
    merged: list[T | U] = []
    i = 0
    for at, step in steps:
        while i < len(pending) and pending[i][0] < at:
            merged.append(pending[i][1])
            i += 1
        merged.append(step)
    merged.extend(e[1] for e in pending[i:])
    return merged


class EntryKind(StrEnum):
    """TimelineEntry.kind of what the group adds to a participant's dossier timeline."""

    SESSION = "collective_session"
    GOAL = "collective_goal"


class ChangeKind(StrEnum):
    """programme_changes.change: what happened to the programme."""

    CREATED = "created"
    SESSION_ADDED = "session_added"
    ENROLLED = "enrolled"
    WITHDRAWN = "withdrawn"
    ATTENDANCE = "attendance"
    GOAL_SET = "goal_set"
    GOAL_NOTE = "goal_note"
    OUTCOME = "outcome"
    CLOSED = "closed"
