"""Rows listed under one parent row: a HOS event's attachments, a DVIR log's defects.

The parent's id says which connection, thing and tick it belongs to (ids.py), so its children are found
without a store; a parent the partner cannot see, or that does not exist (yet), is a 404.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from catena_sandbox.errors import CatenaError
from catena_sandbox.pagination import check_size, decode_cursor
from catena_sandbox.state import Connection
from catena_sandbox.telematics import ids
from catena_sandbox.telematics.query import Context, order, page_of, size_of, sort_records
from catena_sandbox.telematics.records import Row
from catena_sandbox.telematics.resources import BY_NAME, Resource
from catena_sandbox.telematics.selection import lanes, slots_of
from catena_sandbox.telematics.series import tick_at_or_after
from catena_sandbox.telematics.spec import operations
from catena_sandbox.telematics.values import mix
from catena_sandbox.telematics.world import seed

ATTACHMENT_ONE_IN = 4  # about one HOS event in four carries an attachment


def _parent(parent: Resource, parent_id: str, connections: list[Connection], context: Context) -> Row:
    decoded = ids.decode(parent_id)
    if decoded is not None:
        now_tick = tick_at_or_after(context.now, parent.interval) - 1
        for connection in connections:
            if ids.source_hash(parent.name, connection.id) != decoded.source:
                continue
            for lane in lanes(parent, [connection], context.speed, context.edits):
                row = Row(parent, connection, lane.thing, lane.slot, decoded.tick)
                inside = lane.first <= decoded.tick <= now_tick and (lane.end is None or decoded.tick < lane.end)
                if inside and row.id == parent_id:
                    return row
    raise CatenaError(404, f"{parent.name.rstrip('s').replace('-', ' ').upper()} {parent_id} not found")


def _children(resource: Resource, parent: Row) -> list[Row]:
    if resource.name == "hos-events/attachments":
        count = 1 if mix(seed(parent.id)) % ATTACHMENT_ONE_IN == 0 else 0
        return [Row(resource, parent.connection, parent.thing, slot, parent.tick) for slot in range(count)]
    defects = BY_NAME["dvir-logs/defects"]
    return [
        Row(defects, parent.connection, parent.thing, slot, parent.tick)
        for slot in range(slots_of(defects, parent.thing))
    ]


def list_children(
    resource: Resource, parent_id: str, connections: list[Connection], params: Mapping[str, Any], context: Context
) -> dict[str, Any]:
    operation = operations()[resource.path]
    size = check_size(size_of(params), operation.max_size)
    offset = decode_cursor(params["cursor"]) if params.get("cursor") else 0
    parent = _parent(BY_NAME[str(resource.parent)], parent_id, connections, context)
    records = [context.show(row) for row in _children(resource, parent)]
    sort_by, descending = order(resource, params)
    return page_of(sort_records(records, sort_by, descending), offset, size, operation.has_total)
