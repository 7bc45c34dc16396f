"""Deliveries as Catena builds them, signed by the tests' own signer (hmac/base64, nothing from the client)."""

from __future__ import annotations

import gzip
import json
import uuid
from typing import Any

from tests.unit.webhooks.signing import sign, timestamp

__all__ = ["WEBHOOK_ID", "body_of", "envelope", "sign", "signed", "timestamp"]

WEBHOOK_ID = "019d0000-0000-7000-8000-00000000beef"


def envelope(event_name: str = "vehicle.added", **overrides: Any) -> dict[str, Any]:
    """A well-formed Catena envelope with a fresh event id (one record)."""
    record = {"id": str(uuid.uuid4()), "fleet_id": str(uuid.uuid4()), "status": "active", "vin": "1SBX0000000000001"}
    return {
        "version": "1.0",
        "event_name": event_name,
        "webhook_id": WEBHOOK_ID,
        "timestamp": timestamp(),
        "id": str(uuid.uuid4()),
        "delivery_attempt": 1,
        "data": [record],
        **overrides,
    }


def body_of(env: dict[str, Any]) -> bytes:
    return json.dumps(env, separators=(",", ":")).encode()


def signed(
    body: bytes,
    secret: str,
    *,
    ts: str | None = None,
    compress: bool = True,
    webhook_id: str = WEBHOOK_ID,
) -> tuple[bytes, dict[str, str]]:
    """(request body, headers) of a delivery as Catena sends it: signed over the plain body, then gzip."""
    ts = ts or timestamp()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Catena-Webhook",
        "X-Catena-Signature": sign(secret, ts, body),
        "X-Catena-Timestamp": ts,
        "X-Webhook-ID": webhook_id,
        "X-Request-ID": str(uuid.uuid4()),
        "X-Delivery-Attempt": "1",
    }
    if not compress:
        return body, headers
    headers["Content-Encoding"] = "gzip"
    return gzip.compress(body), headers
