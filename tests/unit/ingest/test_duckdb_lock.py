"""Loads into one DuckDB file take turns: the lock beside it is exclusive while held, free afterwards."""

from __future__ import annotations

import fcntl

import pytest

from catena_airflow.ingest.duckdb_lock import duckdb_writer_lock, lock_path


def try_lock(database) -> bool:
    with open(lock_path(database), "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(handle, fcntl.LOCK_UN)
        return True


def test_the_lock_is_exclusive_while_held_and_released_after(tmp_path):
    database = tmp_path / "sub" / "catena_data.duckdb"
    with duckdb_writer_lock(database):
        assert lock_path(database).is_file()
        assert not try_lock(database)
    assert try_lock(database)


def test_the_lock_is_released_when_the_load_fails(tmp_path):
    database = tmp_path / "catena_data.duckdb"
    with pytest.raises(RuntimeError), duckdb_writer_lock(database):
        raise RuntimeError("load failed")
    assert try_lock(database)
