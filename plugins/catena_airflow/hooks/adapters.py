"""The one place the Airflow layer builds a Catena client from an Airflow connection name."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from catena_airflow.client import CatenaClient

DEFAULT_CATENA_CONN_ID = "catena_default"


def catena_client(catena_conn_id: str | None = None) -> CatenaClient:
    """The ``CatenaClient`` of an Airflow connection of type ``catena`` (blocking: resolves the connection).

    Operators hold a ``CatenaHook`` instead (``self.hook.get_conn()``); this is for code that has only a
    connection id (the triggers' shared poller, the ingestion operator).
    """
    from catena_airflow.hooks.catena import CatenaHook

    return CatenaHook(catena_conn_id=catena_conn_id or DEFAULT_CATENA_CONN_ID).get_conn()
