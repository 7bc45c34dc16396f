"""``dag.test()`` of ``catena_ingestion`` on sandbox fleets, into DuckDB and into PostgreSQL.

Real parts only: fleets onboarded by the onboarding DAG (its first load included), webhooks through the
receiver into a PostgreSQL inbox, dlt loading into a DuckDB file or a PostgreSQL database. The sandbox's
locations follow the clock (one per vehicle per minute, sandbox time faster than the wall clock), so a
later run always has new rows to pick up; what it loaded is checked against the rows themselves.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from airflow.models.asset import AssetEvent, AssetModel
from airflow.utils.session import create_session
from airflow.utils.state import DagRunState, TaskInstanceState
from sqlalchemy import select

from devstack.standalone import CatenaConnection
from tests.integration.dags.conftest import Deployment, task_states, xcom

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.timeout(600)]


def onboarded(deployment: Deployment, fleet_ref: str, **conf) -> dict:
    run = deployment.run("catena_fleet_onboarding", {"fleet_ref": fleet_ref, **conf})
    assert run.state == DagRunState.SUCCESS, task_states(run)
    return xcom(run, "wait_for_fleet")


def wait_for_rows_after(deployment: Deployment, fleet_id: str, resource: str = "vehicle_locations") -> None:
    """Until Catena holds a row of the fleet newer than the ledger's cursor (the sandbox adds a location per
    vehicle per wall-clock minute): the next run then has something new to load, whatever the timing."""
    (sync,) = [s for s in deployment.inbox.resource_syncs([fleet_id])[fleet_id] if s.resource == resource]
    client = deployment.sandbox.catena_client()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        latest = client.list_vehicle_locations(fleet_ids=[fleet_id], only_latest=True).pages()
        if any(r.occurred_at and r.occurred_at > sync.cursor_value for page in latest for r in page.items):
            return
        time.sleep(1)
    raise TimeoutError(f"no {resource} of fleet {fleet_id} after {sync.cursor_value} within 90 s")


def asset_extras(run, uri: str) -> list[dict]:
    """The extras of the asset events the run's tasks emitted for ``uri``."""
    with create_session() as session:
        events = session.scalars(
            select(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .where(AssetModel.uri == uri, AssetEvent.source_run_id == run.run_id)
        ).all()
        return [dict(event.extra) for event in events]


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

    fleet_id = everything["fleet_id"]
    (cursor,) = [
        s.cursor_value
        for s in ingesting.inbox.resource_syncs([fleet_id])[fleet_id]
        if s.resource == "vehicle_locations"
    ]
    wait_for_rows_after(ingesting, fleet_id)
    # No correction window: the run reads from the cursor on. (The onboarding's load had one, so the rows
    # at the cursor itself are read again: dlt keeps no hashes of boundary rows when it re-reads a window.)
    run = ingesting.run("catena_ingestion", {"correction_window_hours": 0})
    assert run.state == DagRunState.SUCCESS, task_states(run)
    results = mapped_results(run)
    assert set(results) == {everything["fleet_id"], vehicles_only["fleet_id"]}
    assert set(results[vehicles_only["fleet_id"]]["resources"]) == {"vehicles"}

    locations = warehouse.ids("vehicle_locations", everything["fleet_id"])
    assert len(locations) == len(set(locations))  # merged by Catena id: no duplicates
    new = set(locations) - first
    assert first <= set(locations)
    # Exactly the rows from the cursor on: what the run says it loaded, nothing older read again.
    from_cursor = {
        row[0] for row in warehouse.rows("vehicle_locations", fleet_id, "id, occurred_at") if row[1] >= cursor
    }
    assert new and new <= from_cursor
    assert results[fleet_id]["resources"]["vehicle_locations"]["rows"] == len(from_cursor)
    assert warehouse.ids("vehicle_locations", vehicles_only["fleet_id"]) == []
    # Users' DAGs scheduled on catena://telematics/vehicle_locations get an event naming fleet and rows.
    assert {"fleet_id": fleet_id, "fleet_ref": "ingest-all", "rows": len(from_cursor)} in asset_extras(
        run, "catena://telematics/vehicle_locations"
    )
    assert all(
        e["fleet_id"] == everything["fleet_id"] for e in asset_extras(run, "catena://telematics/vehicle_locations")
    )

    syncs = {s.resource: s for s in ingesting.inbox.resource_syncs([fleet_id])[fleet_id]}
    assert syncs["vehicle_locations"].rows_loaded == len(first) + len(from_cursor)
    assert syncs["vehicle_locations"].cursor_value is not None and syncs["vehicle_locations"].last_error is None


def test_a_stale_fleet_is_skipped_with_its_reason_and_resumes_once_back(sandbox, make_deployment):
    deployment = make_deployment(sandbox)
    stale = onboarded(deployment, "stale-acme")
    healthy = onboarded(deployment, "ingest-healthy")
    deployment.wait_for_event("connection.staled")
    operations = deployment.run("catena_fleet_operations")
    assert operations.state == DagRunState.SUCCESS, task_states(operations)
    assert deployment.inbox.get_fleet_status(stale["fleet_id"]).ingestion_paused

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


class FailingFleetCatena:
    """Catena answering 500 to every telematics read of one fleet, and as the sandbox to everything else.

    A proxy in front of the sandbox: the sandbox fails requests only at random (its fault injection is
    global), and this test needs one fleet's reads to fail while the others' succeed.
    """

    def __init__(self, upstream: str, failing_fleet_id: str) -> None:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = parse_qs(urlsplit(self.path).query)
                if self.path.startswith("/v2/telematics/") and failing_fleet_id in query.get("fleet_ids", []):
                    proxy.refused += 1
                    self._answer(500, b'{"detail": "internal error"}', "application/json")
                    return
                upstream_answer = requests.get(
                    upstream + self.path, headers={"Authorization": self.headers.get("Authorization", "")}, timeout=30
                )
                self._answer(
                    upstream_answer.status_code,
                    upstream_answer.content,
                    upstream_answer.headers.get("Content-Type", "application/json"),
                )

            def _answer(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.refused = 0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_one_fleets_500s_fail_only_that_fleet(deployment, monkeypatch):
    failing = onboarded(deployment, "ingest-failing")
    healthy = onboarded(deployment, "ingest-unaffected")
    catena = FailingFleetCatena(deployment.sandbox.base_url, failing["fleet_id"])
    try:
        monkeypatch.setenv(
            "AIRFLOW_CONN_CATENA_DEFAULT",
            CatenaConnection(
                api_url=catena.url,
                client_id=deployment.sandbox.client_id,
                client_secret=deployment.sandbox.client_secret,
                auth_url=deployment.sandbox.token_url,
            ).as_env_value(),
        )
        dag = deployment.dags["catena_ingestion"]
        # No task retries: the failure shows in this run (the client's own retries still run out first).
        dag.get_task("ingest_fleet").partial_kwargs["retries"] = 0
        run = dag.test(run_conf={"correction_window_hours": 0})
    finally:
        catena.close()
    states = task_states(run)
    assert run.state == DagRunState.FAILED  # a failed fleet is visible on the run
    assert sorted(s for k, s in states.items() if k.startswith("ingest_fleet[")) == [
        TaskInstanceState.FAILED,
        TaskInstanceState.SUCCESS,
    ]
    assert set(mapped_results(run)) == {healthy["fleet_id"]}
    assert catena.refused > 0
    syncs = deployment.inbox.resource_syncs([failing["fleet_id"]])[failing["fleet_id"]]
    assert syncs and all("500" in (sync.last_error or "") for sync in syncs)
