"""Input no handler should ever see, refused once, in the shared gRPC layer, before any
handler runs, with every field at fault named (INVALID_ARGUMENT in the rich error model),
so that no service answers INTERNAL for it and nothing is half-written:

- a request that does not decode (a text field holding bytes that are not UTF-8, a broken
  encoding): MALFORMED_REQUEST;
- text PostgreSQL cannot store (a NUL character): INVALID_CHARACTERS;
- a text longer than any field takes (MAX_TEXT characters; each field's own, smaller
  limit is the service's): TEXT_TOO_LONG;
- a repeated field or map with more than MAX_ITEMS entries: TOO_MANY_ITEMS;
- a timestamp outside the calendar (years 1 to 9999) or with nanos out of range:
  INVALID_DATE.

A message larger than MAX_MESSAGE_BYTES is refused by gRPC itself (RESOURCE_EXHAUSTED),
before it is read: servers and clients are configured with it (`grpc_options`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError, Message

from kernel.errors import InvalidArgument, Violation

MAX_MESSAGE_BYTES = 4 * 1024 * 1024
MAX_TEXT = 1_000_000
MAX_ITEMS = 1_000
# google.protobuf.Timestamp's valid range: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z.
MIN_SECONDS, MAX_SECONDS = -62_135_596_800, 253_402_300_799
TIMESTAMP = "google.protobuf.Timestamp"
# What a person reads for the date fields of requests (others: « La date « field » »).
DATE_LABELS = {"from": "La date de début", "to": "La date de fin"}


def grpc_options() -> list[tuple[str, int]]:
    """The message size limits, the same for servers and clients."""
    return [
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ]


@dataclass(frozen=True)
class Undecodable:
    """Stands for a request whose bytes did not decode (refused by `check`)."""

    method: str


def tolerant(deserializer: Callable[[bytes], Any] | None, method: str) -> Callable[[bytes], Any] | None:
    """The method's request deserializer, answering Undecodable instead of raising (gRPC
    would answer INTERNAL for a request it cannot decode)."""
    if deserializer is None:
        return None
    decode = deserializer

    def deserialize(data: bytes) -> Any:
        try:
            return decode(data)
        except (DecodeError, UnicodeDecodeError, ValueError):
            return Undecodable(method)

    return deserialize


def _problems(message: Message, prefix: str) -> Iterator[Violation]:
    if message.DESCRIPTOR.full_name == TIMESTAMP:
        stamp: Any = message  # a google.protobuf.Timestamp
        seconds, nanos = stamp.seconds, stamp.nanos
        if not (MIN_SECONDS <= seconds <= MAX_SECONDS and 0 <= nanos <= 999_999_999):
            path = prefix.rstrip(".")
            label = DATE_LABELS.get(path, f"La date « {path} »")
            yield Violation(
                path,
                f"{path} is not a valid date (years 1 to 9999)",
                f"{label} n'est pas valable : l'année va de 1 à 9999.",
                "INVALID_DATE",
            )
        return
    for field, value in message.ListFields():
        path = f"{prefix}{field.name}"
        is_map = field.message_type is not None and field.message_type.GetOptions().map_entry
        if field.is_repeated and len(value) > MAX_ITEMS:
            yield Violation(
                path,
                f"{path} has {len(value)} items; at most {MAX_ITEMS}",
                f"Le champ « {path} » compte {len(value)} éléments : {MAX_ITEMS} au plus.",
                "TOO_MANY_ITEMS",
            )
            continue
        if is_map:
            for key, item in value.items():
                yield from _text(f"{path}[{str(key)[:40]!r}]", key)
                if isinstance(item, Message):
                    yield from _problems(item, f"{path}[{str(key)[:40]!r}].")
                else:
                    yield from _text(f"{path}[{str(key)[:40]!r}]", item)
        elif field.type == FieldDescriptor.TYPE_STRING:
            items: list[Any] = list(value) if field.is_repeated else [value]
            for i, text in enumerate(items):
                yield from _text(f"{path}[{i}]" if field.is_repeated else path, text)
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            for i, item in enumerate(value if field.is_repeated else [value]):
                yield from _problems(item, f"{path}[{i}]." if field.is_repeated else f"{path}.")


def _text(path: str, text: object) -> Iterator[Violation]:
    if not isinstance(text, str):
        return
    if "\x00" in text:
        yield Violation(
            path,
            f"{path} contains control characters (NUL), which text fields cannot hold",
            f"Le champ « {path} » contient un caractère nul (\\0), qu'aucun texte ne peut contenir :"
            " retirez-le, puis réessayez.",
            "INVALID_CHARACTERS",
        )
    if len(text) > MAX_TEXT:
        yield Violation(
            path,
            f"{path} has {len(text)} characters; no field takes more than {MAX_TEXT}",
            f"Le champ « {path} » compte {len(text)} caractères :"
            f" aucun champ n'en accepte plus de {MAX_TEXT}.",
            "TEXT_TOO_LONG",
        )


def check(request: Any) -> None:
    """INVALID_ARGUMENT naming every field at fault, or nothing."""
    if isinstance(request, Undecodable):
        raise InvalidArgument(
            "the request does not decode (a text field holds bytes that are not UTF-8, or the"
            " message is not well formed)",
            fr="La demande est illisible : un champ de texte contient des octets qui ne sont pas du"
            " texte UTF-8, ou le message est mal formé.",
            reason="MALFORMED_REQUEST",
        )
    if not isinstance(request, Message):
        return
    problems = list(_problems(request, ""))
    if problems:
        reasons = {p.reason for p in problems}
        raise InvalidArgument.of(problems, reason=reasons.pop() if len(reasons) == 1 else "INVALID_INPUT")
