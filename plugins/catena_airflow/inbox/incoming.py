"""A verified delivery as the store takes it (``IncomingEvent``), and the event row it becomes.

Pure: no database. Everything here runs before a writer takes the (serializing) write lock.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from catena_airflow.inbox import projection
from catena_airflow.inbox.projection import EventRecord

_MAX_KEY_LENGTH = 200

# Fleet-side credentials Catena includes in invitation records; the inbox never keeps them.
_REDACTED_FIELDS = ("pre_registration_access_token", "pre_registration_refresh_token")


@dataclass(frozen=True)
class IncomingEvent:
    """One verified delivery, ready to be recorded (the envelope's fields, flattened)."""

    event_id: str
    event_name: str
    webhook_id: str | None
    event_timestamp: datetime | None
    delivery_attempt: int | None
    data: Sequence[Any]
    body: str
    received_at: datetime
    request_id: str | None = None

    @classmethod
    def from_envelope(
        cls,
        envelope: Any,
        raw_body: bytes | str,
        *,
        received_at: datetime | None = None,
        request_id: str | None = None,
    ) -> IncomingEvent:
        """From the client's ``WebhookEnvelope`` (or a dict of the same fields) and the exact body bytes."""
        body = _redact(raw_body if isinstance(raw_body, str) else raw_body.decode("utf-8"))
        event_id = str_or_none(field_of(envelope, "id"))
        if not event_id:
            # Catena documents ``id`` as nullable; the body hash keeps redeliveries of one message unique.
            event_id = "sha256:" + hashlib.sha256(body.encode()).hexdigest()
        elif len(event_id) > _MAX_KEY_LENGTH:
            # Catena's ids are UUIDs; hashing an absurd one keeps it unique and indexable.
            event_id = "sha256:" + hashlib.sha256(event_id.encode()).hexdigest()
        return cls(
            event_id=event_id,
            event_name=str(field_of(envelope, "event_name") or ""),
            webhook_id=str_or_none(field_of(envelope, "webhook_id")),
            event_timestamp=projection.to_utc(field_of(envelope, "timestamp")),
            delivery_attempt=field_of(envelope, "delivery_attempt"),
            data=list(field_of(envelope, "data") or []),
            body=body,
            received_at=projection.to_utc(received_at) or datetime.now(UTC),
            request_id=request_id,
        )

    def records(self) -> list[EventRecord]:
        return projection.records_of(
            self.event_id, self.event_name, self.data, self.event_timestamp or self.received_at
        )


def event_row(item: IncomingEvent) -> dict[str, Any]:
    """The ``events`` row of a delivery before projection: keyed by its first record's fleet."""
    first = item.data[0] if item.data and isinstance(item.data[0], Mapping) else {}
    return {
        "event_id": item.event_id,
        "event_name": item.event_name,
        "webhook_id": item.webhook_id,
        "request_id": item.request_id,
        "received_at": item.received_at,
        "event_timestamp": item.event_timestamp,
        "fleet_id": str_or_none(first.get("fleet_id")),
        "fleet_ref": str_or_none(first.get("fleet_ref")),
        "invitation_id": None,
        "connection_id": None,
        "held": False,
        "delivery_attempt": item.delivery_attempt,
        "payload": item.body,
    }


def field_of(obj: Any, name: str) -> Any:
    """A field of a client model or of a dict of its fields (callers may pass either)."""
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _redact(body: str) -> str:
    """The body to store: as received, unless it carries credentials, which are masked."""
    if "pre_registration_" not in body:
        return body
    try:
        envelope = json.loads(body)
    except ValueError:
        return body
    changed = False
    for record in envelope.get("data") or [] if isinstance(envelope, dict) else []:
        if isinstance(record, dict):
            for name in _REDACTED_FIELDS:
                if record.get(name) is not None:
                    record[name] = "**********"
                    changed = True
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":")) if changed else body
