"""The inbox's database: its engines, the one writing transaction, retries, and schema migrations.

Every part of the store (events_repo, onboardings_repo, secrets_repo, counters) writes through
``InboxDatabase.write`` so that writers are serialized the same way everywhere: SQLite's single writer
(``BEGIN IMMEDIATE``), a transaction-scoped advisory lock on PostgreSQL. That is what makes ``seq``
order commit order and the read-modify-write of an onboarding row safe.
"""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

from sqlalchemy import Connection, Engine, Table, create_engine, event, inspect, select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, OperationalError, PendingRollbackError
from sqlalchemy.pool import StaticPool

from catena_airflow.inbox import pg_transaction
from catena_airflow.inbox.checkpoint import WalCheckpointer
from catena_airflow.inbox.schema import MIGRATIONS, SCHEMA_VERSION, schema_version
from catena_airflow.inbox.statements import HotStatements, UpsertInsert, dialect_insert
from catena_airflow.sqlite_wal import BUSY_TIMEOUT_MS, ensure_wal

log = logging.getLogger(__name__)

# Key of the PostgreSQL advisory lock that serializes inbox writers ("CATENA" in spirit).
_WRITER_LOCK_KEY = 0x0C47E4A
# PostgreSQL session bounds (see _pg_session_options). Catena waits 3 s for an answer, the receiver
# 2.5 s for a commit: a writer that cannot get the lock in 2 s gives up (the delivery is answered 503
# and retried) rather than commit after its request was already answered.
_PG_LOCK_TIMEOUT_SECONDS = 2.0
_PG_STATEMENT_TIMEOUT_MS = 60_000
_PG_IDLE_IN_TRANSACTION_TIMEOUT_MS = 60_000
# Whole-transaction attempts when SQLite still reports "database is locked" after its busy wait.
_BUSY_RETRIES = 6

T = TypeVar("T")
P = ParamSpec("P")


class _HoldsDatabase(Protocol):
    db: InboxDatabase


S = TypeVar("S", bound=_HoldsDatabase)


def retried_when_busy(method: Callable[Concatenate[S, P], T]) -> Callable[Concatenate[S, P], T]:
    """A writing method (of a part holding ``db``) whose whole transaction is run again if SQLite lost a
    lock race."""

    @functools.wraps(method)
    def retried(self: S, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return self.db.retry_when_busy(method, self, *args, **kwargs)

    return retried


class InboxDatabase:
    """The engines of one inbox URL (a second, autocommit one for PostgreSQL writers) and its schema."""

    def __init__(
        self,
        url: str,
        *,
        pool_size: int,
        max_overflow: int,
        sqlite_synchronous: str,
        checkpoint_in_background: bool,
        pg_lock_timeout: float,
    ) -> None:
        self.engine: Engine = _create_engine(
            url,
            pool_size=pool_size,
            max_overflow=max_overflow,
            sqlite_synchronous=sqlite_synchronous,
            sqlite_autocheckpoint=not checkpoint_in_background,
            pg_lock_timeout=pg_lock_timeout,
        )
        self.dialect = self.engine.dialect.name
        # PostgreSQL writers get connections of their own that stay in autocommit mode: the writing
        # transaction sends BEGIN and COMMIT itself (pg_transaction.py), and switching a pooled
        # connection's mode per transaction would cost the writer what it saves.
        self._writer_engine: Engine | None = None
        if self.dialect == "postgresql":
            self._writer_engine = _create_engine(
                url,
                pool_size=2,
                max_overflow=max_overflow,
                sqlite_synchronous=sqlite_synchronous,
                sqlite_autocheckpoint=True,
                pg_lock_timeout=pg_lock_timeout,
                pg_autocommit=True,
            )
            pg_transaction.install(self._writer_engine)
        self.checkpointer: WalCheckpointer | None = None
        if checkpoint_in_background and self.dialect == "sqlite" and _is_sqlite_file(url):
            self.checkpointer = WalCheckpointer(self.engine)
            self.checkpointer.start()
        self.insert = dialect_insert(self.dialect)
        self.statements = HotStatements.build(self.dialect)

    def upsert(self, table: Table, row: Mapping[str, Any], keys: Sequence[str]) -> UpsertInsert:
        """``INSERT`` of ``row`` that, when a row with the same ``keys`` exists, sets its other given columns."""
        insert = self.insert(table).values(dict(row))
        return insert.on_conflict_do_update(
            index_elements=list(keys), set_={column: insert.excluded[column] for column in row if column not in keys}
        )

    def dispose(self) -> None:
        if self.checkpointer is not None:
            self.checkpointer.stop()
        if self._writer_engine is not None:
            self._writer_engine.dispose()
        self.engine.dispose()

    # --- schema ---------------------------------------------------------------------------------

    def migrate(self) -> int:
        """Create or upgrade the schema to ``SCHEMA_VERSION``; returns the version now in place.

        Every process calls this at start-up (and the receiver after a failed commit), so the usual case,
        an up-to-date schema, is one read and takes no write lock; the DDL runs only when the schema
        really changes, under the writer lock, after re-reading the version there.
        """
        if self._checked_version() == SCHEMA_VERSION:
            return SCHEMA_VERSION
        return self.retry_when_busy(self._upgrade)

    def _upgrade(self) -> int:
        with self.write() as conn:
            schema_version.create(conn, checkfirst=True)
            current = conn.execute(select(schema_version.c.version).where(schema_version.c.id == 1)).scalar()
            current = _check_not_newer(current or 0)
            for version in range(current + 1, SCHEMA_VERSION + 1):
                MIGRATIONS[version](conn)
                log.info("Catena inbox schema migrated to version %d", version)
            if current == 0:
                conn.execute(schema_version.insert().values(id=1, version=SCHEMA_VERSION))
            elif current < SCHEMA_VERSION:
                conn.execute(schema_version.update().where(schema_version.c.id == 1).values(version=SCHEMA_VERSION))
        return SCHEMA_VERSION

    def _checked_version(self) -> int:
        return _check_not_newer(self.schema_version())

    def schema_version(self) -> int:
        """The version in place (0: no schema yet). A pure read: never creates anything."""
        with self.engine.connect() as conn:
            if not inspect(conn).has_table(schema_version.name):
                return 0
            return conn.execute(select(schema_version.c.version).where(schema_version.c.id == 1)).scalar() or 0

    # --- transactions ---------------------------------------------------------------------------

    def retry_when_busy(self, write: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a whole writing transaction again when SQLite said "database is locked" (a lost race), or
        once when a PostgreSQL connection from the pool turned out dead.

        The busy timeout already waited; a few more whole-transaction attempts cover what it does not
        (a deferred reader upgrading, a journal-mode switch, a start-up stampede) instead of failing.
        After a database restart or a network cut every pooled connection is dead: the first use finds
        it and SQLAlchemy invalidates the pool, so one more attempt runs on a fresh connection instead of
        failing the first webhook after the outage (a replayed one would go back to Catena's DLQ). If
        the first attempt had committed after all, the second finds its events stored (duplicates).
        """
        attempt = 0
        reconnected = False
        while True:
            try:
                return write(*args, **kwargs)
            except (DBAPIError, PendingRollbackError) as exc:
                if self.dialect == "postgresql" and not reconnected and _lost_connection(exc):
                    reconnected = True
                    log.warning("Catena inbox connection was lost (%s); retrying on a new one", type(exc).__name__)
                    continue
                busy = isinstance(exc, OperationalError) and self.dialect == "sqlite" and _is_sqlite_busy(exc)
                if not busy or attempt == _BUSY_RETRIES - 1:
                    raise
                log.warning("Catena inbox busy (attempt %d of %d); retrying", attempt + 1, _BUSY_RETRIES)
                time.sleep(min(2.0, 0.05 * 2**attempt) * (0.5 + random.random()))
                attempt += 1

    @contextmanager
    def write(self, *, ordered: bool = True) -> Iterator[Connection]:
        """A writing transaction: ``BEGIN IMMEDIATE`` on SQLite, the writer lock on PostgreSQL.

        ``ordered=False``: a write outside the event log's commit order (operations state: fleet status,
        holds, the sync ledger), which allocates no ``seq``: on PostgreSQL a plain transaction, so it never
        waits behind the receiver's writers (whose lock wait is bounded: a task would fail on it) nor holds
        them up. Its rows are each written by one task or handler at a time.
        """
        if self._writer_engine is not None and not ordered:
            with self.engine.begin() as conn:
                yield conn
            return
        if self._writer_engine is not None:
            with pg_transaction.write_transaction(self._writer_engine, lock_key=_WRITER_LOCK_KEY) as conn:
                yield conn
            return
        with self.engine.connect() as conn:
            conn.execution_options(catena_write=True)
            with conn.begin():
                yield conn


# --- engines ------------------------------------------------------------------------------------


def _create_engine(
    url: str,
    *,
    pool_size: int,
    max_overflow: int,
    sqlite_synchronous: str,
    sqlite_autocheckpoint: bool,
    pg_lock_timeout: float,
    pg_autocommit: bool = False,
) -> Engine:
    parsed = inbox_engine_url(url)
    if parsed.get_backend_name() == "sqlite":
        memory = not _is_sqlite_file(parsed)
        engine = create_engine(
            parsed,
            connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000},
            **({"poolclass": StaticPool} if memory else {"pool_size": pool_size, "max_overflow": max_overflow}),
        )
        _sqlite_setup(engine, synchronous=sqlite_synchronous, wal=not memory, autocheckpoint=sqlite_autocheckpoint)
        return engine
    if parsed.get_backend_name() == "postgresql":
        return create_engine(
            parsed,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_recycle=1800,
            # Readers (triggers, dashboard, secret reads) check a pooled connection before use, so the
            # first read after a database restart does not fail; the writer, whose round trips are its
            # throughput, instead runs a transaction that found its connection dead once more.
            pool_pre_ping=not pg_autocommit,
            # UPDATE executemany (a batch's onboarding rows) in one round trip, not one per row.
            executemany_mode="values_plus_batch",
            **({"isolation_level": "AUTOCOMMIT"} if pg_autocommit else {}),
            connect_args={
                "connect_timeout": 5,
                "application_name": "catena-inbox-writer" if pg_autocommit else "catena-inbox",
                "options": _pg_session_options(pg_lock_timeout),
            },
        )
    raise ValueError(f"unsupported inbox database {parsed.get_backend_name()!r}: use SQLite or PostgreSQL")


def inbox_engine_url(url: str | URL) -> URL:
    """The URL the inbox's engine uses: a plain ``postgresql://`` means psycopg2.

    SQLAlchemy 2.1 maps a plain ``postgresql://`` to psycopg 3, but the inbox's PostgreSQL writer is
    written for psycopg2 (``executemany_mode``, ``mogrify`` in pg_transaction.py, the LISTEN
    connection), so a plain URL is given that driver; another driver named explicitly is refused
    with a message that says so.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return parsed
    if parsed.drivername == "postgresql":
        return parsed.set(drivername="postgresql+psycopg2")
    if parsed.get_driver_name() != "psycopg2":
        raise ValueError(
            f"the inbox needs the psycopg2 driver on PostgreSQL, not {parsed.get_driver_name()!r}: "
            "use postgresql:// or postgresql+psycopg2://"
        )
    return parsed


def _pg_session_options(lock_timeout: float) -> str:
    """Bounds on every inbox session, so one stuck writer cannot block the others forever.

    lock_timeout: waiting for the writer advisory lock (or a row) fails instead of queueing without
    end (the receiver answers 503 and Catena retries). statement_timeout: no statement runs away.
    idle_in_transaction_session_timeout: a session that stalls inside a transaction (holding the
    transaction-scoped writer lock) is ended by the server, which releases the lock.
    """
    settings = {
        "lock_timeout": int(lock_timeout * 1000),
        "statement_timeout": _PG_STATEMENT_TIMEOUT_MS,
        "idle_in_transaction_session_timeout": _PG_IDLE_IN_TRANSACTION_TIMEOUT_MS,
    }
    return " ".join(f"-c {name}={value}" for name, value in settings.items())


def _is_sqlite_file(url: str | URL) -> bool:
    return make_url(url).database not in (None, "", ":memory:")


def _sqlite_setup(engine: Engine, *, synchronous: str, wal: bool, autocheckpoint: bool = True) -> None:
    """WAL, busy timeout, foreign keys; and explicit BEGIN (IMMEDIATE for writers) instead of pysqlite's."""
    if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
        raise ValueError(f"invalid SQLite synchronous mode {synchronous!r}")

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (see _on_begin)
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        if wal:
            ensure_wal(cursor)
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA synchronous={synchronous.upper()}")
        if not autocheckpoint:
            cursor.execute("PRAGMA wal_autocheckpoint=0")  # a WalCheckpointer thread does it (checkpoint.py)
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # IMMEDIATE takes the write lock up front, so a writer never fails to upgrade a read snapshot.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("catena_write") else "BEGIN")


# --- errors -------------------------------------------------------------------------------------


def _lost_connection(exc: BaseException) -> bool:
    """A pooled connection was found dead (invalidated), directly or as the transaction it left behind."""
    return isinstance(exc, PendingRollbackError) or bool(getattr(exc, "connection_invalidated", False))


def _is_sqlite_busy(exc: OperationalError) -> bool:
    message = str(exc.orig).lower()
    return "database is locked" in message or "database is busy" in message


def _check_not_newer(version: int) -> int:
    if version > SCHEMA_VERSION:
        raise RuntimeError(f"inbox schema version {version} is newer than this code ({SCHEMA_VERSION})")
    return version
