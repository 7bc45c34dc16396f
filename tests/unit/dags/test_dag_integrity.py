"""The project's DAGs load without errors, and their params refuse a bad conf naming the field.

``validate_conf`` does what Airflow does when a run is created (``POST /api/v2/dags/{id}/dagRuns``
answers 400 with the same ``ParamValidationError`` message): merge the conf into the params and
validate them against their JSON schema.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.exceptions import ParamValidationError
from airflow.serialization.serialized_objects import DagSerialization

from catena_airflow.workflows.params import fleet_requests

DAGS = Path(__file__).resolve().parents[3] / "dags"
DAG_IDS = {
    "catena_fleet_onboarding",
    "catena_bulk_onboarding",
    "catena_fleet_operations",
    "catena_setup",
    "catena_ingestion",
}


@pytest.fixture(scope="module")
def dagbag() -> DagBag:
    return DagBag(dag_folder=str(DAGS))


def validate_conf(dag, conf: dict) -> dict:
    """What the scheduler-side DAG does in ``create_dagrun`` (the REST trigger path)."""
    serialized = DagSerialization.from_dict(DagSerialization.to_dict(dag))
    return serialized.params.deep_merge(conf).validate()


def test_every_dag_loads(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == DAG_IDS


def test_onboarding_chain_shape(dagbag):
    dag = dagbag.dags["catena_fleet_onboarding"]
    # The wait also reads the request, to invite the fleet again on expiry (reinvite_on_expiry).
    assert dag.get_task("wait_for_fleet").upstream_task_ids == {"create_invitation", "invitation_request"}
    assert dag.get_task("ingest_fleet").upstream_task_ids == {"wait_for_fleet"}
    bulk = dagbag.dags["catena_bulk_onboarding"]
    assert bulk.get_task("onboard_fleet.ingest_fleet").upstream_task_ids == {"onboard_fleet.wait_for_fleet"}


def test_operations_dag_is_scheduled_on_watched_assets_and_a_period(dagbag):
    dag = dagbag.dags["catena_fleet_operations"]
    assets = list(dag.timetable.asset_condition.objects)
    assert {asset.uri for asset in assets} == {
        "catena://events/connection_events",
        "catena://events/execution_failures",
        "catena://events/schedule_deactivations",
    }
    assert all(asset.watchers for asset in assets)


def test_ingestion_maps_one_load_per_connected_fleet_in_the_catena_pool(dagbag):
    dag = dagbag.dags["catena_ingestion"]
    ingest = dag.get_task("ingest_fleet")
    assert ingest.upstream_task_ids == {"connected_fleets"}
    assert ingest.partial_kwargs["pool"] == "catena_api"
    assert dag.schedule == "@hourly" and dag.max_active_runs == 1


def test_the_ingestion_schedule_follows_its_variable(monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_CATENA_INGESTION_SCHEDULE", "*/20 * * * *")
    dag = DagBag(dag_folder=str(DAGS / "catena_ingestion.py")).dags["catena_ingestion"]
    assert dag.schedule == "*/20 * * * *"


@pytest.mark.parametrize(
    ("conf", "field"),
    [
        ({"resources": ["vehicles", "spaceships"]}, "spaceships"),
        ({"initial_lookback_days": 0}, "initial_lookback_days"),
        ({"correction_window_hours": -1}, "correction_window_hours"),
        ({"fleet_refs": [""]}, "fleet_refs"),
    ],
)
def test_a_bad_ingestion_conf_is_refused_naming_the_field(dagbag, conf, field):
    with pytest.raises(ParamValidationError, match=field):
        validate_conf(dagbag.dags["catena_ingestion"], conf)
    assert validate_conf(dagbag.dags["catena_ingestion"], {"resources": ["vehicles"]})["resources"] == ["vehicles"]


def test_a_good_onboarding_conf_validates(dagbag):
    dag = dagbag.dags["catena_fleet_onboarding"]
    params = validate_conf(
        dag,
        {
            "fleet_ref": "acme-1 east_2",
            "fleet_name": "Acme One",
            "fleet_email": "ops@acmefleet.com",
            "limit_tsps": ["samsara", "geotab"],
            "expires_in_hours": 672,
            "success_redirect_url": "https://partner.example/done",
        },
    )
    assert params["expires_in_hours"] == 672


@pytest.mark.parametrize(
    ("conf", "field"),
    [
        ({}, "fleet_ref"),
        ({"fleet_ref": "bad/ref!"}, "fleet_ref"),
        ({"fleet_ref": "   "}, "fleet_ref"),
        ({"fleet_ref": 42}, "fleet_ref"),
        ({"fleet_ref": "a", "expires_in_hours": 0}, "expires_in_hours"),
        ({"fleet_ref": "a", "expires_in_hours": 673}, "expires_in_hours"),
        ({"fleet_ref": "a", "expires_in_hours": "24"}, "expires_in_hours"),
        ({"fleet_ref": "a", "fleet_email": "nobody"}, "fleet_email"),
        ({"fleet_ref": "a", "fleet_name": "Acme & Co"}, "fleet_name"),
        ({"fleet_ref": "a", "limit_tsps": "samsara"}, "limit_tsps"),
        ({"fleet_ref": "a", "callback_url": "not a url"}, "callback_url"),
        ({"fleet_ref": "a", "failure_redirect_url": "javascript:alert(1)"}, "failure_redirect_url"),
    ],
)
def test_a_bad_onboarding_conf_is_refused_naming_the_field(dagbag, conf, field):
    with pytest.raises(ParamValidationError, match=f"Invalid input for param {field}"):
        validate_conf(dagbag.dags["catena_fleet_onboarding"], conf)


@pytest.mark.parametrize(
    ("conf", "named"),
    [
        ({}, "param fleets"),
        ({"fleets": []}, "param fleets"),
        ({"fleets": [{"fleet_ref": "ok"}, {"fleet_ref": "bad!"}]}, r"\[1\]\['fleet_ref'\]"),
        ({"fleets": [{"fleet_ref": "ok", "expires_in_hours": 1000}]}, r"\[0\]\['expires_in_hours'\]"),
        ({"fleets": [{"fleet_name": "no ref"}]}, "'fleet_ref' is a required property"),
        ({"fleets": [{"fleet_ref": "ok", "colour": "red"}]}, "'colour' was unexpected"),
    ],
)
def test_a_bad_bulk_conf_is_refused_naming_the_field(dagbag, conf, named):
    with pytest.raises(ParamValidationError, match=named):
        validate_conf(dagbag.dags["catena_bulk_onboarding"], conf)


def test_bulk_defaults_merge_under_each_fleet_and_duplicates_are_refused():
    params = {"fleets": [{"fleet_ref": "a"}, {"fleet_ref": "b", "expires_in_hours": 2}], "expires_in_hours": 24}
    assert fleet_requests(params) == [
        {"expires_in_hours": 24, "fleet_ref": "a"},
        {"expires_in_hours": 2, "fleet_ref": "b"},
    ]
    with pytest.raises(ValueError, match="duplicate fleet_ref"):
        fleet_requests({"fleets": [{"fleet_ref": "a"}, {"fleet_ref": "a"}]})
