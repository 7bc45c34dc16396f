"""The operation's filters: on what a lane shares (cheap, lazy) or on each record (scans the window)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from catena_sandbox.clock import as_utc
from catena_sandbox.telematics.meaning import lane_fields
from catena_sandbox.telematics.records import schema_of
from catena_sandbox.telematics.resources import Resource
from catena_sandbox.telematics.series import Lane
from catena_sandbox.telematics.spec import properties

GENERAL = {"fleet_ids", "fleet_refs", "connection_id", "cursor", "size", "include_source_data", "only_latest"}
WINDOW = {"from_datetime", "to_datetime"}
ORDER = {"sort_by", "sort_order"}


@dataclass
class Filters:
    lane: dict[str, set[str]] = field(default_factory=dict)  # field -> wanted values, constant per lane
    row: dict[str, set[Any]] = field(default_factory=dict)  # field -> wanted values, per row
    active_from: datetime | None = None  # hos-events: ended_at >= active_from
    active_to: datetime | None = None  # hos-events: started_at < active_to

    @property
    def per_row(self) -> bool:
        return bool(self.row) or self.active_from is not None or self.active_to is not None


def _field_of(resource: Resource, parameter: str) -> str:
    """``vehicle_ids`` -> ``vehicle_id``; on the vehicles list itself the record's own ``id``."""
    single = parameter.removesuffix("s")
    if single in properties(schema_of(resource.path)):
        return single
    return "id"


def filters_of(resource: Resource, params: Mapping[str, Any]) -> Filters:
    filters = Filters()
    for name, value in params.items():
        if value is None or name in GENERAL | WINDOW | ORDER:
            continue
        if name == "active_from_datetime":
            filters.active_from = as_utc(value)
        elif name == "active_to_datetime":
            filters.active_to = as_utc(value)
        elif name == "is_driver":
            filters.lane["is_driver"] = {value}
        elif name == "event_type_codes":
            filters.row["event_type_code"] = {str(v) for v in value}
        elif name.endswith("_ids"):
            target = _field_of(resource, name)
            wanted = {str(v) for v in value}
            if target in ("id", "source_id", "dvir_log_id") and resource.kind == "series":
                filters.row[target] = wanted
            elif target in ("id", "source_id"):
                filters.lane["thing_" + target] = wanted
            else:
                filters.lane[target] = wanted
    return filters


def lane_matches(resource: Resource, lane: Lane, wanted: Mapping[str, set[Any]]) -> bool:
    if not wanted:
        return True
    values = lane_fields(resource, lane.connection, lane.thing, lane.slot)
    values["thing_id"], values["thing_source_id"] = lane.thing.id, lane.thing.source_id
    for key, accepted in wanted.items():
        value = values.get(key)
        if isinstance(value, list):
            if not accepted.intersection(value):
                return False
        elif value not in accepted:
            return False
    return True


def row_matches(record: Mapping[str, Any], filters: Filters) -> bool:
    for key, accepted in filters.row.items():
        if record.get(key) not in accepted:
            return False
    if filters.active_from is not None:
        ended = record.get("ended_at")
        if ended is None or datetime.fromisoformat(ended) < filters.active_from:
            return False
    if filters.active_to is not None:
        started = record.get("started_at")
        if started is None or datetime.fromisoformat(started) >= filters.active_to:
            return False
    return True
