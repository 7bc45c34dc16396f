"""The sandbox's in-memory world: Catena's resources, subscriptions and delivery records, behind one lock."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

DEFAULT_SCOPES = (
    "user",
    "asset",
    "trailer",
    "vehicle",
    "dvir_log",
    "hos_event",
    "engine_log",
    "ifta_summary",
    "hos_violation",
    "trailer_status",
    "vehicle_sensor",
    "dvir_log_defect",
    "driver_event_log",
    "hos_availability",
    "location_segment",
    "trailer_location",
    "vehicle_location",
    "hos_daily_snapshot",
    "driver_safety_event",
    "hos_event_annotation",
    "hos_event_attachment",
)
# Resources of Catena's ResourceEnum a default share agreement does not grant; with a variation, share
# agreement events list them with a null level (the event schema allows null levels, REST does not).
UNSHARED_RESOURCES = ("engine_status", "fuel_transaction", "message")


@dataclass(kw_only=True)
class Invitation:
    id: str
    created_at: datetime
    expires_at: datetime
    expires_in_hours: int
    fleet_ref: str
    scenario: str
    status: str = "active"
    fleet_name: str | None = None
    fleet_email: str | None = None
    fleet_regulatory_id: str | None = None
    fleet_regulatory_id_type: str | None = None
    fleet_phone: str | None = None
    fleet_website: str | None = None
    fleet_country_code: str | None = None
    callback_url: str | None = None
    success_redirect_url: str | None = None
    failure_redirect_url: str | None = None
    limit_tsps: list[str] | None = None
    permissions: dict[str, str] = field(default_factory=lambda: dict.fromkeys(DEFAULT_SCOPES, "read_write"))
    accepted_at: datetime | None = None
    declined_at: datetime | None = None
    decline_reason: str | None = None
    pre_registration_access_token: str | None = None
    pre_registration_refresh_token: str | None = None
    fleet_id: str | None = None
    share_agreement_id: str | None = None
    connection_id: str | None = None
    run: int = 0  # bumped on refresh/reset so timers of an older scenario run do nothing
    scenario_runs: int = 0  # how many times the scenario started (a refresh of a declined one restarts it)
    first_for_fleet_ref: bool = True  # no earlier invitation had this fleet_ref


@dataclass(kw_only=True)
class Fleet:
    id: str
    name: str
    fleet_ref: str
    invitation_id: str | None
    created_at: datetime
    updated_at: datetime
    registered_email: str | None = None
    registered_phone: str | None = None
    regulatory_id: str | None = None
    regulatory_id_type: str | None = None
    country_code: str | None = None
    websites: list[str] | None = None


@dataclass(kw_only=True)
class ShareAgreement:
    id: str
    fleet_id: str
    partner_id: str
    fleet_ref: str | None  # as shown: null in one variation, whatever the sandbox knows
    sandbox_fleet_ref: str  # the fleet's ref as the sandbox knows it (its invitation's): variations, filters
    invitation_id: str  # the invitation that made it; shown only in one variation
    status: str
    effective_date: datetime
    expiration_date: datetime | None
    scopes: dict[str, str | None]  # resource -> read | read_write (null only in events, never in REST)
    created_at: datetime
    updated_at: datetime


@dataclass(kw_only=True)
class Connection:
    id: str
    fleet_id: str
    fleet_ref: str | None
    tsp_id: str
    source_name: str
    status: str
    description: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(kw_only=True)
class FleetConnection:
    id: str
    fleet_id: str
    connection_id: str
    created_at: datetime


@dataclass(kw_only=True)
class Schedule:
    id: str
    connection_id: str
    resource: str
    execution_interval_seconds: int
    status: str = "active"
    consecutive_error_count: int = 0
    consecutive_error_threshold: int = 15
    max_concurrent_executions: int = 1
    cursor: str | None = None
    last_data_at: datetime | None = None
    created_at: datetime | None = None
    failing: bool = False  # scenario flag: keeps failing until re-activated


@dataclass(kw_only=True)
class Execution:
    id: str
    created_at: datetime
    updated_at: datetime
    schedule_id: str
    connection_id: str
    fleet_id: str
    status: str
    source_name: str
    resource: str
    response: dict[str, Any] | None = None
    last_data_at: datetime | None = None


@dataclass(kw_only=True)
class Subscription:
    id: str
    url: str
    event_name: str
    filters: dict[str, list[str] | None] | None
    secret: str
    status: str
    created_at: datetime
    updated_at: datetime
    invitation_id: str | None = None  # set for subscriptions made from an invitation's callback_url...
    callback_fleet_ref: str | None = None  # ...with that invitation's fleet_ref (variations of secret reads)
    deleted_at: datetime | None = None


@dataclass(kw_only=True)
class Message:
    """One event for one subscription; ``event_id`` is shared by every subscription that gets the event."""

    event_id: str
    webhook_id: str
    event_name: str
    data: list[dict[str, Any]]
    timestamp: str
    attempts: int = 0
    version: str = "1.0"


@dataclass(kw_only=True)
class DeliveryLog:
    created_at: datetime
    webhook_id: str
    message_id: str
    event_name: str
    status: str  # success (2xx) | failed
    status_code: int
    error_message: str | None
    response_time_ms: int | None
    attempt: int
    request_id: str
    delivered: bool  # any non-5xx answer ends the retries
    duplicate: bool = False


@dataclass
class SubscriptionStats:
    """Delivery records of one subscription, for logs, metrics and the DLQ."""

    logs: deque[DeliveryLog] = field(default_factory=lambda: deque(maxlen=100_000))
    outcomes: deque[tuple[float, bool]] = field(default_factory=lambda: deque(maxlen=100_000))
    dlq: list[Message] = field(default_factory=list)
    ewma_success_rate: float | None = None
    dead_streak: int = 0  # messages in a row that ended in the DLQ (circuit breaker input)


class Store:
    """Every resource of the simulated Catena, guarded by ``lock`` (API threads and the engine thread share it)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.generation = 0
        self.clear()

    def clear(self) -> None:
        with self.lock:
            self.generation += 1
            self.invitations: dict[str, Invitation] = {}
            self.fleets: dict[str, Fleet] = {}
            self.share_agreements: dict[str, ShareAgreement] = {}
            self.connections: dict[str, Connection] = {}
            self.fleet_connections: dict[str, FleetConnection] = {}
            self.schedules: dict[str, Schedule] = {}
            self.executions: dict[str, Execution] = {}
            self.subscriptions: dict[str, Subscription] = {}
            self.stats: dict[str, SubscriptionStats] = {}
            self.recent: deque[DeliveryLog] = deque(maxlen=20_000)
            self.telematics_edits: dict[str, Any] = {}  # record id -> telematics.edits.Edit (admin changes)

    def active_invitation_for(self, fleet_ref: str) -> Invitation | None:
        """The invitation a repeated POST with this ``fleet_ref`` refreshes (active, accepted or declined)."""
        for invitation in reversed(list(self.invitations.values())):
            if invitation.fleet_ref == fleet_ref and invitation.status in ("active", "accepted", "declined"):
                return invitation
        return None

    def subscription_stats(self, webhook_id: str) -> SubscriptionStats:
        stats = self.stats.get(webhook_id)
        if stats is None:
            stats = self.stats[webhook_id] = SubscriptionStats()
        return stats
