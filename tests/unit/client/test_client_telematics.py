"""Telematics reads used for ingestion."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from tests.unit.client import payloads
from tests.unit.client.conftest import API, api_calls, query_of

VEHICLES = f"{API}/v2/telematics/vehicles"
LOCATIONS = f"{API}/v2/telematics/vehicle-locations"


def test_list_vehicles_with_every_filter(client, requests_mock):
    requests_mock.get(VEHICLES, json=payloads.page([payloads.vehicle()], total=1))
    (vehicle,) = client.list_vehicles(
        fleet_ids=["f1"],
        fleet_refs=["FLEET-42", "FLEET-43"],
        connection_id="c1",
        vehicle_ids=["v1", "v2"],
        source_ids=["s1"],
        include_source_data=True,
        sort_by="updated_at",
        sort_order="desc",
        size=1000,
    )
    assert vehicle.vin == "1FUJGLDR12LM12345" and vehicle.vehicle_groups == {"region": "west"}
    assert query_of(api_calls(requests_mock)[0]) == {
        "fleet_ids": ["f1"],
        "fleet_refs": ["FLEET-42", "FLEET-43"],
        "connection_id": ["c1"],
        "vehicle_ids": ["v1", "v2"],
        "source_ids": ["s1"],
        "include_source_data": ["true"],
        "sort_by": ["updated_at"],
        "sort_order": ["desc"],
        "size": ["1000"],
    }


def test_get_vehicle(client, requests_mock):
    requests_mock.get(f"{VEHICLES}/v1", json=payloads.vehicle(id="v1"))
    assert client.get_vehicle("v1", include_source_data=False).id == "v1"
    assert query_of(api_calls(requests_mock)[0]) == {"include_source_data": ["false"]}


def test_list_vehicle_locations_history_window(client, requests_mock):
    requests_mock.get(LOCATIONS, json=payloads.page([payloads.vehicle_location()], total=1))
    start = datetime(2026, 2, 19, 20, 0, tzinfo=UTC)
    (location,) = client.list_vehicle_locations(
        only_latest=False,
        fleet_refs=["FLEET-42"],
        connection_id="c1",
        from_datetime=start,
        to_datetime=start.astimezone(timezone(timedelta(hours=2))) + timedelta(hours=1),
        driver_ids=["d1"],
        vehicle_ids=["v1"],
        include_source_data=False,
    )
    assert location.longitude_latitude == (-122.4194, 37.7749)
    assert query_of(api_calls(requests_mock)[0]) == {
        "only_latest": ["false"],
        "fleet_refs": ["FLEET-42"],
        "connection_id": ["c1"],
        "from_datetime": ["2026-02-19T20:00:00+00:00"],
        "to_datetime": ["2026-02-19T23:00:00+02:00"],
        "driver_ids": ["d1"],
        "vehicle_ids": ["v1"],
        "include_source_data": ["false"],
    }


def test_naive_datetimes_are_refused(client, requests_mock):
    with pytest.raises(ValueError, match="timezone-aware"):
        client.list_vehicle_locations(from_datetime=datetime(2026, 2, 19))
    assert requests_mock.request_history == []


def test_ingestion_checkpoints_per_page(client, requests_mock):
    requests_mock.get(
        LOCATIONS,
        [
            {"json": payloads.page([payloads.vehicle_location(id="l1")], next_page="p2", total=2)},
            {"json": payloads.page([payloads.vehicle_location(id="l2")], total=2)},
        ],
    )
    checkpoints = []
    for page in client.list_vehicle_locations(only_latest=False, fleet_refs=["FLEET-42"], size=1).pages():
        checkpoints.append((page.items[0].id, page.next_page))
    assert checkpoints == [("l1", "p2"), ("l2", None)]
    assert query_of(api_calls(requests_mock)[1])["cursor"] == ["p2"]
    assert query_of(api_calls(requests_mock)[1])["fleet_refs"] == ["FLEET-42"]


TRAILER_STATUSES = f"{API}/v2/telematics/trailer-statuses"


def test_list_telematics_pages_any_list_path_and_keeps_every_field(client, requests_mock):
    first = {**payloads.vehicle_location(id="s1"), "zones": [{"zone": 1}], "door_open": True}
    requests_mock.get(
        TRAILER_STATUSES,
        [
            {"json": payloads.page([first], next_page="p2")},
            {"json": payloads.page([payloads.vehicle_location(id="s2")])},
        ],
    )
    start = datetime(2026, 2, 19, 20, 0, tzinfo=UTC)
    records = client.list_telematics(
        "/v2/telematics/trailer-statuses",
        fleet_ids=["f1"],
        only_latest=False,
        from_datetime=start,
        to_datetime=start + timedelta(days=1),
        trailer_ids=["t1", "t2"],
        size=1,
    ).all()
    assert [r.id for r in records] == ["s1", "s2"]
    row = records[0].model_dump(mode="python", by_alias=True, exclude_unset=True)
    assert row["zones"] == [{"zone": 1}] and row["door_open"] is True and row["location"] == first["location"]
    assert query_of(api_calls(requests_mock)[0]) == {
        "fleet_ids": ["f1"],
        "only_latest": ["false"],
        "from_datetime": ["2026-02-19T20:00:00+00:00"],
        "to_datetime": ["2026-02-20T20:00:00+00:00"],
        "trailer_ids": ["t1", "t2"],
        "size": ["1"],
    }
    assert query_of(api_calls(requests_mock)[1])["cursor"] == ["p2"]


@pytest.mark.parametrize(
    "path",
    [
        "/v2/telematics/",
        "/v2/orgs/fleets",
        "v2/telematics/users",
        "/v2/telematics/users/../../orgs/fleets",
        "/v2/telematics/users?fleet_ids=x",
        "/v2/telematics/users/{user_id}",
        "/v2/telematics//users",
    ],
)
def test_list_telematics_refuses_anything_but_a_telematics_list_path(client, requests_mock, path):
    with pytest.raises(ValueError, match="not a telematics list path"):
        client.list_telematics(path)
    assert requests_mock.request_history == []


def test_list_telematics_sends_a_date_as_the_day(client, requests_mock):
    route = requests_mock.get(f"{API}/v2/telematics/vehicle-region-segments", json=payloads.page([]))
    client.list_telematics(
        "/v2/telematics/vehicle-region-segments", fleet_ids=["f1"], processing_date=date(2026, 3, 1)
    ).all()
    assert route.last_request.qs["processing_date"] == ["2026-03-01"]
