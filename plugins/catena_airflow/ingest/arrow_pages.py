"""A page of typed telematics rows as one Arrow table, so dlt loads it without its per-row normaliser.

Why: given Python dicts, dlt infers, coerces and flattens every value of every row in Python, and that
cost three times the fetch itself for vehicle locations (benchmarks/RESULTS.md, "dlt loading"). An
Arrow table goes through dlt's extract and normalise steps as one columnar batch, and reaches the
destination as Parquet (``dlt_source``: DuckDB reads it, PostgreSQL takes it by ADBC's ``COPY``).

A columnar page needs the same column types in every page of a resource, which only a declared schema
gives: so only resources whose rows the client types (``TelematicsResource.model``) go this way. Each
field the model declares gets the column type of its annotation; nested values (objects, lists, ``Any``)
and fields the model does not declare (one Catena added later: kept, never dropped) are JSON text in a
``json`` column, whose type cannot change from one page to the next. Resources read as untyped records
stay on dlt's row path, which infers their types and unnests their objects.
"""

from __future__ import annotations

import functools
import logging
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from typing import Any

import pyarrow as pa
import pydantic_core
from pydantic import BaseModel

#: The Arrow type of each scalar annotation; bool before int (a bool is an int in Python).
_SCALARS: tuple[tuple[type, pa.DataType], ...] = (
    (bool, pa.bool_()),
    (int, pa.int64()),
    (float, pa.float64()),
    (datetime, pa.timestamp("us", tz="UTC")),
    (date, pa.date32()),
    (str, pa.string()),
)


def arrow_type(annotation: Any) -> pa.DataType | None:
    """The Arrow type of a field annotation (``X | None`` as ``X``); ``None``: a nested or mixed value (JSON)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        present = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        return arrow_type(present[0]) if len(present) == 1 else None
    if isinstance(annotation, type):
        if issubclass(annotation, Enum):
            return pa.string() if issubclass(annotation, str) else None
        for python_type, arrow in _SCALARS:
            if issubclass(annotation, python_type):
                return arrow
    return None


class _JsonTextHintNotice(logging.Filter):
    """Drops dlt's per-page warning that a JSON-text column (Arrow ``string``) is declared ``json``.

    That difference is the design (see the module docstring), and dlt keeps the declared type; but it
    warns once per page, thousands of times a load, in every task log. Only for the resources named.
    """

    def __init__(self) -> None:
        super().__init__()
        self.resources: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(message.startswith(f"In resource: {name}, when merging arrow schema") for name in self.resources)


_HINT_NOTICE = _JsonTextHintNotice()


def quiet_json_text_hint_notice(resource: str) -> None:
    """Stop dlt warning, for every page of ``resource``, that its JSON-text columns are declared JSON."""
    logger = logging.getLogger("dlt")
    if _HINT_NOTICE not in logger.filters:
        logger.addFilter(_HINT_NOTICE)
    _HINT_NOTICE.resources.add(resource)


def _json_text(value: Any) -> str | None:
    """Compact JSON (pydantic-core's serialiser: a seventh of ``json.dumps``'s time); datetimes in ISO 8601
    as on the wire, NaN and infinities as null (PostgreSQL's ``json`` refuses them), anything else as text."""
    if value is None:
        return None
    return pydantic_core.to_json(value, fallback=str, inf_nan_mode="null").decode()


@dataclass(frozen=True)
class ArrowPages:
    """Turns pages of rows (``fleet_scope.as_row`` dicts, wire names) of one model into Arrow tables."""

    #: wire name -> Arrow type, for the model's scalar fields.
    typed: Mapping[str, pa.DataType]
    #: the model's other fields (nested values), JSON text.
    untyped: tuple[str, ...]

    @functools.cached_property
    def _struct(self) -> pa.StructType:
        return pa.struct([pa.field(name, kind) for name, kind in self.typed.items()])

    @classmethod
    def of(cls, model: type[BaseModel], *, json_columns: Sequence[str] = ()) -> ArrowPages:
        typed: dict[str, pa.DataType] = {}
        untyped: list[str] = []
        for name, info in model.model_fields.items():
            wire = info.alias or name
            kind = None if wire in json_columns else arrow_type(info.annotation)
            if kind is None:
                untyped.append(wire)
            else:
                typed[wire] = kind
        return cls(typed=typed, untyped=tuple(untyped))

    def table(self, rows: Sequence[Mapping[str, Any]]) -> pa.Table:
        """The page as a table: a column per typed field (so every page has the cursor's, even if no row
        has it: dlt's incremental needs the column) and per other field present in a row, null where absent."""
        # The typed columns in one conversion (Arrow reads each dict's keys in C++: a fifth of the time of a
        # list per column); a row's other keys are ignored there, a key it lacks is null.
        typed = pa.Table.from_struct_array(pa.array(rows, type=self._struct))
        others = dict.fromkeys(name for row in rows for name in row if name not in self.typed)
        for name in others:
            typed = typed.append_column(name, pa.array([_json_text(row.get(name)) for row in rows], type=pa.string()))
        return typed

    def json_columns(self, table: pa.Table) -> list[str]:
        """The table's columns that hold JSON text (every column the model does not type)."""
        return [name for name in table.column_names if name not in self.typed]


__all__ = ["ArrowPages", "arrow_type", "quiet_json_text_hint_notice"]
