"""The dlt fleet source over a real CatenaClient faked at the HTTP boundary, loaded into a real DuckDB file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import duckdb
import pytest

from catena_airflow.ingest.dlt_pipeline import LoadSettings, load_fleet
from catena_airflow.ingest.dlt_source import time_windows
from catena_airflow.ingest.telematics_resources import VEHICLE_LOCATIONS, VEHICLES, TimeFilter
from tests.unit.airflow_layer import CATENA_URL, iso, paged, query_time

T0 = datetime(2026, 3, 1, tzinfo=UTC)
FLEET = "3f0c6c1e-0000-4000-8000-000000000001"
OTHER_FLEET = "3f0c6c1e-0000-4000-8000-000000000002"
VEHICLES_URL = f"{CATENA_URL}/v2/telematics/vehicles"
LOCATIONS_URL = f"{CATENA_URL}/v2/telematics/vehicle-locations"


def vehicle(i: int, updated: datetime, fleet_id: str = FLEET) -> dict:
    return {"id": f"v{i}", "fleet_id": fleet_id, "vehicle_name": f"Truck {i}", "updated_at": iso(updated)}


def location(i: int, at: datetime, fleet_id: str = FLEET) -> dict:
    return {
        "id": f"l{i}",
        "fleet_id": fleet_id,
        "vehicle_id": "v1",
        "occurred_at": iso(at),
        "location": {"type": "Point", "coordinates": [-87.6, 41.8]},
        "speed": 12.5,
    }


@pytest.fixture
def settings(tmp_path) -> LoadSettings:
    return LoadSettings(destination=f"duckdb:///{tmp_path / 'data.duckdb'}", pipelines_dir=tmp_path / "pipelines")


def table_rows(settings: LoadSettings, sql: str) -> list[tuple]:
    path = settings.destination.removeprefix("duckdb:///")
    with duckdb.connect(path, read_only=True) as conn:
        return conn.execute(sql).fetchall()


def test_time_windows_cover_the_range_in_windows_catena_accepts():
    time_filter = TimeFilter(from_param="from_datetime", to_param="to_datetime")
    windows = list(time_windows(time_filter, T0, T0 + timedelta(days=100)))
    assert [w["to_datetime"] - w["from_datetime"] for w in windows] == [
        timedelta(days=45),
        timedelta(days=45),
        timedelta(days=10),
    ]
    assert windows[0]["from_datetime"] == T0 and windows[-1]["to_datetime"] == T0 + timedelta(days=100)
    assert all(a["to_datetime"] == b["from_datetime"] for a, b in pairwise(windows))
    assert list(time_windows(time_filter, T0, T0)) == []


def test_vehicles_first_load_then_only_the_changed_one(client, settings, requests_mock):
    items = [vehicle(i, T0 + timedelta(minutes=i)) for i in range(5)]
    route = requests_mock.get(VEHICLES_URL, json=paged(items, 2))
    first = load_fleet(client=client, fleet_id=FLEET, settings=settings, resources=[VEHICLES], page_size=2)
    assert first.rows == {"vehicles": 5}
    assert route.last_request.qs["fleet_ids"] == [FLEET]
    assert "updated_at" not in {k.lower() for k in route.last_request.qs}  # the spec defines no such filter

    items[1] = {**vehicle(1, T0 + timedelta(hours=1)), "vehicle_name": "Renamed"}
    second = load_fleet(client=client, fleet_id=FLEET, settings=settings, resources=[VEHICLES], page_size=2)
    assert second.rows == {"vehicles": 1}
    assert table_rows(settings, "SELECT id, vehicle_name FROM catena.vehicles ORDER BY id")[1] == ("v1", "Renamed")
    assert table_rows(settings, "SELECT count(*) FROM catena.vehicles") == [(5,)]


def test_locations_ask_from_the_stored_cursor_and_load_only_new_rows(client, settings, requests_mock):
    until = T0 + timedelta(hours=2)
    items = [location(i, T0 + timedelta(minutes=10 * i)) for i in range(4)]
    route = requests_mock.get(LOCATIONS_URL, json=paged(items, 3, time_filter=True))
    first = load_fleet(
        client=client,
        fleet_id=FLEET,
        settings=settings,
        resources=[VEHICLE_LOCATIONS],
        until=until,
        initial_lookback=timedelta(hours=3),
        page_size=3,
    )
    assert first.rows["vehicle_locations"] == 4
    query = route.request_history[0].qs
    assert query["only_latest"] == ["false"] and query["fleet_ids"] == [FLEET]
    assert query_time(query, "from_datetime") == until - timedelta(hours=3)
    assert query_time(query, "to_datetime") == until

    items.append(location(4, T0 + timedelta(hours=2, minutes=5)))
    second = load_fleet(
        client=client,
        fleet_id=FLEET,
        settings=settings,
        resources=[VEHICLE_LOCATIONS],
        until=until + timedelta(hours=1),
        page_size=3,
    )
    # From the newest occurred_at loaded (inclusive, as Catena filters): that row is not loaded again.
    assert query_time(route.last_request.qs, "from_datetime") == T0 + timedelta(minutes=30)
    assert second.rows["vehicle_locations"] == 1
    assert table_rows(settings, "SELECT count(*) FROM catena.vehicle_locations") == [(5,)]


def test_rows_of_other_fleets_are_never_loaded(client, settings, requests_mock):
    """A Catena that ignores the fleet_ids filter answers with every fleet's rows."""
    requests_mock.get(VEHICLES_URL, json=paged([vehicle(1, T0), vehicle(2, T0, fleet_id=OTHER_FLEET)], 10))
    foreign = [location(2, T0, fleet_id=OTHER_FLEET), {**location(3, T0), "fleet_id": None}]
    requests_mock.get(LOCATIONS_URL, json=paged([location(1, T0), *foreign], 10, time_filter=True))
    loaded = load_fleet(client=client, fleet_id=FLEET, settings=settings, until=T0 + timedelta(hours=1))
    assert loaded.rows["vehicles"] == 1 and loaded.rows["vehicle_locations"] == 1
    assert table_rows(settings, "SELECT DISTINCT fleet_id FROM catena.vehicles") == [(FLEET,)]
    assert table_rows(settings, "SELECT DISTINCT fleet_id FROM catena.vehicle_locations") == [(FLEET,)]


def test_state_lives_in_the_configured_pipelines_dir(client, settings, requests_mock):
    requests_mock.get(VEHICLES_URL, json=paged([vehicle(1, T0)], 10))
    loaded = load_fleet(client=client, fleet_id=FLEET, settings=settings, resources=[VEHICLES])
    assert loaded.pipeline_name == "catena_fleet_" + FLEET.replace("-", "_")
    assert (settings.pipelines_dir / loaded.pipeline_name / "state.json").is_file()


def test_a_long_first_window_is_asked_in_windows_catena_accepts(client, settings, requests_mock):
    route = requests_mock.get(LOCATIONS_URL, json=paged([location(1, T0)], 10, time_filter=True))
    until = T0 + timedelta(days=50)
    loaded = load_fleet(
        client=client,
        fleet_id=FLEET,
        settings=settings,
        resources=[VEHICLE_LOCATIONS],
        until=until,
        initial_lookback=timedelta(days=60),
    )
    windows = [(query_time(r.qs, "from_datetime"), query_time(r.qs, "to_datetime")) for r in route.request_history]
    assert windows == [(until - timedelta(days=60), until - timedelta(days=15)), (until - timedelta(days=15), until)]
    assert loaded.rows["vehicle_locations"] == 1


def test_a_vehicle_without_updated_at_is_loaded_not_refused(client, settings, requests_mock):
    requests_mock.get(VEHICLES_URL, json=paged([vehicle(1, T0), {"id": "v2", "fleet_id": FLEET}], 10))
    loaded = load_fleet(client=client, fleet_id=FLEET, settings=settings, resources=[VEHICLES])
    assert loaded.rows == {"vehicles": 2}
