"""Which rows exist for a request: the connections the partner may read, their things, and their lanes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from catena_sandbox.state import Connection, Store
from catena_sandbox.telematics.edits import Edit
from catena_sandbox.telematics.resources import Resource
from catena_sandbox.telematics.series import Lane, tick_at_or_after
from catena_sandbox.telematics.world import Thing, fleet_of, history_start


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


def lanes(
    resource: Resource, connections: Iterable[Connection], speed: float, edits: Mapping[str, Edit] | None = None
) -> list[Lane]:
    """The lanes of ``resource``: from a week before each connection until its thing is deleted (by time,
    or by the admin API: a deleted vehicle stops reporting)."""
    out: list[Lane] = []
    for connection in connections:
        first = tick_at_or_after(history_start(connection), resource.interval)
        for thing in things_of(resource, connection):
            deleted = thing.deleted_at(connection.created_at, speed)
            edit = edits.get(thing.id) if edits else None
            if edit is not None and edit.deleted and (deleted is None or edit.at < deleted):
                deleted = edit.at
            end = None if deleted is None else tick_at_or_after(deleted, resource.interval)
            out.extend(Lane(connection, thing, slot, first, end) for slot in range(slots_of(resource, thing)))
    return out


def lanes_for_entities(resource: Resource, connections: Iterable[Connection]) -> list[Lane]:
    return [Lane(c, thing, 0, 0, None) for c in connections for thing in things_of(resource, c)]
