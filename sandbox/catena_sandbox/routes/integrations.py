"""Integrations service: connections, schedules (+ the hidden activate endpoints), executions."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Query

from catena_sandbox.auth import Claims
from catena_sandbox.catalogue import TSPS
from catena_sandbox.catalogue import tsp_id as make_tsp_id
from catena_sandbox.clock import iso
from catena_sandbox.errors import CatenaError
from catena_sandbox.pagination import DEFAULT_SIZE, page
from catena_sandbox.routes.common import CursorParam, ListParam, SandboxDep
from catena_sandbox.runtime import Sandbox
from catena_sandbox.state import Connection
from catena_sandbox.telematics.resources import RESOURCES as TELEMATICS
from catena_sandbox.views import connection_view, execution_view, schedule_view

router = APIRouter(tags=["integrations"])
RESOURCES = (
    "asset",
    "vehicle",
    "vehicle_location",
    "trailer",
    "trailer_location",
    "user",
    "hos_event",
    "hos_availability",
    "hos_violation",
    "dvir_log",
    "engine_log",
    "ifta_summary",
    "driver_safety_event",
    "fuel_transaction",
)
PREFIX = "/v2/integrations/connections"


def _connections(sandbox: Sandbox, fleet_ids: list[str] | None, fleet_refs: list[str] | None) -> list[Connection]:
    """Connections the partner may see: of fleets it has an (any status but deleted) share agreement with."""
    shared = {a.fleet_id for a in sandbox.store.share_agreements.values() if a.status != "deleted"}
    return [
        c
        for c in sandbox.store.connections.values()
        if c.status != "deleted"
        and c.fleet_id in shared
        and (not fleet_ids or c.fleet_id in fleet_ids)
        and (not fleet_refs or c.fleet_ref in fleet_refs)
    ]


@router.get(PREFIX)
def list_connections(
    sandbox: SandboxDep,
    _claims: Claims,
    tsp_id: Annotated[str | None, Query()] = None,
    fleet_ids: ListParam = None,
    fleet_refs: ListParam = None,
    cursor: CursorParam = None,
    size: int = DEFAULT_SIZE,
) -> dict[str, Any]:
    with sandbox.store.lock:
        items = [c for c in _connections(sandbox, fleet_ids, fleet_refs) if tsp_id is None or c.tsp_id == tsp_id]
        render = partial(connection_view, variations=sandbox.variations)
        return page(items, cursor=cursor, size=size, with_total=False, render=render)


@router.get(PREFIX + "/data-freshness")
def data_freshness(
    sandbox: SandboxDep, _claims: Claims, fleet_ids: ListParam = None, fleet_refs: ListParam = None
) -> list[dict[str, Any]]:
    rows = []
    with sandbox.store.lock:
        for connection in _connections(sandbox, fleet_ids, fleet_refs):
            for schedule in sandbox.store.schedules.values():
                if schedule.connection_id != connection.id:
                    continue
                rows.append(
                    {
                        "resource": schedule.resource,
                        "share_level": "read_write",
                        "fleet_id": connection.fleet_id,
                        "fleet_ref": connection.fleet_ref,
                        "connection_id": connection.id,
                        "connection_description": connection.description,
                        "schedule_id": schedule.id,
                        "source_name": connection.source_name,
                        "tsp_id": connection.tsp_id,
                        "tsp_slug": connection.source_name,
                        "last_successful_execution_at": iso(schedule.last_data_at),
                        "next_execution_at": None,
                        "schedule_status": schedule.status,
                    }
                )
    return rows


@router.get(PREFIX + "/{connection_id}")
def get_connection(connection_id: str, sandbox: SandboxDep, _claims: Claims) -> dict[str, Any]:
    with sandbox.store.lock:
        return connection_view(sandbox.simulator.connection(connection_id), sandbox.variations)


@router.get(PREFIX + "/{connection_id}/schedules")
def list_schedules(
    connection_id: str,
    sandbox: SandboxDep,
    _claims: Claims,
    resource: Annotated[str | None, Query()] = None,
    cursor: CursorParam = None,
    size: int = DEFAULT_SIZE,
) -> dict[str, Any]:
    with sandbox.store.lock:
        sandbox.simulator.connection(connection_id)
        items = [
            s
            for s in sandbox.store.schedules.values()
            if s.connection_id == connection_id and (resource is None or s.resource == resource)
        ]
        return page(items, cursor=cursor, size=size, with_total=False, render=schedule_view)


@router.post(PREFIX + "/{connection_id}/schedules/activate-schedules")
def activate_schedules(connection_id: str, sandbox: SandboxDep, _claims: Claims) -> list[dict[str, Any]]:
    with sandbox.store.lock:
        return [schedule_view(s) for s in sandbox.simulator.activate_schedules(connection_id)]


@router.get(PREFIX + "/{connection_id}/schedules/{schedule_id}")
def get_schedule(connection_id: str, schedule_id: str, sandbox: SandboxDep, _claims: Claims) -> dict[str, Any]:
    with sandbox.store.lock:
        return schedule_view(sandbox.simulator.schedule(schedule_id, connection_id))


@router.post(PREFIX + "/{connection_id}/schedules/{schedule_id}/activate")
def activate_schedule(connection_id: str, schedule_id: str, sandbox: SandboxDep, _claims: Claims) -> dict[str, Any]:
    with sandbox.store.lock:
        return schedule_view(sandbox.simulator.activate_schedule(schedule_id, connection_id))


@router.get(PREFIX + "/{connection_id}/schedules/{schedule_id}/executions")
def list_executions(
    connection_id: str,
    schedule_id: str,
    sandbox: SandboxDep,
    _claims: Claims,
    cursor: CursorParam = None,
    size: int = DEFAULT_SIZE,
) -> dict[str, Any]:
    with sandbox.store.lock:
        sandbox.simulator.schedule(schedule_id, connection_id)
        items = sorted(
            (e for e in sandbox.store.executions.values() if e.schedule_id == schedule_id),
            key=lambda e: e.created_at,
            reverse=True,
        )
        return page(items, cursor=cursor, size=size, with_total=False, render=execution_view)


# -- TSP integration matrix (no auth in Catena) ----------------------------------------------------
IMPLEMENTED = frozenset(r.scope for r in TELEMATICS) & frozenset(RESOURCES)  # what the synthetic data covers


def _tsp_integrations(source_name: str) -> dict[str, Any]:
    integrations = {resource: "implemented" if resource in IMPLEMENTED else "not_implemented" for resource in RESOURCES}
    return {
        "tsp_id": make_tsp_id(source_name),
        "slug": source_name,
        "source_name": source_name,
        "integrations": integrations,
        "implemented_count": len(IMPLEMENTED),
        "not_implemented_count": len(RESOURCES) - len(IMPLEMENTED),
        "not_supported_count": 0,
    }


@router.get("/v2/integrations/tsps")
def list_tsp_integrations(cursor: CursorParam = None, size: int = DEFAULT_SIZE) -> dict[str, Any]:
    return page(list(TSPS), cursor=cursor, size=size, with_total=False, render=_tsp_integrations)


@router.get("/v2/integrations/tsps/{tsp_id}")
def get_tsp_integrations(tsp_id: str) -> dict[str, Any]:
    for source_name in TSPS:
        if _tsp_integrations(source_name)["tsp_id"] == tsp_id:
            return _tsp_integrations(source_name)
    raise CatenaError(404, f"TSP {tsp_id} not found")
