"""Only the ingested fleet's rows pass, whatever a server sends."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from catena_airflow.client.models import Vehicle
from catena_airflow.ingest.fleet_scope import as_row, rows_of_fleet


def test_rows_of_another_fleet_or_of_no_fleet_are_dropped_and_logged(caplog):
    records = [
        Vehicle(id="v1", fleet_id="f1"),
        Vehicle(id="v2", fleet_id="f2"),
        Vehicle(id="v3"),
        {"id": "v4", "fleet_id": "f1"},
    ]
    with caplog.at_level(logging.WARNING):
        rows = rows_of_fleet(records, fleet_id="f1", resource="vehicles")
    assert [r["id"] for r in rows] == ["v1", "v4"]
    assert "dropped 2 row(s)" in caplog.text


def test_a_row_holds_what_catena_sent_with_wire_names_and_typed_times():
    at = datetime(2026, 3, 1, tzinfo=UTC)
    row = as_row(Vehicle.model_validate({"id": "v1", "fleet_id": "f1", "updated_at": at.isoformat(), "new": 1}))
    assert row == {"id": "v1", "fleet_id": "f1", "updated_at": at, "new": 1}
