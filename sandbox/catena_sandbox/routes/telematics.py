"""Telematics service: every data resource of Catena's newest telematics spec, one route per operation.

The routes are made from the spec (telematics/spec.py): each declares exactly its operation's parameters.
Data is synthetic, deterministic per fleet and lazily generated (telematics/), and only fleets whose active
share agreement grants the resource's scope are visible.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Response

from catena_sandbox.auth import Claims
from catena_sandbox.clock import utcnow
from catena_sandbox.errors import CatenaError
from catena_sandbox.routes.common import SandboxDep
from catena_sandbox.runtime import Sandbox
from catena_sandbox.telematics.children import list_children
from catena_sandbox.telematics.parameters import signature
from catena_sandbox.telematics.query import Context, list_records
from catena_sandbox.telematics.records import Row
from catena_sandbox.telematics.resources import BY_PATH, GETS, RESOURCES, Resource
from catena_sandbox.telematics.selection import lanes_for_entities, visible_connections
from catena_sandbox.telematics.spec import operations

router = APIRouter(tags=["telematics"])
LEADING = [
    inspect.Parameter("sandbox", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=SandboxDep),
    inspect.Parameter("_claims", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Claims),
]


def _json(body: Any) -> Response:
    return Response(json.dumps(body, separators=(",", ":")), media_type="application/json")


def _context(sandbox: Sandbox, params: dict[str, Any]) -> Context:
    return Context(
        now=utcnow(),
        speed=sandbox.settings.speed,
        include_source_data=bool(params.get("include_source_data")),
        edits=sandbox.store.telematics_edits,
    )


def _text(params: dict[str, Any]) -> dict[str, Any]:
    """UUID parameters as strings, as records hold them."""
    out: dict[str, Any] = {}
    for name, value in params.items():
        if isinstance(value, UUID):
            value = str(value)
        elif isinstance(value, list):
            value = [str(v) if isinstance(v, UUID) else v for v in value]
        out[name] = value
    return out


def _connections(sandbox: Sandbox, resource: Resource, params: dict[str, Any]):  # type: ignore[no-untyped-def]
    return visible_connections(
        sandbox.store, resource.scope, params.get("fleet_ids"), params.get("fleet_refs"), params.get("connection_id")
    )


def _list_endpoint(resource: Resource) -> Callable[..., Response]:
    def endpoint(sandbox: Sandbox, _claims: dict[str, Any], **raw: Any) -> Response:
        params = _text(raw)
        connections = _connections(sandbox, resource, params)
        return _json(list_records(resource, connections, params, _context(sandbox, params)))

    return endpoint


def _child_endpoint(resource: Resource, parent_param: str) -> Callable[..., Response]:
    def endpoint(sandbox: Sandbox, _claims: dict[str, Any], **raw: Any) -> Response:
        params = _text(raw)
        connections = _connections(sandbox, resource, params)
        return _json(list_children(resource, params.pop(parent_param), connections, params, _context(sandbox, params)))

    return endpoint


def _get_endpoint(resource: Resource, id_param: str, what: str) -> Callable[..., Response]:
    def endpoint(sandbox: Sandbox, _claims: dict[str, Any], **raw: Any) -> Response:
        params = _text(raw)
        wanted, context = params[id_param], _context(sandbox, params)
        for lane in lanes_for_entities(resource, _connections(sandbox, resource, {})):
            if lane.thing.id == wanted:
                row = Row(resource, lane.connection, lane.thing)
                return _json(context.show(row))
        raise CatenaError(404, f"{what} {wanted} not found")

    return endpoint


def _add(path: str, endpoint: Callable[..., Response]) -> None:
    operation = operations()[path]
    endpoint.__signature__ = signature(operation.parameters, LEADING)  # type: ignore[attr-defined]
    endpoint.__name__ = operation.operation_id
    router.add_api_route(path, endpoint, methods=["GET"], operation_id=operation.operation_id, response_class=Response)


for _resource in RESOURCES:
    if _resource.kind == "child":
        _parent = next(p.name for p in operations()[_resource.path].parameters if p.location == "path")
        _add(_resource.path, _child_endpoint(_resource, _parent))
    else:
        _add(_resource.path, _list_endpoint(_resource))
for _path, _list_path in GETS.items():
    _id_param = next(p.name for p in operations()[_path].parameters if p.location == "path")
    _add(_path, _get_endpoint(BY_PATH[_list_path], _id_param, _id_param.removesuffix("_id").capitalize()))
