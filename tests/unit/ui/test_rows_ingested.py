"""Rows ingested per fleet, read from the destination database the ingestion writes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from catena_airflow.ingest.schema import vehicle_locations, vehicles
from catena_airflow.ingest.store import DestinationStore


@pytest.fixture
def destination(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'destination.db'}"
    monkeypatch.setenv("CATENA_DESTINATION_URL", url)
    store = DestinationStore(url)
    store.migrate()
    yield store
    store.dispose()


def _vehicle(i: int, fleet_id: str) -> dict:
    return {"id": f"veh-{fleet_id}-{i}", "fleet_id": fleet_id, "record": {"id": i}}


def _location(i: int, fleet_id: str) -> dict:
    return {"id": f"loc-{fleet_id}-{i}", "fleet_id": fleet_id, "latitude": 52.0, "longitude": 4.0, "record": {}}


def test_rows_ingested_counts_vehicles_and_locations(airflow_client, auth_headers, seeded, destination):
    fleet_id = seeded.connected.fleet_id
    now = datetime.now(UTC)
    destination.apply_page(
        fleet_id=fleet_id,
        resource="vehicles",
        table=vehicles,
        rows=[_vehicle(i, fleet_id) for i in range(3)],
        watermark=now,
    )
    destination.apply_page(
        fleet_id=fleet_id,
        resource="vehicle_locations",
        table=vehicle_locations,
        rows=[_location(i, fleet_id) for i in range(2)],
        watermark=now,
    )
    rows = airflow_client.get("/catena/api/fleets", headers=auth_headers).json()["items"]
    ingested = {r["fleet_ref"]: r["rows_ingested"] for r in rows}
    assert ingested["acme-freight"] == 5
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
