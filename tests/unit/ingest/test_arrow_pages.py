"""Pages of typed rows as Arrow tables: column types from the client model, JSON text for the rest."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from enum import Enum, StrEnum

import pyarrow as pa
import pytest

from catena_airflow.client.models import VehicleLocation
from catena_airflow.ingest.arrow_pages import ArrowPages, arrow_type
from catena_airflow.ingest.fleet_scope import as_row

T0 = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)


class Colour(StrEnum):
    RED = "red"


class Number(Enum):
    ONE = 1


def test_arrow_types_follow_the_annotation():
    assert arrow_type(bool | None) == pa.bool_()
    assert arrow_type(int) == pa.int64()
    assert arrow_type(float | None) == pa.float64()
    assert arrow_type(datetime | None) == pa.timestamp("us", tz="UTC")
    assert arrow_type(date) == pa.date32()
    assert arrow_type(str | None) == pa.string()
    assert arrow_type(Colour | None) == pa.string()
    # Nested, mixed or unknown: JSON text.
    assert arrow_type(dict[str, object] | None) is None
    assert arrow_type(list[float]) is None
    assert arrow_type(int | str) is None
    assert arrow_type(Number) is None


def location(**fields: object) -> dict:
    wire = {
        "id": "l1",
        "fleet_id": "f1",
        "occurred_at": T0.isoformat(),
        "location": {"type": "Point", "coordinates": [-87.6, 41.8]},
        "speed": 12,
        **fields,
    }
    return as_row(VehicleLocation.model_validate(wire))


def test_a_page_has_every_typed_column_typed_and_json_text_for_the_rest():
    pages = ArrowPages.of(VehicleLocation, json_columns=("location",))
    rows = [
        location(inferred_address={"city": "Chicago"}, a_field_catena_added_later=[1, 2]),
        location(id="l2", speed=None, deleted_at=T0.isoformat()),
    ]
    table = pages.table(rows)
    assert table.schema.field("speed").type == pa.float64()
    assert table.column("speed").to_pylist() == [12.0, None]  # the model's float, an int on the wire
    assert table.schema.field("occurred_at").type == pa.timestamp("us", tz="UTC")
    assert table.column("occurred_at").to_pylist() == [T0, T0]
    assert table.column("deleted_at").to_pylist() == [None, T0]
    # A typed field no row has is still a column (the incremental cursor must exist on every page).
    assert table.column("updated_at").null_count == 2
    # Nested values and fields the model does not declare: JSON text, null where absent.
    assert json.loads(table.column("location")[0].as_py()) == {"type": "Point", "coordinates": [-87.6, 41.8]}
    assert [json.loads(v) if v else v for v in table.column("inferred_address").to_pylist()] == [
        {"city": "Chicago"},
        None,
    ]
    assert table.column("a_field_catena_added_later").to_pylist() == ["[1,2]", None]
    # Untyped fields no row has are no column (source_data, extras): dlt adds them from the hints.
    assert set(pages.json_columns(table)) == {"location", "inferred_address", "a_field_catena_added_later"}


def test_the_json_columns_of_a_model_are_its_nested_fields_and_the_ones_named():
    pages = ArrowPages.of(VehicleLocation, json_columns=("location",))
    assert {"location", "inferred_address", "source_data", "extras"} == set(pages.untyped)
    assert "location" not in pages.typed and pages.typed["id"] == pa.string()
    # Every field of the spec's VehicleLocationRead is declared, so none lands as JSON text by accident.
    assert (pages.typed["oil_pressure"], pages.typed["h3_index_11"], pages.typed["speed_unit"]) == (
        pa.float64(),
        pa.int64(),
        pa.string(),
    )


def test_json_text_is_compact_valid_json_with_iso_datetimes():
    pages = ArrowPages.of(VehicleLocation, json_columns=("location",))
    rows = [location(inferred_address={"seen": T0, "score": float("nan"), "tags": ("a", Colour.RED)})]
    text = pages.table(rows).column("inferred_address")[0].as_py()
    # NaN is not JSON (PostgreSQL's json refuses it): null; a datetime as the wire writes it.
    assert json.loads(text) == {"seen": "2026-03-01T12:30:00Z", "score": None, "tags": ["a", "red"]}
    assert " " not in text


def test_a_typed_value_arrow_cannot_hold_fails_the_page():
    pages = ArrowPages.of(VehicleLocation, json_columns=("location",))
    row = location()
    row["speed"] = "fast"  # past the model: a bug upstream, not a value to load as null
    with pytest.raises(pa.ArrowInvalid):
        pages.table([row])


def test_an_empty_page_is_an_empty_table_with_the_typed_columns():
    table = ArrowPages.of(VehicleLocation, json_columns=("location",)).table([])
    assert table.num_rows == 0 and table.schema.field("occurred_at").type == pa.timestamp("us", tz="UTC")
