"""Search attributes for ops (codes only: never a name, a note or a motif)."""

from __future__ import annotations

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

STAGE = SearchAttributeKey.for_keyword("Stage")
TERRITORY = SearchAttributeKey.for_keyword("Territory")
URGENCY = SearchAttributeKey.for_keyword("Urgency")
OVERDUE = SearchAttributeKey.for_bool("Overdue")


def urgency_value(urgent: bool) -> str:
    return "urgent" if urgent else "normal"


def initial(territory: str, urgent: bool) -> TypedSearchAttributes:
    """Set at start, so ops queries find a dossier before its first workflow task."""
    return TypedSearchAttributes(
        [
            SearchAttributePair(STAGE, "reception"),
            SearchAttributePair(TERRITORY, territory),
            SearchAttributePair(URGENCY, urgency_value(urgent)),
            SearchAttributePair(OVERDUE, False),
        ]
    )
