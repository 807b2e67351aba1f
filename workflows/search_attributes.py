"""Search attributes for ops (codes only: never a name, a note or a motif)."""

from __future__ import annotations

from temporalio import workflow
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.common import (
    SearchAttributeKey,
    SearchAttributePair,
    SearchAttributeUpdate,
    TypedSearchAttributes,
)
from temporalio.service import RPCError, RPCStatusCode

STAGE = SearchAttributeKey.for_keyword("Stage")
TERRITORY = SearchAttributeKey.for_keyword("Territory")
URGENCY = SearchAttributeKey.for_keyword("Urgency")
OVERDUE = SearchAttributeKey.for_bool("Overdue")


def upsert(*updates: SearchAttributeUpdate) -> None:  # type: ignore[type-arg]
    """The workflow's one way to change its search attributes (a seam for the
    time-skipping test server, which cannot register custom attributes)."""
    workflow.upsert_search_attributes(list(updates))


def urgency_value(urgent: bool) -> str:
    return "urgent" if urgent else "normal"


def initial(territory: str, urgent: bool, stage: str = "reception") -> TypedSearchAttributes:
    """Set at start, so ops queries find a dossier before its first workflow task (an
    imported dossier starts at the stage its file gives)."""
    return TypedSearchAttributes(
        [
            SearchAttributePair(STAGE, stage),
            SearchAttributePair(TERRITORY, territory),
            SearchAttributePair(URGENCY, urgency_value(urgent)),
            SearchAttributePair(OVERDUE, False),
        ]
    )


ALL: tuple[SearchAttributeKey, ...] = (STAGE, TERRITORY, URGENCY, OVERDUE)  # type: ignore[type-arg]


def type_name(key: SearchAttributeKey) -> str:  # type: ignore[type-arg]
    """ "Keyword", "Bool"...: the type as the temporal CLI spells it."""
    return (
        IndexedValueType.Name(IndexedValueType.ValueType(key.indexed_value_type))
        .removeprefix("INDEXED_VALUE_TYPE_")
        .title()
    )


async def register(client: Client, namespace: str) -> None:
    """Registers the custom search attributes (a workflow that upserts an unknown one
    fails its task forever). Existing ones are left alone."""
    known = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    for key in ALL:
        if key.name in known.custom_attributes:
            continue
        try:
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(
                    namespace=namespace,
                    search_attributes={key.name: IndexedValueType.ValueType(key.indexed_value_type)},
                )
            )
        except RPCError as exc:
            if exc.status != RPCStatusCode.ALREADY_EXISTS:
                raise
