"""Loads into one warehouse dataset take turns where they write; extracting runs alongside.

Why: dlt merges through one staging dataset per dataset (``<dataset>_staging``), shared by every
pipeline that loads into it, and truncates its tables when a load begins. Fleets load as parallel
Airflow tasks (the ingestion pool), each with a pipeline of its own: two loads at once into one dataset
would truncate each other's staged rows (lost) or merge them twice (duplicates). That happened in
``benchmarks/ingest_load.py`` with four fleets at once into PostgreSQL before these turns existed.

- A DuckDB file: the lock beside the file (``duckdb_lock``); DuckDB refuses a second writing process
  anyway.
- A PostgreSQL URL: a session advisory lock on the warehouse, keyed by the dataset, on a connection of
  its own; PostgreSQL releases it if the task dies.
- Any other destination (configured by its dlt name, so no connection of ours reaches it): no turns; a
  staging dataset per fleet instead (``staging_dataset_layout``), so no two loads share staging tables.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path

from catena_airflow.ingest.dlt_destination import duckdb_file, postgres_url
from catena_airflow.ingest.duckdb_lock import duckdb_writer_lock

LoadTurn = Callable[[], AbstractContextManager[None]]


def advisory_key(dataset: str) -> int:
    """The 64-bit advisory lock key of a dataset's load turn (the same in every process)."""
    digest = hashlib.sha256(f"catena_airflow.load:{dataset}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextmanager
def postgres_turn(url: str, dataset: str) -> Iterator[None]:
    """Hold the dataset's advisory lock on the PostgreSQL warehouse at ``url`` (blocks while another has it)."""
    import psycopg2

    key = advisory_key(dataset)
    connection = psycopg2.connect(url)
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", (key,))
        try:
            yield
        finally:
            # Released here, not left to the session's end: a closed connection's backend lets go of its
            # locks only as it exits, a moment after close() returns, while the next load already asks.
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", (key,))
    finally:
        connection.close()  # a task that dies holding the turn: its session ends, and the lock with it


def load_turn(spec: str, dataset: str) -> LoadTurn:
    """The turn a load into ``dataset`` of the destination ``spec`` takes before it writes (see the module
    docstring); a no-op for destinations whose loads stage per fleet instead."""
    database: Path | None = duckdb_file(spec)
    if database is not None:
        return lambda: duckdb_writer_lock(database)
    url = postgres_url(spec)
    if url is not None:
        return lambda: postgres_turn(url, dataset)
    return nullcontext


def staging_dataset_layout(spec: str, fleet_id: str) -> str | None:
    """dlt's ``staging_dataset_name_layout`` for a fleet's loads: ``None`` (dlt's shared ``%s_staging``) where
    loads take turns, else a staging dataset of the fleet's own, ``<dataset>_staging_<fleet id>``."""
    if duckdb_file(spec) is not None or postgres_url(spec) is not None:
        return None
    return "%s_staging_" + re.sub(r"[^0-9A-Za-z_]", "_", fleet_id).lower()


__all__ = ["LoadTurn", "advisory_key", "load_turn", "postgres_turn", "postgres_url", "staging_dataset_layout"]
