"""A bad DAG-run conf over Airflow's REST API is refused with 400 naming the field, and no run is created,
so nothing can reach Catena. Airflow's real api-server app, the repository's DAGs serialized into it."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.integration

ONBOARDING = "catena_fleet_onboarding"
BULK = "catena_bulk_onboarding"

BAD_CONFS: list[tuple[str, dict[str, Any], str]] = [
    (ONBOARDING, {}, "fleet_ref"),
    (ONBOARDING, {"fleet_name": "No Ref"}, "fleet_ref"),
    (ONBOARDING, {"fleet_ref": "acme/../1;DROP TABLE"}, "fleet_ref"),
    (ONBOARDING, {"fleet_ref": "   "}, "fleet_ref"),
    (ONBOARDING, {"fleet_ref": ""}, "fleet_ref"),
    (ONBOARDING, {"fleet_ref": "x" * 256}, "fleet_ref"),
    (ONBOARDING, {"fleet_ref": 42}, "fleet_ref"),
    (ONBOARDING, {"fleet_ref": ["acme"]}, "fleet_ref"),
    (ONBOARDING, {"fleet_ref": "acme-1", "expires_in_hours": 0}, "expires_in_hours"),
    (ONBOARDING, {"fleet_ref": "acme-1", "expires_in_hours": 673}, "expires_in_hours"),
    (ONBOARDING, {"fleet_ref": "acme-1", "expires_in_hours": "24"}, "expires_in_hours"),
    (ONBOARDING, {"fleet_ref": "acme-1", "expires_in_hours": 1.5}, "expires_in_hours"),
    (ONBOARDING, {"fleet_ref": "acme-1", "fleet_name": "Acme <script>"}, "fleet_name"),
    (ONBOARDING, {"fleet_ref": "acme-1", "success_redirect_url": "javascript:alert(1)"}, "success_redirect_url"),
    (ONBOARDING, {"fleet_ref": "acme-1", "limit_tsps": "samsara"}, "limit_tsps"),
    (ONBOARDING, {"fleet_ref": "acme-1", "fleet_email": "not-an-email"}, "fleet_email"),
    (BULK, {}, "fleets"),
    (BULK, {"fleets": []}, "fleets"),
    (BULK, {"fleets": [{"fleet_ref": "ok-1"}, {"fleet_ref": "bad/ref"}]}, "fleets"),
    (BULK, {"fleets": [{"fleet_name": "no ref"}]}, "fleets"),
    (BULK, {"fleets": [{"fleet_ref": "ok-1", "expires_in_hours": 999}]}, "fleets"),
    (BULK, {"fleets": "acme-1,acme-2"}, "fleets"),
]


def runs_of(client, headers, dag_id: str) -> int:
    response = client.get(f"/api/v2/dags/{dag_id}/dagRuns", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["total_entries"]


@pytest.mark.parametrize(
    ("dag_id", "conf", "field"), BAD_CONFS, ids=[f"{d.split('_')[1]}-{i}" for i, (d, _, _) in enumerate(BAD_CONFS)]
)
def test_bad_conf_is_refused_naming_the_field(airflow_client, auth_headers, serialized_dags, dag_id, conf, field):
    before = runs_of(airflow_client, auth_headers, dag_id)
    response = airflow_client.post(
        f"/api/v2/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf}, headers=auth_headers
    )
    assert response.status_code == 400, response.text
    assert field in response.json()["detail"]
    assert runs_of(airflow_client, auth_headers, dag_id) == before  # no run: nothing reached Catena


@pytest.mark.parametrize(
    ("dag_id", "conf"),
    [
        (ONBOARDING, {"fleet_ref": "acme-1", "fleet_name": "Acme One", "expires_in_hours": 48}),
        (BULK, {"fleets": [{"fleet_ref": "acme-1"}, {"fleet_ref": "acme-2", "fleet_name": "Acme Two"}]}),
    ],
    ids=["onboarding", "bulk"],
)
def test_a_good_conf_creates_the_run(airflow_client, auth_headers, serialized_dags, dag_id, conf):
    before = runs_of(airflow_client, auth_headers, dag_id)
    response = airflow_client.post(
        f"/api/v2/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf}, headers=auth_headers
    )
    assert response.status_code == 200, response.text
    assert runs_of(airflow_client, auth_headers, dag_id) == before + 1
    run_id = response.json()["dag_run_id"]  # queued only (no scheduler here); removed for other tests
    assert airflow_client.delete(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}", headers=auth_headers).status_code == 204
