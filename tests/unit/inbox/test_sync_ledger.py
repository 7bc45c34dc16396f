"""The ingestion's sync ledger in the inbox (schema v5), on a real SQLite inbox (and PostgreSQL once)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from catena_airflow.inbox import InboxStore
from catena_airflow.inbox.projection import to_utc
from tests.fixtures.databases import migrated_store


def test_the_sync_ledger_adds_rows_and_keeps_the_furthest_cursor(store):
    early, late = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)
    store.record_sync(fleet_id="f1", resource="vehicles", rows=3, cursor_value=late, fleet_ref="acme")
    store.record_sync(fleet_id="f1", resource="vehicles", rows=2, cursor_value=early)
    store.record_sync(fleet_id="f1", resource="vehicle_locations", rows=0, cursor_value=None)
    (locations, vehicles) = store.resource_syncs(["f1", "f2"])["f1"]
    assert store.resource_syncs(["f1", "f2"])["f2"] == []
    assert (vehicles.rows_loaded, vehicles.last_rows, vehicles.cursor_value) == (5, 2, late)
    assert vehicles.fleet_ref == "acme" and vehicles.last_error is None
    assert locations.cursor_value is None and locations.lag() is None
    assert vehicles.lag(now=late + timedelta(hours=1)) == timedelta(hours=1)
    assert store.rows_loaded("f1") == 5 and store.rows_loaded("f2") == 0


@pytest.mark.parametrize("engine", ["sqlite", pytest.param("postgresql", marks=[pytest.mark.postgres])])
def test_each_fleet_reads_its_own_rows_by_resource_name_with_their_times(engine, tmp_path, request):
    # Written in the reverse of the order they are read in: the order is the query's, not the heap's.
    url = f"sqlite:///{tmp_path / 'inbox.db'}" if engine == "sqlite" else request.getfixturevalue("postgres_url")
    attempt = datetime(2026, 1, 3, tzinfo=UTC)
    with migrated_store(url) as store:
        for fleet_id in ("f2", "f1"):
            for resource in ("vehicles", "trailers", "hos_events"):
                store.record_sync(fleet_id=fleet_id, resource=resource, rows=1, cursor_value=None, at=attempt)
        store.record_sync_failure(fleet_id="f3", resources=["vehicles"], error="HTTPError: 500", at=attempt)
        syncs = store.resource_syncs(["f3", "f2", "f1"])
    assert [(s.fleet_id, s.resource) for s in syncs["f1"]] == [
        ("f1", "hos_events"),
        ("f1", "trailers"),
        ("f1", "vehicles"),
    ]
    assert [s.fleet_id for s in syncs["f2"]] == ["f2", "f2", "f2"]
    (failed,) = syncs["f3"]  # a fleet's first load failed while another fleet has the resource: its own zeros
    assert (failed.rows_loaded, failed.last_rows, failed.last_success_at) == (0, 0, None)
    assert {s.last_attempt_at for fleet in syncs.values() for s in fleet} == {attempt}


def test_a_failed_load_keeps_the_last_success_and_shows_the_error(store):
    store.record_sync(fleet_id="f1", resource="vehicles", rows=3, cursor_value=None)
    store.record_sync_failure(fleet_id="f1", resources=["vehicles", "users"], error="HTTPError: 500")
    syncs = {s.resource: s for s in store.resource_syncs(["f1"])["f1"]}
    assert syncs["vehicles"].rows_loaded == 3 and syncs["vehicles"].last_success_at is not None
    assert syncs["vehicles"].last_error == syncs["users"].last_error == "HTTPError: 500"
    assert syncs["users"].rows_loaded == 0 and syncs["users"].last_success_at is None
    store.record_sync(fleet_id="f1", resource="vehicles", rows=1, cursor_value=None)
    assert {s.resource: s for s in store.resource_syncs(["f1"])["f1"]}["vehicles"].last_error is None


def test_ledger_times_read_back_as_aware_utc():
    # What SQLite hands back (naive) and what the ledger may be given (ISO with Z) both end up aware UTC.
    assert to_utc("2026-01-01T00:00:00Z") == datetime(2026, 1, 1, tzinfo=UTC)
    assert to_utc(datetime(2026, 1, 1)) == datetime(2026, 1, 1, tzinfo=UTC)
    assert to_utc(None) is None


@pytest.mark.integration
@pytest.mark.postgres
def test_upsert_on_postgresql(postgres_url):
    with migrated_store(postgres_url) as store:
        for rows in (2, 3):
            store.record_sync(fleet_id="f1", resource="vehicles", rows=rows, cursor_value=None)
        assert store.rows_loaded("f1") == 5


@pytest.mark.parametrize("engine", ["sqlite", pytest.param("postgresql", marks=[pytest.mark.postgres])])
def test_loads_recording_at_once_each_add_their_rows(engine, tmp_path, request):
    # The onboarding's first load and a scheduled one may finish together: neither count is lost.
    url = f"sqlite:///{tmp_path / 'inbox.db'}" if engine == "sqlite" else request.getfixturevalue("postgres_url")
    late = datetime(2026, 1, 2, tzinfo=UTC)
    with migrated_store(url) as store, ThreadPoolExecutor(max_workers=8) as pool:
        cursors = [late - timedelta(minutes=n) for n in range(40)]
        records = [
            pool.submit(store.record_sync, fleet_id="f1", resource="vehicles", rows=1, cursor_value=cursor)
            for cursor in cursors
        ]
        for record in records:
            record.result(timeout=30)
        (vehicles,) = store.resource_syncs(["f1"])["f1"]
        assert (vehicles.rows_loaded, vehicles.cursor_value) == (40, late)


@pytest.mark.integration
@pytest.mark.postgres
def test_a_ledger_write_does_not_wait_for_the_event_writers_lock(postgres_url):
    # The receiver's writers wait at most 2 s for their lock; a task's ledger write must not queue there.
    with migrated_store(postgres_url) as store:
        with store._db.write() as conn:  # an event writer holding the lock (taken with its first statement)
            conn.execute(text("SELECT 1"))
            with ThreadPoolExecutor(max_workers=1) as pool:
                write = pool.submit(store.record_sync, fleet_id="f1", resource="vehicles", rows=2, cursor_value=None)
                write.result(timeout=10)
        assert store.rows_loaded("f1") == 2


def test_concurrent_first_migrations_of_a_fresh_inbox_all_succeed(tmp_path):
    # The mapped ingest tasks of a bulk run meet a fresh inbox at the same moment.
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    stores = [InboxStore(url) for _ in range(6)]
    try:
        with ThreadPoolExecutor(max_workers=6) as pool:
            list(pool.map(InboxStore.migrate, stores))
        assert stores[0].rows_loaded("f-1") == 0
    finally:
        for store in stores:
            store.dispose()
