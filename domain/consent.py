"""What a consent covers (docs/domain.md rule 1): sharing a set of data categories with
a partner needs one unrevoked consent (or legal basis) of the person, for that
partner, whose scope holds every category asked. Pure; intake's SQL gate
(`services/intake/persons.consent_covers`) applies the same rule in the database."""

from __future__ import annotations

from collections.abc import Iterable


def covers(scopes: Iterable[Iterable[str]], requested: Iterable[str]) -> bool:
    """True when one of `scopes` (each consent's categories) holds all of `requested`."""
    wanted = set(requested)
    return any(wanted <= set(scope) for scope in scopes)
