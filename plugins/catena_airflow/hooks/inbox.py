"""Where Airflow code finds the inbox: ``[catena] inbox_url`` by the one rule of ``catena_airflow.config``.

The inbox is the project's own database, never Airflow's metadata database. One ``InboxStore`` (one
engine and connection pool) is kept per URL per process. A connection named explicitly (``inbox_conn_id``)
overrides the setting for that task only; nothing names one by default, so tasks, triggers, the receiver
and the dashboard agree.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException

from catena_airflow import config
from catena_airflow.inbox import InboxStore

#: The inbox hook's connection type and conventional name; never looked up unless a caller names it.
INBOX_CONN_ID = "catena_inbox"

# Airflow connection types whose URI scheme is not a SQLAlchemy dialect name.
_SCHEME_TO_DIALECT = {"postgres": "postgresql+psycopg2", "postgresql": "postgresql+psycopg2"}

StoreT = TypeVar("StoreT")

_stores: dict[tuple[str, str], Any] = {}
_stores_lock = threading.Lock()


def cached_store(kind: str, url: str, factory: Callable[[str], StoreT]) -> StoreT:
    """One store of ``kind`` per URL per process, built (and migrated) by ``factory`` on first use."""
    with _stores_lock:
        store = _stores.get((kind, url))
        if store is None:
            store = _stores[(kind, url)] = factory(url)
    return store


def sqlalchemy_url_from_connection(conn: Any) -> str:
    """A SQLAlchemy URL from an Airflow connection: extra ``url`` (or ``sqlalchemy_url``), else its URI."""
    extra = conn.extra_dejson or {}
    for key in ("url", "sqlalchemy_url"):
        if extra.get(key):
            return str(extra[key])
    uri = conn.get_uri()
    scheme, sep, rest = uri.partition("://")
    if not sep:
        raise ValueError(f"connection {conn.conn_id!r} has no usable database URI")
    return f"{_SCHEME_TO_DIALECT.get(scheme, scheme)}://{rest}"


def resolve_url_from_connection(conn_id: str | None) -> str | None:
    """The connection's SQLAlchemy URL, or None when no such connection is defined."""
    if not conn_id:
        return None
    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return None
    return sqlalchemy_url_from_connection(conn)


def resolve_inbox_url(conn_id: str | None = None) -> str:
    """Connection ``conn_id`` when one is named and defined, else ``config.inbox_url()``."""
    return resolve_url_from_connection(conn_id) or config.inbox_url()


def _migrated_inbox(url: str) -> InboxStore:
    store = InboxStore(url, fernet_key=config.inbox_fernet_key())
    store.migrate()
    return store


def inbox_store(url: str) -> InboxStore:
    """The process-wide inbox store of ``url``, its schema migrated on first use."""
    return cached_store("inbox", url, _migrated_inbox)


class CatenaInboxHook(BaseHook):
    """Gives tasks, sensors and triggers the inbox store.

    :param inbox_conn_id: an Airflow connection holding the inbox's SQLAlchemy URL (extra ``url`` or the
        connection URI), overriding ``[catena] inbox_url`` for this hook. None (default): the setting.
    """

    conn_name_attr = "inbox_conn_id"
    default_conn_name = INBOX_CONN_ID
    conn_type = "catena_inbox"
    hook_name = "Catena inbox"

    def __init__(self, inbox_conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.inbox_conn_id = inbox_conn_id

    def get_url(self) -> str:
        return resolve_inbox_url(self.inbox_conn_id)

    def get_conn(self) -> InboxStore:
        return inbox_store(self.get_url())
