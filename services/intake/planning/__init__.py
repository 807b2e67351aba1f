"""PlanningService: sites and rooms, permanences, appointments, contact preferences
(docs/planning.md). The appointment workflow and the messages it queues are in
workflows/appointment.py and services/intake/notices/."""
