"""Where ingested fleet data goes: ``[catena] destination_url`` (``catena_airflow.config``), or a named connection."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseHook

from catena_airflow import config
from catena_airflow.hooks.inbox import cached_store, resolve_url_from_connection
from catena_airflow.ingest.store import DestinationStore

DESTINATION_CONN_ID = "catena_destination"


def _migrated_destination(url: str) -> DestinationStore:
    store = DestinationStore(url)
    store.migrate()
    return store


def destination_store(url: str) -> DestinationStore:
    """The process-wide destination store of ``url``, its tables created on first use."""
    return cached_store("destination", url, _migrated_destination)


class CatenaDestinationHook(BaseHook):
    """Gives ingestion and operations tasks the destination store.

    :param destination_conn_id: an Airflow connection holding a SQLAlchemy URL (extra ``url`` or the
        connection URI), overriding ``[catena] destination_url`` for this hook. None (default): the setting,
        which the dashboard reads too.
    """

    conn_name_attr = "destination_conn_id"
    default_conn_name = DESTINATION_CONN_ID
    hook_name = "Catena destination database"

    def __init__(self, destination_conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.destination_conn_id = destination_conn_id

    def get_url(self) -> str:
        return resolve_url_from_connection(self.destination_conn_id) or config.destination_url()

    def get_conn(self) -> DestinationStore:
        return destination_store(self.get_url())
