"""The inbox's database (inbox/engine.py): engine URLs and settings, the writing transaction, retries,
migrations."""

from __future__ import annotations

import logging
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError, PendingRollbackError

from catena_airflow.inbox import engine as engine_module
from catena_airflow.inbox import schema
from catena_airflow.inbox.engine import InboxDatabase, inbox_engine_url
from catena_airflow.sqlite_wal import BUSY_TIMEOUT_MS


def database(url: str, **options) -> InboxDatabase:
    settings = {
        "pool_size": 3,
        "max_overflow": 4,
        "sqlite_synchronous": "FULL",
        "checkpoint_in_background": False,
        "pg_lock_timeout": 2.0,
        **options,
    }
    return InboxDatabase(url, **settings)


@pytest.fixture
def db(sqlite_url):
    db = database(sqlite_url)
    yield db
    db.dispose()


def pragma(db: InboxDatabase, name: str):
    with db.engine.connect() as conn:
        return conn.exec_driver_sql(f"PRAGMA {name}").scalar()


def busy() -> OperationalError:
    return OperationalError("INSERT", {}, sqlite3.OperationalError("database is locked"))


class Flaky:
    """A writing transaction that fails with ``errors`` (one per attempt) before it succeeds."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls: list[tuple] = []

    def __call__(self, *args, **kwargs):
        self.calls.append((args, kwargs))
        if self.errors:
            raise self.errors.pop(0)
        return "done"


@pytest.fixture
def sleeps(monkeypatch) -> list[float]:
    """The backoff waits of retry_when_busy, recorded instead of slept (jitter fixed at x 0.75)."""
    waited: list[float] = []
    monkeypatch.setattr(engine_module.time, "sleep", waited.append)
    monkeypatch.setattr(engine_module.random, "random", lambda: 0.25)
    return waited


# --- URLs and engines ---------------------------------------------------------------------------


def test_a_plain_postgres_url_means_psycopg2_and_other_drivers_are_refused():
    assert inbox_engine_url("postgresql://u@h/db").drivername == "postgresql+psycopg2"
    assert inbox_engine_url("postgresql+psycopg2://u@h/db").drivername == "postgresql+psycopg2"
    assert str(inbox_engine_url("sqlite:///x.db")) == "sqlite:///x.db"
    with pytest.raises(
        ValueError,
        match=r"^the inbox needs the psycopg2 driver on PostgreSQL, not 'psycopg': "
        r"use postgresql:// or postgresql\+psycopg2://$",
    ):
        inbox_engine_url("postgresql+psycopg://u@h/db")


def test_other_databases_are_refused():
    with pytest.raises(ValueError, match=r"unsupported inbox database 'mysql'"):
        database("mysql://u@h/db")


def test_a_postgres_inbox_has_bounded_pools_and_a_writer_engine_of_its_own():
    # Engines connect lazily: nothing here needs a server.
    db = database("postgresql://u@127.0.0.1:1/db", pool_size=3, max_overflow=4)
    try:
        assert db.dialect == "postgresql"
        assert (db.engine.pool.size(), db.engine.pool._max_overflow) == (3, 4)
        writer = db._writer_engine
        assert writer is not None and writer is not db.engine
        assert (writer.pool.size(), writer.pool._max_overflow) == (2, 4)
        assert db.checkpointer is None
    finally:
        db.dispose()


def test_sqlite_connections_are_set_up_for_a_file(sqlite_url):
    db = database(sqlite_url, sqlite_synchronous="normal")
    try:
        assert pragma(db, "busy_timeout") == BUSY_TIMEOUT_MS
        assert pragma(db, "journal_mode") == "wal"
        assert pragma(db, "foreign_keys") == 1
        assert pragma(db, "synchronous") == 1  # NORMAL
        assert pragma(db, "wal_autocheckpoint") == 1000  # SQLite's own, no checkpointer thread
        assert db.checkpointer is None
        assert (db.engine.pool.size(), db.engine.pool._max_overflow) == (3, 4)
    finally:
        db.dispose()


def test_a_background_checkpointer_replaces_sqlites_autocheckpoint(sqlite_url):
    before = set(threading.enumerate())
    db = database(sqlite_url, checkpoint_in_background=True, sqlite_synchronous="FULL")
    try:
        started = set(threading.enumerate()) - before
        assert db.checkpointer is not None
        assert [t.name for t in started] == ["catena-inbox-checkpoint"]
        assert pragma(db, "wal_autocheckpoint") == 0
        assert pragma(db, "synchronous") == 2  # FULL
        assert db.checkpointer.checkpoint()[0] == 0  # it checkpoints this inbox's file (not busy)
    finally:
        db.dispose()
    assert not any(t.is_alive() for t in started)  # stopped with the engines


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///", "sqlite:///:memory:"])
def test_an_in_memory_inbox_keeps_one_connection_and_no_wal(url):
    db = database(url, checkpoint_in_background=True)
    try:
        assert db.checkpointer is None
        assert pragma(db, "journal_mode") == "memory"
        with db.engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE t (x)")
        with db.engine.connect() as conn:  # the same connection, so the same in-memory database
            assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == 0

        def count_in_another_thread() -> int:
            with db.engine.connect() as conn:
                return conn.exec_driver_sql("SELECT count(*) FROM t").scalar()

        with ThreadPoolExecutor(max_workers=1) as pool:  # the receiver's writers run in threads
            assert pool.submit(count_in_another_thread).result() == 0
    finally:
        db.dispose()


def test_an_invalid_synchronous_mode_is_refused(sqlite_url):
    with pytest.raises(ValueError, match="invalid SQLite synchronous mode 'FAST'"):
        database(sqlite_url, sqlite_synchronous="FAST")
    for mode, value in (("off", 0), ("EXTRA", 3)):
        db = database(sqlite_url, sqlite_synchronous=mode)
        try:
            assert pragma(db, "synchronous") == value
        finally:
            db.dispose()


# --- the writing transaction --------------------------------------------------------------------


def test_a_sqlite_writer_takes_the_write_lock_before_its_first_statement(db, sqlite_url):
    other = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), timeout=0, isolation_level=None)
    try:
        with db.write(), pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
        other.execute("BEGIN IMMEDIATE")  # released at commit
        other.execute("ROLLBACK")
        # A reader's transaction takes no lock.
        with db.engine.connect() as conn, conn.begin():
            conn.exec_driver_sql("SELECT 1")
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
    finally:
        other.close()


def test_a_write_commits_at_the_end_and_rolls_back_on_an_error(db):
    with db.write() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x)")
        conn.exec_driver_sql("INSERT INTO t VALUES (1)")
    with pytest.raises(RuntimeError), db.write() as conn:
        conn.exec_driver_sql("INSERT INTO t VALUES (2)")
        raise RuntimeError
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT x FROM t").scalars().all() == [1]


# --- retries ------------------------------------------------------------------------------------


def test_a_lost_sqlite_lock_race_is_retried_with_a_growing_backoff(db, sleeps, caplog):
    write = Flaky(busy(), busy(), busy())
    with caplog.at_level(logging.WARNING, logger="catena_airflow.inbox.engine"):
        assert db.retry_when_busy(write, 1, key="v") == "done"
    assert [r.getMessage() for r in caplog.records] == [
        f"Catena inbox busy (attempt {n} of 6); retrying" for n in (1, 2, 3)
    ]
    assert write.calls == [((1,), {"key": "v"})] * 4
    assert sleeps == pytest.approx([0.05 * 0.75, 0.1 * 0.75, 0.2 * 0.75])


def test_busy_is_retried_six_times_in_all_then_raised(db, sleeps):
    write = Flaky(*[busy() for _ in range(6)])
    with pytest.raises(OperationalError, match="locked"):
        db.retry_when_busy(write)
    assert len(write.calls) == 6 and len(sleeps) == 5
    assert db.retry_when_busy(Flaky(*[busy() for _ in range(5)])) == "done"


def test_the_backoff_is_capped_at_two_seconds(db, sleeps, monkeypatch):
    monkeypatch.setattr(engine_module, "_BUSY_RETRIES", 8)
    db.retry_when_busy(Flaky(*[busy() for _ in range(7)]))
    assert sleeps[-2:] == pytest.approx([1.6 * 0.75, 2.0 * 0.75])  # 0.05 s x 2**6 = 3.2 s, capped to 2 s


def test_a_database_busy_message_is_a_lost_race_too(db, sleeps):
    error = OperationalError("INSERT", {}, sqlite3.OperationalError("Database is BUSY"))
    assert db.retry_when_busy(Flaky(error)) == "done"


def test_other_errors_are_raised_at_once(db, sleeps):
    for error in (
        OperationalError("INSERT", {}, sqlite3.OperationalError("disk I/O error")),
        IntegrityError("INSERT", {}, sqlite3.IntegrityError("database is locked")),  # not an OperationalError
        PendingRollbackError("lost"),  # a reconnection is PostgreSQL's
    ):
        write = Flaky(error)
        with pytest.raises(type(error)):
            db.retry_when_busy(write)
        assert len(write.calls) == 1
    assert sleeps == []


def test_a_lost_postgres_connection_is_retried_once_at_once(sleeps, caplog):
    db = database("postgresql://u@127.0.0.1:1/db")
    try:
        with caplog.at_level(logging.WARNING, logger="catena_airflow.inbox.engine"):
            assert db.retry_when_busy(Flaky(PendingRollbackError("dead"))) == "done"
        assert [r.getMessage() for r in caplog.records] == [
            "Catena inbox connection was lost (PendingRollbackError); retrying on a new one"
        ]
        invalidated = OperationalError("SELECT", {}, Exception("server closed the connection"))
        invalidated.connection_invalidated = True
        assert db.retry_when_busy(Flaky(invalidated)) == "done"
        twice = Flaky(PendingRollbackError("dead"), PendingRollbackError("dead again"))
        with pytest.raises(PendingRollbackError, match="dead again"):
            db.retry_when_busy(twice)
        assert len(twice.calls) == 2
        alive = OperationalError("SELECT", {}, Exception("database is locked"))  # not SQLite: not retried
        with pytest.raises(OperationalError):
            db.retry_when_busy(Flaky(alive))
        assert sleeps == []
    finally:
        db.dispose()


def test_a_part_method_is_retried_as_one_transaction(db, sleeps):
    class Part:
        def __init__(self, db):
            self.db = db
            self.write = Flaky(busy())

        @engine_module.retried_when_busy
        def save(self, value, *, twice=False):
            """Saves."""
            return self.write(value, twice=twice)

    part = Part(db)
    assert part.save(5, twice=True) == "done"
    assert part.write.calls == [((5,), {"twice": True})] * 2
    assert Part.save.__name__ == "save" and Part.save.__doc__ == "Saves."


# --- schema -------------------------------------------------------------------------------------


def test_a_new_inbox_is_created_at_the_current_version(db):
    assert db.schema_version() == 0
    with db.engine.connect() as conn:
        assert not conn.exec_driver_sql("SELECT name FROM sqlite_master").all()  # reading created nothing
    assert db.migrate() == schema.SCHEMA_VERSION
    assert db.schema_version() == schema.SCHEMA_VERSION
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT id, version FROM catena_schema_version")).all() == [(1, schema.SCHEMA_VERSION)]
    assert db.migrate() == schema.SCHEMA_VERSION


def test_an_older_inbox_is_upgraded_step_by_step(db, monkeypatch, caplog):
    applied: list[int] = []
    steps = dict(schema.MIGRATIONS)
    monkeypatch.setattr(
        engine_module,
        "MIGRATIONS",
        {v: (lambda conn, v=v: (applied.append(v), steps[v](conn))) for v in steps},
    )
    with db.write() as conn:
        schema.schema_version.create(conn)
        steps[1](conn)
        conn.execute(schema.schema_version.insert().values(id=1, version=1))
    applied.clear()
    with caplog.at_level(logging.INFO, logger="catena_airflow.inbox.engine"):
        assert db.migrate() == schema.SCHEMA_VERSION
    assert applied == list(range(2, schema.SCHEMA_VERSION + 1))
    assert [r.getMessage() for r in caplog.records] == [
        f"Catena inbox schema migrated to version {v}" for v in range(2, schema.SCHEMA_VERSION + 1)
    ]
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT id, version FROM catena_schema_version")).all() == [(1, schema.SCHEMA_VERSION)]
    applied.clear()
    db.migrate()
    assert applied == []


def test_a_newer_inbox_is_refused(db):
    db.migrate()
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE catena_schema_version SET version = :v"), {"v": schema.SCHEMA_VERSION + 1})
    with pytest.raises(RuntimeError, match=rf"version {schema.SCHEMA_VERSION + 1} is newer than this code"):
        db.migrate()
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE catena_schema_version SET version = :v"), {"v": schema.SCHEMA_VERSION})
    assert db.migrate() == schema.SCHEMA_VERSION


# --- PostgreSQL sessions (a database of this test's own) ------------------------------------------


def test_pg_sessions_are_bounded_and_named(postgres_url):
    db = database(postgres_url, pg_lock_timeout=1.5)
    try:
        with db.engine.connect() as conn:
            shown = {
                name: conn.exec_driver_sql(f"SHOW {name}").scalar()
                for name in ("lock_timeout", "statement_timeout", "idle_in_transaction_session_timeout")
            }
            assert shown == {
                "lock_timeout": "1500ms",
                "statement_timeout": "1min",
                "idle_in_transaction_session_timeout": "1min",
            }
            assert conn.exec_driver_sql("SHOW application_name").scalar() == "catena-inbox"
        with db.write() as conn:
            assert conn.exec_driver_sql("SHOW application_name").scalar() == "catena-inbox-writer"
            assert conn.exec_driver_sql("SHOW lock_timeout").scalar() == "1500ms"
            held = conn.exec_driver_sql(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
            ).scalar()
            assert held == 1
        # The dialect's insert and hot statements, with PostgreSQL's ON CONFLICT.
        db.migrate()
        with db.write() as conn:
            conn.execute(db.statements.add_counter, [{"counter": "events", "hour": datetime.now(UTC), "count": 1}])
        for seq in (1, 2):
            upsert = db.insert(schema.watcher_cursors).values(name="w", seq=seq, updated_at=datetime.now(UTC))
            upsert = upsert.on_conflict_do_update(
                index_elements=[schema.watcher_cursors.c.name], set_={"seq": upsert.excluded.seq}
            )
            with db.write() as conn:
                conn.execute(upsert)
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT name, seq FROM catena_airflow_watcher_cursors")).all() == [("w", 2)]
    finally:
        db.dispose()
