"""Records as Catena's schemas shape them: the spec filler's values, with the fields that mean something
(ids, times, places, the things a record links) set from the fleet's world.

Only properties of the record's schema are ever emitted: every meaningful value is dropped unless the schema
has a property of that name.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache, cached_property, lru_cache
from typing import Any

from catena_sandbox.clock import iso
from catena_sandbox.state import Connection
from catena_sandbox.telematics import ids
from catena_sandbox.telematics.changes import State, entity_state, row_state
from catena_sandbox.telematics.edits import Edit, apply
from catena_sandbox.telematics.resources import BY_NAME, Resource
from catena_sandbox.telematics.series import tick_time
from catena_sandbox.telematics.spec import operations, properties
from catena_sandbox.telematics.values import Filler, mix
from catena_sandbox.telematics.world import OEMS, TRAILER_OEMS, Thing, city, fleet_of


@dataclass(frozen=True)
class Row:
    """Where a record comes from: a thing of a connection, and for series rows a lane slot and a tick."""

    resource: Resource
    connection: Connection
    thing: Thing
    slot: int = 0
    tick: int | None = None

    @cached_property
    def id(self) -> str:
        if self.tick is None:
            return self.thing.id
        lane = self.thing.index << 4 | self.slot
        return ids.row_id(self.resource.name, self.connection.id, lane, self.tick)

    @cached_property
    def key(self) -> int:
        """A 64-bit number derived from the id: the seed of the record's changes and generic values."""
        value = int(self.id.replace("-", ""), 16)
        return mix(value ^ (value >> 64))


@cache
def schema_of(resource_path: str) -> str:
    return operations()[resource_path].item_schema


@cache
def _filler(schema: str, skip: frozenset[str]) -> Filler:
    return Filler(schema, skip=skip)


def _hash(*parts: object) -> str:
    return hashlib.sha256(":".join(str(p) for p in parts).encode()).hexdigest()


def _point(connection: Connection, thing: Thing, at: datetime) -> tuple[float, float]:
    _, _, lat0, lon0 = city(connection.fleet_id)
    turn = at.timestamp() / 900 / 20 + thing.index
    return round(lon0 + 0.2 * math.cos(turn), 6), round(lat0 + 0.2 * math.sin(turn), 6)


def _place(connection: Connection, thing: Thing, at: datetime) -> dict[str, Any]:
    town, province, _, _ = city(connection.fleet_id)
    lon, lat = _point(connection, thing, at)
    return {
        "location": {"type": "Point", "coordinates": [lon, lat], "bbox": None},
        "inferred_address": {"city": town, "province": province, "country_code": "USA"},
        "h3_index_11": None,
    }


def _links(connection: Connection, thing: Thing) -> dict[str, Any]:
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


def _telemetry(thing: Thing, at: datetime) -> dict[str, Any]:
    tick = at.timestamp() / 900
    return {
        "speed": round(20 + 5 * math.sin(tick + thing.index), 2),
        "odometer": float(1_000_000 + int(tick) * 1500 + thing.index * 10_000),
        "fuel_level": round(50 + 40 * math.cos(tick / 50 + thing.index), 1),
        "engine_hours": round(tick / 4, 2),
    }


def _entity_fields(connection: Connection, thing: Thing, state: State) -> dict[str, Any]:
    value = thing.seed
    fields: dict[str, Any] = {
        "started_at": iso(connection.created_at),
        "ended_at": iso(state.deleted_at),
        "is_active": state.deleted_at is None,
        "status": "IN_SERVICE" if state.deleted_at is None else "RETIRED",
        "external_id": None,
    }
    if thing.kind == "vehicle":
        maker, kind = OEMS[value % len(OEMS)]
        fields.update(
            vehicle_name=thing.name,
            oem=maker,
            model_type=kind,
            model_year=2018 + value % 7,
            vin=f"1SBX{value % 10**13:013d}",
            license_plate_region="TX",
            license_plate_country="USA",
            license_plate_number=f"SBX{value % 10000:04d}",
            eld_id=f"eld-{value % 10**6:06d}",
            total_axles=3,
            engine_type="DIESEL",
        )
    elif thing.kind == "trailer":
        maker, kind = TRAILER_OEMS[value % len(TRAILER_OEMS)]
        fields.update(
            trailer_name=thing.name,
            oem=maker,
            model_type=kind,
            model_year=2015 + value % 10,
            vin=f"1UYV{value % 10**13:013d}",
            license_plate_number=f"TRL{value % 10000:04d}",
        )
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
    fields = _links(connection, thing)
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


def _connection_fields(connection: Connection) -> dict[str, Any]:
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


_LANE_BASES: dict[tuple[Any, ...], tuple[tuple[str, Any], ...]] = {}
LANE_CACHE_LIMIT = 65_536


def _lane_base(row: Row) -> dict[str, Any]:
    """What every row of a series lane shares, limited to the schema's properties (computed once a lane)."""
    connection, thing = row.connection, row.thing
    key = (row.resource.path, connection.id, connection.fleet_ref, thing.kind, thing.index, row.slot)
    base = _LANE_BASES.get(key)
    if base is None:
        if len(_LANE_BASES) >= LANE_CACHE_LIMIT:
            _LANE_BASES.clear()
        fields = properties(schema_of(row.resource.path))
        merged = {**lane_fields(row.resource, connection, thing, row.slot), **_connection_fields(connection)}
        base = _LANE_BASES[key] = tuple((name, value) for name, value in merged.items() if name in fields)
    return dict(base)


def _series_record(row: Row, now: datetime, speed: float) -> tuple[dict[str, Any], datetime, State]:
    resource, connection, thing = row.resource, row.connection, row.thing
    at = tick_time(int(row.tick or 0), resource.interval)
    state = row_state(row.key, at, now, speed)
    fields = _lane_base(row)
    fields.update(_place(connection, thing, at))
    name = resource.name
    if name in ("vehicle-locations", "engine-statuses", "engine-logs", "fuel-transactions"):
        fields.update(_telemetry(thing, at))
    elif name == "hos-events":
        fields.update(started_at=iso(at), ended_at=iso(at + timedelta(seconds=resource.interval)))
    elif name == "ifta-summaries":
        fields.update(month=at.month, year=at.year)
    elif name == "dvir-logs/defects":
        parent = Row(BY_NAME["dvir-logs"], connection, thing, 0, row.tick)
        fields.update(dvir_log_id=parent.id, source_dvir_log_id=f"dvir-{thing.source_id}-{row.tick}")
    elif name == "hos-events/attachments":
        fields["hos_event_id"] = Row(BY_NAME["hos-events"], connection, thing, 0, row.tick).id
    return fields, at, state


def _entity_record(row: Row, now: datetime, speed: float) -> tuple[dict[str, Any], datetime, State]:
    connection, thing = row.connection, row.thing
    created = connection.created_at
    state = entity_state(thing.seed, created, thing.deleted_at(created, speed), now, speed)
    if row.resource.name == "hos-availabilities":
        fields = {**_links(connection, thing), "notes": None}
        at = state.updated_at
    else:
        fields = {**_entity_fields(connection, thing, state), **lane_fields(row.resource, connection, thing, 0)}
        at = created
    fields.update(_connection_fields(connection))
    return fields, at, state


def render(
    row: Row, *, now: datetime, speed: float, include_source_data: bool, edits: Mapping[str, Edit] | None = None
) -> dict[str, Any]:
    """The record of ``row`` as Catena shows it at ``now`` (with the admin ``edits`` made so far)."""
    fields, at, state = (_series_record if row.tick is not None else _entity_record)(row, now, speed)
    if edits:
        state = apply(state, edits.get(row.id))
    created = at if row.tick is not None else row.connection.created_at
    stamp, record_id = iso(at), row.id
    source_id = f"{row.thing.source_id}-{row.resource.name.replace('/', '-')}-{row.slot}-{row.tick or 0}"
    fields.update(
        id=record_id,
        created_at=stamp if created == at else iso(created),
        updated_at=stamp if state.updated_at == at else iso(state.updated_at),
        deleted_at=iso(state.deleted_at),
        source_data={"sandbox": True, "source_id": source_id, "revision": state.revision}
        if include_source_data
        else {},
        source_id=source_id,
        source_data_hash=_hash(record_id, state.revision),
        occurred_at=stamp,
    )
    schema = schema_of(row.resource.path)
    names = properties(schema)
    fixed = {key: value for key, value in fields.items() if key in names}
    record = _filler(schema, frozenset(fixed))(row.key + state.revision, at)
    record.update(fixed)
    return record
