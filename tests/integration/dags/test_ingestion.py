"""``dag.test()`` of ``catena_ingestion`` on sandbox fleets, into DuckDB and into PostgreSQL.

Real parts only: fleets onboarded by the onboarding DAG (its first load included), webhooks through the
receiver into a PostgreSQL inbox, dlt loading into a DuckDB file or a PostgreSQL database. The sandbox's
locations follow the clock (one per vehicle per minute, sandbox time faster than the wall clock), so a
later run always has new rows to pick up; what it loaded is checked against the rows themselves.
"""

from __future__ import annotations

import time

import pytest
from airflow.utils.state import DagRunState, TaskInstanceState

from tests.integration.dags.conftest import Deployment, task_states, xcom

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.timeout(600)]


def onboarded(deployment: Deployment, fleet_ref: str, **conf) -> dict:
    run = deployment.run("catena_fleet_onboarding", {"fleet_ref": fleet_ref, **conf})
    assert run.state == DagRunState.SUCCESS, task_states(run)
    return xcom(run, "wait_for_fleet")


def wait_for_rows_after(deployment: Deployment, fleet_id: str, resource: str = "vehicle_locations") -> None:
    """Until Catena holds a row of the fleet newer than the ledger's cursor (the sandbox adds a location per
    vehicle per wall-clock minute): the next run then has something new to load, whatever the timing."""
    (sync,) = [s for s in deployment.destination.resource_syncs([fleet_id])[fleet_id] if s.resource == resource]
    client = deployment.sandbox.catena_client()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        latest = client.list_vehicle_locations(fleet_ids=[fleet_id], only_latest=True).pages()
        if any(r.occurred_at and r.occurred_at > sync.cursor_value for page in latest for r in page.items):
            return
        time.sleep(1)
    raise TimeoutError(f"no {resource} of fleet {fleet_id} after {sync.cursor_value} within 90 s")


def mapped_results(run) -> dict[str, dict]:
    """The ``ingest_fleet`` XCom of each mapped task, by fleet id."""
    results = {}
    for key in task_states(run):
        if key.startswith("ingest_fleet["):
            value = xcom(run, "ingest_fleet", int(key[len("ingest_fleet[") : -1]))
            if value is not None:
                results[value["fleet_id"]] = value
    return results


@pytest.fixture(params=["duckdb", "postgres"])
def ingesting(request, sandbox, make_deployment) -> Deployment:
    return make_deployment(sandbox, warehouse=request.param)


def test_each_run_loads_exactly_what_is_new_and_only_what_the_fleet_shares(ingesting):
    everything = onboarded(ingesting, "ingest-all")
    vehicles_only = onboarded(ingesting, "ingest-vehicles", permissions={"vehicle": "read"})
    warehouse = ingesting.warehouse
    assert warehouse.ids("vehicles", vehicles_only["fleet_id"])
    assert warehouse.ids("vehicle_locations", vehicles_only["fleet_id"]) == []  # not granted: never read
    first = set(warehouse.ids("vehicle_locations", everything["fleet_id"]))
    assert first

    wait_for_rows_after(ingesting, everything["fleet_id"])
    # No correction window: a run then reads from each cursor on, so what it loads is exactly what is new.
    run = ingesting.run("catena_ingestion", {"correction_window_hours": 0})
    assert run.state == DagRunState.SUCCESS, task_states(run)
    results = mapped_results(run)
    assert set(results) == {everything["fleet_id"], vehicles_only["fleet_id"]}
    assert set(results[vehicles_only["fleet_id"]]["resources"]) == {"vehicles"}

    locations = warehouse.ids("vehicle_locations", everything["fleet_id"])
    assert len(locations) == len(set(locations))  # merged by Catena id: no duplicates
    new = set(locations) - first
    assert first <= set(locations)
    # Exactly the new rows: what the run says it loaded is what appeared, nothing re-read twice.
    assert results[everything["fleet_id"]]["resources"]["vehicle_locations"]["rows"] == len(new) > 0
    assert warehouse.ids("vehicle_locations", vehicles_only["fleet_id"]) == []

    fleet_id = everything["fleet_id"]
    syncs = {s.resource: s for s in ingesting.destination.resource_syncs([fleet_id])[fleet_id]}
    assert syncs["vehicle_locations"].rows_loaded == len(locations)
    assert syncs["vehicle_locations"].cursor_value is not None and syncs["vehicle_locations"].last_error is None


def test_a_stale_fleet_is_skipped_with_its_reason_and_resumes_once_back(sandbox, make_deployment):
    deployment = make_deployment(sandbox)
    stale = onboarded(deployment, "stale-acme")
    healthy = onboarded(deployment, "ingest-healthy")
    deployment.wait_for_event("connection.staled")
    operations = deployment.run("catena_fleet_operations")
    assert operations.state == DagRunState.SUCCESS, task_states(operations)
    assert deployment.destination.get_fleet_status(stale["fleet_id"]).ingestion_paused

    run = deployment.run("catena_ingestion")
    states = task_states(run)
    assert sorted(s for k, s in states.items() if k.startswith("ingest_fleet[")) == [
        TaskInstanceState.SKIPPED,
        TaskInstanceState.SUCCESS,
    ]
    assert set(mapped_results(run)) == {healthy["fleet_id"]}
    before = len(deployment.warehouse.ids("vehicle_locations", stale["fleet_id"]))
    wait_for_rows_after(deployment, stale["fleet_id"])

    for connection_id in stale["connection_ids"]:
        deployment.sandbox.admin("POST", f"/connections/{connection_id}/reauthenticate").raise_for_status()
    assert deployment.run("catena_fleet_operations").state == DagRunState.SUCCESS
    resumed = deployment.run("catena_ingestion")
    assert resumed.state == DagRunState.SUCCESS, task_states(resumed)
    assert set(mapped_results(resumed)) == {stale["fleet_id"], healthy["fleet_id"]}
    assert len(deployment.warehouse.ids("vehicle_locations", stale["fleet_id"])) > before


def test_a_run_for_some_fleet_refs_loads_only_those(deployment):
    chosen = onboarded(deployment, "ingest-chosen")
    onboarded(deployment, "ingest-other")
    run = deployment.run("catena_ingestion", {"fleet_refs": ["ingest-chosen"], "resources": ["vehicles"]})
    assert run.state == DagRunState.SUCCESS, task_states(run)
    results = mapped_results(run)
    assert set(results) == {chosen["fleet_id"]}
    assert set(results[chosen["fleet_id"]]["resources"]) == {"vehicles"}
