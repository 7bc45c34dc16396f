"""The Catena event inbox: verified webhooks, onboarding state, subscription secrets. No Airflow imports."""

from __future__ import annotations

from catena_airflow.inbox.models import (
    Attempt,
    ConnectionStatus,
    HourlyCount,
    Onboarding,
    RecordOutcome,
    ScheduleStatus,
    Stage,
    StoredEvent,
    WebhookStats,
)
from catena_airflow.inbox.store import InboxStore, IncomingEvent

__all__ = [
    "Attempt",
    "ConnectionStatus",
    "HourlyCount",
    "InboxStore",
    "IncomingEvent",
    "Onboarding",
    "RecordOutcome",
    "ScheduleStatus",
    "Stage",
    "StoredEvent",
    "WebhookStats",
]
