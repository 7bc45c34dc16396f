"""The operational assets: one per event kind, each watched by an inbox-tailing trigger."""

from __future__ import annotations

from airflow.sdk import Asset, AssetWatcher

from catena_airflow import config
from catena_airflow.triggers.inbox_events import CatenaInboxEventTrigger


def operational_asset(name: str, event_names: list[str]) -> Asset:
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
                    event_names=event_names, poll_interval=config.get_float("watcher_poll_interval")
                ),
            )
        ],
    )


CONNECTION_EVENTS = operational_asset("connection_events", ["connection.staled", "connection.created"])
EXECUTION_FAILURES = operational_asset("execution_failures", ["execution.failed"])
SCHEDULE_DEACTIVATIONS = operational_asset("schedule_deactivations", ["schedule.deactivated"])
OPERATIONAL_ASSETS = (CONNECTION_EVENTS, EXECUTION_FAILURES, SCHEDULE_DEACTIVATIONS)
