"""Rows ingested per fleet, read from the destination database the ingestion DAGs write to.

Read-only, and optional: when no destination is configured (``[catena] destination_url`` unset and no
default SQLite file yet) or it cannot be read, the dashboard shows "not available" instead of failing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection
from pathlib import Path

from sqlalchemy import Engine, create_engine, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from catena_airflow import config
from catena_airflow.ingest.schema import vehicle_locations, vehicles

log = logging.getLogger(__name__)

INGESTED_TABLES = (vehicles, vehicle_locations)


class IngestedRows:
    """Counts of ingested rows (vehicles plus vehicle locations) by Catena fleet id."""

    def __init__(self, engine: Engine | None) -> None:
        self._engine = engine

    @property
    def available(self) -> bool:
        return self._engine is not None

    def by_fleet(self, fleet_ids: Collection[str]) -> dict[str, int] | None:
        """None when the destination is unavailable; otherwise every asked fleet id, zero when it has no rows."""
        if self._engine is None:
            return None
        wanted = sorted(set(fleet_ids))
        counts = dict.fromkeys(wanted, 0)
        if not wanted:
            return counts
        try:
            with self._engine.connect() as conn:
                for table in INGESTED_TABLES:
                    query = (
                        select(table.c.fleet_id, func.count())
                        .where(table.c.fleet_id.in_(wanted))
                        .group_by(table.c.fleet_id)
                    )
                    for fleet_id, count in conn.execute(query):
                        counts[fleet_id] += int(count)
        except SQLAlchemyError as exc:
            # Not yet migrated, or unreachable: the dashboard still works, without this column.
            log.warning("destination database not readable for the dashboard: %s", type(exc).__name__)
            return None
        return counts


_ENGINES: dict[str, Engine] = {}
# The api-server answers requests from a thread pool: two first requests must not build two engines (pools).
_ENGINES_LOCK = threading.Lock()


def destination_engine(url: str) -> Engine | None:
    """An engine on the configured destination, or None while a SQLite destination does not exist yet.

    Never creates the SQLite file: that is the ingestion's job (and its migration's). One engine per URL
    per process.
    """
    with _ENGINES_LOCK:
        engine = _ENGINES.get(url)
        if engine is not None:
            return engine
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite" and not (parsed.database and Path(parsed.database).exists()):
            return None
        engine = _ENGINES[url] = create_engine(url, pool_pre_ping=True)
        return engine


def configured_ingested_rows() -> IngestedRows:
    """Rows from ``[catena] destination_url`` (``catena_airflow.config``), the database ingestion writes to."""
    return IngestedRows(destination_engine(config.destination_url()))
