"""Catena's published OpenAPI documents as strict jsonschema validators.

``nullable`` is turned into JSON Schema, and every object schema that does not declare
``additionalProperties`` is closed (``additionalProperties: false``): the sandbox may send no field the
newest spec does not define, except the few in ``ALLOWED_EXTRA_FIELDS``.
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator, FormatChecker

SPEC_DIR = Path(__file__).resolve().parents[2] / "data" / "catena-openapi"
FORMATS = FormatChecker()

# The only fields the sandbox may send beyond a schema's properties: (spec, schema) -> {field: JSON Schema}.
# Each is a field the newest specs show in an example but no longer define, so a real Catena may still send
# it; the sandbox sends it only as a variation (sandbox/README.md, "Variations"). Keep this list short.
ALLOWED_EXTRA_FIELDS: dict[tuple[str, str], dict[str, dict[str, Any]]] = {
    # ShareAgreementRead's example in orgs.yaml still shows invitation_id; older specs required it.
    ("orgs", "ShareAgreementRead"): {"invitation_id": {"type": ["string", "null"]}},
    # The same share agreement as an event record: the newest notifications.yaml dropped the field that the
    # older one (catena-sdk-go 3b212eb) required; Catena's orgs example above still shows it.
    ("notifications", "BaseShareAgreementEvent"): {"invitation_id": {"type": ["string", "null"]}},
}


@FORMATS.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if "T" not in value:
        raise ValueError("not a date-time")
    datetime.fromisoformat(value)
    return True


def _nullable(node: Any) -> Any:
    """OpenAPI 3.0's ``nullable: true`` (used in these 3.1 documents) as JSON Schema's null type."""
    if isinstance(node, list):
        return [_nullable(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: _nullable(value) for key, value in node.items() if key not in ("example", "examples")}
    if converted.pop("nullable", False):
        if "type" in converted and "$ref" not in converted:
            kind = converted["type"]
            converted["type"] = [*kind, "null"] if isinstance(kind, list) else [kind, "null"]
            if "enum" in converted:
                converted["enum"] = [*converted["enum"], None]
        else:
            return {"anyOf": [converted, {"type": "null"}]}
    return converted


def _is_object(schema: dict[str, Any]) -> bool:
    kind = schema.get("type")
    return "properties" in schema or kind == "object" or (isinstance(kind, list) and "object" in kind)


def _closed(schema: Any) -> Any:
    """``schema`` with every object schema in it (nested ones too) closed to undeclared properties."""
    if isinstance(schema, list):
        return [_closed(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    closed = dict(schema)
    if isinstance(closed.get("properties"), dict):  # a map of names, not a schema: close its values only
        closed["properties"] = {name: _closed(value) for name, value in closed["properties"].items()}
    for keyword in ("items", "additionalProperties", "not", "anyOf", "allOf", "oneOf"):
        if keyword in closed:
            closed[keyword] = _closed(closed[keyword])
    if _is_object(closed) and "additionalProperties" not in closed:
        closed["additionalProperties"] = False
    return closed


class Spec:
    def __init__(self, name: str) -> None:
        document = yaml.load((SPEC_DIR / f"{name}.yaml").read_text(), Loader=yaml.CSafeLoader)  # libyaml: 10x faster
        self.name = name
        self.paths: dict[str, Any] = document["paths"]
        self.raw_schemas: dict[str, Any] = document.get("components", {}).get("schemas", {})
        components = _nullable(document.get("components", {}))
        schemas = components.setdefault("schemas", {})
        for schema_name, schema in list(schemas.items()):
            schemas[schema_name] = _closed(schema)
        for (spec_name, schema_name), fields in ALLOWED_EXTRA_FIELDS.items():
            if spec_name == name:
                schemas[schema_name] = {
                    **schemas[schema_name],
                    "properties": {**schemas[schema_name]["properties"], **fields},
                }
        self.components = components

    def has(self, method: str, path: str) -> bool:
        return method.lower() in self.paths.get(path, {})

    def response_schema(self, method: str, path: str, status: int) -> dict[str, Any] | None:
        responses = self.paths[path][method.lower()]["responses"]
        response = responses.get(str(status))
        assert response is not None, f"{method} {path} does not document status {status}"
        content = response.get("content", {}).get("application/json")
        return None if content is None else _closed(_nullable(content.get("schema", {})))

    def validator(self, schema: dict[str, Any]) -> Draft202012Validator:
        return Draft202012Validator({**schema, "components": self.components}, format_checker=FORMATS)

    def errors(self, schema: dict[str, Any], instance: Any) -> list[str]:
        return [
            f"{'/'.join(str(p) for p in error.absolute_path)}: {error.message[:300]}"
            for error in self.validator(schema).iter_errors(instance)
        ]


@cache
def spec(name: str) -> Spec:
    return Spec(name)


def event_schema_name(event_name: str) -> str:
    """``fleet_connection.created`` -> ``FleetConnectionCreated``, as the notifications spec names them."""
    return "".join(part.capitalize() for part in re.split(r"[._]", event_name))
