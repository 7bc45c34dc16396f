"""The PostgreSQL writing transaction: what it sends, what it commits, and that a failure never keeps the lock."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, event, insert, select, text
from sqlalchemy.exc import IntegrityError

from catena_airflow.inbox import pg_transaction

LOCK_KEY = 424242
metadata = MetaData()
things = Table("things", metadata, Column("id", Integer, primary_key=True), Column("name", String))


@pytest.fixture
def engine(postgres_url):
    engine = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    metadata.create_all(engine)
    pg_transaction.install(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def observer(postgres_url):
    """Another engine, to look at the database from outside the transactions under test."""
    engine = create_engine(postgres_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sent(engine) -> list[str]:
    """Every statement string the driver is given (after the transaction's own additions)."""
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda conn, cursor, sql, *_: statements.append(sql))
    return statements


def _names(engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(select(things.c.name).order_by(things.c.id)).scalars())


def _lock_is_free(engine) -> bool:
    with engine.connect() as conn:
        free = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK_KEY}).scalar()
        if free:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
        return bool(free)


def test_begin_and_lock_ride_with_the_first_statement_and_queued_sql_with_commit(engine, observer, sent):
    with pg_transaction.write_transaction(engine, lock_key=LOCK_KEY) as conn:
        conn.execute(insert(things), [{"id": 1, "name": "a"}])
        assert not _lock_is_free(observer)  # held from the first statement on
        assert pg_transaction.at_commit(conn, "NOTIFY catena_test")
        assert pg_transaction.rows_at_commit(conn, insert(things), [{"id": 2, "name": "it's"}])

    assert len(sent) == 2
    assert sent[0].startswith(f"BEGIN; SELECT pg_advisory_xact_lock({LOCK_KEY}); INSERT INTO things")
    assert sent[1].startswith("NOTIFY catena_test; INSERT INTO things") and sent[1].endswith("; COMMIT")
    assert _names(observer) == ["a", "it's"]  # the driver quoted the queued row's value
    assert _lock_is_free(observer)


def test_a_failure_in_the_block_rolls_back_and_releases_the_lock(engine, observer):
    with pytest.raises(RuntimeError), pg_transaction.write_transaction(engine, lock_key=LOCK_KEY) as conn:
        conn.execute(insert(things), [{"id": 1, "name": "a"}])
        pg_transaction.rows_at_commit(conn, insert(things), [{"id": 2, "name": "b"}])
        raise RuntimeError("boom")

    assert _names(observer) == []
    assert _lock_is_free(observer)
    with pg_transaction.write_transaction(engine, lock_key=LOCK_KEY) as conn:  # the pooled connection is clean
        conn.execute(insert(things), [{"id": 3, "name": "c"}])
    assert _names(observer) == ["c"]


def test_a_failing_statement_rolls_back_and_releases_the_lock(engine, observer):
    with pg_transaction.write_transaction(engine, lock_key=LOCK_KEY) as conn:
        conn.execute(insert(things), [{"id": 1, "name": "a"}])
    with (
        pytest.raises(IntegrityError, match="duplicate key"),
        pg_transaction.write_transaction(engine, lock_key=LOCK_KEY) as conn,
    ):
        conn.execute(insert(things), [{"id": 2, "name": "b"}])
        conn.execute(insert(things), [{"id": 1, "name": "again"}])

    assert _names(observer) == ["a"]
    assert _lock_is_free(observer)


def test_a_failing_commit_rolls_back(engine, observer):
    with (
        pytest.raises(IntegrityError, match="duplicate key"),
        pg_transaction.write_transaction(engine, lock_key=LOCK_KEY) as conn,
    ):
        conn.execute(insert(things), [{"id": 1, "name": "a"}])
        pg_transaction.rows_at_commit(conn, insert(things), [{"id": 1, "name": "clash"}])

    assert _names(observer) == []
    assert _lock_is_free(observer)


def test_an_empty_block_sends_nothing(engine, sent):
    with pg_transaction.write_transaction(engine, lock_key=LOCK_KEY):
        pass
    assert sent == []


def test_queued_statements_alone_are_sent_in_one_round_trip(engine, observer, sent):
    with pg_transaction.write_transaction(engine, lock_key=LOCK_KEY) as conn:
        pg_transaction.rows_at_commit(conn, insert(things), [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}])

    assert len(sent) == 1
    assert sent[0].startswith(f"BEGIN; SELECT pg_advisory_xact_lock({LOCK_KEY}); INSERT INTO things")
    assert _names(observer) == ["a", "b"]


def test_outside_a_write_transaction_nothing_is_queued(engine):
    with engine.connect() as conn:
        assert not pg_transaction.at_commit(conn, "NOTIFY catena_test")
        assert not pg_transaction.rows_at_commit(conn, insert(things), [{"id": 1, "name": "a"}])
