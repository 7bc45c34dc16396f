"""Run states and handling runs, read from a real Airflow metadata database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

OPERATIONS_DAG_ID = "catena_fleet_operations"


@pytest.fixture
def metadata_rows(airflow_db):
    """Adds DagRun / AssetModel / AssetEvent rows as the scheduler would; removes them afterwards."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    added: list[tuple[type, int]] = []

    def add_run(dag_id: str, run_id: str, state: str, consumed_event_ids: tuple[str, ...] = ()) -> None:
        from airflow.utils.types import DagRunType

        with create_session() as session:
            run = DagRun(
                dag_id=dag_id,
                run_id=run_id,
                run_type=DagRunType.ASSET_TRIGGERED if consumed_event_ids else DagRunType.MANUAL,
                state=state,
                run_after=datetime.now(UTC),
            )
            session.add(run)
            if consumed_event_ids:
                name = f"catena_connection_events_{uuid.uuid4().hex[:8]}"
                asset = AssetModel(name=name, uri=f"catena://events/{name}", group="catena")
                session.add(asset)
                session.flush()
                for event_id in consumed_event_ids:
                    # What Trigger.submit_event stores for a watcher event: the trigger's payload.
                    event = AssetEvent(
                        asset_id=asset.id, extra={"from_trigger": True, "payload": {"event_id": event_id}}
                    )
                    session.add(event)
                    session.flush()
                    run.consumed_asset_events.append(event)
                    added.append((AssetEvent, event.id))
                added.append((AssetModel, asset.id))
            session.flush()
            added.append((DagRun, run.id))

    yield add_run
    with create_session() as session:
        for model, row_id in reversed(added):
            session.delete(session.get(model, row_id))


def test_fleet_rows_show_the_onboarding_runs_state(airflow_client, auth_headers, seeded, metadata_rows):
    fleet = seeded.connected
    metadata_rows("catena_fleet_onboarding", fleet.run_id, "success")
    row = airflow_client.get("/catena/api/fleets", params={"search": "acme"}, headers=auth_headers).json()["items"][0]
    assert row["dag_run"]["run_id"] == fleet.run_id
    assert row["dag_run"]["state"] == "success"


def test_alerts_link_the_run_that_consumed_their_event(airflow_client, auth_headers, seeded, metadata_rows):
    run_id = f"asset_triggered__{uuid.uuid4().hex[:8]}"
    metadata_rows(OPERATIONS_DAG_ID, run_id, "failed", consumed_event_ids=(seeded.stale_event_id,))
    alerts = airflow_client.get("/catena/api/alerts", headers=auth_headers).json()["items"]
    by_kind = {a["kind"]: a for a in alerts}
    assert by_kind["stale_connection"]["handling_run"] == {
        "dag_id": OPERATIONS_DAG_ID,
        "run_id": run_id,
        "url": f"/dags/{OPERATIONS_DAG_ID}/runs/{run_id}",
        "state": "failed",
    }
    # Nothing consumed the deactivation's asset event yet: no run to link.
    assert by_kind["deactivated_schedule"]["handling_run"] is None
