"""Destination store and incremental ingestion of fleet telematics data (no Airflow imports)."""

from __future__ import annotations

from catena_airflow.ingest.store import DestinationStore
from catena_airflow.ingest.sync import RESOURCES, SyncResult, sync_fleet

__all__ = ["RESOURCES", "DestinationStore", "SyncResult", "sync_fleet"]
