"""Who may call each PlanningService method, and what personal data it touches.

Merged into intake's rules (kernel.access keys rules by method name; no PlanningService
method shares a name with an IntakeService one, checked at import). Choices:
- reading the planning (sites, permanences, week, calendar feed): the case roles, and a
  partner for its own permanences (the handlers restrict it to its partner id);
- placing permanences (create, exceptions, end): reception, which keeps the rooms'
  planning, and the responsable;
- slots, booking, moves, cancellations, attendance, the person's appointments and
  contact preferences: the case roles (reception books and checks in, social workers
  book their own appointments);
- the messages sent to persons: the responsable only.
"""

from __future__ import annotations

from kernel.access import Rule, all_resources, field_resources, rule
from kernel.auth import Role
from services.intake.access import CASE
from services.intake.access import RULES as INTAKE_RULES

READERS = (*CASE, Role.PARTENAIRE)
PLANNERS = (Role.ACCUEIL, Role.RESPONSABLE)

appointment = field_resources("appointment", "appointment_id", "response.appointment_id")
person_of_appointment = field_resources("person", "response.person_id")
listed = field_resources("person", "person_id", "response.appointments.person_id")
person = field_resources("person", "person_id", "response.person_id")


RULES: dict[str, Rule] = {
    "ListSites": rule(*READERS, action="consulter les sites et leurs salles"),
    "CreatePermanence": rule(*PLANNERS, action="placer une permanence dans une salle"),
    "AddPermanenceException": rule(
        *PLANNERS, action="annuler une séance, fermer une permanence ou ajouter une séance"
    ),
    "EndPermanence": rule(*PLANNERS, action="mettre fin à une permanence"),
    "ListPermanences": rule(*READERS, action="consulter les permanences"),
    "GetWeekPlanning": rule(*READERS, action="consulter le planning de la semaine"),
    "ExportCalendar": rule(*READERS, action="exporter le calendrier des permanences"),
    "ListSlots": rule(*CASE, action="consulter les créneaux libres d'une permanence"),
    "BookAppointment": rule(
        *CASE,
        access="write",
        resources=all_resources(field_resources("person", "person_id"), appointment),
        purpose="prise de rendez-vous",
        action="prendre un rendez-vous",
    ),
    "MoveAppointment": rule(
        *CASE,
        access="write",
        resources=all_resources(appointment, person_of_appointment),
        purpose="rendez-vous",
        action="déplacer un rendez-vous",
    ),
    "CancelAppointment": rule(
        *CASE,
        access="write",
        resources=all_resources(appointment, person_of_appointment),
        purpose="rendez-vous",
        action="annuler un rendez-vous",
    ),
    "RecordAttendance": rule(
        *CASE,
        access="write",
        resources=all_resources(appointment, person_of_appointment),
        purpose="accueil",
        action="enregistrer la présence à un rendez-vous",
    ),
    "GetAppointment": rule(
        *CASE,
        access="read",
        resources=all_resources(appointment, person_of_appointment),
        purpose="rendez-vous",
        action="consulter un rendez-vous",
    ),
    "ListAppointments": rule(
        *CASE,
        access="read",
        resources=listed,
        purpose="liste des rendez-vous",
        action="lister les rendez-vous d'un site ou d'une personne",
    ),
    "SetContactPreferences": rule(
        *CASE,
        access="write",
        resources=person,
        purpose="préférences de contact",
        action="enregistrer comment une personne accepte d'être contactée",
    ),
    "GetContactPreferences": rule(
        *CASE,
        access="read",
        resources=person,
        purpose="préférences de contact",
        action="consulter comment une personne accepte d'être contactée",
    ),
    "ListPersonMessages": rule(
        Role.RESPONSABLE,
        access="read",
        resources=field_resources("appointment", "response.messages.appointment_id"),
        purpose="suivi des messages envoyés",
        action="consulter les messages envoyés aux personnes",
    ),
}

# One process, one access policy keyed by method name: the two services' names must differ.
assert not set(RULES) & set(INTAKE_RULES), sorted(set(RULES) & set(INTAKE_RULES))
