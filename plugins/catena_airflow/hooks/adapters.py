"""The one place the Airflow layer builds a Catena client from an Airflow connection."""

from __future__ import annotations

from typing import Any

DEFAULT_CATENA_CONN_ID = "catena_default"


def catena_client(catena_conn_id: str | None = None) -> Any:
    """The ``CatenaClient`` of an Airflow connection of type ``catena`` (blocking: resolves the connection)."""
    from catena_airflow.hooks.catena import CatenaHook

    return CatenaHook(catena_conn_id=catena_conn_id or DEFAULT_CATENA_CONN_ID).get_conn()
