"""CollectiveService: programmes of group sessions, enrolments, attendance, goals
(docs/collective.md). Served by the intake process beside IntakeService."""
