"""The partner-facing message: one minimal, versioned JSON document per referral
status change (CloudEvents 1.0 structured mode).

Only what a partner needs to act: referral id, motif, status, reason/outcome codes,
times and the sequence. Never the person's identity, notes, the dossier id or the
dossier's other motifs: the partner fetches details through the authenticated
ReferralService with the referral id. Schema: docs/partners/referral-status.v1.schema.json.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC
from typing import Any

from entraide.v1 import events_pb2

from kernel.events import Event

MESSAGE_TYPE = "fr.entraide.referral.status_changed.v1"
DATA_SCHEMA = "https://entraide.fr/schemas/partners/referral-status.v1.schema.json"
CHANNELS = ("nats", "webhook")
# Namespace of delivery ids: uuid5(event id + channel), stable across redeliveries.
DELIVERY_NAMESPACE = uuid.UUID("0c3f4a8e-5b7d-4e21-9f3a-6d2b8c1e7a45")


def delivery_id(event_id: uuid.UUID, channel: str) -> uuid.UUID:
    return uuid.uuid5(DELIVERY_NAMESPACE, f"{event_id}/{channel}")


def partner_subject(subject_root: str, partner_id: str, status: str) -> str:
    """`partners.<partner_id>.referrals.<status>`: codes only, never personal data."""
    for token in (partner_id, status):
        if not token or any(c in token for c in ".*> \t\r\n"):
            raise ValueError("partner id and status must be single NATS subject tokens")
    return f"{subject_root}.{partner_id}.referrals.{status}"


def _iso(stamp: Any) -> str | None:
    if not stamp.seconds and not stamp.nanos:
        return None
    return str(stamp.ToDatetime(tzinfo=UTC).isoformat().replace("+00:00", "Z"))


def build(
    event: Event, data: events_pb2.ReferralStatusChanged, source: str, answer_url: str = ""
) -> dict[str, Any]:
    """The CloudEvents document sent to the partner (same on every channel). `answer_url`:
    the signed single-referral link to answer without an account (services.referral.links),
    given while the referral waits for the partner and the console's address is configured."""
    at = _iso(data.at) or event.time.astimezone(UTC).isoformat().replace("+00:00", "Z")
    message: dict[str, Any] = {
        "specversion": "1.0",
        "id": str(event.id),
        "type": MESSAGE_TYPE,
        "source": source,
        "subject": data.referral_id,
        "time": at,
        "datacontenttype": "application/json",
        "dataschema": DATA_SCHEMA,
        "data": {
            "referral_id": data.referral_id,
            "partner_id": data.partner_id,
            "motif": data.motif,
            "status": data.status,
            "previous_status": data.previous_status or None,
            "reason": data.reason or None,
            "outcome": data.outcome or None,
            "at": at,
            "sequence": data.sequence,
            "answer_url": answer_url or None,
        },
    }
    return message


def encode(message: dict[str, Any]) -> bytes:
    """Compact, key-sorted JSON: the exact bytes that are signed and published."""
    return json.dumps(message, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


def ce_headers(message: dict[str, Any]) -> dict[str, str]:
    """CloudEvents attributes as `ce-*` headers (binary-mode hints beside the JSON body)."""
    return {
        "ce-specversion": str(message["specversion"]),
        "ce-id": str(message["id"]),
        "ce-type": str(message["type"]),
        "ce-source": str(message["source"]),
        "ce-subject": str(message["subject"]),
        "ce-time": str(message["time"]),
        "ce-dataschema": str(message["dataschema"]),
        "Content-Type": "application/cloudevents+json; charset=utf-8",
    }
