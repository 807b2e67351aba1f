"""Who may call each CollectiveService method, and what personal data it touches.

Merged into intake's rules (kernel.access keys rules by method name; no CollectiveService
method shares a name with an IntakeService or PlanningService one, checked at import).
Choices (docs/collective.md):
- running a programme (create it, add sessions, the attendance sheets, the goals and
  their notes, the outcomes, closing it): the social workers and the responsable, who
  lead the groups;
- reading programmes and sessions (the sheet to print), enrolling a person and
  withdrawing them: reception too, which welcomes the participants and keeps the
  lists; the goals stay with the professionals who follow them.
"""

from __future__ import annotations

from kernel.access import Rule, all_resources, field_resources, rule
from services.intake.access import CASE, FOLLOWING
from services.intake.access import RULES as INTAKE_RULES
from services.intake.planning.access import RULES as PLANNING_RULES

enrolment_person = field_resources("person", "person_id", "response.person_id")
enrolled = all_resources(
    field_resources("enrolment", "enrolment_id", "response.enrolment_id"), enrolment_person
)
programme_persons = field_resources("person", "response.enrolments.person_id")
sheet = field_resources("enrolment", "attendance.enrolment_id", "response.attendance.enrolment_id")
goal = field_resources("enrolment", "enrolment_id", "response.enrolment_id")
goals = field_resources("enrolment", "enrolment_id", "response.goals.enrolment_id")

RULES: dict[str, Rule] = {
    "CreateProgramme": rule(*FOLLOWING, action="créer un programme d'actions collectives"),
    "GetProgramme": rule(
        *CASE,
        access="read",
        resources=programme_persons,
        purpose="actions collectives",
        action="consulter un programme d'actions collectives et ses participants",
    ),
    "ListProgrammes": rule(*CASE, action="lister les programmes d'actions collectives"),
    "AddSession": rule(*FOLLOWING, action="ajouter une séance à un programme"),
    "Enrol": rule(
        *CASE,
        access="write",
        resources=enrolled,
        purpose="actions collectives",
        action="inscrire une personne à un programme d'actions collectives",
    ),
    "Withdraw": rule(
        *CASE,
        access="write",
        resources=enrolled,
        purpose="actions collectives",
        action="retirer une personne d'un programme d'actions collectives",
    ),
    "RecordSessionAttendance": rule(
        *FOLLOWING,
        access="write",
        resources=sheet,
        purpose="actions collectives",
        action="enregistrer le pointage d'une séance collective",
    ),
    "GetSession": rule(
        *CASE,
        access="read",
        resources=sheet,
        purpose="actions collectives",
        action="consulter la feuille de présence d'une séance collective",
    ),
    "SetGoal": rule(
        *FOLLOWING,
        access="write",
        resources=goal,
        purpose="actions collectives",
        action="fixer ou faire évoluer le projet d'un participant",
    ),
    "AddGoalNote": rule(
        *FOLLOWING,
        access="write",
        resources=goal,
        purpose="actions collectives",
        action="noter la progression du projet d'un participant",
    ),
    "ListGoals": rule(
        *FOLLOWING,
        access="read",
        resources=goals,
        purpose="actions collectives",
        action="consulter les projets des participants",
    ),
    "RecordOutcome": rule(
        *FOLLOWING,
        access="write",
        resources=enrolled,
        purpose="actions collectives",
        action="enregistrer la suite du parcours d'un participant",
    ),
    "CloseProgramme": rule(*FOLLOWING, action="clôturer un programme d'actions collectives"),
}

# One process, one access policy keyed by method name: the services' names must differ.
assert not set(RULES) & (set(INTAKE_RULES) | set(PLANNING_RULES)), sorted(
    set(RULES) & (set(INTAKE_RULES) | set(PLANNING_RULES))
)
