"""What Airflow 3.3 does with a bad conf on ``POST /api/v2/dags/{dag_id}/dagRuns``: 400 naming the field.

The real api-server application (in process) on the session's migrated metadata DB, with the
project's DAGs parsed and stored as the dag-processor would.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

pytestmark = pytest.mark.integration


@pytest.fixture
def api(airflow_db, monkeypatch) -> TestClient:
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "True")
    from airflow.api_fastapi.app import create_app
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import BundleDagBag, sync_bag_to_db
    from airflow.utils.session import create_session

    manager = DagBundlesManager()
    with create_session() as session:
        manager.sync_bundles_to_db(session=session)
    for bundle in manager.get_all_dag_bundles():
        bundle.initialize()
        sync_bag_to_db(
            BundleDagBag(dag_folder=bundle.path, bundle_path=bundle.path, bundle_name=bundle.name),
            bundle.name,
            bundle.version,
        )
    client = TestClient(create_app())
    token = client.get("/auth/token").json()["access_token"]
    client.headers["Authorization"] = f"Bearer {token}"
    return client


def trigger(api: TestClient, dag_id: str, conf: dict):
    return api.post(f"/api/v2/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf})


@pytest.mark.parametrize(
    ("conf", "field"),
    [
        ({"fleet_ref": "bad/ref"}, "fleet_ref"),
        ({"fleet_name": "no ref"}, "fleet_ref"),
        ({"fleet_ref": "ok", "expires_in_hours": 700}, "expires_in_hours"),
        ({"fleet_ref": "ok", "fleet_email": "nobody"}, "fleet_email"),
    ],
)
def test_a_bad_conf_is_refused_with_400_naming_the_field(api, conf, field):
    response = trigger(api, "catena_fleet_onboarding", conf)
    assert response.status_code == 400, response.text
    assert f"Invalid input for param {field}" in response.json()["detail"]


def test_a_bad_bulk_item_is_refused_naming_its_index_and_field(api):
    response = trigger(api, "catena_bulk_onboarding", {"fleets": [{"fleet_ref": "ok"}, {"fleet_ref": "bad!"}]})
    assert response.status_code == 400
    assert "Invalid input for param fleets" in response.json()["detail"]
    assert "[1]['fleet_ref']" in response.json()["detail"]


def test_a_good_conf_creates_a_queued_run(api):
    response = trigger(api, "catena_fleet_onboarding", {"fleet_ref": "acme-rest"})
    assert response.status_code == 200, response.text
    assert response.json()["conf"] == {"fleet_ref": "acme-rest"}
    assert response.json()["state"] == "queued"
