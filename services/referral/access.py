"""Who may call each ReferralService method."""

from __future__ import annotations

from kernel.access import Rule, rule
from kernel.auth import Role

RULES: dict[str, Rule] = {
    # The directory is public information about organisations.
    "ListPartners": rule(*Role),
}
