"""The parameters of a Bar-le-Duc-like year of collective actions and signals ("aller
vers"): the CIAS's 15 communes (Bar-le-Duc and 14 around it, reference data
territories), its "RV du CIAS" programme of weekly group sessions (held in Bar-le-Duc,
a second group in Ligny-en-Barrois), and the signals of the small communes' élus and
secrétaires de mairie.

Codes, counts and shares only (never a person): ids are the generator's.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import time

from domain.collective import GoalStatus, ParticipantOutcome
from domain.signals import SignallerKind, SignalStatus

BAR_LE_DUC = "55029"
LIGNY = "55291"
# The communes of the CIAS, with the weight of their signals (the small communes signal
# most: the CIAS's agents do not see their residents otherwise).
COMMUNES: Mapping[str, float] = {
    BAR_LE_DUC: 0.6,
    LIGNY: 1.2,
    "55519": 1.0,  # Tronville-en-Barrois
    "55186": 1.0,  # Fains-Véel
    "55041": 0.8,  # Behonne
    "55302": 0.9,  # Longeville-en-Barrois
    "55476": 0.8,  # Savonnières-devant-Bar
    "55120": 0.8,  # Combles-en-Barrois
    "55101": 0.6,  # Chardogne
    "55221": 0.5,  # Guerpont
    "55369": 0.7,  # Naives-Rosières
    "55426": 0.5,  # Resson
    "55435": 0.9,  # Robert-Espagne
    "55543": 0.6,  # Velaines
    "55514": 0.7,  # Trémont-sur-Saulx
}

# The "RV du CIAS": cycles of weekly sessions (a Tuesday afternoon in Bar-le-Duc, a
# Thursday morning in Ligny-en-Barrois), each cycle a programme of its own.
PROGRAMME_NAME = "RV du CIAS"
GROUPS: Mapping[str, tuple[int, time]] = {BAR_LE_DUC: (1, time(14, 0)), LIGNY: (3, time(9, 30))}
# Cycles of a year: (first ISO week, sessions); summer off.
CYCLES = ((3, 10), (14, 10), (37, 12))
CAPACITY = 8
# Enrolments asked for a cycle: more than the places (the rest on the waiting list).
ENROLMENT_REQUESTS = (8, 12)
MIN_GROUP = 4  # never fewer on a sheet (withdrawals are replaced from the waiting list)
WITHDRAWALS = (0, 2)  # per cycle
# A participant's presence at a session: present, absent, excused.
PRESENCE = (0.78, 0.12, 0.10)
SHEET_CORRECTED_SHARE = 0.1  # sheets sent again (a presence corrected)
# Persons enrolled again in a later cycle or in the other group (counted once).
RETURNING_SHARE = 0.15
GOALS_PER_PARTICIPANT = (1, 2)
GOAL_ENDS: Mapping[str, float] = {
    GoalStatus.REACHED: 0.5,
    GoalStatus.GIVEN_UP: 0.2,
    GoalStatus.UNDER_WAY: 0.3,
}
OUTCOMES: Mapping[str, float] = {
    ParticipantOutcome.INSERTION_PATH: 0.3,
    ParticipantOutcome.TRAINING: 0.15,
    ParticipantOutcome.JOB: 0.1,
    ParticipantOutcome.OTHER_ACTION: 0.15,
    ParticipantOutcome.NONE: 0.3,
}

# Signals of a year and who sends them (an agent records one received by phone).
SIGNALS = 140
SIGNALLERS: Mapping[str, float] = {
    SignallerKind.ELU: 0.45,
    SignallerKind.SECRETAIRE_MAIRIE: 0.45,
    SignallerKind.AGENT: 0.10,
}
# The latest qualification (received: never qualified).
QUALIFICATIONS: Mapping[str, float] = {
    SignalStatus.CONTACTED: 0.55,
    SignalStatus.UNREACHABLE: 0.15,
    SignalStatus.DECLINED: 0.10,
    SignalStatus.NOT_RELEVANT: 0.12,
    SignalStatus.RECEIVED: 0.08,
}
ESCALATION_DAYS = 7
LATE_SHARE = 0.2  # qualified after the escalation delay (escalated first)
REQUALIFIED_SHARE = 0.1  # first unreachable, then reached
