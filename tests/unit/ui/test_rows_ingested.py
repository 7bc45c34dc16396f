"""Rows ingested per fleet, read from the sync ledger the ingestion tasks keep in the inbox."""

from __future__ import annotations

from datetime import UTC, datetime


def test_rows_ingested_sums_every_resource_of_the_ledger(airflow_client, auth_headers, seeded, inbox_store):
    fleet_id = seeded.connected.fleet_id
    now = datetime.now(UTC)
    inbox_store.record_sync(fleet_id=fleet_id, resource="vehicles", rows=3, cursor_value=now)
    inbox_store.record_sync(fleet_id=fleet_id, resource="vehicle_locations", rows=2, cursor_value=now)
    inbox_store.record_sync_failure(fleet_id=fleet_id, resources=["vehicle_locations"], error="HTTP 500")
    rows = airflow_client.get("/catena/api/fleets", headers=auth_headers).json()["items"]
    ingested = {r["fleet_ref"]: r["rows_ingested"] for r in rows}
    assert ingested["acme-freight"] == 5
    (acme,) = [r for r in rows if r["fleet_ref"] == "acme-freight"]
    by_resource = {r["resource"]: r for r in acme["ingestion"]}
    assert by_resource["vehicles"]["rows_loaded"] == 3 and by_resource["vehicles"]["last_error"] is None
    assert by_resource["vehicles"]["lag_seconds"] is not None
    assert by_resource["vehicle_locations"]["last_error"] == "HTTP 500"
    assert ingested["bravo-logistics"] == 0
    assert ingested["foxtrot-fleet"] is None  # no fleet id yet: nothing can have been ingested


def test_a_fleet_never_loaded_shows_zero_rows_as_the_ledger_is_always_readable(airflow_client, auth_headers, seeded):
    # The ledger is in the inbox the dashboard reads anyway: no second database that may be missing.
    rows = airflow_client.get("/catena/api/fleets", headers=auth_headers).json()["items"]
    assert {r["rows_ingested"] for r in rows if r["fleet_id"]} == {0}
    assert {r["rows_ingested"] for r in rows if not r["fleet_id"]} == {None}
    assert "destination_available" not in airflow_client.get("/catena/api/config", headers=auth_headers).json()
