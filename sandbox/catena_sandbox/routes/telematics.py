"""Telematics service: vehicles and vehicle locations, synthetic and deterministic per fleet."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from catena_sandbox.auth import Claims
from catena_sandbox.clock import as_utc, utcnow
from catena_sandbox.errors import CatenaError
from catena_sandbox.pagination import DEFAULT_SIZE, page
from catena_sandbox.routes.common import CursorParam, ListParam, SandboxDep
from catena_sandbox.runtime import Sandbox
from catena_sandbox.state import Connection
from catena_sandbox.synthetic import locations, vehicles

router = APIRouter(tags=["telematics"])
MAX_WINDOW = timedelta(days=45)


def _sources(
    sandbox: Sandbox, fleet_ids: list[str] | None, fleet_refs: list[str] | None, connection_id: str | None
) -> list[Connection]:
    """Connections whose data the partner may read: an active share agreement with the fleet."""
    shared = {a.fleet_id for a in sandbox.store.share_agreements.values() if a.status == "active"}
    return [
        c
        for c in sandbox.store.connections.values()
        if c.fleet_id in shared
        and c.status != "deleted"
        and (connection_id is None or c.id == connection_id)
        and (not fleet_ids or c.fleet_id in fleet_ids)
        and (not fleet_refs or c.fleet_ref in fleet_refs)
    ]


def _strip_source_data(rows: list[dict[str, Any]], include: bool) -> list[dict[str, Any]]:
    if include:
        for row in rows:
            row["source_data"] = {"sandbox": True, "source_id": row["source_id"]}
    return rows


@router.get("/v2/telematics/vehicles")
def list_vehicles(
    sandbox: SandboxDep,
    _claims: Claims,
    fleet_ids: ListParam = None,
    fleet_refs: ListParam = None,
    connection_id: Annotated[str | None, Query()] = None,
    vehicle_ids: ListParam = None,
    source_ids: ListParam = None,
    include_source_data: bool = False,
    sort_order: Literal["asc", "desc"] = "asc",
    cursor: CursorParam = None,
    size: int = DEFAULT_SIZE,
) -> dict[str, Any]:
    with sandbox.store.lock:
        sources = _sources(sandbox, fleet_ids, fleet_refs, connection_id)
    rows = [
        row
        for connection in sources
        for row in vehicles(connection)
        if (not vehicle_ids or row["id"] in vehicle_ids) and (not source_ids or row["source_id"] in source_ids)
    ]
    rows.sort(key=lambda r: (r["occurred_at"], r["id"]), reverse=sort_order == "desc")
    return page(_strip_source_data(rows, include_source_data), cursor=cursor, size=size, with_total=True, render=dict)


@router.get("/v2/telematics/vehicles/{vehicle_id}")
def get_vehicle(vehicle_id: str, sandbox: SandboxDep, _claims: Claims) -> dict[str, Any]:
    with sandbox.store.lock:
        sources = _sources(sandbox, None, None, None)
    for connection in sources:
        for row in vehicles(connection):
            if row["id"] == vehicle_id:
                return row
    raise CatenaError(404, f"Vehicle {vehicle_id} not found")


@router.get("/v2/telematics/vehicle-locations")
def list_vehicle_locations(
    sandbox: SandboxDep,
    _claims: Claims,
    only_latest: bool = True,
    fleet_ids: ListParam = None,
    fleet_refs: ListParam = None,
    connection_id: Annotated[str | None, Query()] = None,
    from_datetime: Annotated[datetime | None, Query()] = None,
    to_datetime: Annotated[datetime | None, Query()] = None,
    driver_ids: ListParam = None,
    vehicle_ids: ListParam = None,
    include_source_data: bool = False,
    cursor: CursorParam = None,
    size: int = DEFAULT_SIZE,
) -> dict[str, Any]:
    """The spec defines no sort parameters here (unlike ``/vehicles``): points come oldest first."""
    now = utcnow()
    end = as_utc(to_datetime) or now
    start = as_utc(from_datetime) or end - timedelta(days=1)
    if not only_latest and (end - start > MAX_WINDOW or end < start):
        raise CatenaError(400, "from_datetime must be before to_datetime and the window at most 45 days")
    with sandbox.store.lock:
        sources = _sources(sandbox, fleet_ids, fleet_refs, connection_id)
    wanted = set(vehicle_ids) if vehicle_ids else None
    rows = []
    if not driver_ids:  # synthetic locations carry no driver
        for connection in sources:
            rows.extend(
                locations(
                    connection,
                    start=start,
                    end=now if only_latest else end,
                    only_latest=only_latest,
                    vehicle_ids=wanted,
                )
            )
    rows.sort(key=lambda r: (r["occurred_at"], r["id"]))
    return page(_strip_source_data(rows, include_source_data), cursor=cursor, size=size, with_total=True, render=dict)
