"""Rows ingested per fleet, read from the sync ledger the ingestion tasks keep in the operations database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from catena_airflow.ingest.store import DestinationStore


@pytest.fixture
def destination(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'destination.db'}"
    monkeypatch.setenv("CATENA_DESTINATION_URL", url)
    store = DestinationStore(url)
    store.migrate()
    yield store
    store.dispose()


def test_rows_ingested_sums_every_resource_of_the_ledger(airflow_client, auth_headers, seeded, destination):
    fleet_id = seeded.connected.fleet_id
    now = datetime.now(UTC)
    destination.record_sync(fleet_id=fleet_id, resource="vehicles", rows=3, cursor_value=now)
    destination.record_sync(fleet_id=fleet_id, resource="vehicle_locations", rows=2, cursor_value=now)
    destination.record_sync_failure(fleet_id=fleet_id, resources=["vehicle_locations"], error="HTTP 500")
    rows = airflow_client.get("/catena/api/fleets", headers=auth_headers).json()["items"]
    ingested = {r["fleet_ref"]: r["rows_ingested"] for r in rows}
    assert ingested["acme-freight"] == 5
    (acme,) = [r for r in rows if r["fleet_ref"] == "acme-freight"]
    by_resource = {r["resource"]: r for r in acme["ingestion"]}
    assert by_resource["vehicles"]["rows_loaded"] == 3 and by_resource["vehicles"]["last_error"] is None
    assert by_resource["vehicles"]["lag_seconds"] is not None
    assert by_resource["vehicle_locations"]["last_error"] == "HTTP 500"
    assert ingested["bravo-logistics"] == 0
    assert ingested["foxtrot-fleet"] is None  # no fleet id yet: nothing can have been ingested
    config = airflow_client.get("/catena/api/config", headers=auth_headers).json()
    assert config["destination_available"] is True


def test_no_destination_database_means_not_available(airflow_client, auth_headers, seeded, tmp_path, monkeypatch):
    missing = tmp_path / "not-created.db"
    monkeypatch.setenv("CATENA_DESTINATION_URL", f"sqlite:///{missing}")
    rows = airflow_client.get("/catena/api/fleets", headers=auth_headers).json()["items"]
    assert {r["rows_ingested"] for r in rows} == {None}
    assert airflow_client.get("/catena/api/config", headers=auth_headers).json()["destination_available"] is False
    assert not missing.exists()  # the dashboard never creates the ingestion's database
