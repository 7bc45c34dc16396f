"""Where the dashboard reads from: the inbox (one store per URL, per process), which holds the onboardings
and the operations state (the ingestion's sync ledger among it)."""

from __future__ import annotations

from dataclasses import dataclass

from catena_airflow import config
from catena_airflow.hooks.inbox import inbox_store
from catena_airflow.inbox import InboxStore
from catena_airflow.ui.queries import DashboardQueries
from catena_airflow.ui.settings import DashboardSettings


@dataclass(frozen=True)
class DashboardSources:
    store: InboxStore
    queries: DashboardQueries
    settings: DashboardSettings


def dashboard_sources() -> DashboardSources:
    """FastAPI dependency: the configured inbox (``catena_airflow.config``) and thresholds.

    The inbox store is the process's one per URL, migrated on first use: a fresh install shows an empty
    dashboard instead of a missing-table error.
    """
    store = inbox_store(config.inbox_url())
    return DashboardSources(
        store=store,
        queries=DashboardQueries(store),
        settings=DashboardSettings.from_airflow_config(),
    )
