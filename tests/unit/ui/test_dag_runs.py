"""Run states and handling runs, read from a real Airflow metadata database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest


@pytest.fixture
def operations_dag_id(monkeypatch) -> str:
    """An operations DAG id of this test's own: the session's metadata DB also holds the real
    catena_fleet_operations runs of other tests (dag.test(), end to end)."""
    dag_id = f"catena_fleet_operations_{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("AIRFLOW__CATENA__OPERATIONS_DAG_ID", dag_id)
    return dag_id


@pytest.fixture
def dag_runs(airflow_db):
    """Adds DagRun rows as the scheduler would; removes them afterwards."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.types import DagRunType

    added: list[int] = []

    def add(dag_id: str, state: str, *, run_id: str | None = None, started: datetime | None = None) -> str:
        run_id = run_id or f"scheduled__{uuid.uuid4().hex[:12]}"
        with create_session() as session:
            run = DagRun(
                dag_id=dag_id,
                run_id=run_id,
                run_type=DagRunType.SCHEDULED,
                state=state,
                run_after=started or datetime.now(UTC),
            )
            run.start_date = started
            run.queued_at = (started or datetime.now(UTC)) - timedelta(seconds=5)
            session.add(run)
            session.flush()
            added.append(run.id)
        return run_id

    yield add
    with create_session() as session:
        for run_id in added:
            session.delete(session.get(DagRun, run_id))


def test_fleet_rows_show_the_onboarding_runs_state(airflow_client, auth_headers, seeded, dag_runs):
    fleet = seeded.connected
    dag_runs("catena_fleet_onboarding", "success", run_id=fleet.run_id, started=datetime.now(UTC))
    row = airflow_client.get("/catena/api/fleets", params={"search": "acme"}, headers=auth_headers).json()["items"][0]
    assert row["dag_run"]["run_id"] == fleet.run_id
    assert row["dag_run"]["state"] == "success"


def _alerts(client, headers) -> dict:
    return {a["kind"]: a for a in client.get("/catena/api/alerts", headers=headers).json()["items"]}


def test_alerts_link_the_first_operations_run_after_their_event(
    airflow_client, auth_headers, seeded, dag_runs, operations_dag_id
):
    # Seeded: schedule deactivated 4 hours ago, connection staled 3 hours ago.
    now = datetime.now(UTC)
    assert _alerts(airflow_client, auth_headers)["stale_connection"]["handling_run"] is None
    dag_runs(operations_dag_id, "success", started=now - timedelta(hours=5))  # before both: handled neither
    first = dag_runs(operations_dag_id, "success", started=now - timedelta(hours=3, minutes=30))
    second = dag_runs(operations_dag_id, "failed", started=now - timedelta(hours=2))
    dag_runs(operations_dag_id, "running", started=now - timedelta(minutes=1))
    dag_runs("another_dag", "success", started=now - timedelta(hours=2, minutes=30))
    alerts = _alerts(airflow_client, auth_headers)
    assert alerts["deactivated_schedule"]["handling_run"] == {
        "dag_id": operations_dag_id,
        "run_id": first,
        "url": f"/dags/{operations_dag_id}/runs/{first}",
        "state": "success",
    }
    assert alerts["stale_connection"]["handling_run"]["run_id"] == second
    assert alerts["stale_connection"]["handling_run"]["state"] == "failed"


def test_a_queued_run_after_the_event_is_its_handler(airflow_client, auth_headers, seeded, dag_runs, operations_dag_id):
    queued = dag_runs(operations_dag_id, "queued", started=None)
    alerts = _alerts(airflow_client, auth_headers)
    assert alerts["stale_connection"]["handling_run"]["run_id"] == queued
    assert alerts["stale_connection"]["handling_run"]["state"] == "queued"
