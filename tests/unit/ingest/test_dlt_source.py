"""The dlt fleet source over a real CatenaClient faked at the HTTP boundary, loaded into a real DuckDB file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import duckdb
import pytest

from catena_airflow.ingest.dlt_pipeline import LoadSettings, load_fleet
from catena_airflow.ingest.dlt_source import days, time_windows
from catena_airflow.ingest.telematics_resources import (
    HOS_EVENTS,
    TRAILER_STATUSES,
    USERS,
    VEHICLE_LOCATIONS,
    VEHICLE_REGION_SEGMENTS,
    VEHICLES,
    DayFilter,
    TimeFilter,
)
from tests.unit.airflow_layer import CATENA_URL, iso, paged, query_time

T0 = datetime(2026, 3, 1, tzinfo=UTC)
FLEET = "3f0c6c1e-0000-4000-8000-000000000001"
OTHER_FLEET = "3f0c6c1e-0000-4000-8000-000000000002"
VEHICLES_URL = f"{CATENA_URL}/v2/telematics/vehicles"
USERS_URL = f"{CATENA_URL}/v2/telematics/users"
TRAILER_STATUSES_URL = f"{CATENA_URL}/v2/telematics/trailer-statuses"
HOS_EVENTS_URL = f"{CATENA_URL}/v2/telematics/hos-events"
SEGMENTS_URL = f"{CATENA_URL}/v2/telematics/vehicle-region-segments"
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


@pytest.mark.parametrize(("window", "merged"), [(timedelta(hours=1), True), (timedelta(0), False)])
def test_a_correction_window_reads_again_and_merges_rows_catena_changed_later(
    client, settings, requests_mock, window, merged
):
    until = T0 + timedelta(hours=1)
    items = [{**location(i, T0 + timedelta(minutes=10 * i)), "updated_at": iso(T0)} for i in range(4)]
    route = requests_mock.get(LOCATIONS_URL, json=paged(items, 10, time_filter=True))

    def load(end: datetime) -> dict[str, int]:
        return load_fleet(
            client=client,
            fleet_id=FLEET,
            settings=settings,
            resources=[VEHICLE_LOCATIONS],
            until=end,
            initial_lookback=timedelta(hours=2),
            correction_window=window,
        ).rows

    load(until)
    # Catena corrects the 20-minute point and deletes the 30-minute one after the first load.
    items[2] = {**items[2], "speed": 99.0, "updated_at": iso(until + timedelta(minutes=5))}
    items[3] = {**items[3], "deleted_at": iso(until + timedelta(minutes=5)), "updated_at": iso(until)}
    rows = load(until + timedelta(minutes=10))
    asked_from = query_time(route.last_request.qs, "from_datetime")
    assert asked_from == T0 + timedelta(minutes=30) - window
    stored = dict(table_rows(settings, "SELECT id, speed FROM catena.vehicle_locations"))
    deleted = {
        r[0] for r in table_rows(settings, "SELECT id FROM catena.vehicle_locations WHERE deleted_at IS NOT NULL")
    }
    assert len(stored) == 4  # merged by id, never appended
    if merged:
        assert (stored["l2"], deleted) == (99.0, {"l3"})
        assert rows["vehicle_locations"] == 4  # the window's rows merged again (corrected or not)
    else:
        assert (stored["l2"], deleted) == (12.5, set())
        assert rows.get("vehicle_locations", 0) == 0


def test_rows_of_other_fleets_are_never_loaded(client, settings, requests_mock):
    """A Catena that ignores the fleet_ids filter answers with every fleet's rows."""
    requests_mock.get(VEHICLES_URL, json=paged([vehicle(1, T0), vehicle(2, T0, fleet_id=OTHER_FLEET)], 10))
    foreign = [location(2, T0, fleet_id=OTHER_FLEET), {**location(3, T0), "fleet_id": None}]
    requests_mock.get(LOCATIONS_URL, json=paged([location(1, T0), *foreign], 10, time_filter=True))
    loaded = load_fleet(
        client=client,
        fleet_id=FLEET,
        settings=settings,
        resources=[VEHICLES, VEHICLE_LOCATIONS],
        until=T0 + timedelta(hours=1),
    )
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


def trailer_status(i: int, at: datetime) -> dict:
    return {
        "id": f"ts{i}",
        "fleet_id": FLEET,
        "trailer_id": "t1",
        "occurred_at": iso(at),
        "location": {"type": "Point", "coordinates": [-87.6, 41.8]},
        "zones": [{"zone": 1, "setpoint_temperature": -18.0}, {"zone": 2, "setpoint_temperature": 4.0}],
        "active_alarms": [],
        "door_open": False,
        "pre_trip_status": {"result": "passed"},
        "a_field_catena_added_later": "kept",
    }


def test_a_resource_without_a_typed_method_is_read_by_path_with_every_field_kept(client, settings, requests_mock):
    """list_telematics(path) pages the endpoint; fields the client model does not declare still reach the table."""
    items = [trailer_status(i, T0 + timedelta(minutes=15 * i)) for i in range(3)]
    route = requests_mock.get(TRAILER_STATUSES_URL, json=paged(items, 2, time_filter=True))
    until = T0 + timedelta(hours=1)
    loaded = load_fleet(
        client=client,
        fleet_id=FLEET,
        settings=settings,
        resources=[TRAILER_STATUSES],
        until=until,
        initial_lookback=timedelta(hours=2),
        page_size=2,
    )
    assert loaded.rows == {"trailer_statuses": 3}
    query = route.request_history[0].qs
    assert query["only_latest"] == ["false"] and query["fleet_ids"] == [FLEET] and query["size"] == ["2"]
    assert query_time(query, "from_datetime") == until - timedelta(hours=2)
    assert query_time(query, "to_datetime") == until
    rows = table_rows(
        settings,
        "SELECT id, a_field_catena_added_later, door_open, pre_trip_status__result, zones, location"
        " FROM catena.trailer_statuses ORDER BY id",
    )
    assert [r[:4] for r in rows] == [(f"ts{i}", "kept", False, "passed") for i in range(3)]
    # zones and location are one JSON value each, not child tables.
    assert '"setpoint_temperature"' in rows[0][4] and '"coordinates"' in rows[0][5]
    tables = {t for (t,) in table_rows(settings, "SELECT table_name FROM information_schema.tables")}
    assert not {t for t in tables if t.startswith("trailer_statuses__")}


def test_a_resource_without_a_time_filter_reads_every_page_and_loads_what_changed(client, settings, requests_mock):
    users = [
        {"id": f"u{i}", "fleet_id": FLEET, "updated_at": iso(T0 + timedelta(minutes=i)), "is_driver": i % 2 == 0}
        for i in range(3)
    ]
    route = requests_mock.get(USERS_URL, json=paged(users, 2))
    assert load_fleet(client=client, fleet_id=FLEET, settings=settings, resources=[USERS]).rows == {"users": 3}
    assert not {"from_datetime", "to_datetime"} & set(route.last_request.qs)
    users[0] = {**users[0], "updated_at": iso(T0 + timedelta(hours=1)), "first_name": "Renamed"}
    assert load_fleet(client=client, fleet_id=FLEET, settings=settings, resources=[USERS]).rows == {"users": 1}
    assert table_rows(settings, "SELECT first_name FROM catena.users WHERE id = 'u0'") == [("Renamed",)]


def test_a_page_size_above_the_endpoints_maximum_is_capped(client, settings, requests_mock):
    """hos-events takes at most 500 a page; Catena would answer 422, not a smaller page."""
    route = requests_mock.get(HOS_EVENTS_URL, json=paged([], 10, time_filter=True))
    load_fleet(client=client, fleet_id=FLEET, settings=settings, resources=[HOS_EVENTS], page_size=1000, until=T0)
    assert route.last_request.qs["size"] == ["500"]


def test_days_cover_the_range_one_utc_day_per_call():
    day_filter = DayFilter(param="processing_date")
    asked = [q["processing_date"] for q in days(day_filter, T0.date(), T0 + timedelta(days=2, hours=3))]
    assert asked == [(T0 + timedelta(days=i)).date() for i in range(3)]  # the day until falls in, so far
    assert [q["processing_date"] for q in days(day_filter, T0.date(), T0 + timedelta(days=1))] == [T0.date()]
    assert list(days(day_filter, T0.date(), T0)) == []


def segment(vehicle_id: str, day: datetime, end: datetime) -> dict:
    return {
        "id": f"seg-{vehicle_id}-{day.date()}",
        "fleet_id": FLEET,
        "vehicle_id": vehicle_id,
        "processing_date": day.date().isoformat(),
        "segment_start_time": iso(day),
        "segment_end_time": iso(end),
        "updated_at": iso(end),
    }


def test_region_segments_are_read_day_by_day_and_the_last_day_again(client, settings, requests_mock):
    """processing_date is required and one day; today's segments grow, so the cursor's day is read again."""
    until = T0 + timedelta(days=2, hours=6)
    held = {
        (T0 + timedelta(days=i)).date().isoformat(): [
            segment(v, T0 + timedelta(days=i), min(T0 + timedelta(days=i + 1), until)) for v in ("v1", "v2")
        ]
        for i in range(3)
    }

    def respond(request, context):
        return {"items": held.get(request.qs["processing_date"][0], []), "next_page": None}

    route = requests_mock.get(SEGMENTS_URL, json=respond)
    first = load_fleet(
        client=client,
        fleet_id=FLEET,
        settings=settings,
        resources=[VEHICLE_REGION_SEGMENTS],
        until=until,
        initial_lookback=timedelta(days=2),
    )
    assert [r.qs["processing_date"] for r in route.request_history] == [
        [(T0 + timedelta(days=i)).date().isoformat()] for i in range(3)
    ]
    assert first.rows == {"vehicle_region_segments": 6}

    later = until + timedelta(hours=6)
    today = (T0 + timedelta(days=2)).date().isoformat()
    held[today] = [segment(v, T0 + timedelta(days=2), later) for v in ("v1", "v2")]
    route.reset()
    second = load_fleet(
        client=client, fleet_id=FLEET, settings=settings, resources=[VEHICLE_REGION_SEGMENTS], until=later
    )
    assert [r.qs["processing_date"] for r in route.request_history] == [[today]]
    assert second.rows == {"vehicle_region_segments": 2}
    assert table_rows(settings, "SELECT count(*) FROM catena.vehicle_region_segments") == [(6,)]
    ends = table_rows(settings, "SELECT processing_date, segment_end_time FROM catena.vehicle_region_segments")
    assert {end for (day, end) in ends if str(day) == today} == {later}


def test_a_typed_resource_loads_as_arrow_with_the_models_types_and_json_for_the_rest(client, settings, requests_mock):
    """vehicle_locations has a client model: pages go to DuckDB as Arrow tables (Parquet), not as rows."""
    until = T0 + timedelta(hours=1)
    items = [
        {**location(0, T0), "inferred_address": {"city": "Chicago"}, "a_field_catena_added_later": {"k": [1]}},
        {**location(1, T0 + timedelta(minutes=1)), "speed": 7},
    ]
    requests_mock.get(LOCATIONS_URL, json=paged(items, 1, time_filter=True))
    loaded = load_fleet(
        client=client,
        fleet_id=FLEET,
        settings=settings,
        resources=[VEHICLE_LOCATIONS],
        until=until,
        initial_lookback=timedelta(hours=2),
        page_size=1,
    )
    assert loaded.rows == {"vehicle_locations": 2}
    types = dict(
        table_rows(
            settings,
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'vehicle_locations'",
        )
    )
    assert types["speed"] == "DOUBLE" and types["occurred_at"].startswith("TIMESTAMP")
    assert {types[c] for c in ("location", "inferred_address", "a_field_catena_added_later")} == {"JSON"}
    rows = table_rows(
        settings,
        "SELECT id, speed, inferred_address->>'city', a_field_catena_added_later->'k'->>0"
        " FROM catena.vehicle_locations ORDER BY id",
    )
    assert rows == [("l0", 12.5, "Chicago", "1"), ("l1", 7.0, None, None)]
    pipeline = settings.pipelines_dir / loaded.pipeline_name / "load" / "loaded"
    assert {p.suffix for p in pipeline.rglob("vehicle_locations.*")} == {".parquet", ".sql"}


def test_typed_pages_are_handed_to_dlt_in_tables_of_several_pages(monkeypatch):
    """dlt's cost is per item: pages of 3 rows reach it as tables of at least 5 (the last one: what is left)."""
    from dlt.extract.items import DataItemWithMeta

    from catena_airflow.ingest import dlt_source

    monkeypatch.setattr(dlt_source, "ROWS_PER_TABLE", 5)
    builder = dlt_source._arrow_pages(VEHICLE_LOCATIONS)
    assert builder is not None
    pages = [[{**location(3 * p + i, T0), "occurred_at": T0} for i in range(3)] for p in range(5)]
    pages[3][0]["a_field_catena_added_later"] = {"k": 1}
    items = list(dlt_source._arrow_tables(iter(pages), builder))
    tables = [item.data if isinstance(item, DataItemWithMeta) else item for item in items]
    assert [t.num_rows for t in tables] == [6, 6, 3]
    assert [t.column("id").to_pylist() for t in tables][2] == ["l12", "l13", "l14"]
    # The first table declares its JSON columns; the one bringing a new JSON column declares that one.
    assert [isinstance(item, DataItemWithMeta) for item in items] == [True, True, False]


def test_into_postgresql_typed_and_untyped_resources_keep_their_rows_values_and_counts(
    client, requests_mock, postgres_url, tmp_path
):
    """PostgreSQL loads the Arrow tables as CSV (dlt's choice, COPY): quotes, commas and newlines survive, and the
    row counts the ledger reports are the rows written, child tables included."""
    import psycopg2
    from sqlalchemy.engine import make_url

    url = make_url(postgres_url).set(drivername="postgresql")
    settings = LoadSettings(destination=url.render_as_string(hide_password=False), pipelines_dir=tmp_path / "pipelines")
    awkward = 'comma, "quote"\nnewline'
    until = T0 + timedelta(hours=1)
    requests_mock.get(LOCATIONS_URL, json=paged([{**location(0, T0), "driver_id": awkward}], 10, time_filter=True))
    requests_mock.get(VEHICLES_URL, json=paged([{**vehicle(1, T0), "vehicle_groups": [{"name": awkward}]}], 10))
    statuses = [{**trailer_status(i, T0 + timedelta(minutes=i)), "items": [{"a": 1}, {"a": 2}]} for i in range(3)]
    requests_mock.get(TRAILER_STATUSES_URL, json=paged(statuses, 2, time_filter=True))
    loaded = load_fleet(
        client=client,
        fleet_id=FLEET,
        settings=settings,
        resources=[VEHICLE_LOCATIONS, VEHICLES, TRAILER_STATUSES],
        until=until,
        initial_lookback=timedelta(hours=2),
    )
    assert loaded.rows == {
        "vehicle_locations": 1,
        "vehicles": 1,
        "trailer_statuses": 3,
        "trailer_statuses__items": 6,
    }
    with psycopg2.connect(url.render_as_string(hide_password=False)) as conn, conn.cursor() as cur:
        cur.execute("SELECT driver_id, location->>'type' FROM catena.vehicle_locations")
        assert cur.fetchall() == [(awkward, "Point")]
        cur.execute("SELECT vehicle_groups->0->>'name' FROM catena.vehicles")
        assert cur.fetchall() == [(awkward,)]
        cur.execute("SELECT count(*) FROM catena.trailer_statuses__items")
        assert cur.fetchall() == [(6,)]
