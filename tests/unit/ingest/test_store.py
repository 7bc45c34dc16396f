from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from catena_airflow.ingest.schema import vehicles
from catena_airflow.ingest.store import DestinationStore, as_utc


def _row(vehicle_id: str, name: str) -> dict:
    return {
        "id": vehicle_id,
        "fleet_id": "f1",
        "vehicle_name": name,
        "record": {"id": vehicle_id, "vehicle_name": name},
    }


@pytest.fixture
def store(tmp_path) -> DestinationStore:
    store = DestinationStore(f"sqlite:///{tmp_path / 'data.db'}")
    store.migrate()
    return store


def test_apply_page_upserts_by_catena_id_and_counts(store):
    mark = datetime(2026, 1, 1, tzinfo=UTC)
    store.apply_page(
        fleet_id="f1", resource="vehicles", table=vehicles, rows=[_row("v1", "A"), _row("v2", "B")], watermark=mark
    )
    store.apply_page(fleet_id="f1", resource="vehicles", table=vehicles, rows=[_row("v1", "A2")], watermark=mark)
    assert store.count_vehicles("f1") == 2
    with store.engine.connect() as conn:
        names = dict(conn.execute(vehicles.select().with_only_columns(vehicles.c.id, vehicles.c.vehicle_name)).all())
    assert names == {"v1": "A2", "v2": "B"}


def test_watermark_never_moves_backwards(store):
    later = datetime(2026, 1, 2, tzinfo=UTC)
    store.apply_page(fleet_id="f1", resource="vehicles", table=vehicles, rows=[], watermark=later)
    store.apply_page(fleet_id="f1", resource="vehicles", table=vehicles, rows=[], watermark=later - timedelta(days=1))
    store.apply_page(fleet_id="f1", resource="vehicles", table=vehicles, rows=[], watermark=None)
    assert store.get_watermark("f1", "vehicles") == later
    assert store.get_watermark("f1", "vehicle_locations") is None


def test_fleet_status_round_trip(store):
    assert store.get_fleet_status("f1") is None
    store.set_fleet_status("f1", status="stale", ingestion_paused=True, reason="connection c1 stale", fleet_ref="acme")
    store.set_fleet_status("f1", status="active", ingestion_paused=False)
    status = store.get_fleet_status("f1")
    assert (status.status, status.ingestion_paused, status.fleet_ref) == ("active", False, "acme")


def test_execution_failures_are_recorded_once_per_event(store):
    assert store.record_execution_failure(event_id="e1#0", schedule_id="s1")
    assert not store.record_execution_failure(event_id="e1#0", schedule_id="s1")
    assert store.record_execution_failure(event_id="e2#0", schedule_id="s1")
    assert store.count_execution_failures("s1") == 2
    assert store.count_execution_failures("s1", since=datetime.now(UTC) + timedelta(minutes=1)) == 0


def test_cursor_only_advances(store):
    assert store.get_cursor("ops") == 0
    store.advance_cursor("ops", 5)
    store.advance_cursor("ops", 3)
    assert store.get_cursor("ops") == 5


def test_as_utc_accepts_iso_z_and_naive():
    assert as_utc("2026-01-01T00:00:00Z") == datetime(2026, 1, 1, tzinfo=UTC)
    assert as_utc(datetime(2026, 1, 1)) == datetime(2026, 1, 1, tzinfo=UTC)
    assert as_utc(None) is None


@pytest.mark.integration
@pytest.mark.postgres
def test_upsert_on_postgresql(postgres_url):
    store = DestinationStore(postgres_url)
    store.migrate()
    try:
        for name in ("A", "B"):
            store.apply_page(
                fleet_id="f1", resource="vehicles", table=vehicles, rows=[_row("v1", name)], watermark=None
            )
        assert store.count_vehicles("f1") == 1
    finally:
        store.dispose()


def test_concurrent_first_migrations_of_a_fresh_destination_all_succeed(tmp_path):
    # The mapped ingest tasks of a bulk run meet a fresh destination at the same moment.
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    stores = [DestinationStore(url) for _ in range(6)]
    try:
        with ThreadPoolExecutor(max_workers=6) as pool:
            list(pool.map(DestinationStore.migrate, stores))
        assert stores[0].get_watermark("f-1", "vehicle") is None
    finally:
        for store in stores:
            store.dispose()
