"""What the fields of a record mean: the things it links, where and when it happened, what it measured.

These are the values that follow from the fleet's world (world.py) rather than from the schema's types;
records.py keeps those the record's schema has and fills the rest.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from catena_sandbox.clock import iso
from catena_sandbox.state import Connection
from catena_sandbox.telematics import ids
from catena_sandbox.telematics.changes import State
from catena_sandbox.telematics.resources import Resource
from catena_sandbox.telematics.world import OEMS, TRAILER_OEMS, Thing, city, fleet_of


def _point(connection: Connection, thing: Thing, at: datetime) -> tuple[float, float]:
    _, _, lat0, lon0 = city(connection.fleet_id)
    turn = at.timestamp() / 900 / 20 + thing.index
    return round(lon0 + 0.2 * math.cos(turn), 6), round(lat0 + 0.2 * math.sin(turn), 6)


def place(connection: Connection, thing: Thing, at: datetime) -> dict[str, Any]:
    town, province, _, _ = city(connection.fleet_id)
    lon, lat = _point(connection, thing, at)
    return {
        "location": {"type": "Point", "coordinates": [lon, lat], "bbox": None},
        "inferred_address": {"city": town, "province": province, "country_code": "USA"},
        "h3_index_11": None,
    }


def links(connection: Connection, thing: Thing) -> dict[str, Any]:
    return dict(_links_of(connection.fleet_id, thing.kind, thing.index))


@lru_cache(maxsize=65_536)
def _links_of(fleet_id: str, kind: str, index: int) -> tuple[tuple[str, Any], ...]:
    """The ids of the thing a record is about and of the things it works with."""
    fleet = fleet_of(fleet_id)
    thing = fleet.of(kind)[index]
    key = {"vehicle": "vehicle_id", "driver": "driver_id", "trailer": "trailer_id", "office": "user_id"}[thing.kind]
    links: dict[str, Any] = {key: thing.id, f"source_{key}": thing.source_id}
    for other_key, other_id in thing.partner.items():
        links[other_key] = other_id
        other = next(
            (t for group in (fleet.vehicles, fleet.users, fleet.trailers) for t in group if t.id == other_id), None
        )
        links[f"source_{other_key}"] = other.source_id if other else None
    links.setdefault("co_driver_id", None)
    links.setdefault("source_co_driver_id", None)
    return tuple(links.items())


def telemetry(thing: Thing, at: datetime) -> dict[str, Any]:
    tick = at.timestamp() / 900
    return {
        "speed": round(20 + 5 * math.sin(tick + thing.index), 2),
        "odometer": float(1_000_000 + int(tick) * 1500 + thing.index * 10_000),
        "fuel_level": round(50 + 40 * math.cos(tick / 50 + thing.index), 1),
        "engine_hours": round(tick / 4, 2),
    }


# kind -> (makes and models, first model year, VIN prefix, plate prefix)
ASSETS = {"vehicle": (OEMS, 2018, "1SBX", "SBX"), "trailer": (TRAILER_OEMS, 2015, "1UYV", "TRL")}


def _asset_fields(thing: Thing) -> dict[str, Any]:
    makes, first_year, vin, plate = ASSETS[thing.kind]
    maker, model = makes[thing.seed % len(makes)]
    return {
        f"{thing.kind}_name": thing.name,
        "oem": maker,
        "model_type": model,
        "model_year": first_year + thing.seed % 7,
        "vin": f"{vin}{thing.seed % 10**13:013d}",
        "license_plate_region": "TX",
        "license_plate_country": "USA",
        "license_plate_number": f"{plate}{thing.seed % 10000:04d}",
    }


def entity_fields(connection: Connection, thing: Thing, state: State) -> dict[str, Any]:
    value = thing.seed
    fields: dict[str, Any] = {
        "started_at": iso(connection.created_at),
        "ended_at": iso(state.deleted_at),
        "is_active": state.deleted_at is None,
        "status": "IN_SERVICE" if state.deleted_at is None else "RETIRED",
        "external_id": None,
    }
    if thing.kind in ("vehicle", "trailer"):
        fields.update(_asset_fields(thing))
        if thing.kind == "vehicle":
            fields.update(eld_id=f"eld-{value % 10**6:06d}", total_axles=3, engine_type="DIESEL")
    else:
        first, _, last = thing.name.partition(" ")
        driver = thing.kind == "driver"
        fields.update(
            username=f"{first.lower()}.{last.lower()}{thing.index}",
            first_name=first,
            last_name=last,
            is_driver=driver,
            user_designation="driver" if driver else "dispatcher",
            user_email=f"{first.lower()}.{last.lower()}{thing.index}@fleet-{connection.fleet_id[:8]}.example.com",
            employee_number=f"E{value % 10**5:05d}",
            license_number=f"D{value % 10**8:08d}" if driver else None,
            license_region="TX" if driver else None,
            license_country="USA" if driver else None,
        )
        if not driver:
            fields["status"] = "ACTIVE" if state.deleted_at is None else "INACTIVE"
    return fields


def lane_fields(resource: Resource, connection: Connection, thing: Thing, slot: int) -> dict[str, Any]:
    """Fields that every row of one lane shares: the ids of the things it links (the filters' targets)."""
    fields = links(connection, thing)
    name = resource.name
    if name == "messages":
        fleet = fleet_of(connection.fleet_id)
        dispatcher = fleet.office[thing.index % len(fleet.office)]
        sender, recipient = (dispatcher, thing) if slot == 0 else (thing, dispatcher)
        fields.update(
            sender_id=sender.id,
            recipient_id=recipient.id,
            source_sender_id=sender.source_id,
            source_recipient_id=recipient.source_id,
            sender_name=sender.name,
            recipient_name=recipient.name,
            sent_by_driver=slot == 1,
            message_text="Load picked up" if slot else "Please confirm pickup",
        )
    elif name == "group-messages":
        fleet = fleet_of(connection.fleet_id)
        fields.update(
            sender_id=thing.id,
            source_sender_id=thing.source_id,
            sender_name=thing.name,
            recipient_ids=[d.id for d in fleet.drivers],
            source_recipient_ids=[d.source_id for d in fleet.drivers],
            sent_by_driver=False,
            group_id=group_id(connection),
            source_group_id=f"grp-{connection.fleet_id[:8]}",
        )
    elif name == "driver-vehicle-associations":
        fields["is_primary_driver"] = True
    elif name == "trailer-vehicle-associations":
        fields["trailer_sequence"] = 1
    elif name == "users":
        fields["is_driver"] = thing.kind == "driver"
    return fields


def group_id(connection: Connection) -> str:
    return ids.row_id("group", connection.id, 0, 0)


def connection_fields(connection: Connection) -> dict[str, Any]:
    return {
        "fleet_id": connection.fleet_id,
        "fleet_ref": connection.fleet_ref,
        "connection_id": connection.id,
        "tsp_id": connection.tsp_id,
        "tsp_slug": connection.source_name,
        "source_name": connection.source_name,
        "execution_id": None,
        "schedule_id": None,
    }


def region_segment(connection: Connection, thing: Thing, day: datetime, until: datetime) -> dict[str, Any]:
    """A vehicle's day in its fleet's region: its minutes of locations from midnight to midnight or ``until``."""
    _, province, _, _ = city(connection.fleet_id)
    end = min(day + timedelta(days=1), until.replace(second=0, microsecond=0) + timedelta(minutes=1))
    end -= timedelta(minutes=1)  # the last sample's minute
    odometer_start, odometer_end = telemetry(thing, day)["odometer"], telemetry(thing, end)["odometer"]
    return {
        "processing_date": day.date().isoformat(),
        "segment_start_time": iso(day),
        "segment_end_time": iso(end),
        "location_count": int((end - day).total_seconds() // 60) + 1,
        "country_code": "USA",
        "region": f"US-{province}",
        "odometer_start": odometer_start,
        "odometer_end": odometer_end,
        "distance": odometer_end - odometer_start,
    }
