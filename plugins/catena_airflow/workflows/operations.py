"""The operational assets: one per event kind, each watched by an inbox-tailing trigger."""

from __future__ import annotations

from collections.abc import Sequence

from airflow.sdk import Asset, AssetWatcher

from catena_airflow import config
from catena_airflow.operators.operations import (
    CatenaHandleConnectionEventsOperator,
    CatenaHandleExecutionFailuresOperator,
    CatenaReactivateSchedulesOperator,
)
from catena_airflow.triggers.inbox_events import CatenaInboxEventTrigger


def operational_asset(name: str, event_names: Sequence[str]) -> Asset:
    """An asset that gets one event per new inbox event of ``event_names``, read every
    ``[catena] watcher_poll_interval`` seconds (the DAG processor's setting)."""
    return Asset(
        name=f"catena_{name}",
        uri=f"catena://events/{name}",
        group="catena",
        watchers=[
            AssetWatcher(
                name=f"catena_{name}_watcher",
                trigger=CatenaInboxEventTrigger(
                    event_names=list(event_names), poll_interval=config.get_float("watcher_poll_interval")
                ),
            )
        ],
    )


# Each asset is fed the events its handler consumes.
CONNECTION_EVENTS = operational_asset("connection_events", CatenaHandleConnectionEventsOperator.event_names)
EXECUTION_FAILURES = operational_asset("execution_failures", CatenaHandleExecutionFailuresOperator.event_names)
SCHEDULE_DEACTIVATIONS = operational_asset("schedule_deactivations", CatenaReactivateSchedulesOperator.event_names)
