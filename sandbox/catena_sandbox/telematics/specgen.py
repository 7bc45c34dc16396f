"""Extract what the sandbox needs from Catena's telematics OpenAPI document into ``data/telematics_spec.json``.

Run ``python -m catena_sandbox.telematics.specgen tests/data/catena-openapi/telematics.yaml`` after the spec
changes; ``tests/unit/sandbox/test_telematics_spec.py`` fails while the JSON and the YAML disagree. The JSON
keeps the data resources' list/get operations (query parameters, page and item schemas) and the schemas they
reach, without prose, so the sandbox needs no YAML parser and never invents a field.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

DATA_FILE = Path(__file__).resolve().parents[1] / "data" / "telematics_spec.json"
PREFIX = "/v2/telematics/"
# Not data resources: lookup tables and aggregates.
SKIPPED = ("/v2/telematics/ref-", "/v2/telematics/analytics/")
PROSE = ("description", "title", "example", "examples")


def _strip(node: Any) -> Any:
    if isinstance(node, list):
        return [_strip(item) for item in node]
    if not isinstance(node, dict):
        return node
    # "properties" maps names to schemas: a property may be called "description" or "title".
    return {
        key: ({n: _strip(v) for n, v in value.items()} if key == "properties" else _strip(value))
        for key, value in node.items()
        if key == "properties" or key not in PROSE
    }


def _refs(node: Any) -> set[str]:
    if isinstance(node, list):
        return set().union(*(_refs(item) for item in node)) if node else set()
    if not isinstance(node, dict):
        return set()
    found = {node["$ref"].rsplit("/", 1)[-1]} if isinstance(node.get("$ref"), str) else set()
    return found.union(*(_refs(value) for value in node.values()))


def extract(document: dict[str, Any]) -> dict[str, Any]:
    schemas = document["components"]["schemas"]
    operations = []
    for path, methods in document["paths"].items():
        get = methods.get("get")
        if get is None or not path.startswith(PREFIX) or path.startswith(SKIPPED):
            continue
        response = get["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
        operations.append(
            {
                "path": path,
                "operation_id": get["operationId"],
                "response": response,
                "parameters": [
                    {
                        "name": p["name"],
                        "in": p["in"],
                        "required": p.get("required", False),
                        "schema": _strip(p["schema"]),
                    }
                    for p in get.get("parameters", [])
                ],
            }
        )
    wanted: set[str] = set()
    pending = set().union(*(_refs(op) for op in operations)) | {op["response"] for op in operations}
    while pending:
        name = pending.pop()
        if name not in wanted:
            wanted.add(name)
            pending |= _refs(schemas[name]) - wanted
    return {"operations": operations, "schemas": {name: _strip(schemas[name]) for name in sorted(wanted)}}


def render(document: dict[str, Any]) -> str:
    return json.dumps(extract(document), indent=1) + "\n"


def main(argv: list[str]) -> int:
    import yaml  # a development dependency only

    source = Path(argv[0]) if argv else Path("tests/data/catena-openapi/telematics.yaml")
    DATA_FILE.write_text(render(yaml.load(source.read_text(), Loader=yaml.CSafeLoader)))
    print(f"wrote {DATA_FILE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
