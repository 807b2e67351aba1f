"""Text PostgreSQL cannot store: a request whose string fields hold a NUL character is
refused before any handler runs, with every field at fault named (INVALID_ARGUMENT), so
no service answers INTERNAL for it and nothing is half-written."""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from kernel.errors import InvalidArgument, Violation

REASON = "INVALID_CHARACTERS"


def _paths(message: Message, prefix: str) -> list[str]:
    found: list[str] = []
    for field, value in message.ListFields():
        path = f"{prefix}{field.name}"
        repeated = bool(field.is_repeated)
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            for key, item in value.items():
                if isinstance(key, str) and "\x00" in key:
                    found.append(f"{path}[{key!r}]")
                if isinstance(item, str) and "\x00" in item:
                    found.append(f"{path}[{key!r}]")
                elif isinstance(item, Message):
                    found += _paths(item, f"{path}[{key!r}].")
        elif field.type == FieldDescriptor.TYPE_STRING:
            items: list[Any] = list(value) if repeated else [value]
            found += [f"{path}[{i}]" if repeated else path for i, text in enumerate(items) if "\x00" in text]
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            for i, item in enumerate(value if repeated else [value]):
                found += _paths(item, f"{path}[{i}]." if repeated else f"{path}.")
    return found


def require_storable_text(message: Message) -> None:
    paths = _paths(message, "")
    if paths:
        raise InvalidArgument.of(
            [
                Violation(
                    path,
                    f"{path} contains control characters (NUL), which text fields cannot hold",
                    f"Le champ « {path} » contient un caractère nul (\\0), qu'aucun texte ne peut contenir :"
                    " retirez-le, puis réessayez.",
                    REASON,
                )
                for path in paths
            ],
            reason=REASON,
        )
