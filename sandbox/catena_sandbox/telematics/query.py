"""Answering a telematics list request: visible connections, the time window, filters, order and one page."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from catena_sandbox.clock import as_utc
from catena_sandbox.errors import CatenaError
from catena_sandbox.pagination import check_size, decode_cursor, envelope
from catena_sandbox.state import Connection, Store
from catena_sandbox.telematics.edits import Edit
from catena_sandbox.telematics.records import Row, lane_fields, render, schema_of
from catena_sandbox.telematics.resources import Resource
from catena_sandbox.telematics.series import Lane, Series, latest_rows, tick_at_or_after
from catena_sandbox.telematics.spec import operations, properties
from catena_sandbox.telematics.world import Thing, fleet_of, history_start

DEFAULT_SIZE = 300
MAX_WINDOW = timedelta(days=45)
DEFAULT_WINDOW = timedelta(days=1)
MATERIALIZE_LIMIT = 200_000  # rows a filter on a per-row field or a custom sort may scan (a sandbox limit)
GENERAL = {"fleet_ids", "fleet_refs", "connection_id", "cursor", "size", "include_source_data", "only_latest"}
WINDOW = {"from_datetime", "to_datetime"}
ORDER = {"sort_by", "sort_order"}
DEFAULT_SORT = "occurred_at"
LAZY_SORTS = {"occurred_at", "created_at"}  # created_at equals occurred_at for series rows


@dataclass(frozen=True)
class Context:
    now: datetime
    speed: float
    include_source_data: bool
    edits: Mapping[str, Edit] = field(default_factory=dict)  # admin changes, by record id

    def show(self, row: Row) -> dict[str, Any]:
        """The record of ``row`` as the partner sees it now."""
        return render(
            row, now=self.now, speed=self.speed, include_source_data=self.include_source_data, edits=self.edits
        )


@dataclass
class Filters:
    lane: dict[str, set[str]] = field(default_factory=dict)  # field -> wanted values, constant per lane
    row: dict[str, set[Any]] = field(default_factory=dict)  # field -> wanted values, per row
    active_from: datetime | None = None  # hos-events: ended_at >= active_from
    active_to: datetime | None = None  # hos-events: started_at < active_to

    @property
    def per_row(self) -> bool:
        return bool(self.row) or self.active_from is not None or self.active_to is not None


def visible_connections(
    store: Store,
    scope: str,
    fleet_ids: Iterable[str] | None,
    fleet_refs: Iterable[str] | None,
    connection_id: str | None,
) -> list[Connection]:
    """Connections whose ``scope`` data the partner may read: an active share agreement that grants it."""
    wanted_fleets, wanted_refs = set(fleet_ids or ()), set(fleet_refs or ())
    with store.lock:
        granted = {
            a.fleet_id
            for a in store.share_agreements.values()
            if a.status == "active" and a.scopes.get(scope) in ("read", "read_write")
        }
        return [
            c
            for c in store.connections.values()
            if c.fleet_id in granted
            and c.status != "deleted"
            and (connection_id is None or c.id == connection_id)
            and (not wanted_fleets or c.fleet_id in wanted_fleets)
            and (not wanted_refs or c.fleet_ref in wanted_refs)
        ]


def things_of(resource: Resource, connection: Connection) -> tuple[Thing, ...]:
    fleet = fleet_of(connection.fleet_id)
    return fleet.users if resource.lanes == "user" else fleet.of(resource.lanes)


def slots_of(resource: Resource, thing: Thing) -> int:
    if resource.name == "dvir-logs/defects":
        return 1 + thing.seed % 2  # one or two defects on each inspection of a vehicle
    return resource.slots


def lanes(resource: Resource, connections: Iterable[Connection], speed: float) -> list[Lane]:
    out = []
    for connection in connections:
        first = tick_at_or_after(history_start(connection), resource.interval)
        for thing in things_of(resource, connection):
            deleted = thing.deleted_at(connection.created_at, speed)
            end = None if deleted is None else tick_at_or_after(deleted, resource.interval)
            out.extend(Lane(connection, thing, slot, first, end) for slot in range(slots_of(resource, thing)))
    return out


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


def _lane_matches(resource: Resource, lane: Lane, wanted: Mapping[str, set[Any]]) -> bool:
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


def _row_matches(record: Mapping[str, Any], filters: Filters) -> bool:
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


def size_of(params: Mapping[str, Any]) -> int:
    size = params.get("size")
    return DEFAULT_SIZE if size is None else int(size)


def window(params: Mapping[str, Any], now: datetime) -> tuple[datetime, datetime]:
    """``[from, to)`` with the spec's defaults (now - 1 day, now); 400 when reversed or over 45 days."""
    end = as_utc(params.get("to_datetime")) or now
    start = as_utc(params.get("from_datetime")) or now - DEFAULT_WINDOW
    if end < start:
        raise CatenaError(400, "from_datetime must be before to_datetime")
    if end - start > MAX_WINDOW:
        raise CatenaError(400, "The time window (to_datetime - from_datetime) cannot exceed 45 days")
    return start, end


def sort_records(records: list[dict[str, Any]], sort_by: str, descending: bool) -> list[dict[str, Any]]:
    present = [r for r in records if r.get(sort_by) is not None]
    absent = [r for r in records if r.get(sort_by) is None]
    present.sort(key=lambda r: (_sortable(r[sort_by]), r["id"]), reverse=descending)
    return present + absent  # nulls last, either way


def _sortable(value: Any) -> Any:
    return str(value) if isinstance(value, (dict, list)) else value


def order(resource: Resource, params: Mapping[str, Any]) -> tuple[str, bool]:
    query = operations()[resource.path].query
    sort_by = params.get("sort_by") if "sort_by" in query else None
    sort_by = sort_by or DEFAULT_SORT
    if sort_by not in properties(schema_of(resource.path)):
        raise CatenaError(400, f"Invalid sort_by: {sort_by}")
    descending = "sort_order" in query and params.get("sort_order") == "desc"
    return sort_by, descending


def page_of(items: list[dict[str, Any]], offset: int, size: int, with_total: bool) -> dict[str, Any]:
    return envelope(items[offset : offset + size], offset=offset, size=size, total=len(items), with_total=with_total)


def list_records(
    resource: Resource, connections: list[Connection], params: Mapping[str, Any], context: Context
) -> dict[str, Any]:
    operation = operations()[resource.path]
    size = check_size(size_of(params), operation.max_size)
    cursor = params.get("cursor")
    offset = decode_cursor(cursor) if cursor else 0
    sort_by, descending = order(resource, params)
    filters = filters_of(resource, params)

    show = context.show
    if resource.kind == "entity":
        selected = [
            Row(resource, lane.connection, lane.thing)
            for lane in lanes_for_entities(resource, connections)
            if _lane_matches(resource, lane, filters.lane)
        ]
        records = [r for r in map(show, selected) if _row_matches(r, filters)]
        return page_of(sort_records(records, sort_by, descending), offset, size, operation.has_total)

    chosen = [
        lane for lane in lanes(resource, connections, context.speed) if _lane_matches(resource, lane, filters.lane)
    ]
    now_tick = tick_at_or_after(context.now, resource.interval) - 1
    if "only_latest" in operation.query and params.get("only_latest", True):
        latest = [
            show(Row(resource, lane.connection, lane.thing, lane.slot, tick))
            for lane, tick in latest_rows(chosen, now_tick)
        ]
        return page_of([r for r in latest if _row_matches(r, filters)], offset, size, operation.has_total)
    start, end = window(params, context.now) if set(operation.query) >= WINDOW else (None, None)
    lo = tick_at_or_after(start, resource.interval) if start else min((lane.first for lane in chosen), default=0)
    hi = min(tick_at_or_after(end, resource.interval), now_tick + 1) if end else now_tick + 1
    series = Series(chosen, lo, hi)
    if filters.per_row or sort_by not in LAZY_SORTS:
        if series.total > MATERIALIZE_LIMIT:
            raise CatenaError(400, f"Too many rows to filter or sort by {sort_by}: narrow the time window")
        records = [
            show(Row(resource, lane.connection, lane.thing, lane.slot, tick))
            for lane, tick in series.slice(0, series.total)
        ]
        records = [r for r in records if _row_matches(r, filters)]
        if sort_by not in LAZY_SORTS:
            records = sort_records(records, sort_by, descending)
        elif descending:
            records.reverse()
        return page_of(records, offset, size, operation.has_total)
    rows = series.page(offset, size, descending=descending)
    items = [show(Row(resource, lane.connection, lane.thing, lane.slot, tick)) for lane, tick in rows]
    return envelope(items, offset=offset, size=size, total=series.total, with_total=operation.has_total)


def lanes_for_entities(resource: Resource, connections: Iterable[Connection]) -> list[Lane]:
    return [Lane(c, thing, 0, 0, None) for c in connections for thing in things_of(resource, c)]
