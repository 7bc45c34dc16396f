"""A released inbox (v1, v3, v4) is upgraded in place to the current schema, its data kept (both engines)."""

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
    resource_syncs,
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

        assert store.migrate() == SCHEMA_VERSION == 5
        assert store.schema_version() == 5
        assert inspect(store.engine).has_table(resource_syncs.name)  # v5
        assert inspect(store.engine).has_table(watcher_cursors.name)  # v4
        assert _HELD_REF_INDEX in _indexes(store)  # v3
        assert store.subscription_secret_candidates("wh-1") == ["old"]
        store.stage_subscription_secret("wh-1", "new")
        assert store.subscription_secret_candidates("wh-1") == ["old", "new"]
        store.promote_subscription_secret("wh-1", grace=timedelta(minutes=5))
        assert store.subscription_secret_candidates("wh-1") == ["new", "old"]
        later = datetime.now(UTC) + timedelta(minutes=6)
        assert store.subscription_secret_sets(now=later) == {"wh-1": ["new"]}
        assert store.migrate() == 5  # idempotent
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

        assert store.migrate() == SCHEMA_VERSION == 5
        assert store.watcher_cursor("watcher:execution.*") == 41
        assert store.watcher_cursor("watcher:schedule.*") == 2**40  # BIGINT kept
        assert store.watcher_cursor("watcher:other") is None
        store.set_watcher_cursor("watcher:execution.*", 42)
        assert store.watcher_cursor("watcher:execution.*") == 42
        assert store.migrate() == 5  # idempotent
    finally:
        store.dispose()


def test_v3_inbox_without_the_cursor_table_gets_it(inbox_url):
    store = InboxStore(inbox_url)
    try:
        _at_v3(store)
        assert not inspect(store.engine).has_table(watcher_cursors.name)
        assert store.migrate() == 5
        columns = {c["name"] for c in inspect(store.engine).get_columns(watcher_cursors.name)}
        assert columns == {"name", "seq", "updated_at"}
        store.set_watcher_cursor("w", 7)
        assert store.watcher_cursor("w") == 7
    finally:
        store.dispose()


_OPERATIONS_TABLES = {
    "catena_resource_syncs",
    "catena_fleet_status",
    "catena_execution_failures",
    "catena_schedule_holds",
}


def test_v4_inbox_gets_the_operations_tables_and_keeps_its_rows(inbox_url):
    store = InboxStore(inbox_url)
    try:
        with store.engine.begin() as conn:  # the database as v4 left it, with a watcher's cursor
            for version in (1, 2, 3, 4):
                MIGRATIONS[version](conn)
            conn.execute(schema_version.insert().values(id=1, version=4))
        store.set_watcher_cursor("watcher:execution.*", 41)
        store.save_subscription_secret("wh-1", "old", event_name="invitation.*")
        assert not _OPERATIONS_TABLES & set(inspect(store.engine).get_table_names())

        assert store.migrate() == SCHEMA_VERSION == 5
        assert set(inspect(store.engine).get_table_names()) >= _OPERATIONS_TABLES
        assert store.watcher_cursor("watcher:execution.*") == 41
        assert store.subscription_secret_candidates("wh-1") == ["old"]
        store.record_sync(fleet_id="f1", resource="vehicles", rows=3, cursor_value=None)
        store.set_fleet_status("f1", status="stale", ingestion_paused=True)
        store.hold_schedule("s1", connection_id="c1", state="needs_decision", reason="r", fleet_id="f1", resource="x")
        assert store.record_execution_failure(event_id="e1#0", schedule_id="s1")
        store.advance_watcher_cursor("operations:Handler", 7)
        assert store.rows_loaded("f1") == 3 and store.get_fleet_status("f1").ingestion_paused
        assert store.paused_resources("f1") == {"x": "r"} and store.count_execution_failures("s1") == 1
        assert store.watcher_cursor("operations:Handler") == 7
        assert store.migrate() == 5  # idempotent
    finally:
        store.dispose()
