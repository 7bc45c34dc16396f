"""Where the dlt loader writes, as an Airflow deployment configures it.

Airflow connection ``catena_dlt_destination`` first (a secrets backend or the UI keeps the credentials),
then ``[catena] warehouse`` and ``[catena] dlt_pipelines_dir`` (``catena_airflow.config``), then dlt's own
configuration for a destination given by name (``ingest/dlt_destination.py``). The connection gives a
URL as its URI (``postgres://...``) or extra ``destination`` (a URL, or a dlt destination name whose
credentials dlt reads from its standard configuration); extras ``dataset_name`` and ``pipelines_dir``
are optional.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException

from catena_airflow import config
from catena_airflow.hooks.inbox import sqlalchemy_url_from_connection
from catena_airflow.ingest.dlt_destination import LoadSettings

DLT_DESTINATION_CONN_ID = "catena_dlt_destination"


def load_settings_from_connection(conn: Any) -> LoadSettings:
    """The load settings an Airflow connection describes (see the module docstring)."""
    extra = conn.extra_dejson or {}
    options: dict[str, Any] = {"destination": str(extra.get("destination") or sqlalchemy_url_from_connection(conn))}
    if extra.get("dataset_name"):
        options["dataset_name"] = str(extra["dataset_name"])
    options["pipelines_dir"] = (
        Path(str(extra["pipelines_dir"])) if extra.get("pipelines_dir") else config.dlt_pipelines_dir()
    )
    return LoadSettings(**options)


def resolve_load_settings(conn_id: str | None = DLT_DESTINATION_CONN_ID) -> LoadSettings:
    """Connection ``conn_id`` when defined, else ``[catena] warehouse`` (DuckDB under AIRFLOW_HOME by default)."""
    if conn_id:
        try:
            return load_settings_from_connection(BaseHook.get_connection(conn_id))
        except AirflowNotFoundException:
            pass
    return LoadSettings(destination=config.warehouse(), pipelines_dir=config.dlt_pipelines_dir())


__all__ = ["DLT_DESTINATION_CONN_ID", "load_settings_from_connection", "resolve_load_settings"]
