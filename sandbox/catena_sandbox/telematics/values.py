"""Spec-driven record filler: a schema compiled once into per-field makers that derive values from a row seed.

Every property of the schema gets a value of its type (enum member, uuid, date-time, bounded number, nested
object), nullable properties that are not required are ``null`` for about one row in five, and nothing outside
the schema is ever produced. Resource code then overrides the fields that carry meaning (ids, times, places).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from catena_sandbox.clock import iso
from catena_sandbox.telematics.spec import properties, required, resolve

MASK = (1 << 64) - 1
Maker = Callable[[int, datetime], Any]  # (field seed, row time) -> value


def mix(value: int) -> int:
    """splitmix64: a cheap, well-spread 64-bit hash of an integer."""
    value = (value + 0x9E3779B97F4A7C15) & MASK
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & MASK
    return value ^ (value >> 31)


def _string(name: str, schema: dict[str, Any]) -> Maker:
    fmt = schema.get("format")
    if fmt == "uuid":
        return lambda seed, _at: str(uuid.UUID(int=(seed << 64 | mix(seed)) & ((1 << 128) - 1), version=4))
    if fmt == "date-time":
        return lambda seed, at: iso(at - timedelta(seconds=seed % 7200))
    if fmt == "date":
        return lambda seed, at: (at - timedelta(days=seed % 30)).date().isoformat()
    if "pattern" in schema:  # the only patterned string is a decimal amount
        return lambda seed, _at: f"{seed % 50_000 / 100:.2f}"
    limit = int(schema.get("maxLength", 64))
    return lambda seed, _at: f"{name}-{seed % 100_000}"[:limit]


def _array(name: str, schema: dict[str, Any]) -> Maker:
    items = schema.get("items") or {}
    count = int(schema.get("minItems", 1))
    if not items:  # untyped items: coordinates
        return lambda seed, _at: [round((mix(seed + i) % 36_000) / 100 - 180, 6) for i in range(count)]
    inner = maker(name, items)
    return lambda seed, at: [inner(mix(seed + i), at) for i in range(count)]


def _object(name: str, schema: dict[str, Any]) -> Maker:
    fields = schema.get("properties")
    if not fields:
        return lambda _seed, _at: {}
    needed = frozenset(schema.get("required", ()))
    inner = [(key, maker(key, value, required=key in needed)) for key, value in fields.items()]
    return lambda seed, at: {key: make(mix(seed + i), at) for i, (key, make) in enumerate(inner)}


def maker(name: str, node: dict[str, Any], *, required: bool = True) -> Maker:
    schema = resolve(node)
    for combinator in ("anyOf", "oneOf"):
        if combinator in schema:
            options = [o for o in schema[combinator] if resolve(o).get("type") != "null"]
            schema = {**resolve(options[0]), **({"nullable": True} if schema.get("nullable") else {})}
    base = _plain(name, schema)
    if schema.get("nullable") and not required:
        return lambda seed, at: None if seed % 5 == 0 else base(seed >> 3, at)
    return base


def _plain(name: str, schema: dict[str, Any]) -> Maker:
    if "enum" in schema:
        members = list(schema["enum"])
        return lambda seed, _at: members[seed % len(members)]
    kind = schema.get("type")
    if kind == "string":
        return _string(name, schema)
    if kind == "integer":
        low = int(schema.get("minimum", 0))
        return lambda seed, _at: low + seed % 1000
    if kind == "number":
        floor = float(schema.get("minimum", 0))
        return lambda seed, _at: round(floor + (seed % 100_000) / 100, 2)
    if kind == "boolean":
        return lambda seed, _at: bool(seed & 1)
    if kind == "array":
        return _array(name, schema)
    return _object(name, schema)


class Filler:
    """Fills one record schema: ``filler(seed, at)`` -> a dict with every property of the schema."""

    def __init__(self, schema_name: str, *, skip: frozenset[str] = frozenset()) -> None:
        """``skip``: properties the caller always sets itself (not filled, to save time)."""
        needed = required(schema_name)
        self._constants: dict[str, Any] = {}
        self._makers: list[tuple[int, str, Maker]] = []
        for i, (key, value) in enumerate(properties(schema_name).items()):
            if key in skip:
                continue
            schema = resolve(value)
            if len(schema.get("enum", ())) == 1 and (key in needed or not schema.get("nullable")):
                self._constants[key] = schema["enum"][0]  # a unit: one value is all there is
            else:
                self._makers.append((i * 0x100000001B3, key, maker(key, value, required=key in needed)))

    def __call__(self, seed: int, at: datetime) -> dict[str, Any]:
        record = dict(self._constants)
        for salt, key, make in self._makers:
            record[key] = make(mix(seed ^ salt), at)
        return record
