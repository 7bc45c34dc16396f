"""Records against Catena's schemas, ids that decode, changes that only move forward, the spec extract in sync."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from catena_sandbox.errors import CatenaError
from catena_sandbox.telematics import ids
from catena_sandbox.telematics.changes import entity_state, row_state
from catena_sandbox.telematics.edits import Edit, apply, note
from catena_sandbox.telematics.query import bounds, window
from catena_sandbox.telematics.records import Row, render, schema_of
from catena_sandbox.telematics.resources import RESOURCES
from catena_sandbox.telematics.selection import things_of
from catena_sandbox.telematics.specgen import DATA_FILE
from catena_sandbox.telematics.specgen import render as render_spec
from catena_sandbox.telematics.values import Filler
from tests.integration.sandbox.openapi_schemas import spec
from tests.unit.sandbox.test_telematics_series import NOW, connection

SPEC = Path(__file__).resolve().parents[2] / "data" / "catena-openapi" / "telematics.yaml"


def test_the_spec_extract_matches_the_newest_spec() -> None:
    """Regenerate with ``python -m catena_sandbox.telematics.specgen`` when the spec changes."""
    assert DATA_FILE.read_text() == render_spec(yaml.load(SPEC.read_text(), Loader=yaml.CSafeLoader))


@pytest.mark.parametrize("resource", RESOURCES, ids=lambda r: r.path)
def test_records_validate_against_their_schema(resource) -> None:  # type: ignore[no-untyped-def]
    document = spec("telematics")
    schema = {"$ref": f"#/components/schemas/{schema_of(resource.path)}"}
    later = NOW + timedelta(days=30)
    for n in range(3):
        for thing in things_of(resource, connection(n)):
            tick = None if resource.kind == "entity" else int(NOW.timestamp()) // resource.interval - n
            row = Row(resource, connection(n), thing, 0, tick)
            for include in (False, True):
                record = render(row, now=later, speed=3600, include_source_data=include)
                assert document.errors(schema, record) == [], resource.path


@pytest.mark.parametrize("schema_name", sorted({schema_of(r.path) for r in RESOURCES}))
def test_the_filler_alone_gives_schema_valid_records_with_some_nulls(schema_name: str) -> None:
    document = spec("telematics")
    filler = Filler(schema_name)
    records = [filler(seed, NOW) for seed in range(200)]
    for record in records:
        assert document.errors({"$ref": f"#/components/schemas/{schema_name}"}, record) == []
    assert any(value is None for record in records for value in record.values())


def test_row_ids_decode_to_where_they_come_from() -> None:
    made = ids.row_id("hos-events", connection(3).id, 0x25, 29_000_123)
    decoded = ids.decode(made)
    assert decoded == ids.Decoded(ids.source_hash("hos-events", connection(3).id), 0x25, 29_000_123)
    assert ids.decode(connection(3).id) is None and ids.decode("not-a-uuid") is None


def test_row_changes_only_move_forward_and_are_deterministic() -> None:
    states = [row_state(key, NOW, NOW + timedelta(hours=h), speed=1) for key in range(5000) for h in (0, 200)]
    assert states == [row_state(key, NOW, NOW + timedelta(hours=h), speed=1) for key in range(5000) for h in (0, 200)]
    before, after = states[0::2], states[1::2]
    assert all(s.revision == 0 and s.deleted_at is None and s.updated_at == NOW for s in before)
    assert 0 < sum(s.revision for s in after) < 5000 // 10
    assert 0 < sum(s.deleted_at is not None for s in after) < 5000 // 100
    assert all(s.updated_at >= (s.deleted_at or NOW) for s in after)


def test_entities_are_revised_and_deleted_on_time() -> None:
    deleted_at = NOW + timedelta(days=3)
    early = entity_state(7, NOW, deleted_at, NOW + timedelta(hours=1), speed=1)
    assert (early.revision, early.deleted_at, early.updated_at) == (0, None, NOW)
    late = entity_state(7, NOW, deleted_at, NOW + timedelta(days=30), speed=1)
    assert late.deleted_at == deleted_at and late.updated_at == deleted_at  # no revision after deletion
    faster = entity_state(7, NOW, None, NOW + timedelta(minutes=2), speed=3600)
    assert faster.revision > 0 and faster.updated_at > NOW


def test_windows_default_to_the_last_day_and_stop_at_45_days() -> None:
    assert window({}, NOW) == (NOW - timedelta(days=1), NOW)
    assert window({"from_datetime": NOW - timedelta(days=45), "to_datetime": NOW}, NOW)[0] == NOW - timedelta(days=45)
    for params in (
        {"from_datetime": NOW - timedelta(days=45, microseconds=1), "to_datetime": NOW},
        {"from_datetime": NOW, "to_datetime": NOW - timedelta(seconds=1)},
        {"to_datetime": NOW - timedelta(days=2)},  # from defaults to now - 1 day, after to
    ):
        with pytest.raises(CatenaError) as refused:
            window(params, NOW)
        assert refused.value.status_code == 400
    naive = datetime(2026, 2, 28, 12)  # no offset: UTC
    assert window({"from_datetime": naive}, NOW)[0] == naive.replace(tzinfo=UTC)


def test_an_admin_edit_adds_a_revision_and_a_deletion_stays() -> None:
    state = row_state(1, NOW, NOW, speed=1)
    edited = apply(state, Edit(at=NOW + timedelta(hours=1)))
    assert (edited.revision, edited.updated_at, edited.deleted_at) == (1, NOW + timedelta(hours=1), None)
    gone = apply(edited, Edit(at=NOW + timedelta(hours=2), deleted=True))
    assert gone.deleted_at == NOW + timedelta(hours=2) and gone.revision == 2
    assert apply(gone, None) == gone
    book: dict[str, Edit] = {}
    note(book, "a", NOW, delete=True)
    note(book, "a", NOW + timedelta(minutes=1), delete=False)
    assert book["a"] == Edit(at=NOW + timedelta(minutes=1), revisions=2, deleted=True)


def test_a_processing_date_bounds_its_utc_day() -> None:
    day = datetime(2026, 2, 27, tzinfo=UTC)
    assert bounds({"processing_date", "size"}, {"processing_date": day.date()}, NOW) == (day, day + timedelta(days=1))
    assert bounds({"from_datetime", "to_datetime"}, {}, NOW) == (NOW - timedelta(days=1), NOW)
    assert bounds({"size"}, {}, NOW) == (None, None)
