"""Rows loaded per fleet, read from the ingestion tasks' sync ledger in the operations database.

The ledger, not the warehouse: dlt's destination may be a DuckDB file that its writer holds locked, or a
warehouse the api-server has no credentials for. Read-only, and optional: when the operations database
is not configured (``[catena] destination_url`` unset and no default SQLite file yet) or cannot be read,
the dashboard shows "not available" instead of failing.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from pathlib import Path

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from catena_airflow import config
from catena_airflow.hooks.inbox import cached_store
from catena_airflow.ingest.store import ResourceSync, read_resource_syncs

log = logging.getLogger(__name__)


class IngestedRows:
    """Rows the loads of each fleet wrote (every resource), by Catena fleet id."""

    def __init__(self, engine: Engine | None) -> None:
        self._engine = engine

    @property
    def available(self) -> bool:
        return self._engine is not None

    def by_fleet(self, fleet_ids: Collection[str]) -> dict[str, list[ResourceSync]] | None:
        """None when the database is unavailable; otherwise every asked fleet id, [] when never loaded."""
        if self._engine is None:
            return None
        try:
            with self._engine.connect() as conn:
                return read_resource_syncs(conn, fleet_ids)
        except SQLAlchemyError as exc:
            # Not yet migrated, or unreachable: the dashboard still works, without this column.
            log.warning("operations database not readable for the dashboard: %s", type(exc).__name__)
            return None


def _read_engine(url: str) -> Engine:
    return create_engine(url, pool_pre_ping=True)


def destination_engine(url: str) -> Engine | None:
    """An engine on the configured destination, or None while a SQLite destination does not exist yet.

    Never creates the SQLite file: that is the ingestion's job (and its migration's). One engine per URL
    per process, kept where the stores are (``hooks.inbox.cached_store``: two first requests from the
    api-server's thread pool build one).
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and not (parsed.database and Path(parsed.database).exists()):
        return None
    return cached_store("dashboard engine", url, _read_engine)


def configured_ingested_rows() -> IngestedRows:
    """Rows from ``[catena] destination_url`` (``catena_airflow.config``), the database ingestion writes to."""
    return IngestedRows(destination_engine(config.destination_url()))
