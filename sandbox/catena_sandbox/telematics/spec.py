"""The telematics operations and schemas of Catena's newest spec, as extracted into ``data/telematics_spec.json``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any

from catena_sandbox.telematics.specgen import DATA_FILE


@dataclass(frozen=True)
class Parameter:
    name: str
    location: str  # query | path
    schema: dict[str, Any]
    required: bool = False


@dataclass(frozen=True)
class Operation:
    path: str
    operation_id: str
    response: str  # the page (lists) or item (get) schema name
    parameters: tuple[Parameter, ...]

    @property
    def is_list(self) -> bool:
        return "items" in schemas()[self.response].get("properties", {})

    @property
    def item_schema(self) -> str:
        """The record schema: the page's ``items`` or the response itself."""
        page = schemas()[self.response]
        items = page.get("properties", {}).get("items")
        return ref_name(items["items"]) if items else self.response

    @property
    def has_total(self) -> bool:
        return "total" in schemas()[self.response].get("properties", {})

    @property
    def query(self) -> dict[str, Parameter]:
        return {p.name: p for p in self.parameters if p.location == "query"}

    @property
    def max_size(self) -> int:
        size = self.query.get("size")
        return int(size.schema.get("maximum", 1000)) if size else 1000


def ref_name(node: dict[str, Any]) -> str:
    return str(node["$ref"]).rsplit("/", 1)[-1]


@cache
def _document() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(DATA_FILE.read_text())
    return document


def schemas() -> dict[str, dict[str, Any]]:
    return _document()["schemas"]  # type: ignore[no-any-return]


def resolve(node: dict[str, Any]) -> dict[str, Any]:
    """``node`` with a top-level ``$ref`` replaced by its target (keeping ``nullable`` set beside it)."""
    while "$ref" in node:
        target = schemas()[ref_name(node)]
        node = {**target, **({"nullable": True} if node.get("nullable") else {})}
    return node


@cache
def operations() -> dict[str, Operation]:
    return {
        op["path"]: Operation(
            path=op["path"],
            operation_id=op["operation_id"],
            response=op["response"],
            parameters=tuple(
                Parameter(p["name"], p["in"], p["schema"], bool(p.get("required"))) for p in op["parameters"]
            ),
        )
        for op in _document()["operations"]
    }


def properties(schema_name: str) -> dict[str, dict[str, Any]]:
    return schemas()[schema_name]["properties"]  # type: ignore[no-any-return]


def required(schema_name: str) -> frozenset[str]:
    return frozenset(schemas()[schema_name].get("required", ()))
