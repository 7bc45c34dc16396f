"""A released v1 inbox is upgraded in place to the current schema, its data kept (both engines)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import BigInteger, Column, DateTime, MetaData, String, Table, inspect
from sqlalchemy.schema import CreateTable

from catena_airflow.inbox import InboxStore
from catena_airflow.inbox.schema import (
    MIGRATIONS,
    SCHEMA_VERSION,
    events,
    held_by_fleet_ref,
    schema_version,
    subscriptions,
    watcher_cursors,
)

pytestmark = pytest.mark.integration

_HELD_REF_INDEX = held_by_fleet_ref.name


def _indexes(store: InboxStore) -> set[str]:
    return {index["name"] for index in inspect(store.engine).get_indexes(events.name)}


def test_v1_inbox_upgrades_to_the_current_schema(inbox_url):
    store = InboxStore(inbox_url)
    try:
        with store.engine.begin() as conn:  # the database as v1 left it
            MIGRATIONS[1](conn)
            conn.execute(schema_version.insert().values(id=1, version=1))
        assert "next_secret" not in {c["name"] for c in inspect(store.engine).get_columns(subscriptions.name)}
        assert _HELD_REF_INDEX not in _indexes(store)
        with store.engine.begin() as conn:
            conn.execute(
                subscriptions.insert().values(
                    webhook_id="wh-1", secret="plain:old", event_name="invitation.*", updated_at=datetime.now(UTC)
                )
            )

        assert store.migrate() == SCHEMA_VERSION == 4
        assert store.schema_version() == 4
        assert inspect(store.engine).has_table(watcher_cursors.name)  # v4
        assert _HELD_REF_INDEX in _indexes(store)  # v3
        assert store.subscription_secret_candidates("wh-1") == ["old"]
        store.stage_subscription_secret("wh-1", "new")
        assert store.subscription_secret_candidates("wh-1") == ["old", "new"]
        store.promote_subscription_secret("wh-1", grace=timedelta(minutes=5))
        assert store.subscription_secret_candidates("wh-1") == ["new", "old"]
        later = datetime.now(UTC) + timedelta(minutes=6)
        assert store.subscription_secret_sets(now=later) == {"wh-1": ["new"]}
        assert store.migrate() == 4  # idempotent
    finally:
        store.dispose()


def _at_v3(store: InboxStore) -> None:
    """The database as v3 left it."""
    with store.engine.begin() as conn:
        for version in (1, 2, 3):
            MIGRATIONS[version](conn)
        conn.execute(schema_version.insert().values(id=1, version=3))


def _old_trigger_cursor_table() -> Table:
    """The cursor table exactly as the pre-v4 trigger (triggers/inbox_events.py) defined and created it."""
    return Table(
        "catena_airflow_watcher_cursors",
        MetaData(),
        Column("name", String(200), primary_key=True),
        Column("seq", BigInteger, nullable=False),
        Column("updated_at", DateTime(timezone=True), nullable=False),
    )


def test_v3_inbox_with_the_trigger_made_cursor_table_keeps_its_positions(inbox_url):
    store = InboxStore(inbox_url)
    try:
        _at_v3(store)
        old = _old_trigger_cursor_table()
        with store.engine.begin() as conn:  # what a pre-v4 trigger did on its first run, then its saves
            conn.execute(CreateTable(old, if_not_exists=True))
            conn.execute(
                old.insert(),
                [
                    {"name": "watcher:execution.*", "seq": 41, "updated_at": datetime.now(UTC)},
                    {"name": "watcher:schedule.*", "seq": 2**40, "updated_at": datetime.now(UTC)},
                ],
            )

        assert store.migrate() == SCHEMA_VERSION == 4
        assert store.watcher_cursor("watcher:execution.*") == 41
        assert store.watcher_cursor("watcher:schedule.*") == 2**40  # BIGINT kept
        assert store.watcher_cursor("watcher:other") is None
        store.set_watcher_cursor("watcher:execution.*", 42)
        assert store.watcher_cursor("watcher:execution.*") == 42
        assert store.migrate() == 4  # idempotent
    finally:
        store.dispose()


def test_v3_inbox_without_the_cursor_table_gets_it(inbox_url):
    store = InboxStore(inbox_url)
    try:
        _at_v3(store)
        assert not inspect(store.engine).has_table(watcher_cursors.name)
        assert store.migrate() == 4
        columns = {c["name"] for c in inspect(store.engine).get_columns(watcher_cursors.name)}
        assert columns == {"name", "seq", "updated_at"}
        store.set_watcher_cursor("w", 7)
        assert store.watcher_cursor("w") == 7
    finally:
        store.dispose()
