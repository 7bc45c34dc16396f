"""FastAPI parameter declarations made from the spec's own: each route accepts exactly its operation's
parameters, typed as the spec types them (a malformed uuid or date-time is a 422, as in Catena's FastAPI
services), and FastAPI ignores any other query parameter."""

from __future__ import annotations

import inspect
from datetime import date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import Path, Query

from catena_sandbox.telematics.spec import Parameter, resolve


def _scalar(schema: dict[str, Any]) -> Any:
    schema = resolve(schema)
    if "enum" in schema:
        return Literal[tuple(schema["enum"])]
    kind, fmt = schema.get("type"), schema.get("format")
    if kind == "boolean":
        return bool
    if kind == "integer":
        return int
    if fmt == "uuid":
        return UUID
    if fmt == "date-time":
        return datetime
    if fmt == "date":
        return date
    return str


def annotation(parameter: Parameter) -> tuple[Any, Any]:
    """(type, default) for ``parameter``."""
    schema = resolve(parameter.schema)
    if parameter.location == "path":
        return Annotated[_scalar(schema), Path()], inspect.Parameter.empty
    if schema.get("type") == "array":
        item = _scalar(schema.get("items", {}))
        limit = schema.get("maxItems")
        return Annotated[list[item] | None, Query(max_length=limit)], None  # type: ignore[valid-type]
    kind = _scalar(schema)
    if parameter.required:
        return Annotated[kind, Query()], inspect.Parameter.empty
    if "default" in schema:
        return Annotated[kind, Query()], schema["default"]
    return Annotated[kind | None, Query()], None


def signature(parameters: tuple[Parameter, ...], leading: list[inspect.Parameter]) -> inspect.Signature:
    declared = [
        inspect.Parameter(p.name, inspect.Parameter.KEYWORD_ONLY, annotation=kind, default=default)
        for p in parameters
        for kind, default in [annotation(p)]
    ]
    return inspect.Signature([*leading, *declared])
