"""Intake: persons, dossiers, interviews and consents."""
