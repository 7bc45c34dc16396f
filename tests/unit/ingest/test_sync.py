"""Incremental sync against a Catena faked at the HTTP boundary, into a real SQLite destination."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from catena_airflow.client.errors import CatenaBadRequestError
from catena_airflow.ingest.store import DestinationStore
from catena_airflow.ingest.sync import location_row, sync_fleet, sync_vehicle_locations, sync_vehicles
from tests.unit.airflow_layer import CATENA_URL, iso, paged, query_time

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def vehicle(i: int, updated: datetime) -> dict:
    return {
        "id": f"v{i}",
        "fleet_id": "f1",
        "vehicle_name": f"Truck {i}",
        "updated_at": iso(updated),
        "occurred_at": iso(T0),
    }


def location(i: int, at: datetime) -> dict:
    return {
        "id": f"l{i}",
        "fleet_id": "f1",
        "vehicle_id": "v1",
        "occurred_at": iso(at),
        "location": {"type": "Point", "coordinates": [-87.6, 41.8]},
        "speed": 12.5,
    }


@pytest.fixture
def store(tmp_path) -> DestinationStore:
    store = DestinationStore(f"sqlite:///{tmp_path / 'data.db'}")
    store.migrate()
    return store


def test_vehicles_paginated_then_only_changes(client, store, requests_mock):
    items = [vehicle(i, T0 + timedelta(minutes=i)) for i in range(5)]
    route = requests_mock.get(f"{CATENA_URL}/v2/telematics/vehicles", json=paged(items, 2))
    first = sync_vehicles(client, store, fleet_id="f1", page_size=2)
    assert (first.pages, first.rows) == (3, 5)
    assert route.last_request.qs["fleet_ids"] == ["f1"]
    assert store.count_vehicles("f1") == 5

    items[1] = vehicle(1, T0 + timedelta(hours=1))  # one vehicle changed since
    second = sync_vehicles(client, store, fleet_id="f1", page_size=2)
    assert second.rows == 1
    assert second.watermark == (T0 + timedelta(hours=1)).isoformat()
    assert store.count_vehicles("f1") == 5


def test_locations_resume_from_the_watermark(client, store, requests_mock):
    now = T0 + timedelta(hours=2)
    items = [location(i, T0 + timedelta(minutes=10 * i)) for i in range(4)]
    route = requests_mock.get(f"{CATENA_URL}/v2/telematics/vehicle-locations", json=paged(items, 3))
    result = sync_vehicle_locations(
        client, store, fleet_id="f1", page_size=3, now=now, initial_lookback=timedelta(hours=3)
    )
    assert (result.pages, result.rows) == (2, 4)
    first_query = route.request_history[0].qs
    assert first_query["only_latest"] == ["false"]
    assert query_time(first_query, "from_datetime") == now - timedelta(hours=3)
    assert query_time(first_query, "to_datetime") == now

    again = sync_vehicle_locations(client, store, fleet_id="f1", page_size=3, now=now + timedelta(hours=1))
    # The second run starts at the last location seen (inclusive): upserts, no duplicates.
    assert query_time(route.last_request.qs, "from_datetime") == T0 + timedelta(minutes=30)
    assert again.rows == 4
    assert store.count_vehicle_locations("f1") == 4


def test_a_failed_page_keeps_the_progress_of_earlier_pages(client, store, requests_mock):
    items = [location(i, T0 + timedelta(minutes=i)) for i in range(4)]

    def respond(request, context):
        if request.qs.get("cursor") == ["2"]:
            context.status_code = 400
            return {"code": 400, "message": "Bad Request", "detail": "boom"}
        return paged(items, 2)(request, context)

    requests_mock.get(f"{CATENA_URL}/v2/telematics/vehicle-locations", json=respond)
    with pytest.raises(CatenaBadRequestError):
        sync_vehicle_locations(
            client, store, fleet_id="f1", page_size=2, now=T0 + timedelta(hours=1), initial_lookback=timedelta(hours=1)
        )
    assert store.count_vehicle_locations("f1") == 2
    assert store.get_watermark("f1", "vehicle_locations") == T0 + timedelta(minutes=1)


def test_sync_fleet_summarises_each_resource_and_rejects_unknown(client, store, requests_mock):
    requests_mock.get(f"{CATENA_URL}/v2/telematics/vehicles", json=paged([vehicle(1, T0)], 10))
    requests_mock.get(f"{CATENA_URL}/v2/telematics/vehicle-locations", json=paged([], 10))
    summary = sync_fleet(client, store, fleet_id="f1")
    assert summary["vehicles"]["rows"] == 1
    assert summary["vehicle_locations"]["rows"] == 0
    with pytest.raises(ValueError, match="unknown resource 'trailers'"):
        sync_fleet(client, store, fleet_id="f1", resources=["trailers"])


def test_location_row_maps_geojson_lon_lat():
    row = location_row(location(1, T0), "f1")
    assert (row["longitude"], row["latitude"], row["occurred_at"]) == (-87.6, 41.8, T0)


def test_rows_of_other_fleets_are_never_copied(client, store, requests_mock):
    """A Catena that ignores the fleet_ids filter answers with every fleet's rows."""
    foreign_vehicle = {**vehicle(2, T0), "fleet_id": "f-other"}
    foreign_location = {**location(2, T0), "fleet_id": "f-other"}
    requests_mock.get(f"{CATENA_URL}/v2/telematics/vehicles", json=paged([vehicle(1, T0), foreign_vehicle], 10))
    requests_mock.get(
        f"{CATENA_URL}/v2/telematics/vehicle-locations", json=paged([location(1, T0), foreign_location], 10)
    )
    summary = sync_fleet(client, store, fleet_id="f1")
    assert (summary["vehicles"]["rows"], summary["vehicle_locations"]["rows"]) == (1, 1)
    assert store.count_vehicles("f-other") == store.count_vehicle_locations("f-other") == 0
