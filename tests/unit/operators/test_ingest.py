from __future__ import annotations

import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from catena_airflow.operators.ingest import CatenaIngestFleetOperator
from tests.unit.airflow_layer import CATENA_URL, page


def test_ingests_the_fleet_from_the_sensor_xcom(catena_api, destination):
    catena_api.get(
        f"{CATENA_URL}/v2/telematics/vehicles", json=page([{"id": "v1", "fleet_id": "f1", "vehicle_name": "T1"}])
    )
    catena_api.get(
        f"{CATENA_URL}/v2/telematics/vehicle-locations",
        json=page([{"id": "l1", "fleet_id": "f1", "occurred_at": "2026-11-27T10:00:00Z", "location": None}]),
    )
    op = CatenaIngestFleetOperator(task_id="ingest_fleet", fleet_id={"fleet_id": "f1", "connection_ids": ["c1"]})
    result = op.execute({})
    assert result["fleet_id"] == "f1"
    assert result["resources"]["vehicles"]["rows"] == 1
    assert result["resources"]["vehicle_locations"]["rows"] == 1
    assert destination.count_vehicles("f1") == destination.count_vehicle_locations("f1") == 1
    assert op.retries == 3 and op.retry_exponential_backoff


def test_paused_fleet_is_skipped(catena_api, destination):
    destination.set_fleet_status("f1", status="stale", ingestion_paused=True, reason="connection c1 is stale")
    route = catena_api.get(f"{CATENA_URL}/v2/telematics/vehicles", json=page([]))
    with pytest.raises(AirflowSkipException, match="paused: connection c1 is stale"):
        CatenaIngestFleetOperator(task_id="ingest_fleet", fleet_id="f1").execute({})
    assert not route.called


def test_missing_fleet_id_fails_clearly():
    with pytest.raises(AirflowFailException, match="fleet_id must be"):
        CatenaIngestFleetOperator(task_id="ingest_fleet", fleet_id={"status": "connected"}).execute({})
