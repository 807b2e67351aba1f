"""The collective actions' pure rules: placement on the list, goal transitions, sheet
counts, the participant's own timeline lines and their merge with the dossier's steps."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from domain.collective import (
    DEFAULT_CAPACITY,
    EnrolmentStatus,
    GoalStatus,
    ParticipantOutcome,
    ProgrammeStatus,
    SessionPresence,
)
from domain.labels_fr import (
    ENROLMENT_STATUS_LABELS,
    GOAL_STATUS_LABELS,
    PARTICIPANT_OUTCOME_LABELS,
    PROGRAMME_STATUS_LABELS,
    SESSION_PRESENCE_LABELS,
)
from services.intake.collective.rules import (
    GOAL_TRANSITIONS,
    goal_change_allowed,
    goal_summary,
    merge_by_time,
    placement,
    session_summary,
    sheet_counts,
    waiting_positions,
)


def test_the_ninth_person_of_eight_places_waits() -> None:
    statuses = [placement(DEFAULT_CAPACITY, enrolled) for enrolled in range(9)]
    assert statuses[:8] == [EnrolmentStatus.ENROLLED] * 8
    assert statuses[8] is EnrolmentStatus.WAITING


def test_waiting_positions_follow_arrival() -> None:
    assert waiting_positions([12, 9, 10]) == {9: 1, 10: 2, 12: 3}
    assert waiting_positions([]) == {}


@pytest.mark.parametrize(
    ("current", "wanted", "allowed"),
    [
        (GoalStatus.PROPOSED, GoalStatus.UNDER_WAY, True),
        (GoalStatus.PROPOSED, GoalStatus.REACHED, True),
        (GoalStatus.UNDER_WAY, GoalStatus.GIVEN_UP, True),
        (GoalStatus.UNDER_WAY, GoalStatus.PROPOSED, False),
        (GoalStatus.REACHED, GoalStatus.GIVEN_UP, False),
        (GoalStatus.REACHED, GoalStatus.PROPOSED, False),
        (GoalStatus.REACHED, GoalStatus.UNDER_WAY, True),
        (GoalStatus.GIVEN_UP, GoalStatus.REACHED, False),
        (GoalStatus.GIVEN_UP, GoalStatus.UNDER_WAY, True),
        (GoalStatus.REACHED, GoalStatus.REACHED, True),
    ],
)
def test_goal_transitions(current: GoalStatus, wanted: GoalStatus, allowed: bool) -> None:
    assert goal_change_allowed(current, wanted) is allowed


def test_every_goal_status_has_its_transitions() -> None:
    assert set(GOAL_TRANSITIONS) == set(GoalStatus)


def test_sheet_counts_absences_with_excused_among_them() -> None:
    counts = sheet_counts(
        [SessionPresence.PRESENT] * 5
        + [SessionPresence.ABSENT, SessionPresence.ABSENT_EXCUSED]
        + [SessionPresence.PRESENT]
    )
    assert (counts.expected, counts.present, counts.absent, counts.excused) == (8, 6, 2, 1)


def test_summaries_read_as_the_issue_says() -> None:
    assert (
        session_summary("RV du CIAS", date(2026, 3, 12), SessionPresence.PRESENT)
        == "Atelier collectif « RV du CIAS » du jeudi 12 mars : présent(e)"
    )
    assert goal_summary("Prendre le bus", GoalStatus.REACHED) == "Projet « Prendre le bus » : atteint"
    assert "1er" in session_summary("X", date(2026, 10, 1), SessionPresence.ABSENT)


def test_every_code_has_its_french_label() -> None:
    assert set(PROGRAMME_STATUS_LABELS) == set(ProgrammeStatus)
    assert set(ENROLMENT_STATUS_LABELS) == set(EnrolmentStatus)
    assert set(SESSION_PRESENCE_LABELS) == set(SessionPresence)
    assert set(GOAL_STATUS_LABELS) == set(GoalStatus)
    assert set(PARTICIPANT_OUTCOME_LABELS) == set(ParticipantOutcome)


def _at(day: int, hour: int = 10) -> datetime:
    return datetime(2015, 3, day, hour, tzinfo=UTC)


def test_merge_places_entries_by_time_and_keeps_the_steps_order() -> None:
    steps = [(_at(1), "s0"), (_at(5), "s1"), (_at(3), "s2"), (_at(9), "s3")]
    extra = [(_at(10), "late"), (_at(4), "x4"), (_at(1), "tie"), (_at(2), "x2")]
    assert merge_by_time(steps, extra) == ["s0", "tie", "x2", "x4", "s1", "s2", "s3", "late"]
    assert merge_by_time(steps, []) == ["s0", "s1", "s2", "s3"]
    assert merge_by_time([], extra) == ["tie", "x2", "x4", "late"]
