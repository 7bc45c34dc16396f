from __future__ import annotations

import sqlite3
import threading
import time

import pytest

from catena_airflow.sqlite_wal import ensure_wal

CONNECTIONS = 8
ROUNDS = 10  # the race is lost in roughly one round in six without the retry


def _open_together(path, *, rounds: int = ROUNDS) -> list[Exception]:
    """Each round: CONNECTIONS connections open a fresh file and switch it to WAL at the same moment."""
    errors: list[Exception] = []
    for round_number in range(rounds):
        database = path / f"fresh-{round_number}.db"
        start = threading.Barrier(CONNECTIONS)

        def switch(database=database, start=start) -> None:
            connection = sqlite3.connect(database, timeout=30)
            try:
                start.wait()
                ensure_wal(connection.cursor())
                assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            except Exception as exc:  # collected: an exception in a thread would be lost
                errors.append(exc)
            finally:
                connection.close()

        threads = [threading.Thread(target=switch) for _ in range(CONNECTIONS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    return errors


def test_connections_meeting_a_fresh_file_all_switch_it_to_wal(tmp_path):
    assert _open_together(tmp_path) == []


def test_a_reader_that_outlasts_the_deadline_is_raised_after_retrying(tmp_path):
    database = tmp_path / "held.db"
    reader = sqlite3.connect(database, isolation_level=None)
    reader.execute("CREATE TABLE t (x)")
    reader.execute("BEGIN")
    reader.execute("SELECT * FROM t").fetchall()  # a shared lock: the switch to WAL cannot be made
    waiter = sqlite3.connect(database, timeout=0)
    started = time.monotonic()
    try:
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            ensure_wal(waiter.cursor(), timeout_ms=200)
        assert time.monotonic() - started >= 0.2  # retried until the deadline, not failed at once
    finally:
        waiter.close()
        reader.execute("ROLLBACK")
        reader.close()
