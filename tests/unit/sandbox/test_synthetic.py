from __future__ import annotations

from datetime import UTC, datetime, timedelta

from catena_sandbox.state import Connection
from catena_sandbox.synthetic import LOCATION_INTERVAL, locations, vehicle_count, vehicles

CONNECTED = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def connection(fleet_id: str = "019d0000-0000-7000-8000-0000000000f1") -> Connection:
    return Connection(
        id="019d0000-0000-7000-8000-0000000000c1",
        fleet_id=fleet_id,
        fleet_ref="ACME-1",
        tsp_id="019d0000-0000-7000-8000-0000000000d1",
        source_name="samsara",
        status="active",
        description=None,
        created_at=CONNECTED,
        updated_at=CONNECTED,
    )


def test_same_fleet_same_data() -> None:
    assert vehicles(connection()) == vehicles(connection())
    assert 3 <= vehicle_count("a") <= 8
    other = vehicles(connection("019d0000-0000-7000-8000-0000000000f2"))
    assert {v["id"] for v in other}.isdisjoint({v["id"] for v in vehicles(connection())})


def test_history_window_and_latest_points() -> None:
    end = CONNECTED + timedelta(hours=2)
    history = locations(connection(), start=end - timedelta(hours=1), end=end, only_latest=False, vehicle_ids=None)
    per_vehicle = int(timedelta(hours=1) / LOCATION_INTERVAL)
    assert len(history) == per_vehicle * vehicle_count(connection().fleet_id)
    assert all(end - timedelta(hours=1) <= datetime.fromisoformat(p["occurred_at"]) < end for p in history)
    assert len({p["id"] for p in history}) == len(history)
    latest = locations(connection(), start=end, end=end, only_latest=True, vehicle_ids=None)
    assert len(latest) == vehicle_count(connection().fleet_id)
    one = latest[0]["vehicle_id"]
    assert [
        p["vehicle_id"] for p in locations(connection(), start=end, end=end, only_latest=True, vehicle_ids={one})
    ] == [one]
