"""Time and id helpers: Catena's timestamp format and time-ordered UUIDv7 ids."""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime | None) -> str | None:
    """RFC 3339 with microseconds and ``Z``, as Catena's REST API writes timestamps."""
    if moment is None:
        return None
    m = moment.astimezone(UTC)
    return f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:{m.second:02d}.{m.microsecond:06d}Z"


def uuid7() -> uuid.UUID:
    """A UUIDv7 (48-bit millisecond timestamp, then random bits), like Catena's ids."""
    millis = time.time_ns() // 1_000_000
    raw = bytearray(millis.to_bytes(6, "big") + os.urandom(10))
    raw[6] = (raw[6] & 0x0F) | 0x70
    raw[8] = (raw[8] & 0x3F) | 0x80
    return uuid.UUID(bytes=bytes(raw))


def new_id() -> str:
    return str(uuid7())


def as_utc(moment: datetime | None) -> datetime | None:
    """Query timestamps without an offset are taken as UTC."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
