"""An independent Catena signer for tests: the documented formula with hmac/base64, nothing from the client."""

from __future__ import annotations

import base64
import gzip
import hashlib
import hmac
import uuid
from datetime import UTC, datetime, timedelta

SECRET = "test-signing-secret"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def timestamp(offset_seconds: float = 0) -> str:
    return (datetime.now(UTC) + timedelta(seconds=offset_seconds)).isoformat(timespec="seconds")


def delivery(
    body: bytes,
    *,
    secret: str = SECRET,
    ts: str | None = None,
    webhook_id: str = "019d0000-0000-7000-8000-000000000001",
    compress: bool = True,
    signature: str | None = None,
) -> tuple[bytes, dict[str, str]]:
    """(request body, headers) of one delivery as Catena sends it: gzip, signed over the plain body."""
    ts = ts or timestamp()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Catena-Webhook",
        "X-Catena-Signature": signature or sign(secret, ts, body),
        "X-Catena-Timestamp": ts,
        "X-Webhook-ID": webhook_id,
        "X-Request-ID": str(uuid.uuid4()),
        "X-Delivery-Attempt": "1",
    }
    if compress:
        headers["Content-Encoding"] = "gzip"
        return gzip.compress(body), headers
    return body, headers
