"""The Catena event inbox: verified webhooks, onboarding state, subscription secrets. No Airflow imports.

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

if TYPE_CHECKING:
    from catena_airflow.inbox.incoming import IncomingEvent
    from catena_airflow.inbox.store import InboxStore

_LAZY = {"InboxStore": "catena_airflow.inbox.store", "IncomingEvent": "catena_airflow.inbox.incoming"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
