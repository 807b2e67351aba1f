"""Domain events: a CloudEvents envelope (ce-* NATS headers) around protobuf data.

NATS subjects are `<root>.<type>` (e.g. `entraide.dossier.opened` for the type
`dossier.opened`): never an id, never personal data. The root is configurable so that
several deployments (or test runs) can share one NATS server. The CloudEvents
`subject` attribute carries the aggregate id.
"""

from __future__ import annotations

import builtins
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from google.protobuf.message import Message

from domain.events import TYPE_PREFIX, spec_of

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/protobuf"
# Namespace for event ids derived from a workflow step: a retried activity re-derives
# the same id, so the outbox keeps one row and JetStream deduplicates the publish.
EVENT_ID_NAMESPACE = uuid.UUID("6f1d9c52-8a4e-4d0b-9a57-2f4f1e0b7c11")

M = TypeVar("M", bound=Message)


def step_event_id(workflow_id: str, step: str) -> uuid.UUID:
    return uuid.uuid5(EVENT_ID_NAMESPACE, f"{workflow_id}/{step}")


@dataclass(frozen=True)
class Event:
    id: uuid.UUID
    type: str
    source: str
    subject: str
    time: datetime
    data_schema: str
    data: bytes

    def nats_subject(self, root: str) -> str:
        return f"{root}.{self.type.removeprefix(TYPE_PREFIX)}"

    def headers(self) -> dict[str, str]:
        return {
            "Nats-Msg-Id": str(self.id),
            "ce-specversion": SPEC_VERSION,
            "ce-id": str(self.id),
            "ce-type": self.type,
            "ce-source": self.source,
            "ce-subject": self.subject,
            "ce-time": self.time.isoformat(),
            "ce-datacontenttype": CONTENT_TYPE,
            "ce-dataschema": self.data_schema,
        }

    def parse(self, message_type: builtins.type[M]) -> M:
        if self.data_schema != message_type.DESCRIPTOR.full_name:
            raise ValueError(
                f"event {self.type} carries {self.data_schema}, not {message_type.DESCRIPTOR.full_name}"
            )
        message = message_type()
        message.ParseFromString(self.data)
        return message

    def payload(self) -> Message:
        """The data as the catalogue's message for this type (ValueError when unknown)."""
        try:
            message_type = spec_of(self.type).message
        except ValueError:
            raise ValueError(f"event type {self.type} is not in the catalogue") from None
        return self.parse(message_type)

    @classmethod
    def from_headers(cls, headers: dict[str, str], data: bytes) -> Event:
        """Rebuilds an event from a NATS message; raises ValueError when malformed."""
        try:
            return cls(
                id=uuid.UUID(headers["ce-id"]),
                type=headers["ce-type"],
                source=headers["ce-source"],
                subject=headers["ce-subject"],
                time=datetime.fromisoformat(headers["ce-time"]),
                data_schema=headers["ce-dataschema"],
                data=data,
            )
        except (KeyError, ValueError) as exc:
            raise ValueError(f"not a well-formed Entraide event: {type(exc).__name__}") from None


def new_event(
    event_type: str,
    source: str,
    subject: str,
    data: Message,
    *,
    event_id: uuid.UUID | None = None,
    time: datetime | None = None,
) -> Event:
    """An event of a catalogued type (domain.events), its data the catalogue's message."""
    expected = spec_of(event_type).message
    if type(data) is not expected:
        raise ValueError(
            f"event {event_type} carries {expected.DESCRIPTOR.full_name}, not {data.DESCRIPTOR.full_name}"
        )
    return Event(
        id=event_id or uuid.uuid4(),
        type=event_type,
        source=source,
        subject=subject,
        time=time or datetime.now(UTC),
        data_schema=data.DESCRIPTOR.full_name,
        data=data.SerializeToString(deterministic=True),
    )
