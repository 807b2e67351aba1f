"""A full collective programme played through the real CollectiveService (and
IntakeService for the persons and dossiers), with its figures computed from the plan
alone: the e2e test checks the service against them, the bilan's test (reporting) can
check GetBilan against the same figures. Import `run_programme` and `EXPECTED`.

The plan: « RV du CIAS », 8 places, 10 weekly sessions on the Thursdays from the first
Thursday of March of `year`; 9 persons enrolled in order (the 9th on the waiting list,
position 1); after session 2 the 3rd withdraws and the 9th takes the place; sessions'
absences follow ABSENT / EXCUSED below; session 4's sheet is corrected once (one
absence becomes a presence: GroupSessionHeld sent again with sequence 2); one goal per
participant (the 3rd's left proposed when they withdraw), 4 reached, 2 given up (one of
them reached, reopened, then given up), 2 still under way, each with dated notes; 8
outcomes; the programme closed (8 completed)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from entraide.v1 import collective_pb2, intake_pb2

from domain.collective import EnrolmentStatus, GoalStatus, ParticipantOutcome, SessionPresence

if TYPE_CHECKING:
    from entraide.v1.collective_pb2_grpc import CollectiveServiceAsyncStub as CollectiveStub
    from entraide.v1.intake_pb2_grpc import IntakeServiceAsyncStub as IntakeStub

NAME = "RV du CIAS"
CAPACITY = 8
SESSIONS = 10
PERSONS = 9
# Participant numbers are 1..9 in enrolment order; the 3rd withdraws after session 2.
WITHDRAWN = 3
WITHDRAWN_AFTER = 2
# (session number, participant number) → absence; excused ones apart.
ABSENT = {(1, 4), (2, 7), (3, 1), (4, 5), (4, 9), (6, 2), (7, 8), (8, 6), (9, 4), (10, 7)}
EXCUSED = {(2, 5), (5, 6), (8, 1), (10, 9)}
# Session 4's correction: participant 5 did come after all.
CORRECTED = (4, 5)
GOALS: dict[int, tuple[str, list[GoalStatus]]] = {
    1: ("Prendre le bus", [GoalStatus.UNDER_WAY, GoalStatus.REACHED]),
    2: ("Refaire son CV", [GoalStatus.UNDER_WAY, GoalStatus.REACHED]),
    3: ("S'inscrire à la médiathèque", []),
    4: ("Ouvrir un compte en ligne", [GoalStatus.REACHED]),
    5: ("Préparer un entretien", [GoalStatus.UNDER_WAY, GoalStatus.REACHED]),
    6: ("Reprendre le sport", [GoalStatus.GIVEN_UP]),
    7: ("Passer le code", [GoalStatus.REACHED, GoalStatus.UNDER_WAY, GoalStatus.GIVEN_UP]),
    8: ("Trouver un stage", [GoalStatus.UNDER_WAY]),
    9: ("Faire ses courses seul(e)", [GoalStatus.UNDER_WAY]),
}
NOTES_PER_GOAL = 2
OUTCOMES: dict[int, ParticipantOutcome] = {
    1: ParticipantOutcome.JOB,
    2: ParticipantOutcome.TRAINING,
    4: ParticipantOutcome.INSERTION_PATH,
    5: ParticipantOutcome.INSERTION_PATH,
    6: ParticipantOutcome.NONE,
    7: ParticipantOutcome.OTHER_ACTION,
    8: ParticipantOutcome.NONE,
    9: ParticipantOutcome.TRAINING,
}


def first_thursday_of_march(year: int) -> date:
    day = date(year, 3, 1)
    return day + timedelta(days=(4 - day.isoweekday()) % 7)


def session_days(year: int) -> list[date]:
    first = first_thursday_of_march(year)
    return [first + timedelta(weeks=n) for n in range(SESSIONS)]


def on_sheet(session: int) -> list[int]:
    """The participants on a session's sheet (enrolled at that time)."""
    if session <= WITHDRAWN_AFTER:
        return [p for p in range(1, CAPACITY + 1)]
    return [p for p in range(1, PERSONS + 1) if p != WITHDRAWN]


def presence(session: int, participant: int, corrected: bool = True) -> SessionPresence:
    if corrected and (session, participant) == CORRECTED:
        return SessionPresence.PRESENT
    if (session, participant) in EXCUSED:
        return SessionPresence.ABSENT_EXCUSED
    if (session, participant) in ABSENT:
        return SessionPresence.ABSENT
    return SessionPresence.PRESENT


@dataclass(frozen=True)
class Figures:
    """What the programme produces, computed from the plan (GroupSessionHeld's latest
    sheets, GoalChanged's latest statuses, the outcomes)."""

    sessions_held: int
    # Lines on the sheets (participant × session), and among them:
    attendance_lines: int
    presences: int
    absences: int  # excused included
    excused: int
    # Distinct persons enrolled (ParticipantEnrolled), on the waiting list at first, withdrawn.
    persons_enrolled: int
    enrolled_waiting_first: int
    withdrawn: int
    completed: int
    goals: int
    goals_reached: int
    goals_given_up: int
    goals_under_way: int
    goals_proposed: int
    goal_notes: int
    outcomes: dict[str, int]
    # Sheets corrected (GroupSessionHeld sent with sequence 2).
    sheets_corrected: int


def expected() -> Figures:
    lines = [(s, p, presence(s, p)) for s in range(1, SESSIONS + 1) for p in on_sheet(s)]
    finals = {p: (steps[-1] if steps else GoalStatus.PROPOSED) for p, (_, steps) in GOALS.items()}
    outcomes: dict[str, int] = {}
    for outcome in OUTCOMES.values():
        outcomes[outcome.value] = outcomes.get(outcome.value, 0) + 1
    return Figures(
        sessions_held=SESSIONS,
        attendance_lines=len(lines),
        presences=sum(1 for *_, x in lines if x is SessionPresence.PRESENT),
        absences=sum(1 for *_, x in lines if x is not SessionPresence.PRESENT),
        excused=sum(1 for *_, x in lines if x is SessionPresence.ABSENT_EXCUSED),
        persons_enrolled=PERSONS,
        enrolled_waiting_first=PERSONS - CAPACITY,
        withdrawn=1,
        completed=PERSONS - 1,
        goals=len(GOALS),
        goals_reached=sum(1 for s in finals.values() if s is GoalStatus.REACHED),
        goals_given_up=sum(1 for s in finals.values() if s is GoalStatus.GIVEN_UP),
        goals_under_way=sum(1 for s in finals.values() if s is GoalStatus.UNDER_WAY),
        goals_proposed=sum(1 for s in finals.values() if s is GoalStatus.PROPOSED),
        goal_notes=NOTES_PER_GOAL * sum(1 for p in GOALS if p != WITHDRAWN),
        outcomes=outcomes,
        sheets_corrected=1,
    )


EXPECTED = expected()


@dataclass
class Played:
    """What the run made: ids to look rows, events and timelines up."""

    programme: collective_pb2.Programme
    territory: str
    sessions: list[collective_pb2.GroupSession] = field(default_factory=list)
    # Participant number → its person, dossier, enrolment, goal and label.
    person_ids: dict[int, str] = field(default_factory=dict)
    dossier_ids: dict[int, str] = field(default_factory=dict)
    enrolment_ids: dict[int, str] = field(default_factory=dict)
    goal_ids: dict[int, str] = field(default_factory=dict)
    labels: dict[int, str] = field(default_factory=dict)
    # The 9th's enrolment as first answered (on the waiting list).
    ninth: collective_pb2.Enrolment | None = None
    closed: collective_pb2.Programme | None = None


def _rid() -> str:
    return uuid.uuid4().hex


async def person_and_dossier(intake: IntakeStub, territory: str, n: int, tag: str) -> tuple[str, str, str]:
    first, last = f"Camille{n}", f"Collectif{tag}{chr(ord('a') + n)}"
    person = await intake.CreatePerson(
        intake_pb2.CreatePersonRequest(
            request_id=_rid(), territory=territory, first_name=first, last_name=last
        ),
        timeout=15,
    )
    opened = await intake.OpenDossier(
        intake_pb2.OpenDossierRequest(
            request_id=_rid(),
            territory=territory,
            motifs=["logement"],
            arrival_channel="visite_spontanee",
            person_id=person.person.person_id,
        ),
        timeout=15,
    )
    return person.person.person_id, opened.dossier.dossier_id, f"{first} {last}"


def sheet_request(
    played: Played, session: int, corrected: bool = True
) -> collective_pb2.RecordSessionAttendanceRequest:
    return collective_pb2.RecordSessionAttendanceRequest(
        session_id=played.sessions[session - 1].session_id,
        attendance=[
            collective_pb2.SessionAttendance(
                enrolment_id=played.enrolment_ids[p], presence=presence(session, p, corrected).value
            )
            for p in on_sheet(session)
        ],
        request_id=_rid(),
    )


async def run_programme(
    collective: CollectiveStub, intake: IntakeStub, territory: str = "55029", year: int = 2015, **place: Any
) -> Played:
    """Plays the whole programme; `place` defaults to a free place name (no room to
    share with other tests). A social worker's or responsable's channel covering
    `territory` is expected."""
    tag = uuid.uuid4().hex[:6]
    days = session_days(year)
    programme = await collective.CreateProgramme(
        collective_pb2.CreateProgrammeRequest(
            territory=territory,
            name=NAME,
            aim="Remobilisation autour de projets simples",
            partner_name="Association Le Relais",
            facilitators=[
                collective_pb2.Facilitator(agent_id="agent-martin", label="Mme Martin (CESF, CIAS)"),
                collective_pb2.Facilitator(label="M. Petit (Le Relais)"),
            ],
            place=place.get("place", "Salle des associations"),
            site=place.get("site", ""),
            room=place.get("room", ""),
            rhythm="Le jeudi après-midi, chaque semaine",
            first_day=days[0].isoformat(),
            last_day=days[-1].isoformat(),
            capacity=CAPACITY,
            request_id=_rid(),
        ),
        timeout=15,
    )
    played = Played(programme=programme, territory=territory)
    for day in days:
        played.sessions.append(
            await collective.AddSession(
                collective_pb2.AddSessionRequest(
                    programme_id=programme.programme_id,
                    day=day.isoformat(),
                    starts_at="14:00",
                    ends_at="16:30",
                    request_id=_rid(),
                ),
                timeout=15,
            )
        )
    for n in range(1, PERSONS + 1):
        person_id, dossier_id, label = await person_and_dossier(intake, territory, n, tag)
        played.person_ids[n], played.dossier_ids[n], played.labels[n] = person_id, dossier_id, label
        enrolment = await collective.Enrol(
            collective_pb2.EnrolRequest(
                programme_id=programme.programme_id,
                person_id=person_id,
                dossier_id=dossier_id,
                consent=True,
                request_id=_rid(),
            ),
            timeout=15,
        )
        played.enrolment_ids[n] = enrolment.enrolment_id
        if n == PERSONS:
            played.ninth = enrolment
    goal_steps = {n: list(steps) for n, (_, steps) in GOALS.items()}
    for n in range(1, CAPACITY + 1):
        # The 9th waits: their goal comes once they take the freed place.
        await _new_goal(collective, played, n)
    for session in range(1, SESSIONS + 1):
        if session == WITHDRAWN_AFTER + 1:
            await collective.Withdraw(
                collective_pb2.WithdrawRequest(
                    enrolment_id=played.enrolment_ids[WITHDRAWN], request_id=_rid()
                ),
                timeout=15,
            )
            await _new_goal(collective, played, PERSONS)
        if session == CORRECTED[0]:
            await collective.RecordSessionAttendance(
                sheet_request(played, session, corrected=False), timeout=15
            )
        await collective.RecordSessionAttendance(sheet_request(played, session), timeout=15)
        # Goals move along the programme: one step every three sessions, notes on the way.
        if session in (3, 6, 9):
            for n, steps in goal_steps.items():
                if n == WITHDRAWN or not steps:
                    continue
                if session == 9:
                    while len(steps) > 1:
                        await _goal_step(collective, played, n, steps.pop(0))
                await _goal_step(collective, played, n, steps.pop(0))
        if session in (4, 8):
            for n in GOALS:
                if n == WITHDRAWN:
                    continue
                await collective.AddGoalNote(
                    collective_pb2.AddGoalNoteRequest(
                        goal_id=played.goal_ids[n],
                        day=days[session - 1].isoformat(),
                        text=f"Point d'étape de la séance {session} : avance à son rythme.",
                        request_id=_rid(),
                    ),
                    timeout=15,
                )
    for n, outcome in OUTCOMES.items():
        await collective.RecordOutcome(
            collective_pb2.RecordOutcomeRequest(
                enrolment_id=played.enrolment_ids[n], outcome=outcome.value, request_id=_rid()
            ),
            timeout=15,
        )
    played.closed = await collective.CloseProgramme(
        collective_pb2.CloseProgrammeRequest(programme_id=programme.programme_id, request_id=_rid()),
        timeout=15,
    )
    assert all(
        e.status
        == (
            EnrolmentStatus.WITHDRAWN
            if e.enrolment_id == played.enrolment_ids[WITHDRAWN]
            else EnrolmentStatus.COMPLETED
        )
        for e in played.closed.enrolments
    )
    return played


async def _new_goal(collective: CollectiveStub, played: Played, n: int) -> None:
    goal = await collective.SetGoal(
        collective_pb2.SetGoalRequest(
            enrolment_id=played.enrolment_ids[n], title=GOALS[n][0], request_id=_rid()
        ),
        timeout=15,
    )
    played.goal_ids[n] = goal.goal_id


async def _goal_step(collective: CollectiveStub, played: Played, n: int, status: GoalStatus) -> None:
    await collective.SetGoal(
        collective_pb2.SetGoalRequest(goal_id=played.goal_ids[n], status=status.value, request_id=_rid()),
        timeout=15,
    )
