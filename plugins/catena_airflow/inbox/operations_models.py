"""The read models of the operations state (frozen; safe to share between threads).

What the sync ledger and the operations tables (schema v5) hand to the ingestion tasks, the
operations DAG and the dashboard.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

#: Schedule holds that keep their resource's ingestion paused.
HELD_STATES = ("awaiting_connection", "needs_decision")
#: A schedule is reactivated at most a bounded number of times within this window.
REACTIVATION_WINDOW = timedelta(hours=24)


@dataclass(frozen=True, kw_only=True)
class ResourceSync:
    """The ledger of one (fleet, resource): what its loads wrote and how current it is."""

    fleet_id: str
    resource: str
    fleet_ref: str | None
    rows_loaded: int
    last_rows: int
    cursor_value: datetime | None
    last_success_at: datetime | None
    last_attempt_at: datetime
    last_error: str | None

    def lag(self, now: datetime | None = None) -> timedelta | None:
        """How far the newest loaded row is behind ``now`` (None before any row had a cursor value)."""
        return None if self.cursor_value is None else (now or datetime.now(UTC)) - self.cursor_value


@dataclass(frozen=True)
class FleetStatus:
    """How the operations DAG last left a fleet."""

    fleet_id: str
    fleet_ref: str | None
    status: str
    ingestion_paused: bool
    reason: str | None
    updated_at: datetime


@dataclass(frozen=True)
class ScheduleHold:
    """A schedule Catena deactivated, and whether (and why) the operations DAG keeps it from reactivation."""

    schedule_id: str
    connection_id: str
    state: str
    fleet_id: str | None = None
    fleet_ref: str | None = None
    resource: str | None = None
    reason: str | None = None
    reactivations: int = 0
    window_started_at: datetime | None = None
    updated_at: datetime | None = None
