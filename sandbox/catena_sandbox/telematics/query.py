"""Answering a telematics list request: visible connections, the time window, filters, order and one page."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

from catena_sandbox.clock import as_utc
from catena_sandbox.errors import CatenaError
from catena_sandbox.pagination import check_size, decode_cursor, envelope
from catena_sandbox.state import Connection
from catena_sandbox.telematics.edits import Edit
from catena_sandbox.telematics.filters import WINDOW, filters_of, lane_matches, row_matches
from catena_sandbox.telematics.records import Row, render, schema_of
from catena_sandbox.telematics.resources import Resource
from catena_sandbox.telematics.selection import lanes, lanes_for_entities
from catena_sandbox.telematics.series import Series, latest_rows, tick_at_or_after
from catena_sandbox.telematics.spec import operations, properties

DEFAULT_SIZE = 300
MAX_WINDOW = timedelta(days=45)
DEFAULT_WINDOW = timedelta(days=1)
MATERIALIZE_LIMIT = 200_000  # rows a filter on a per-row field or a custom sort may scan (a sandbox limit)
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


def bounds(defined: set[str], params: Mapping[str, Any], now: datetime) -> tuple[datetime | None, datetime | None]:
    """The ``occurred_at`` range a request asks for: its window, its processing date's day, or everything."""
    if "processing_date" in defined:
        day = datetime.combine(params["processing_date"], time.min, UTC)
        return day, day + timedelta(days=1)
    return window(params, now) if defined >= WINDOW else (None, None)


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
    if sort_by is not None and sort_by not in properties(schema_of(resource.path)):
        raise CatenaError(400, f"Invalid sort_by: {sort_by}")
    sort_by = sort_by or DEFAULT_SORT
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
            if lane_matches(resource, lane, filters.lane)
        ]
        records = [r for r in map(show, selected) if row_matches(r, filters)]
        return page_of(sort_records(records, sort_by, descending), offset, size, operation.has_total)

    chosen = [
        lane
        for lane in lanes(resource, connections, context.speed, context.edits)
        if lane_matches(resource, lane, filters.lane)
    ]
    now_tick = tick_at_or_after(context.now, resource.interval) - 1
    if "only_latest" in operation.query and params.get("only_latest", True):
        latest = [
            show(Row(resource, lane.connection, lane.thing, lane.slot, tick))
            for lane, tick in latest_rows(chosen, now_tick)
        ]
        return page_of([r for r in latest if row_matches(r, filters)], offset, size, operation.has_total)
    start, end = bounds(set(operation.query), params, context.now)
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
        records = [r for r in records if row_matches(r, filters)]
        if sort_by not in LAZY_SORTS:
            records = sort_records(records, sort_by, descending)
        elif descending:
            records.reverse()
        return page_of(records, offset, size, operation.has_total)
    rows = series.page(offset, size, descending=descending)
    items = [show(Row(resource, lane.connection, lane.thing, lane.slot, tick)) for lane, tick in rows]
    return envelope(items, offset=offset, size=size, total=series.total, with_total=operation.has_total)
