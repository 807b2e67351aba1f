"""Temporal workflows: one DossierWorkflow per dossier. No I/O here: activities run
on the task queue of the service that owns the data they touch."""
