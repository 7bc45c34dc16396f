"""Records as Catena's schemas shape them: the spec filler's values, with the fields that mean something
(ids, times, places, the things a record links) set from the fleet's world.

Only properties of the record's schema are ever emitted: every meaningful value is dropped unless the schema
has a property of that name.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import cache, cached_property
from typing import Any

from catena_sandbox.clock import iso
from catena_sandbox.state import Connection
from catena_sandbox.telematics import ids
from catena_sandbox.telematics.changes import State, entity_state, row_state
from catena_sandbox.telematics.edits import Edit, apply
from catena_sandbox.telematics.meaning import (
    connection_fields,
    entity_fields,
    lane_fields,
    links,
    place,
    region_segment,
    telemetry,
)
from catena_sandbox.telematics.resources import BY_NAME, Resource
from catena_sandbox.telematics.series import tick_time
from catena_sandbox.telematics.spec import operations, properties
from catena_sandbox.telematics.values import Filler, mix
from catena_sandbox.telematics.world import Thing


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
        merged = {**lane_fields(row.resource, connection, thing, row.slot), **connection_fields(connection)}
        base = _LANE_BASES[key] = tuple((name, value) for name, value in merged.items() if name in fields)
    return dict(base)


def _series_record(row: Row, now: datetime, speed: float) -> tuple[dict[str, Any], datetime, State]:
    resource, connection, thing = row.resource, row.connection, row.thing
    at = tick_time(int(row.tick or 0), resource.interval)
    state = row_state(row.key, at, now, speed)
    fields = _lane_base(row)
    fields.update(place(connection, thing, at))
    name = resource.name
    if name in ("vehicle-locations", "engine-statuses", "engine-logs", "fuel-transactions"):
        fields.update(telemetry(thing, at))
    elif name == "hos-events":
        fields.update(started_at=iso(at), ended_at=iso(at + timedelta(seconds=resource.interval)))
    elif name == "ifta-summaries":
        fields.update(month=at.month, year=at.year)
    elif name == "dvir-logs/defects":
        parent = Row(BY_NAME["dvir-logs"], connection, thing, 0, row.tick)
        fields.update(dvir_log_id=parent.id, source_dvir_log_id=f"dvir-{thing.source_id}-{row.tick}")
    elif name == "hos-events/attachments":
        fields["hos_event_id"] = Row(BY_NAME["hos-events"], connection, thing, 0, row.tick).id
    elif name == "vehicle-region-segments":
        deleted = thing.deleted_at(connection.created_at, speed)
        segment = region_segment(connection, thing, at, min(now, deleted) if deleted else now)
        fields.update(segment)
        end = datetime.fromisoformat(segment["segment_end_time"])
        state = replace(state, updated_at=max(state.updated_at, end))  # today's segment grows until midnight
    return fields, at, state


def _entity_record(row: Row, now: datetime, speed: float) -> tuple[dict[str, Any], datetime, State]:
    connection, thing = row.connection, row.thing
    created = connection.created_at
    state = entity_state(thing.seed, created, thing.deleted_at(created, speed), now, speed)
    if row.resource.name == "hos-availabilities":
        fields = {**links(connection, thing), "notes": None}
        at = state.updated_at
    else:
        fields = {**entity_fields(connection, thing, state), **lane_fields(row.resource, connection, thing, 0)}
        at = created
    fields.update(connection_fields(connection))
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
    source_id = (  # the TSP's id: of the thing itself for an entity, of the event for a series row
        row.thing.source_id
        if row.tick is None
        else f"{row.thing.source_id}-{row.resource.name.replace('/', '-')}-{row.slot}-{row.tick}"
    )
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
