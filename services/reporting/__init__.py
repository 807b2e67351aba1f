"""Reporting: read models built from domain events only (no names, notes or contacts)."""
