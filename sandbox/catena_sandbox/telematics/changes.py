"""How records change over (sandbox) time: ``updated_at`` revisions and ``deleted_at``, as pure functions of now.

Time-series rows: about one in 50 is corrected once (``updated_at`` moves, the TSP's payload and its hash
change) and about one in 500 is deleted, each 1 hour to 3 days of sandbox time after it occurred. Entities
(vehicles, users, trailers, availabilities) are revised every 2 to 6 days of sandbox time after the connection
and may be deleted (world.py). Sandbox time runs ``speed`` times faster than the wall clock, so at ``--speed
3600`` a row that occurred a minute ago may already have been corrected.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from catena_sandbox.telematics.values import mix

UPDATE_ONE_IN = 50
DELETE_ONE_IN = 500
MIN_DELAY = timedelta(hours=1)
DELAY_SPAN_SECONDS = 3 * 86_400


@dataclass(frozen=True)
class State:
    revision: int
    updated_at: datetime
    deleted_at: datetime | None


def _delay(value: int, speed: float) -> timedelta:
    return (MIN_DELAY + timedelta(seconds=value % DELAY_SPAN_SECONDS)) / speed


def row_state(key: int, created: datetime, now: datetime, speed: float) -> State:
    """The state at ``now`` of a time-series row first ingested at ``created``."""
    value = mix(key ^ 0x5EED)
    updated, revision, deleted = created, 0, None
    if value % UPDATE_ONE_IN == 0:
        at = created + _delay(value >> 8, speed)
        if at <= now:
            updated, revision = at, 1
    if (value >> 16) % DELETE_ONE_IN == 0:
        at = created + _delay(value >> 24, speed)
        if at <= now:
            deleted, updated = at, max(updated, at)
    return State(revision, updated, deleted)


def entity_state(seed: int, created: datetime, deleted: datetime | None, now: datetime, speed: float) -> State:
    """An entity revised every 2 to 6 sandbox days from ``created``, and deleted at ``deleted`` if that passed."""
    period = timedelta(days=2 + seed % 5) / speed
    until = now if deleted is None or deleted > now else deleted
    revision = max(0, int((until - created) / period)) if until > created else 0
    updated = created + revision * period
    if deleted is not None and deleted <= now:
        return State(revision, max(updated, deleted), deleted)
    return State(revision, updated, None)
