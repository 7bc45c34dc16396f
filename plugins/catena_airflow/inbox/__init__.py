"""The Catena event inbox: verified webhooks, onboarding state, subscription secrets, and the operations
state (fleet status, held schedules, execution failures, the sync ledger, reader cursors). No Airflow
imports.

``InboxStore`` and ``IncomingEvent`` are loaded on first use (PEP 562), so importing one of the inbox's
pure modules (``inbox.batch``, ``inbox.projection``, ``inbox.models``) does not load the store and its
engines.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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
from catena_airflow.inbox.operations_models import HELD_STATES, FleetStatus, ResourceSync, ScheduleHold

if TYPE_CHECKING:
    from catena_airflow.inbox.incoming import IncomingEvent
    from catena_airflow.inbox.store import InboxStore

_LAZY = {"InboxStore": "catena_airflow.inbox.store", "IncomingEvent": "catena_airflow.inbox.incoming"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "HELD_STATES",
    "Attempt",
    "ConnectionStatus",
    "FleetStatus",
    "HourlyCount",
    "InboxStore",
    "IncomingEvent",
    "Onboarding",
    "RecordOutcome",
    "ResourceSync",
    "ScheduleHold",
    "ScheduleStatus",
    "Stage",
    "StoredEvent",
    "WebhookStats",
]
