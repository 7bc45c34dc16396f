"""One writer at a time for a DuckDB destination file.

DuckDB lets one process at a time open a database file for writing; a second process fails at once
("Could not set lock on file"). Fleets load as parallel Airflow tasks (separate processes), so loads into
the same file take turns on an advisory lock beside it. An embedded file lives on one machine, which is
the reach of ``flock``; PostgreSQL (or another server destination) is the choice for loads in parallel.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def lock_path(database: Path) -> Path:
    return database.with_name(database.name + ".lock")


@contextmanager
def duckdb_writer_lock(database: Path) -> Iterator[None]:
    """Hold the exclusive write turn of ``database`` (blocks until the process before has finished)."""
    database.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path(database), "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


__all__ = ["duckdb_writer_lock", "lock_path"]
