"""Where the dashboard reads from: the inbox (one store per URL, per process) and the destination database."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from catena_airflow.inbox import InboxStore, inbox_url_from_env
from catena_airflow.ui.destination import IngestedRows, ingested_rows_from_env
from catena_airflow.ui.queries import DashboardQueries
from catena_airflow.ui.settings import DashboardSettings


@dataclass(frozen=True)
class DashboardSources:
    store: InboxStore
    queries: DashboardQueries
    ingested: IngestedRows
    settings: DashboardSettings


_STORES: dict[str, InboxStore] = {}
_LOCK = threading.Lock()


def _store(url: str) -> InboxStore:
    with _LOCK:
        store = _STORES.get(url)
        if store is None:
            store = InboxStore(url)
            # Idempotent: a fresh install shows an empty dashboard instead of a missing-table error.
            store.migrate()
            _STORES[url] = store
        return store


def dashboard_sources() -> DashboardSources:
    """FastAPI dependency: the configured inbox (``CATENA_INBOX_URL``), destination and thresholds."""
    store = _store(inbox_url_from_env())
    return DashboardSources(
        store=store,
        queries=DashboardQueries(store),
        ingested=ingested_rows_from_env(),
        settings=DashboardSettings.from_airflow_config(),
    )
