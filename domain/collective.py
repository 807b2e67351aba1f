"""The vocabulary of collective actions (programmes of group sessions, e.g. the
"RV du CIAS"): enrolment, attendance, personal goals, outcomes.

Pure: codes only (French labels in domain.labels_fr); docs/collective.md says the rules.
"""

from __future__ import annotations

from enum import StrEnum

# A group of 4 to 8 is the common practice; a programme sets its own.
DEFAULT_CAPACITY = 8
MIN_CAPACITY = 1
MAX_CAPACITY = 30


class ProgrammeStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class EnrolmentStatus(StrEnum):
    ENROLLED = "enrolled"
    # Over capacity: in order, the first takes the next place freed.
    WAITING = "waiting"
    WITHDRAWN = "withdrawn"
    # The programme closed with the participant enrolled.
    COMPLETED = "completed"


class SessionPresence(StrEnum):
    PRESENT = "present"
    ABSENT = "absent"
    ABSENT_EXCUSED = "absent_excused"


class GoalStatus(StrEnum):
    PROPOSED = "proposed"
    UNDER_WAY = "under_way"
    REACHED = "reached"
    GIVEN_UP = "given_up"


class ParticipantOutcome(StrEnum):
    """Where the participant stands at the end ("remobilisation" towards a path)."""

    INSERTION_PATH = "parcours_insertion"
    TRAINING = "formation"
    JOB = "emploi"
    OTHER_ACTION = "autre_action"
    NONE = "aucune"
