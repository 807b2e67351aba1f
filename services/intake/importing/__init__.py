"""Importing a CCAS's existing files (ImportDossiers): see docs/import.md."""
