"""Catena webhook signature and headers (catena-api.md §3.2-3.3).

``X-Catena-Signature = base64(HMAC-SHA256(key=secret, msg=timestamp + "." + uncompressed body))``:
the key is the secret's UTF-8 bytes, the timestamp is the ``X-Catena-Timestamp`` header exactly as
sent, the body is the raw bytes after gunzip (never re-serialised JSON), the output is padded
standard base64.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from datetime import UTC, datetime

from pydantic import SecretStr

__all__ = [
    "DELIVERY_ATTEMPT_HEADER",
    "EVENT_TYPE_HEADER",
    "MAX_FUTURE_SKEW_SECONDS",
    "MAX_TIMESTAMP_AGE_SECONDS",
    "REQUEST_ID_HEADER",
    "SCHEMA_VERSION_HEADER",
    "SIGNATURE_HEADER",
    "SOURCE_HEADER",
    "TIMESTAMP_HEADER",
    "WEBHOOK_ID_HEADER",
    "compute_signature",
    "format_timestamp",
    "is_timestamp_fresh",
    "verify_signature",
]

SIGNATURE_HEADER = "X-Catena-Signature"
TIMESTAMP_HEADER = "X-Catena-Timestamp"
WEBHOOK_ID_HEADER = "X-Webhook-ID"
REQUEST_ID_HEADER = "X-Request-ID"
EVENT_TYPE_HEADER = "X-Event-Type"
DELIVERY_ATTEMPT_HEADER = "X-Delivery-Attempt"
SCHEMA_VERSION_HEADER = "X-Schema-Version"
SOURCE_HEADER = "X-Source"

#: Receivers reject deliveries whose timestamp is older than this (Catena's documented 5 minutes).
MAX_TIMESTAMP_AGE_SECONDS = 300
#: Clock skew tolerated for timestamps slightly in the future.
MAX_FUTURE_SKEW_SECONDS = 60


def _as_bytes(value: str | bytes | SecretStr) -> bytes:
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return value.encode("utf-8") if isinstance(value, str) else value


def compute_signature(secret: str | bytes | SecretStr, timestamp: str | bytes, body: str | bytes) -> str:
    """The ``X-Catena-Signature`` value for one delivery."""
    message = _as_bytes(timestamp) + b"." + _as_bytes(body)
    digest = hmac.new(_as_bytes(secret), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify_signature(
    secrets: Iterable[str | bytes | SecretStr], timestamp: str | bytes, body: str | bytes, signature: str | bytes
) -> bool:
    """True when ``signature`` matches any of ``secrets`` (several during a rotation).

    Every secret is checked with :func:`hmac.compare_digest`, without stopping at the first match, so
    the time taken does not tell which secret (if any) matched.
    """
    given = _as_bytes(signature).strip()
    matched = False
    for secret in secrets:
        expected = compute_signature(secret, timestamp, body).encode("ascii")
        matched |= hmac.compare_digest(expected, given)
    return matched


def format_timestamp(moment: datetime | None = None) -> str:
    """``X-Catena-Timestamp`` format: RFC 3339 UTC, whole seconds, ``+00:00`` offset."""
    return (moment or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds")


def is_timestamp_fresh(
    timestamp: str,
    *,
    now: datetime | None = None,
    max_age_seconds: float = MAX_TIMESTAMP_AGE_SECONDS,
    max_future_skew_seconds: float = MAX_FUTURE_SKEW_SECONDS,
) -> bool:
    """False for an unparsable, naive, too old or too far future ``X-Catena-Timestamp`` (replay guard)."""
    try:
        moment = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except (TypeError, ValueError, AttributeError):
        return False
    if moment.tzinfo is None:
        return False
    age = ((now or datetime.now(UTC)) - moment).total_seconds()
    return -max_future_skew_seconds <= age <= max_age_seconds
