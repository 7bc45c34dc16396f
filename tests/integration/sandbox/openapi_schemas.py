"""Catena's published OpenAPI documents as jsonschema validators (``nullable`` turned into JSON Schema)."""

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


class Spec:
    def __init__(self, name: str) -> None:
        document = yaml.load((SPEC_DIR / f"{name}.yaml").read_text(), Loader=yaml.CSafeLoader)  # libyaml: 10x faster
        self.paths: dict[str, Any] = document["paths"]
        self.components = _nullable(document.get("components", {}))

    def has(self, method: str, path: str) -> bool:
        return method.lower() in self.paths.get(path, {})

    def response_schema(self, method: str, path: str, status: int) -> dict[str, Any] | None:
        responses = self.paths[path][method.lower()]["responses"]
        response = responses.get(str(status))
        assert response is not None, f"{method} {path} does not document status {status}"
        content = response.get("content", {}).get("application/json")
        return None if content is None else _nullable(content.get("schema", {}))

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
