"""Deterministic synthetic telematics: the same fleet always has the same vehicles and the same track."""

from __future__ import annotations

import hashlib
import math
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from catena_sandbox.catalogue import NAMESPACE
from catena_sandbox.clock import iso
from catena_sandbox.state import Connection

LOCATION_INTERVAL = timedelta(minutes=15)
HISTORY = timedelta(days=7)  # the TSP already held a week of data when the fleet connected
OEMS = (("Freightliner", "Cascadia"), ("Volvo", "VNL 860"), ("Kenworth", "T680"), ("Peterbilt", "579"))
CITIES = (("Dallas", "TX", 32.78, -96.80), ("Chicago", "IL", 41.88, -87.63), ("Denver", "CO", 39.74, -104.99))


def _seed(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()[:8], "big")


def _uuid(*parts: object) -> str:
    return str(uuid.uuid5(NAMESPACE, ":".join(str(p) for p in parts)))


def vehicle_count(fleet_id: str) -> int:
    return 3 + _seed(fleet_id, "vehicles") % 6


def _common(connection: Connection, record_id: str, source_id: str, occurred: datetime) -> dict[str, Any]:
    return {
        "fleet_id": connection.fleet_id,
        "fleet_ref": connection.fleet_ref,
        "id": record_id,
        "created_at": iso(occurred),
        "updated_at": iso(occurred),
        "deleted_at": None,
        "connection_id": connection.id,
        "tsp_id": connection.tsp_id,
        "tsp_slug": connection.source_name,
        "source_name": connection.source_name,
        "source_data": {},
        "source_id": source_id,
        "source_data_hash": hashlib.sha256(f"{record_id}:{source_id}".encode()).hexdigest(),
        "occurred_at": iso(occurred),
        "execution_id": None,
        "schedule_id": None,
        "extras": None,
    }


def vehicles(connection: Connection) -> list[dict[str, Any]]:
    rows = []
    for index in range(vehicle_count(connection.fleet_id)):
        seed = _seed(connection.fleet_id, "vehicle", index)
        oem, model = OEMS[seed % len(OEMS)]
        row = _common(
            connection, vehicle_id(connection.fleet_id, index), f"veh-{seed % 10**8:08d}", connection.created_at
        )
        row.update(
            vehicle_name=f"Truck {index + 1:03d}",
            oem=oem,
            model_type=model,
            model_year=2018 + seed % 7,
            vin=f"1SBX{seed % 10**13:013d}",
            engine_vin=None,
            license_plate_region="TX",
            license_plate_country="USA",
            license_plate_number=f"SBX{seed % 10000:04d}",
            started_at=iso(connection.created_at),
            ended_at=None,
            is_active=True,
            status="IN_SERVICE",
            notes=None,
            eld_id=f"eld-{seed % 10**6:06d}",
            eld_serial_number=None,
            eld_device_type=None,
            eld_product_id=None,
            total_axles=3,
            vehicle_groups={},
            external_id=None,
            speed_unit="m/s",
            odometer_unit="m",
            fuel_unit="m3",
            fuel_capacity=None,
            engine_type="diesel",
        )
        rows.append(row)
    return rows


def vehicle_id(fleet_id: str, index: int) -> str:
    return _uuid(fleet_id, "vehicle", index)


def _grid_floor(moment: datetime) -> datetime:
    step = int(LOCATION_INTERVAL.total_seconds())
    return datetime.fromtimestamp(int(moment.timestamp()) // step * step, UTC)


def location(connection: Connection, index: int, occurred: datetime) -> dict[str, Any]:
    fleet_seed = _seed(connection.fleet_id, "base")
    city, province, lat0, lon0 = CITIES[fleet_seed % len(CITIES)]
    tick = occurred.timestamp() / LOCATION_INTERVAL.total_seconds()
    lat = lat0 + 0.2 * math.sin(tick / 20 + index)
    lon = lon0 + 0.2 * math.cos(tick / 20 + index)
    vid = vehicle_id(connection.fleet_id, index)
    row = _common(connection, _uuid(vid, "loc", int(occurred.timestamp())), f"loc-{vid[:8]}-{int(tick)}", occurred)
    row.update(
        vehicle_id=vid,
        driver_id=None,
        co_driver_id=None,
        source_driver_id=None,
        source_vehicle_id=f"veh-{index}",
        source_co_driver_id=None,
        location={"type": "Point", "coordinates": [round(lon, 6), round(lat, 6)], "bbox": None},
        h3_index_11=None,
        speed=round(20 + 5 * math.sin(tick + index), 2),
        odometer=float(1_000_000 + int(tick) * 1500 + index * 10_000),
        fuel_level=round(50 + 40 * math.cos(tick / 50 + index), 1),
        fuel_value=None,
        engine_hours=round(tick / 4, 2),
        oil_pressure=None,
        coolant_temperature=None,
        inferred_address={"city": city, "province": province, "country_code": "USA"},
        speed_unit="m/s",
        odometer_unit="m",
        fuel_value_unit="m3",
        oil_pressure_unit="Pa",
        coolant_temperature_unit="K",
    )
    return row


def locations(
    connection: Connection, *, start: datetime, end: datetime, only_latest: bool, vehicle_ids: set[str] | None
) -> list[dict[str, Any]]:
    """Points every 15 minutes (from a week before the connection) in ``[start, end)``, or the latest per vehicle."""
    first = max(_grid_floor(connection.created_at - HISTORY), _grid_floor(start))
    indexes = [
        i
        for i in range(vehicle_count(connection.fleet_id))
        if vehicle_ids is None or vehicle_id(connection.fleet_id, i) in vehicle_ids
    ]
    if only_latest:
        latest = max(_grid_floor(end - timedelta(microseconds=1)), _grid_floor(connection.created_at))
        return [location(connection, i, latest) for i in indexes]
    rows = []
    moment = first if first >= start else first + LOCATION_INTERVAL
    while moment < end:
        rows.extend(location(connection, i, moment) for i in indexes)
        moment += LOCATION_INTERVAL
    return rows
